package interop

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/examples/support_agent/agent"
	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/span"
	"github.com/agenttrace/agenttrace/trace"
	"github.com/agenttrace/agenttrace/usage"
)

// conversations is how many support-agent conversations the round trip
// records.
const conversations = 3

// TestCollectorRoundTrip sends the support-agent scenario, recorded with the
// agenttrace SDK, through a real OpenTelemetry Collector and checks that
// what the Collector wrote to its file exporter is exactly what the SDK
// recorded, and that what it forwarded to agenttrace serve adds up to the
// expected usage.
func TestCollectorRoundTrip(t *testing.T) {
	srv := startServe(t, t.TempDir())
	serveURL := srv.URL
	col := startCollector(t, serveURL)

	run := randomHex(4)
	session, tenant, user := "s-interop-"+run, "t-interop-"+run, "u-interop-"+run

	// The provider is the user's: the recorder sees every span the SDK
	// ends, exactly as the SDK's OTLP exporter (the client's pipeline,
	// attached to this provider) sends it to the Collector.
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithResource(resource.NewWithAttributes(semconv.SchemaURL,
			semconv.ServiceName("support-bot"), semconv.ServiceVersion("1.2.3"),
			attribute.String("interop.run", run))))
	t.Cleanup(func() { assert.NoError(t, tp.Shutdown(context.Background())) })
	client, err := trace.NewClient(context.Background(), trace.WithTracerProvider(tp), trace.WithEndpoint(col.URL))
	require.NoError(t, err)

	ctx := context.Background()
	res, err := agent.Run(ctx, client, agent.Config{Session: session, User: user, Tenant: tenant, Traces: conversations})
	require.NoError(t, err)
	require.Len(t, res.TraceIDs, conversations)
	edgeID := edgeCases(ctx, t, client, session, user, tenant)

	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Shutdown returns once the Collector has accepted every span.
	if err := client.Shutdown(sctx); err != nil {
		t.Fatalf("step failed: sending the spans to the Collector: %v\n%s\n%s", err, col.logTail(), srv.logTail())
	}
	sent := rec.Ended()
	require.Len(t, sent, conversations*agent.SpansPerConversation+edgeSpans, "spans recorded")
	checkScenario(t, sent, res)

	t.Run("file exporter", func(t *testing.T) {
		got := waitForFile(t, col, len(sent))
		tl := newTally()
		var diffs []string
		for _, s := range sent {
			r, ok := got[[8]byte(s.SpanContext().SpanID())]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("span %s (%s): missing", s.SpanContext().SpanID(), s.Name()))
				continue
			}
			for _, d := range compareSpan(s, r, tl) {
				diffs = append(diffs, fmt.Sprintf("span %s (%s): %s", s.SpanContext().SpanID(), s.Name(), d))
			}
		}
		if len(got) != len(sent) {
			diffs = append(diffs, fmt.Sprintf("the Collector wrote %d spans, the SDK sent %d", len(got), len(sent)))
		}
		traces := map[oteltrace.TraceID]bool{}
		for _, s := range sent {
			traces[s.SpanContext().TraceID()] = true
		}
		t.Logf("compared %d spans of %d traces, sent vs written by the Collector's file exporter: "+
			"trace/span/parent ids, name, kind, status code and message, times, scope; "+
			"%d span attributes (%d distinct keys), %d events (%v) with %d attributes, %d resource attributes",
			tl.spans, len(traces), tl.attrs, len(tl.keys), tl.events[""], eventCounts(tl), tl.eventAttrs, tl.resourceAttrs)
		var missing []string
		for _, k := range designKeys {
			if tl.keys[string(k)] == 0 {
				missing = append(missing, string(k))
			}
		}
		for _, e := range designEvents {
			if tl.events[e] == 0 {
				missing = append(missing, "event "+e)
			}
		}
		t.Logf("DESIGN section 3: %d of %d span attribute keys and %d of %d events covered",
			len(designKeys)-countPrefix(missing, false), len(designKeys),
			len(designEvents)-countPrefix(missing, true), len(designEvents))
		assert.Empty(t, missing, "DESIGN section 3 keys the spans should carry (the comparison would not cover them)")
		if len(diffs) > 0 {
			t.Errorf("%d differences between what the SDK sent and what the Collector wrote:\n%s",
				len(diffs), strings.Join(diffs, "\n"))
		} else {
			t.Logf("no differences")
		}
		checkComparisonFails(t, sent, got)
	})

	t.Run("forwarded to agenttrace serve", func(t *testing.T) {
		uc, err := usage.NewClient(serveURL, usage.WithAPIKey(""))
		require.NoError(t, err)
		defer uc.CloseIdleConnections()

		first := slices.MinFunc(sent, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
		start, end := first.StartTime().Add(-time.Hour).Truncate(time.Hour), time.Now().Add(time.Hour)
		want := totalsOf(sent)
		t.Logf("expected from the %d recorded spans: %d LLM requests, %d tokens (%d in, %d out, %d cache read, "+
			"%d cache creation, %d reasoning), cost %d nano-USD",
			len(sent), want.requests, want.tokens(), want.in, want.out, want.cacheRead, want.cacheCreation, want.reasoning, want.costNano)

		var su *usage.SessionUsage
		waitFor(t, "session usage", func() (bool, error) {
			su, err = uc.GetSessionUsage(ctx, session, start, end)
			return err == nil && want.equal(su.TokenCount, su.RequestCount, su.TotalCostNanoUSD, su.Tokens), err
		}, func() string { return fmt.Sprintf("last session usage: %+v", su) }, col.process, srv.process)
		assert.InDelta(t, float64(want.costNano)/1e9, su.TotalCost, 1e-9)

		tu, err := uc.GetTenantUsage(ctx, tenant, start, end)
		require.NoError(t, err)
		assert.True(t, want.equal(tu.TokenCount, tu.RequestCount, tu.TotalCostNanoUSD, tu.Tokens), "tenant usage %+v", tu)
		assert.Equal(t, int64(1), tu.SessionCount)
		assert.InDelta(t, float64(want.costNano)/1e9, tu.TotalCost, 1e-9)

		// Every span arrived with its ids, parent and name.
		byTrace := map[string]map[string]string{}
		for _, s := range sent {
			id := s.SpanContext().TraceID().String()
			if byTrace[id] == nil {
				byTrace[id] = map[string]string{}
			}
			byTrace[id][s.SpanContext().SpanID().String()] = hexID(s.Parent().SpanID()) + " " + s.Name()
		}
		stored := 0
		for id, want := range byTrace {
			got := map[string]string{}
			for s, err := range uc.IterSpansByTraceID(ctx, id, usage.SpanQuery{Limit: usage.MaxLimit}) {
				require.NoError(t, err)
				got[s.ID] = s.ParentID + " " + s.Name
			}
			assert.Equal(t, want, got, "spans of trace %s in agenttrace serve", id)
			stored += len(got)
		}
		edge, err := uc.GetTrace(ctx, edgeID)
		require.NoError(t, err)
		assert.Equal(t, usage.StatusError, edge.Status, "the edge-case trace failed")
		t.Logf("agenttrace serve (through the Collector's otlp_http exporter, gzip): session %s: %d tokens, %d requests, "+
			"$%.9f; tenant %s: %d sessions, same totals; %d spans of %d traces with their parents and names",
			session, su.TokenCount, su.RequestCount, su.TotalCost, tenant, tu.SessionCount, stored, len(byTrace))
	})
}

