package trace_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agenttrace/agenttrace/exporter"
	"github.com/agenttrace/agenttrace/internal/attr"
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
	require.Len(t, spans, 4)
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

	require.Equal(t, 1, root.Events().Len())
	ev := root.Events().At(0)
	assert.Equal(t, attr.EventMessage, ev.Name())
	role, _ := ev.Attributes().Get(string(attr.EventRole))
	assert.Equal(t, "user", role.Str())
}
