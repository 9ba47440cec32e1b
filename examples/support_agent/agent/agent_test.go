package agent_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/agenttrace/agenttrace/examples/support_agent/agent"
	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/trace"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newClient(t *testing.T, opts ...trace.Option) (*trace.Client, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	client, err := trace.NewClient(context.Background(), append([]trace.Option{trace.WithExporter(exp)}, opts...)...)
	require.NoError(t, err)
	return client, exp
}

// TestRun checks what Run records against what it says it recorded: span
// counts, trace ids, and the expected totals summed from the spans.
func TestRun(t *testing.T) {
	client, exp := newClient(t)
	res, err := agent.Run(context.Background(), client, agent.Config{Session: "s-1", Traces: 2})
	require.NoError(t, err)
	require.NoError(t, client.Flush(context.Background()))
	spans := exp.GetSpans() // before Shutdown, which resets the exporter
	require.NoError(t, client.Shutdown(context.Background()))

	assert.Equal(t, "s-1", res.Session)
	assert.Equal(t, agent.DefaultUser, res.User)
	assert.Equal(t, agent.DefaultTenant, res.Tenant)
	assert.False(t, res.Interrupted)
	require.Len(t, res.TraceIDs, 2)
	require.Len(t, spans, 2*agent.SpansPerConversation)

	var got agent.Totals
	perTrace := map[string]int{}
	for _, s := range spans {
		perTrace[s.SpanContext.TraceID().String()]++
		m := map[string]any{}
		for _, kv := range s.Attributes {
			m[string(kv.Key)] = kv.Value.AsInterface()
		}
		assert.Equal(t, "s-1", m[string(attr.SessionID)], s.Name)
		assert.Equal(t, agent.DefaultTenant, m[string(attr.TenantID)], s.Name)
		if m[string(attr.SpanType)] != attr.TypeLLM {
			continue
		}
		got.Requests++
		got.InputTokens += m[string(attr.InputTokens)].(int64)
		got.OutputTokens += m[string(attr.OutputTokens)].(int64)
		got.CacheReadTokens += m[string(attr.CacheReadTokens)].(int64)
		got.CostUSD += m[string(attr.CostUSD)].(float64)
		assert.Equal(t, attr.CostSourceComputed, m[string(attr.CostSource)])
	}
	for _, id := range res.TraceIDs {
		assert.Equal(t, agent.SpansPerConversation, perTrace[id], id)
	}
	want := agent.Expected(2)
	assert.Equal(t, want.Requests, int64(2*agent.RequestsPerConversation))
	assert.Equal(t, want.InputTokens, got.InputTokens)
	assert.Equal(t, want.OutputTokens, got.OutputTokens)
	assert.Equal(t, want.CacheReadTokens, got.CacheReadTokens)
	assert.Equal(t, want.Requests, got.Requests)
	assert.InDelta(t, want.CostUSD, got.CostUSD, 1e-12)
	assert.Positive(t, want.CostUSD)
	assert.Equal(t, want, res.Expected)
}

func TestRunDefaultsAndInterrupt(t *testing.T) {
	client, exp := newClient(t)
	t.Cleanup(func() { _ = client.Shutdown(context.Background()) })

	res, err := agent.Run(context.Background(), client, agent.Config{})
	require.NoError(t, err)
	assert.Regexp(t, `^s-[0-9a-f]{12}$`, res.Session)
	assert.Len(t, res.TraceIDs, 1, "zero Traces means one")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err = agent.Run(ctx, client, agent.Config{Traces: 3})
	require.NoError(t, err)
	assert.True(t, res.Interrupted)
	assert.Empty(t, res.TraceIDs)
	assert.Equal(t, agent.Totals{}, res.Expected)
	require.NoError(t, client.Flush(context.Background()))
	assert.Len(t, exp.GetSpans(), agent.SpansPerConversation)
}

func TestRunBadConfig(t *testing.T) {
	client, _ := newClient(t)
	t.Cleanup(func() { _ = client.Shutdown(context.Background()) })
	_, err := agent.Run(context.Background(), client, agent.Config{Traces: -1})
	require.Error(t, err)
	assert.True(t, errors.Is(err, agent.ErrInvalidConfig), err)
}

func TestConversationDisabled(t *testing.T) {
	client, err := trace.NewClient(context.Background(), trace.WithDisabled())
	require.NoError(t, err)
	assert.Empty(t, agent.Conversation(context.Background(), client, agent.Config{}, 0))
}

func ExampleRun() {
	exp := tracetest.NewInMemoryExporter() // or trace.WithEndpoint to send them
	client, err := trace.NewClient(context.Background(), trace.WithExporter(exp))
	if err != nil {
		panic(err)
	}
	res, err := agent.Run(context.Background(), client, agent.Config{Session: "s-demo", Traces: 2})
	if err != nil {
		panic(err)
	}
	_ = client.Flush(context.Background())
	fmt.Println(res.Session, len(res.TraceIDs), "traces,", len(exp.GetSpans()), "spans,", res.Expected.Requests, "LLM calls")
	_ = client.Shutdown(context.Background())
	// Output: s-demo 2 traces, 18 spans, 4 LLM calls
}

func ExampleExpected() {
	t := agent.Expected(1)
	fmt.Println(t.Requests, t.InputTokens, t.OutputTokens, t.TokenCount())
	// Output: 2 2550 100 2650
}