// checkComparisonFails makes sure the comparison can fail: changed copies
// of received spans must show up as differences.
func checkComparisonFails(t *testing.T, sent []sdktrace.ReadOnlySpan, got map[[8]byte]received) {
	t.Helper()
	var llmSpan, rootSpan sdktrace.ReadOnlySpan
	for _, s := range sent {
		switch fromOTel(s.Attributes())[string(attr.SpanType)] {
		case attr.TypeLLM:
			llmSpan = s
		case attr.TypeTrace:
			if len(s.Events()) > 0 {
				rootSpan = s
			}
		}
	}
	require.NotNil(t, llmSpan)
	require.NotNil(t, rootSpan)
	for _, c := range []struct {
		name   string
		span   sdktrace.ReadOnlySpan
		change func(ptrace.Span, pcommon.Resource)
		want   string
	}{
		{"int became string", llmSpan, func(s ptrace.Span, _ pcommon.Resource) {
			s.Attributes().PutStr(string(attr.InputTokens), fmt.Sprint(s.Attributes().AsRaw()[string(attr.InputTokens)]))
		}, "attributes: gen_ai.usage.input_tokens changed"},
		{"float changed", llmSpan, func(s ptrace.Span, _ pcommon.Resource) {
			v, _ := s.Attributes().Get(string(attr.CostUSD))
			s.Attributes().PutDouble(string(attr.CostUSD), math.Nextafter(v.Double(), 1))
		}, "attributes: agenttrace.usage.cost_usd changed"},
		{"attribute lost", llmSpan, func(s ptrace.Span, _ pcommon.Resource) { s.Attributes().Remove(string(attr.SessionID)) }, "attributes: session.id missing"},
		{"attribute added", llmSpan, func(s ptrace.Span, _ pcommon.Resource) { s.Attributes().PutStr("extra", "x") }, "attributes: extra added"},
		{"array element changed", llmSpan, func(s ptrace.Span, _ pcommon.Resource) {
			v, _ := s.Attributes().Get(string(attr.Tags))
			v.Slice().At(0).SetStr("other")
		}, "attributes: agenttrace.tags changed"},
		{"parent changed", llmSpan, func(s ptrace.Span, _ pcommon.Resource) { s.SetParentSpanID(pcommon.SpanID{1}) }, "parent span id"},
		{"kind changed", llmSpan, func(s ptrace.Span, _ pcommon.Resource) { s.SetKind(ptrace.SpanKindClient) }, "kind"},
		{"status changed", llmSpan, func(s ptrace.Span, _ pcommon.Resource) { s.Status().SetCode(ptrace.StatusCodeOk) }, "status code"},
		{"status message changed", llmSpan, func(s ptrace.Span, _ pcommon.Resource) { s.Status().SetMessage("x") }, "status message"},
		{"event attribute changed", rootSpan, func(s ptrace.Span, _ pcommon.Resource) {
			s.Events().At(0).Attributes().PutStr(string(attr.EventName), "other")
		}, "event 0 (agenttrace.signal) attributes: name changed"},
		{"event lost", rootSpan, func(s ptrace.Span, _ pcommon.Resource) {
			s.Events().RemoveIf(func(e ptrace.SpanEvent) bool { return e.Name() == attr.EventSignal })
		}, "events: sent"},
		{"resource attribute changed", rootSpan, func(_ ptrace.Span, res pcommon.Resource) {
			res.Attributes().PutStr(string(semconv.ServiceNameKey), "other")
		}, "resource: service.name changed"},
		{"unchanged copy", rootSpan, func(ptrace.Span, pcommon.Resource) {}, ""},
	} {
		r := got[[8]byte(c.span.SpanContext().SpanID())]
		changed, res := ptrace.NewSpan(), pcommon.NewResource()
		r.span.CopyTo(changed)
		r.res.CopyTo(res)
		c.change(changed, res)
		diffs := strings.Join(compareSpan(c.span, received{res: res, scope: r.scope, span: changed}, newTally()), "\n")
		if c.want == "" {
			assert.Empty(t, diffs, "%s: an unchanged copy compares equal", c.name)
			continue
		}
		assert.Contains(t, diffs, c.want, "%s: the comparison must catch it", c.name)
	}
}

