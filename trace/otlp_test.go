package trace_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"

	"github.com/agenttrace/agenttrace/exporter"
	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/jsonenc"
	"github.com/agenttrace/agenttrace/internal/otlptest"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/span"
	"github.com/agenttrace/agenttrace/trace"
)

// TestOTLPWire decodes the OTLP/HTTP bytes the client sends and finds the
// spans and attributes there.
func TestOTLPWire(t *testing.T) {
	col := otlptest.New()
	t.Cleanup(col.Close)
	t.Setenv(exporter.EnvEndpoint, "")
	t.Setenv(exporter.EnvTracesEndpoint, "")

	client, err := trace.NewClient(context.Background(),
		trace.WithServiceName("support-bot"),
		trace.WithEndpoint(col.URL),
		trace.WithAPIKey("k-123"),
		trace.WithHeaders(map[string]string{"X-Team": "agents"}))
	require.NoError(t, err)

	ctx, tr := client.Start(context.Background(), "support_agent",
		trace.WithSessionID("s-9"), trace.WithTenantID("AceTech"), trace.WithTags("beta"))
	tr.Message(llm.User, "Where is my order?")
	_ = trace.Task(ctx, "resolve_ticket", func(ctx context.Context, _ *span.Span) error {
		ctx, g := tr.LLM(ctx, "", llm.Model("gpt-4.1-mini"), llm.Provider("openai"))
		g.SetUsage(llm.Usage{InputTokens: 1000, OutputTokens: 200})
		_, call := tr.Tool(ctx, "lookup_order", span.Arguments(map[string]string{"order": "4421"}))
		call.RecordOutput(map[string]string{"status": "shipped"})
		call.End()
		g.End()
		return nil
	})
	tr.End()
	require.NoError(t, client.Shutdown(context.Background()))

	assert.Empty(t, col.Errors())
	reqs := col.Requests()
	require.NotEmpty(t, reqs)
	for _, r := range reqs {
		assert.Equal(t, exporter.TracesPath, r.Path)
		assert.True(t, r.Gzipped, "gzip by default")
		assert.Equal(t, "Bearer k-123", r.Header.Get("Authorization"))
		assert.Equal(t, "agents", r.Header.Get("X-Team"))
	}
	spans := col.SpansByName()
	require.Len(t, spans, 5)
	root, task, g, tool := spans["support_agent"], spans["resolve_ticket"], spans["chat gpt-4.1-mini"], spans["lookup_order"]
	assert.True(t, root.ParentSpanID().IsEmpty())
	assert.Equal(t, root.SpanID(), task.ParentSpanID())
	assert.Equal(t, task.SpanID(), g.ParentSpanID())
	assert.Equal(t, g.SpanID(), tool.ParentSpanID())
	assert.Equal(t, tr.ID(), g.TraceID().String())

	svc, ok := root.Resource.Attributes().Get("service.name")
	require.True(t, ok)
	assert.Equal(t, "support-bot", svc.Str())
	assert.Equal(t, trace.ScopeName, root.Scope.Name())

	for _, s := range spans {
		assert.Equal(t, "s-9", s.Attr(string(attr.SessionID)), s.Name())
		assert.Equal(t, "AceTech", s.Attr(string(attr.TenantID)), s.Name())
		tags, ok := s.Attributes().Get(string(attr.Tags))
		require.True(t, ok)
		assert.Equal(t, []any{"beta"}, tags.Slice().AsRaw())
	}
	assert.Equal(t, "trace", root.Attr(string(attr.SpanType)))
	assert.Equal(t, "llm", g.Attr(string(attr.SpanType)))
	assert.Equal(t, "gpt-4.1-mini", g.Attr(string(attr.RequestModel)))
	in, _ := g.Attributes().Get(string(attr.InputTokens))
	assert.Equal(t, int64(1000), in.Int())
	cost, ok := g.Attributes().Get(string(attr.CostUSD))
	require.True(t, ok)
	want, _ := llm.DefaultPrices().Cost("gpt-4.1-mini", llm.Usage{InputTokens: 1000, OutputTokens: 200})
	assert.InDelta(t, want, cost.Double(), 1e-12)
	assert.Equal(t, "computed", g.Attr(string(attr.CostSource)))
	assert.Equal(t, `{"order":"4421"}`, tool.Attr(string(attr.ToolCallArguments)))
	assert.Equal(t, `{"status":"shipped"}`, tool.Attr(string(attr.ToolCallResult)))
	assert.Equal(t, ptrace.StatusCodeUnset, task.Status().Code())

	assert.Zero(t, root.Events().Len(), "messages are child spans of the root")
	msg := spans["message user"]
	assert.Equal(t, root.SpanID(), msg.ParentSpanID())
	assert.Equal(t, "message", msg.Attr(string(attr.SpanType)))
	require.Equal(t, 1, msg.Events().Len())
	ev := msg.Events().At(0)
	assert.Equal(t, attr.EventMessage, ev.Name())
	role, _ := ev.Attributes().Get(string(attr.EventRole))
	assert.Equal(t, "user", role.Str())
}

