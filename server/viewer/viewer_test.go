package viewer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/span"
	"github.com/agenttrace/agenttrace/trace"
	"github.com/agenttrace/agenttrace/usage"
)

const (
	adminKey = "k-admin"
	acmeKey  = "k-acme"
)

// run is one trace recorded with the agenttrace SDK.
type run struct {
	name, tenant, session, user string
	model                       string
	in, out, cacheRead          int64
	nano                        int64
	fail                        bool
	id                          string
}

func runs() []*run {
	return []*run{
		{name: "support_agent", tenant: "acme", session: "s-a1", user: "alice", model: "gpt-4.1-mini", in: 1200, out: 80, cacheRead: 1000, nano: 1_234_567},
		{name: "support_agent", tenant: "acme", session: "s-a1", user: "alice", model: "gpt-4.1", in: 400, out: 40, nano: 2_000_001},
		{name: "triage", tenant: "acme", session: "s-a2", user: "bob", model: "o4-mini", in: 300, out: 900, nano: 3_000_000, fail: true},
		{name: "billing_agent", tenant: "globex", session: "s-g1", user: "carol", model: "claude-haiku-4-5", in: 4000, out: 100, nano: 4_500_000},
	}
}

// record records r with the agenttrace SDK: a message, one LLM call with
// its conversation and usage, a tool call, feedback.
func record(ctx context.Context, c *trace.Client, r *run) {
	ctx, tr := c.Start(ctx, r.name, trace.WithUserID(r.user), trace.WithSessionID(r.session), trace.WithTenantID(r.tenant),
		trace.WithEnvironment("test"))
	tr.Message(llm.User, "Where is my order #4421?")
	lctx, g := tr.LLM(ctx, "", llm.Model(r.model), llm.Provider("openai"), llm.Prompt("support", "v2"))
	g.RecordInputMessages([]llm.Message{llm.TextMessage(llm.System, "You are a support agent."),
		llm.TextMessage(llm.User, "Where is my order #4421?")})
	g.RecordOutputMessages([]llm.Message{llm.TextMessage(llm.Assistant, "It ships tomorrow.")})
	g.SetUsage(llm.Usage{InputTokens: r.in, OutputTokens: r.out, CacheReadTokens: r.cacheRead,
		CostUSD: float64(r.nano) / 1e9, CostSource: llm.CostUser})
	g.End()
	_, tool := tr.Tool(lctx, "lookup_order", span.Arguments(map[string]any{"order": "4421"}))
	tool.RecordOutput(map[string]any{"status": "shipped"})
	tool.End()
	tr.Message(llm.Assistant, "It ships tomorrow.")
	tr.Feedback("helpful", 1, "quick answer")
	if r.fail {
		tr.Fail(errors.New("escalation failed"))
	}
	tr.End()
	r.id = tr.ID()
}

// recordStock records one trace with the stock OpenTelemetry SDK and its
// OTLP/HTTP exporter, GenAI attributes only, and returns its id.
func recordStock(t testing.TB, base string) string {
	t.Helper()
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(base+"/v1/traces"),
		otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer " + adminKey}))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("otel-python-ish"))))
	tr := tp.Tracer("stock")
	common := []attribute.KeyValue{attribute.String("session.id", "s-o1"), attribute.String("user.id", "olga"),
		attribute.String("agenttrace.tenant.id", "globex")}
	ctx, root := tr.Start(ctx, "otel_agent", oteltrace.WithAttributes(common...))
	_, chat := tr.Start(ctx, "chat gpt-4o", oteltrace.WithAttributes(append(common,
		attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "gpt-4o"),
		attribute.String("gen_ai.provider.name", "openai"), attribute.Int64("gen_ai.usage.input_tokens", 700),
		attribute.Int64("gen_ai.usage.output_tokens", 70))...))
	chat.End()
	root.End()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("stock OTel SDK shutdown: %v", err)
	}
	return root.SpanContext().TraceID().String()
}