// edgeSpans is the number of spans edgeCases records (2 of them message
// spans).
const edgeSpans = 8

// edgeCases records one trace with what the support-agent scenario does
// not: a failed span and a panic (status error with a message, exception
// events), a span from other OpenTelemetry instrumentation (client kind,
// status ok), a retrieval span, cache creation and reasoning tokens,
// context window sizes, a provider-reported cost, WithContext fields,
// root-only attributes of every type, an internal message and a signal
// with attributes. It returns the trace id.
func edgeCases(ctx context.Context, t *testing.T, client *trace.Client, session, user, tenant string) string {
	t.Helper()
	ctx, tr := client.Start(ctx, "edge_cases",
		trace.WithSessionID(session), trace.WithUserID(user), trace.WithTenantID(tenant),
		trace.WithEnvironment("interop"), trace.WithTags("edge", "interop"),
		trace.WithContext(map[string]any{"region": "eu", "shard": 3, "beta": true, "weights": []float64{0.5, 1.5},
			"limits": map[string]int{"rpm": 60}}),
		trace.WithAttributes(attribute.String("plan", "pro"), attribute.Int64Slice("ids", []int64{1, -2, math.MaxInt64}),
			attribute.BoolSlice("flags", []bool{true, false}), attribute.StringSlice("empty", nil),
			attribute.Float64("ratio", 0.1), attribute.String("unicode", "héllo ✓ \u2028 \"quoted\"\n")))
	defer tr.End()
	tr.Message(llm.User, []llm.Part{llm.Text("refund #9"), llm.Text("please")})
	tr.Message(llm.Assistant, "thinking out loud", llm.Internal())
	tr.Signal("escalated", attribute.String("to", "tier2"), attribute.Int("level", 2))

	rctx, r := tr.Span(ctx, span.Retrieval, "search_docs", span.Input(map[string]any{"query": "refund policy"}))
	r.RecordOutput([]string{"doc-1", "doc-2"})
	r.End()
	_ = rctx

	lctx, g := tr.LLM(ctx, "", llm.Model("claude-sonnet-4-5"), llm.Provider("anthropic"))
	g.RecordInputMessages([]llm.Message{llm.TextMessage(llm.User, "refund #9, please")})
	g.RecordOutputMessages([]llm.Message{{Role: llm.Assistant, Parts: []llm.Part{llm.Text("Sure.")}, FinishReason: llm.FinishStop}})
	g.SetTimeToFirstChunk(120 * time.Millisecond)
	g.SetUsage(llm.Usage{InputTokens: 5000, CacheReadTokens: 3000, CacheCreationTokens: 1500, OutputTokens: 900,
		ReasoningTokens: 700, CostUSD: 0.0123456789, CostSource: llm.CostProvider,
		ContextWindowTokens: 200000, ContextUsedTokens: 5900})
	g.End()
	_ = lctx

	_, tool := tr.Tool(ctx, "issue_refund", span.Arguments(map[string]string{"order": "9"}), span.ToolCallID("call_9"))
	tool.Fail(errors.New("refund service unavailable"))
	tool.End()

	// Another library's span, started with the client's provider.
	_, hs := client.TracerProvider().Tracer("net/http").Start(ctx, "POST /refunds",
		oteltrace.WithSpanKind(oteltrace.SpanKindClient),
		oteltrace.WithAttributes(attribute.String("http.request.method", "POST"), attribute.Int("http.response.status_code", 200)))
	hs.SetStatus(codes.Ok, "")
	hs.End()

	func() {
		defer func() { _ = recover() }()
		_ = trace.Task(ctx, "panicky", func(context.Context, *span.Span) error { panic("boom") })
	}()

	tr.Fail(errors.New("could not refund"))
	return tr.ID()
}