// TestOTLPLongAndInvalidValues: values over the limit stay valid JSON when
// they are JSON (GenAI messages, structured input and output, message
// content) and carry the marker; strings with invalid UTF-8, which would
// make the exporter fail the whole batch, arrive with U+FFFD instead.
func TestOTLPLongAndInvalidValues(t *testing.T) {
	col := otlptest.New()
	t.Cleanup(col.Close)
	t.Setenv(exporter.EnvEndpoint, "")
	t.Setenv(exporter.EnvTracesEndpoint, "")
	const limit = 4096
	client, err := trace.NewClient(context.Background(), trace.WithEndpoint(col.URL), trace.WithMaxValueBytes(limit))
	require.NoError(t, err)

	const bad = "caf\xe9 \xff!"
	const fixed = "caf\uFFFD \uFFFD!"
	var msgs []llm.Message
	for i := range 200 {
		msgs = append(msgs, llm.TextMessage(llm.User, fmt.Sprintf("question %d: %s", i, strings.Repeat("why? ", 20))))
	}
	msgs = append(msgs, llm.TextMessage(llm.User, bad))

	ctx, tr := client.Start(context.Background(), "trace "+bad, trace.WithUserID(bad), trace.WithTags(bad))
	tr.Message(llm.User, strings.Repeat("long message ", 1000))
	tr.Message(llm.Assistant, bad)
	ctx, g := tr.LLM(ctx, "", llm.Model("gpt-4.1-mini"))
	g.RecordInput(msgs)
	g.RecordOutput([]llm.Message{llm.TextMessage(llm.Assistant, strings.Repeat("because ", 2000))})
	g.SetAttributes(attribute.String("note", bad))
	_, s := tr.Span(ctx, span.Retrieval, "search")
	s.RecordInput(map[string]any{"query": bad, "filters": strings.Repeat("f", 10000)})
	s.RecordOutput(bad)
	s.End()
	g.End()
	tr.End()
	require.NoError(t, client.Shutdown(context.Background()))
	assert.Empty(t, col.Errors())
	st := client.Stats()
	assert.Equal(t, uint64(5), st.Exported)
	assert.Zero(t, st.Dropped.Total())

	spans := col.SpansByName()
	require.Len(t, spans, 5, "every span arrives")
	root, llmSpan, search := spans["trace "+fixed], spans["chat gpt-4.1-mini"], spans["search"]
	assert.Equal(t, fixed, root.Attr(string(attr.UserID)))
	assert.Equal(t, fixed, llmSpan.Attr(string(attr.UserID)))
	assert.Equal(t, fixed, llmSpan.Attr("note"))
	assert.Equal(t, fixed, search.Attr(string(attr.Output)))

	for name, v := range map[string]string{
		"gen_ai.input.messages":  llmSpan.Attr(string(attr.InputMessages)),
		"gen_ai.output.messages": llmSpan.Attr(string(attr.OutputMessages)),
		"agenttrace.input":       llmSpan.Attr(string(attr.Input)),
		"retrieval input":        search.Attr(string(attr.Input)),
	} {
		assert.True(t, json.Valid([]byte(v)), "%s is not JSON: %.200s", name, v)
		assert.True(t, jsonenc.IsTruncated(v), "%s has no marker", name)
		assert.LessOrEqual(t, len(v), limit, name)
	}
	var in []llm.Message
	require.NoError(t, json.Unmarshal([]byte(llmSpan.Attr(string(attr.InputMessages))), &in))
	require.NotEmpty(t, in)
	assert.Less(t, len(in), len(msgs), "trailing messages dropped")
	assert.Equal(t, llm.User, in[0].Role)
	assert.Equal(t, msgs[0].Parts, in[0].Parts, "leading messages kept whole")

	for _, name := range []string{"message user", "message assistant"} {
		require.Equal(t, 1, spans[name].Events().Len(), name)
	}
	long, _ := spans["message user"].Events().At(0).Attributes().Get(string(attr.EventContent))
	assert.True(t, json.Valid([]byte(long.Str())), long.Str())
	assert.True(t, jsonenc.IsTruncated(long.Str()))
	short, _ := spans["message assistant"].Events().At(0).Attributes().Get(string(attr.EventContent))
	assert.JSONEq(t, `[{"type":"text","content":"`+fixed+`"}]`, short.Str())
}
