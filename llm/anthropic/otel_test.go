package anthropic_test

import (
	"context"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	agentanthropic "github.com/agenttrace/agenttrace/llm/anthropic"
	"github.com/agenttrace/agenttrace/llm/internal/llmtest"
)

// TestMiddlewareWithSDKSpans: when the SDK's own spans are on and go to
// another tracer provider, the LLM span is still a child of the agenttrace
// trace, not of the SDK's span, which the agenttrace backend never sees.
func TestMiddlewareWithSDKSpans(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	other := tracetest.NewInMemoryExporter()
	otherTP := sdktrace.NewTracerProvider(sdktrace.WithSyncer(other))
	defer func() { require.NoError(t, otherTP.Shutdown(context.Background())) }()

	srv := newServer(t, llmtest.JSONHandler(200, msgCached))
	c := sdk.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("k"),
		option.WithMiddleware(agentanthropic.Middleware()), option.WithTracerProvider(otherTP))
	ctx, tr := rec.Client.Start(context.Background(), "agent")
	_, err := c.Messages.New(ctx, params("claude-sonnet-4-5"))
	require.NoError(t, err)
	tr.End()

	sdkSpans := other.GetSpans()
	require.Len(t, sdkSpans, 1, "the SDK recorded its own span")
	assert.Equal(t, "anthropic.messages.create", sdkSpans[0].Name)

	s, _ := rec.One()
	var root sdktrace.ReadOnlySpan
	for _, sp := range rec.Spans().Snapshots() {
		if sp.Name() == "agent" {
			root = sp
		}
	}
	require.NotNil(t, root)
	assert.Equal(t, root.SpanContext().SpanID(), s.Parent.SpanID(), "parented to the trace, not to the SDK's span")
	assert.Equal(t, root.SpanContext().TraceID(), sdkSpans[0].SpanContext.TraceID(), "the SDK's span joins the same trace")
}