// fixture starts a keyed server with the viewer and records the runs
// (agenttrace SDK) and one stock OTel SDK trace.
func fixture(t *testing.T) (base string, rs []*run, stockID string, c *usage.Client) {
	t.Helper()
	base = startServer(t, server.WithAPIKeys(server.APIKey{Key: adminKey}, server.APIKey{Key: acmeKey, Tenant: "acme"}))
	ctx := context.Background()
	rec, err := trace.NewClient(ctx, trace.WithEndpoint(base), trace.WithAPIKey(adminKey), trace.WithServiceName("viewer-test"))
	if err != nil {
		t.Fatal(err)
	}
	rs = runs()
	for _, r := range rs {
		record(ctx, rec, r)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := rec.Shutdown(sctx); err != nil {
		t.Fatalf("SDK shutdown: %v", err)
	}
	stockID = recordStock(t, base)
	c, err = usage.NewClient(base, usage.WithAPIKey(adminKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return base, rs, stockID, c
}

func TestViewer(t *testing.T) {
	base, rs, stockID, c := fixture(t)
	b := newBrowser(t, base)
	ctx := context.Background()
	now := time.Now()

	t.Run("asks for a key, then lists the traces", func(t *testing.T) {
		b.t = t
		b.open("/")
		if !strings.Contains(b.text("#content"), "API key") {
			t.Fatalf("no key form without a key: %q", b.text("#content"))
		}
		b.errors(false) // the 401 that asked for the key
		b.run(chromedp.SendKeys(chromedp.CSS(`#keyform input[name=key]`), adminKey), chromedp.Click(chromedp.CSS(`#keyform button`)))
		b.waitFor(`document.querySelector('#traces tbody tr') && 'listed'`)
		ids := eval[[]string](b, `Array.from(document.querySelectorAll('#traces tbody tr')).map(r => r.dataset.id)`)
		want := []string{stockID}
		for _, r := range rs {
			want = append(want, r.id)
		}
		slices.Sort(ids)
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Fatalf("listed %v, want %v", ids, want)
		}
		page := b.text("#traces")
		for _, s := range []string{"support_agent", "triage", "billing_agent", "otel_agent", "s-a1", "alice", "gpt-4.1-mini"} {
			if !strings.Contains(page, s) {
				t.Errorf("traces page lacks %q", s)
			}
		}
		b.shot("traces")
		b.noErrors("traces page")
	})

	t.Run("session filter narrows", func(t *testing.T) {
		b.t = t
		if state := b.open("/?session_id=s-a1"); state != "true" {
			t.Fatalf("state %q", state)
		}
		sessions := eval[[]string](b, `Array.from(document.querySelectorAll('#traces tbody tr td:nth-child(9)')).map(td => td.textContent)`)
		if len(sessions) != 2 || sessions[0] != "s-a1" || sessions[1] != "s-a1" {
			t.Fatalf("session column %v, want s-a1 twice", sessions)
		}
		if v := eval[string](b, `document.querySelector('input[name=session_id]').value`); v != "s-a1" {
			t.Errorf("the form shows session %q", v)
		}
		b.noErrors("session filter")
	})

	t.Run("trace page shows every span and an LLM span's tokens and cost", func(t *testing.T) {
		b.t = t
		for _, id := range []string{rs[0].id, stockID} {
			if state := b.open("/traces/" + id); state != "true" {
				t.Fatalf("trace %s: state %q: %s", id, state, b.text("#error"))
			}
			pg, err := c.ListSpansByTraceID(ctx, id, usage.SpanQuery{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			// The header shows the trace's feedback with its value.
			if want := map[bool]string{true: "helpful 1", false: ""}[id == rs[0].id]; b.text("#content .badge.score") != want {
				t.Fatalf("trace %s: score badge %q, want %q", id, b.text("#content .badge.score"), want)
			}
			names := eval[[]string](b, `Array.from(document.querySelectorAll('#tree .row')).map(r => r.title)`)
			if len(names) != len(pg.Spans) {
				t.Fatalf("trace %s: %d rows, %d spans", id, len(names), len(pg.Spans))
			}
			for _, sp := range pg.Spans {
				if !slices.Contains(names, sp.Name) {
					t.Errorf("trace %s: span %q not shown (rows %v)", id, sp.Name, names)
				}
			}
			var llmSpan *usage.Span
			for i := range pg.Spans {
				if sp := pg.Spans[i]; sp.Type == "llm" || sp.Operation == "chat" {
					llmSpan = &pg.Spans[i]
				}
			}
			if llmSpan == nil {
				t.Fatalf("trace %s has no LLM span", id)
			}
			i := eval[int](b, fmt.Sprintf(`Array.from(document.querySelectorAll('#tree .row')).findIndex(r => r.title === %q)`, llmSpan.Name))
			b.run(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#tree .row[data-i="%d"] .nm`, i))))
			if got := number(t, b.text("#d-in")); got != llmSpan.InputTokens {
				t.Errorf("trace %s: input tokens shown %d, API %d", id, got, llmSpan.InputTokens)
			}
			if got := number(t, b.text("#d-out")); got != llmSpan.OutputTokens {
				t.Errorf("trace %s: output tokens shown %d, API %d", id, got, llmSpan.OutputTokens)
			}
			if got := nanoUSD(t, b.text("#d-cost")); got != llmSpan.CostNanoUSD {
				t.Errorf("trace %s: cost shown %d nano-USD, API %d", id, got, llmSpan.CostNanoUSD)
			}
			if !strings.Contains(b.location(), "span="+llmSpan.ID) {
				t.Errorf("the URL %s does not hold the selected span", b.location())
			}
			tr, err := c.GetTrace(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got := nanoUSD(t, b.text("#t-cost")); got != tr.TotalCostNanoUSD {
				t.Errorf("trace %s header cost %d, API %d", id, got, tr.TotalCostNanoUSD)
			}
			if id == rs[0].id {
				detail := b.text("#detail")
				for _, s := range []string{"You are a support agent.", "It ships tomorrow.", "cache read", "support@v2", "user"} {
					if !strings.Contains(detail, s) {
						t.Errorf("LLM span detail lacks %q", s)
					}
				}
				b.shot("trace")
				// Keyboard: j moves to the next span, k back.
				b.run(chromedp.KeyEvent("j"))
				if strings.Contains(b.location(), "span="+llmSpan.ID) {
					t.Errorf("j did not move the selection")
				}
				b.run(chromedp.KeyEvent("k"))
				if !strings.Contains(b.location(), "span="+llmSpan.ID) {
					t.Errorf("k did not move back: %s", b.location())
				}
			}
		}
		b.noErrors("trace pages")
	})

	t.Run("session totals equal the API's", func(t *testing.T) {
		b.t = t
		if state := b.open("/sessions/s-a1"); state != "true" {
			t.Fatalf("state %q: %s", state, b.text("#error"))
		}
		u, err := c.GetSessionUsage(ctx, "s-a1", now.Add(-time.Hour), now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if got := number(t, b.text("#s-tokens")); got != u.TokenCount {
			t.Errorf("session tokens shown %d, API %d", got, u.TokenCount)
		}
		if got := number(t, b.text("#s-requests")); got != u.RequestCount {
			t.Errorf("session LLM calls shown %d, API %d", got, u.RequestCount)
		}
		if got := nanoUSD(t, b.text("#s-cost")); got != u.TotalCostNanoUSD || got != rs[0].nano+rs[1].nano {
			t.Errorf("session cost shown %d, API %d, recorded %d", got, u.TotalCostNanoUSD, rs[0].nano+rs[1].nano)
		}
		if got := number(t, b.text("#s-traces")); got != 2 {
			t.Errorf("session traces shown %d, want 2", got)
		}
		// Read as one conversation: each trace's messages, in order.
		msgs := eval[[]string](b, `Array.from(document.querySelectorAll('#content .turn .msg')).map(m => m.textContent)`)
		if len(msgs) != 4 || !strings.Contains(msgs[0], "Where is my order") || !strings.Contains(msgs[1], "It ships tomorrow.") {
			t.Errorf("session conversation = %q, want each trace's user and assistant messages", msgs)
		}
		b.shot("session")
		b.noErrors("session page")
	})

	t.Run("usage numbers equal the API's", func(t *testing.T) {
		b.t = t
		if state := b.open("/usage?tenant_id=acme&window=24h"); state != "true" {
			t.Fatalf("state %q: %s", state, b.text("#error"))
		}
		u, err := c.GetTenantUsage(ctx, "acme", now.Add(-time.Hour), now.Add(time.Hour), usage.GroupBy(usage.ByModel))
		if err != nil {
			t.Fatal(err)
		}
		if got := nanoUSD(t, b.text("#u-cost")); got != u.TotalCostNanoUSD {
			t.Errorf("usage cost shown %d, API %d", got, u.TotalCostNanoUSD)
		}
		if got := number(t, b.text("#u-tokens")); got != u.TokenCount {
			t.Errorf("usage tokens shown %d, API %d", got, u.TokenCount)
		}
		if got := number(t, b.text("#u-requests")); got != u.RequestCount {
			t.Errorf("usage LLM calls shown %d, API %d", got, u.RequestCount)
		}
		if got := number(t, b.text("#u-sessions")); got != u.SessionCount {
			t.Errorf("usage sessions shown %d, API %d", got, u.SessionCount)
		}
		for _, g := range u.Groups {
			cost := b.text(fmt.Sprintf(`#by-model tr[data-key=%q] td:nth-child(4)`, g.Key))
			if got := nanoUSD(t, cost); got != g.TotalCostNanoUSD {
				t.Errorf("model %q cost shown %d, API %d", g.Key, got, g.TotalCostNanoUSD)
			}
		}
		if n := eval[int](b, `document.querySelectorAll('.chart rect.bar').length`); n < 3*24 {
			t.Errorf("%d bars in the charts, want 3 charts of at least 24 hours", n)
		}
		if !strings.Contains(b.text("#by-session"), "s-a1") {
			t.Errorf("most expensive sessions lack s-a1")
		}
		b.shot("usage")
		b.noErrors("usage page")
	})

	t.Run("spans search links into traces", func(t *testing.T) {
		b.t = t
		if state := b.open("/spans?model=gpt-4.1"); state != "true" {
			t.Fatalf("state %q: %s", state, b.text("#error"))
		}
		hrefs := eval[[]string](b, `Array.from(document.querySelectorAll('#spans tbody tr td:nth-child(2) a')).map(a => a.getAttribute('href'))`)
		if len(hrefs) != 1 || !strings.HasPrefix(hrefs[0], "/traces/"+rs[1].id+"?span=") {
			t.Fatalf("spans of gpt-4.1 link to %v, want trace %s", hrefs, rs[1].id)
		}
		b.shot("spans")
		b.noErrors("spans page")
	})

	t.Run("malformed filters show the API's message by the filter", func(t *testing.T) {
		b.t = t
		if state := b.open("/?window=custom&start_time=yesterday"); state != "error" {
			t.Fatalf("state %q", state)
		}
		if msg := b.text(`.ferr[data-for="start_time"]`); !strings.Contains(msg, "RFC 3339") {
			t.Fatalf("message by start_time: %q (error box %q)", msg, b.text("#error"))
		}
		b.errors(true) // the 400 is the point
	})

	t.Run("not found", func(t *testing.T) {
		b.t = t
		if state := b.open("/traces/0123456789abcdef0123456789abcdef"); state != "true" || b.text("#notfound") == "" {
			t.Fatalf("unknown trace: state %q, content %q", state, b.text("#content"))
		}
		b.errors(true)
		resp, err := http.Get(base + "/no/such/page")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "Not found") {
			t.Fatalf("GET /no/such/page = %d %s", resp.StatusCode, body)
		}
	})

	t.Run("cursor paging both ways", func(t *testing.T) {
		b.t = t
		rowIDs := `Array.from(document.querySelectorAll('#traces tbody tr')).map(r => r.dataset.id)`
		b.open("/?limit=20&sort_field=name&sort_order=asc")
		all := eval[[]string](b, rowIDs)
		b.open("/?limit=2&sort_field=name&sort_order=asc")
		first := eval[[]string](b, rowIDs)
		if len(all) != 5 || !slices.Equal(first, all[:2]) {
			t.Fatalf("first page %v of %v", first, all)
		}
		b.run(chromedp.Click(chromedp.CSS(`.pager a[rel=next]`)))
		b.waitFor(fmt.Sprintf(`location.search.includes('cursor') && document.body.dataset.ready === 'true' && document.querySelector('#traces tbody tr') && document.querySelector('#traces tbody tr').dataset.id !== %q && 'ok'`, first[0]))
		if second := eval[[]string](b, rowIDs); !slices.Equal(second, all[2:4]) {
			t.Fatalf("second page %v, want %v", second, all[2:4])
		}
		b.run(chromedp.Click(chromedp.CSS(`.pager a[rel=prev]`)))
		b.waitFor(fmt.Sprintf(`document.body.dataset.ready === 'true' && document.querySelector('#traces tbody tr') && document.querySelector('#traces tbody tr').dataset.id === %q && 'ok'`, first[0]))
		if back := eval[[]string](b, rowIDs); !slices.Equal(back, first) {
			t.Fatalf("back to %v, want %v", back, first)
		}
		b.noErrors("paging")
	})

	t.Run("new traces appear without a reload", func(t *testing.T) {
		b.t = t
		b.open("/")
		eval[bool](b, `(window.__notReloaded = true)`)
		rec, err := trace.NewClient(ctx, trace.WithEndpoint(base), trace.WithAPIKey(adminKey), trace.WithServiceName("viewer-test"))
		if err != nil {
			t.Fatal(err)
		}
		_, tr := rec.Start(ctx, "late_arrival", trace.WithTenantID("globex"))
		tr.End()
		if err := rec.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		b.waitFor(fmt.Sprintf(`document.querySelector('#traces tr[data-id=%q]') && 'shown'`, tr.ID()))
		if !eval[bool](b, `window.__notReloaded === true`) {
			t.Fatal("the page reloaded")
		}
		b.noErrors("polling")
	})

	var sharedID string
	t.Run("a trace id shared by two tenants", func(t *testing.T) {
		b.t = t
		// acme's service calls globex's with W3C trace context: both
		// tenants' spans carry one trace id.
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(base+"/v1/traces"),
			otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer " + adminKey}))
		if err != nil {
			t.Fatal(err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		tr := tp.Tracer("shared")
		_, root := tr.Start(ctx, "acme_shared_root", oteltrace.WithAttributes(attribute.String("agenttrace.tenant.id", "acme")))
		root.End()
		_, g := tr.Start(oteltrace.ContextWithRemoteSpanContext(ctx, root.SpanContext()), "globex_shared_call",
			oteltrace.WithAttributes(attribute.String("agenttrace.tenant.id", "globex")))
		g.End()
		if err := tp.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		sharedID = root.SpanContext().TraceID().String()
		b.open("/")
		b.waitFor(fmt.Sprintf(`document.querySelectorAll('#traces tr[data-id=%q]').length === 2 && 'both'`, sharedID))
		hrefs := eval[[]string](b, fmt.Sprintf(`Array.from(document.querySelectorAll('#traces tr[data-id=%q] a')).map(a => a.getAttribute('href')).filter(h => h.startsWith('/traces/'))`, sharedID))
		slices.Sort(hrefs)
		if want := []string{"/traces/" + sharedID + "?tenant_id=acme", "/traces/" + sharedID + "?tenant_id=globex"}; !slices.Equal(hrefs, want) {
			t.Fatalf("the shared trace's rows link to %v, want %v", hrefs, want)
		}
		if state := b.open("/traces/" + sharedID + "?tenant_id=acme"); state != "true" {
			t.Fatalf("state %q: %s", state, b.text("#error"))
		}
		if page := b.text("main"); !strings.Contains(page, "acme_shared_root") || strings.Contains(page, "globex_shared_call") {
			t.Fatalf("acme's part of the shared trace: %q", page)
		}
		b.noErrors("shared trace")
	})

	t.Run("a tenant key sees only its tenant", func(t *testing.T) {
		b.t = t
		b.setKey(acmeKey)
		if state := b.open("/"); state != "true" {
			t.Fatalf("state %q: %s", state, b.text("#error"))
		}
		ids := eval[[]string](b, `Array.from(document.querySelectorAll('#traces tbody tr')).map(r => r.dataset.id)`)
		want := []string{rs[0].id, rs[1].id, rs[2].id}
		if sharedID != "" {
			want = append(want, sharedID) // its acme part
		}
		slices.Sort(ids)
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Fatalf("acme's key lists %v, want acme's %v", ids, want)
		}
		if page := b.text("#content"); strings.Contains(page, "globex") || strings.Contains(page, "billing_agent") {
			t.Fatalf("acme's key shows globex data: %q", page)
		}
		b.noErrors("tenant list")
		for _, id := range []string{rs[3].id, stockID} {
			b.open("/traces/" + id)
			if page := b.text("main"); strings.Contains(page, "billing_agent") || strings.Contains(page, "otel_agent") ||
				strings.Contains(page, "chat gpt-4o") {
				t.Fatalf("acme's key shows globex trace %s: %q", id, page)
			}
		}
		if sharedID != "" {
			b.open("/traces/" + sharedID)
			if page := b.text("main"); !strings.Contains(page, "acme_shared_root") || strings.Contains(page, "globex_shared_call") {
				t.Fatalf("acme's key on the shared trace: %q", page)
			}
		}
		b.open("/usage?tenant_id=globex")
		if page := b.text("#content"); strings.Contains(page, "$") {
			t.Fatalf("acme's key shows globex usage: %q", page)
		}
		if msg := b.text("#error"); !strings.Contains(msg, "acme") {
			t.Fatalf("no refusal shown for globex usage: %q", msg)
		}
		b.errors(true)
	})
}

// TestViewerOpenLoopback: without API keys the viewer needs no key on
// loopback.
func TestViewerOpenLoopback(t *testing.T) {
	base := startServer(t)
	ctx := context.Background()
	rec, err := trace.NewClient(ctx, trace.WithEndpoint(base), trace.WithServiceName("viewer-test"))
	if err != nil {
		t.Fatal(err)
	}
	_, tr := rec.Start(ctx, "open_trace")
	tr.End()
	if err := rec.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, base)
	if state := b.open("/?name=" + url.QueryEscape("open_trace")); state != "true" {
		t.Fatalf("state %q: %s", state, b.text("#error"))
	}
	if ids := eval[[]string](b, `Array.from(document.querySelectorAll('#traces tbody tr')).map(r => r.dataset.id)`); len(ids) != 1 || ids[0] != tr.ID() {
		t.Fatalf("listed %v, want %s", ids, tr.ID())
	}
	// An empty window says so in words.
	if state := b.open("/?name=nothing-by-this-name"); state != "true" || !strings.Contains(b.text("#content"), "No traces") {
		t.Fatalf("empty list: state %q, %q", state, b.text("#content"))
	}
	b.noErrors("open server")
}
