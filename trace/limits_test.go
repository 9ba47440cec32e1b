package trace_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agenttrace/agenttrace/exporter"
	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/otlptest"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/trace"
)

// signals records n signals (events of the root span) on a new trace of
// client.
func signals(client *trace.Client, n int) {
	_, tr := client.Start(context.Background(), "chat")
	for i := range n {
		tr.Signal(fmt.Sprintf("signal %d", i))
	}
	tr.End()
}

// TestManyMessagesArrive: a trace with 500 messages (the SDK's default
// keeps 128 events per span) delivers them all, over OTLP, each a child
// span of the root, whatever the event limit.
func TestManyMessagesArrive(t *testing.T) {
	t.Setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "10")
	col := otlptest.New()
	t.Cleanup(col.Close)
	t.Setenv(exporter.EnvEndpoint, "")
	t.Setenv(exporter.EnvTracesEndpoint, "")
	client, err := trace.NewClient(context.Background(), trace.WithEndpoint(col.URL))
	require.NoError(t, err)
	_, tr := client.Start(context.Background(), "chat")
	for i := range 500 {
		tr.Message(llm.User, fmt.Sprintf("message %d", i))
	}
	tr.End()
	require.NoError(t, client.Shutdown(context.Background()))

	root := col.SpansByName()["chat"]
	assert.Zero(t, root.Events().Len())
	seen := map[string]bool{}
	for _, sp := range col.Spans() {
		if sp.Name() != "message user" {
			continue
		}
		assert.Equal(t, root.SpanID(), sp.ParentSpanID())
		require.Equal(t, 1, sp.Events().Len())
		ev := sp.Events().At(0)
		assert.Equal(t, attr.EventMessage, ev.Name())
		c, _ := ev.Attributes().Get(string(attr.EventContent))
		seen[c.Str()] = true
	}
	require.Len(t, seen, 500)
	for _, i := range []int{0, 127, 128, 499} {
		assert.True(t, seen[fmt.Sprintf(`[{"type":"text","content":"message %d"}]`, i)], "message %d", i)
	}
}

// TestEventLimitFromEnvironment: OTEL_SPAN_EVENT_COUNT_LIMIT replaces the
// client's default.
func TestEventLimitFromEnvironment(t *testing.T) {
	t.Setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "10")
	r := newRecorder(t)
	signals(r.client, 50)
	root := r.spans()["chat"]
	assert.Len(t, root.Events, 10)
	assert.Equal(t, 40, root.DroppedEvents)
}

// TestUserProviderLimitsApply: attached to a user's provider, the client
// records with that provider's limits.
func TestUserProviderLimitsApply(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []sdktrace.TracerProviderOption
		want int
	}{
		{"sdk default", nil, sdktrace.DefaultEventCountLimit},
		{"raised", []sdktrace.TracerProviderOption{sdktrace.WithRawSpanLimits(sdktrace.SpanLimits{
			EventCountLimit: 1000, AttributeCountLimit: -1, AttributeValueLengthLimit: -1,
			AttributePerEventCountLimit: -1, LinkCountLimit: -1, AttributePerLinkCountLimit: -1})}, 300},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp := sdktrace.NewTracerProvider(c.opts...)
			t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })
			mem := tracetest.NewInMemoryExporter()
			client, err := trace.NewClient(context.Background(), trace.WithTracerProvider(tp), trace.WithExporter(mem))
			require.NoError(t, err)
			signals(client, 300)
			require.NoError(t, client.Flush(context.Background()))
			spans := mem.GetSpans()
			require.Len(t, spans, 1)
			assert.Len(t, spans[0].Events, c.want)
			require.NoError(t, client.Shutdown(context.Background()))
		})
	}
}
