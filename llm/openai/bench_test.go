package openai_test

import (
	"context"
	"net/http/httptest"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agenttrace/agenttrace/budget"
	"github.com/agenttrace/agenttrace/llm/internal/llmtest"
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

// BenchmarkBudget measures the middleware inside a trace against the same
// local server without a budget and with budgets that never refuse: a soft
// trace budget, a hard one (worst case reserved and released per call),
// and hard trace, session and tenant budgets together.
func BenchmarkBudget(b *testing.B) {
	srv := httptest.NewServer(llmtest.JSONHandler(200, chatCachedReasoning))
	defer srv.Close()
	params := chatParams("gpt-4o")
	params.MaxCompletionTokens = oai.Int(1000)
	client := oai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("k"),
		option.WithMiddleware(agentopenai.Middleware()))
	limit := func(opts ...budget.Option) *budget.Limit {
		l, err := budget.New(1e6, opts...)
		if err != nil {
			b.Fatal(err)
		}
		return l
	}
	tc, err := trace.NewClient(context.Background(), trace.WithExporter(tracetest.NewNoopExporter()),
		trace.WithSessionBudget(limit(budget.Hard())), trace.WithTenantBudget(limit(budget.Hard())))
	if err != nil {
		b.Fatal(err)
	}
	defer tc.Shutdown(context.Background())
	for _, bc := range []struct {
		name string
		opts []trace.StartOption
	}{
		{"budget=none", nil},
		{"budget=soft", []trace.StartOption{trace.WithBudget(limit())}},
		{"budget=hard", []trace.StartOption{trace.WithBudget(limit(budget.Hard()))}},
		{"budget=hard_trace_session_tenant", []trace.StartOption{trace.WithBudget(limit(budget.Hard())),
			trace.WithSessionID("s"), trace.WithTenantID("t")}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx, tr := tc.Start(context.Background(), "bench", bc.opts...)
			defer tr.End()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.Chat.Completions.New(ctx, params); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
