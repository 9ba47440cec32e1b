package openai_test

import (
	"context"
	"net/http/httptest"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/agenttrace/agenttrace/llm/internal/llmtest"
	agentopenai "github.com/agenttrace/agenttrace/llm/openai"
)

// BenchmarkChatCompletion measures one non-streamed Chat Completions call
// against the same local server: the bare SDK client, the client with the
// middleware outside a trace (pass-through), and with the middleware inside
// a trace (span, messages, usage and cost recorded, exported to a no-op
// exporter through the real batch pipeline), and the same without messages
// (WithoutContent).
func BenchmarkChatCompletion(b *testing.B) {
	srv := httptest.NewServer(llmtest.JSONHandler(200, chatCachedReasoning))
	defer srv.Close()
	params := chatParams("gpt-4o")
	common := []option.RequestOption{option.WithBaseURL(srv.URL + "/v1"), option.WithAPIKey("k")}
	bare := oai.NewClient(common...)
	mw := oai.NewClient(append(common, option.WithMiddleware(agentopenai.Middleware()))...)
	noContent := oai.NewClient(append(common, option.WithMiddleware(agentopenai.Middleware(agentopenai.WithoutContent())))...)
	llmtest.BenchmarkClients(b, &bare, &mw, &noContent, func(ctx context.Context, c *oai.Client) error {
		_, err := c.Chat.Completions.New(ctx, params)
		return err
	})
}
