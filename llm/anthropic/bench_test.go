package anthropic_test

import (
	"context"
	"net/http/httptest"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	agentanthropic "github.com/agenttrace/agenttrace/llm/anthropic"
	"github.com/agenttrace/agenttrace/trace"
)

// BenchmarkMessages measures one non-streamed Messages call against the
// same local server: the bare SDK client (its own OpenTelemetry spans off,
// as ClientOptions sets them), the client with ClientOptions outside a
// trace, and inside a trace (span, messages, usage and cost recorded,
// exported to a no-op exporter through the real batch pipeline), and the
// same without messages (WithoutContent).
func BenchmarkMessages(b *testing.B) {
	srv := httptest.NewServer(jsonHandler(200, msgCached))
	defer srv.Close()
	p := params("claude-sonnet-4-5")
	tc, err := trace.NewClient(context.Background(), trace.WithExporter(tracetest.NewNoopExporter()))
	require.NoError(b, err)
	defer tc.Shutdown(context.Background())
	traced, tr := tc.Start(context.Background(), "bench")
	defer tr.End()

	common := []option.RequestOption{option.WithBaseURL(srv.URL), option.WithAPIKey("k")}
	bare := sdk.NewClient(append(common, option.WithOpenTelemetryTraces(false))...)
	mw := sdk.NewClient(append(common, agentanthropic.ClientOptions()...)...)
	noContent := sdk.NewClient(append(common, agentanthropic.ClientOptions(agentanthropic.WithoutContent())...)...)
	for _, bc := range []struct {
		name   string
		client *sdk.Client
		ctx    context.Context
	}{
		{"client=bare", &bare, context.Background()},
		{"client=middleware_no_trace", &mw, context.Background()},
		{"client=middleware", &mw, traced},
		{"client=middleware_no_content", &noContent, traced},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.client.Messages.New(bc.ctx, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
