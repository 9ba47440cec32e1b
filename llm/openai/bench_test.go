package openai_test

import (
	"context"
	"net/http/httptest"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	agentopenai "github.com/agenttrace/agenttrace/llm/openai"
	"github.com/agenttrace/agenttrace/trace"
)

// BenchmarkChatCompletion measures one non-streamed Chat Completions call
// against the same local server: the bare SDK client, the client with the
// middleware outside a trace (pass-through), and with the middleware inside
// a trace (span, messages, usage and cost recorded, exported to a no-op
// exporter through the real batch pipeline), and the same without messages
// (WithoutContent).
func BenchmarkChatCompletion(b *testing.B) {
	srv := httptestServer(b)
	params := chatParams("gpt-4o")
	tc, err := trace.NewClient(context.Background(), trace.WithExporter(tracetest.NewNoopExporter()))
	require.NoError(b, err)
	defer tc.Shutdown(context.Background())
	traced, tr := tc.Start(context.Background(), "bench")
	defer tr.End()

	bare := oai.NewClient(option.WithBaseURL(srv+"/v1"), option.WithAPIKey("k"))
	mw := oai.NewClient(option.WithBaseURL(srv+"/v1"), option.WithAPIKey("k"), option.WithMiddleware(agentopenai.Middleware()))
	noContent := oai.NewClient(option.WithBaseURL(srv+"/v1"), option.WithAPIKey("k"), option.WithMiddleware(agentopenai.Middleware(agentopenai.WithoutContent())))
	for _, bc := range []struct {
		name   string
		client *oai.Client
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
				if _, err := bc.client.Chat.Completions.New(bc.ctx, params); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// httptestServer answers every request with chatCachedReasoning.
func httptestServer(b *testing.B) string {
	b.Helper()
	srv := httptest.NewServer(jsonHandler(200, chatCachedReasoning))
	b.Cleanup(srv.Close)
	return srv.URL
}
