package anthropic_test

import (
	"context"
	"net/http/httptest"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	agentanthropic "github.com/agenttrace/agenttrace/llm/anthropic"
	"github.com/agenttrace/agenttrace/llm/internal/llmtest"
)

// BenchmarkMessages measures one non-streamed Messages call against the
// same local server: the bare SDK client (its own OpenTelemetry spans off,
// as ClientOptions sets them), the client with ClientOptions outside a
// trace, and inside a trace (span, messages, usage and cost recorded,
// exported to a no-op exporter through the real batch pipeline), and the
// same without messages (WithoutContent).
func BenchmarkMessages(b *testing.B) {
	srv := httptest.NewServer(llmtest.JSONHandler(200, msgCached))
	defer srv.Close()
	p := params("claude-sonnet-4-5")
	common := []option.RequestOption{option.WithBaseURL(srv.URL), option.WithAPIKey("k")}
	bare := sdk.NewClient(append(common, option.WithOpenTelemetryTraces(false))...)
	mw := sdk.NewClient(append(common, agentanthropic.ClientOptions()...)...)
	noContent := sdk.NewClient(append(common, agentanthropic.ClientOptions(agentanthropic.WithoutContent())...)...)
	llmtest.BenchmarkClients(b, &bare, &mw, &noContent, func(ctx context.Context, c *sdk.Client) error {
		_, err := c.Messages.New(ctx, p)
		return err
	})
}