// checkScenario checks the recorded support-agent spans against what package
// agent says it recorded, so the expected totals of the round trip rest on
// two independent counts.
func checkScenario(t *testing.T, sent []sdktrace.ReadOnlySpan, res agent.Result) {
	t.Helper()
	ids := map[string]bool{}
	for _, id := range res.TraceIDs {
		ids[id] = true
	}
	var scenario []sdktrace.ReadOnlySpan
	for _, s := range sent {
		if ids[s.SpanContext().TraceID().String()] {
			scenario = append(scenario, s)
		}
	}
	require.Len(t, scenario, len(res.TraceIDs)*agent.SpansPerConversation)
	got := totalsOf(scenario)
	assert.Equal(t, res.Expected.Requests, got.requests)
	assert.Equal(t, res.Expected.InputTokens, got.in)
	assert.Equal(t, res.Expected.OutputTokens, got.out)
	assert.Equal(t, res.Expected.CacheReadTokens, got.cacheRead)
	assert.InDelta(t, res.Expected.CostUSD, float64(got.costNano)/1e9, 1e-8)
}

// totals is usage as the server reports it, summed from recorded spans.
type totals struct {
	requests, in, out, cacheRead, cacheCreation, reasoning, costNano int64
}

func (w totals) tokens() int64 { return w.in + w.out }

func (w totals) equal(tokens, requests, costNano int64, tk usage.Tokens) bool {
	return tokens == w.tokens() && requests == w.requests && costNano == w.costNano &&
		tk == usage.Tokens{InputTokens: w.in, OutputTokens: w.out, CacheReadTokens: w.cacheRead,
			CacheCreationTokens: w.cacheCreation, ReasoningTokens: w.reasoning}
}

// totalsOf sums the usage of spans as DESIGN section 5 defines it: LLM spans
// are requests, tokens and cost come from their attributes (cost rounded to
// nano-USD per span, as the server stores it).
func totalsOf(spans []sdktrace.ReadOnlySpan) totals {
	var w totals
	for _, s := range spans {
		m := fromOTel(s.Attributes())
		if m[string(attr.SpanType)] == attr.TypeLLM {
			w.requests++
		}
		i := func(k attribute.Key) int64 { n, _ := m[string(k)].(int64); return n }
		w.in += i(attr.InputTokens)
		w.out += i(attr.OutputTokens)
		w.cacheRead += i(attr.CacheReadTokens)
		w.cacheCreation += i(attr.CacheCreationTokens)
		w.reasoning += i(attr.ReasoningTokens)
		if c, ok := m[string(attr.CostUSD)].(float64); ok {
			w.costNano += int64(math.Round(c * 1e9))
		}
	}
	return w
}

// waitForFile waits until the Collector's file exporter has written n
// spans and returns them by span id.
func waitForFile(t *testing.T, col *collector, n int) map[[8]byte]received {
	t.Helper()
	var got map[[8]byte]received
	var lines int
	waitFor(t, "the Collector's file exporter output", func() (bool, error) {
		b, err := os.ReadFile(col.Output)
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		tds, err := readJSONL(b)
		if err != nil {
			return false, fmt.Errorf("decoding %s: %w", col.Output, err)
		}
		lines = len(tds)
		got, err = indexSpans(tds)
		return err == nil && len(got) >= n, err
	}, func() string { return fmt.Sprintf("%d of %d spans written", len(got), n) }, col.process)
	t.Logf("the Collector's file exporter wrote %d spans in %d JSON lines (%s)", len(got), lines, col.Output)
	return got
}

// waitFor polls check until it is done, fails, one of procs exits, or
// dataTimeout passes; then the test fails with state() and the logs of
// procs.
func waitFor(t *testing.T, what string, check func() (bool, error), state func() string, procs ...*process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dataTimeout)
	defer cancel()
	if err := poll(ctx, check, procs...); err != nil {
		var logs []string
		for _, p := range procs {
			logs = append(logs, p.logTail())
		}
		t.Fatalf("waiting for %s: %v; %s\n%s", what, err, state(), strings.Join(logs, "\n"))
	}
}

func eventCounts(tl *tally) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(tl.events)) {
		if k != "" {
			parts = append(parts, fmt.Sprintf("%s×%d", k, tl.events[k]))
		}
	}
	return strings.Join(parts, ", ")
}

func countPrefix(missing []string, events bool) int {
	n := 0
	for _, m := range missing {
		if strings.HasPrefix(m, "event ") == events {
			n++
		}
	}
	return n
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
