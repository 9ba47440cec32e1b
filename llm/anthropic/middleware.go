package anthropic

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/llm/internal/llmcall"
)

// sdkScope is the instrumentation scope of the Anthropic SDK's own spans
// (with a ".platform" suffix on Bedrock, Vertex...).
const sdkScope = "com.anthropic.sdk.go"

// MiddlewareOption configures Middleware; build it with the With*
// functions of this package.
type MiddlewareOption struct{ apply func(*llmcall.Config) }

// WithProviderName sets gen_ai.provider.name, for Claude served by another
// platform through this SDK (for example "aws.bedrock", "gcp.vertex_ai");
// the default is "anthropic".
func WithProviderName(name string) MiddlewareOption {
	return MiddlewareOption{func(c *llmcall.Config) { c.Provider = name }}
}

// WithoutContent records no input or output messages, only model, usage,
// cost, finish reasons and errors.
func WithoutContent() MiddlewareOption {
	return MiddlewareOption{func(c *llmcall.Config) { c.Content = false }}
}

// WithSpanOptions adds llm options (for example llm.Prompt) to every span.
func WithSpanOptions(opts ...llm.Option) MiddlewareOption {
	return MiddlewareOption{func(c *llmcall.Config) { c.Options = append(c.Options, opts...) }}
}

// WithMaxRetryWait sets how long a call whose attempt failed with a
// retryable status waits for the SDK's next attempt before its span ends
// with that error (default 2 minutes). It only matters when the SDK gives up
// without reading the error, which happens when the call's context ends.
func WithMaxRetryWait(d time.Duration) MiddlewareOption {
	return MiddlewareOption{func(c *llmcall.Config) { c.MaxRetryWait = d }}
}

// Middleware returns an option.Middleware that records every Messages call
// (POST .../v1/messages, stable or beta, streamed or not) made inside an
// agenttrace trace as an LLM span: request model, provider, input and output
// messages, normalised usage (see UsageFrom) and cost, finish reason,
// response id and model, http.response.status_code, time to first chunk for
// streams, and the error of a failed call. Other requests (count_tokens,
// batches, models), and requests whose context carries no trace, pass
// through untouched.
//
// One span covers a logical call however many attempts the SDK makes, and
// streams are decoded as the application reads them, never buffered (see
// the openai package's Middleware for how). The span is parented to the
// enclosing agenttrace span even when the SDK's own OpenTelemetry span of
// the call is current; see the package documentation and ClientOptions.
//
// Budgets: inside a trace with budgets (trace.WithBudget,
// trace.WithSessionBudget, trace.WithTenantBudget), a call that a budget
// refuses is not sent: the SDK method returns an error that is
// budget.ErrExceeded (see package budget), and the trace gets a
// budget_exceeded signal. A hard budget bounds a call by its max_tokens.
func Middleware(opts ...MiddlewareOption) option.Middleware {
	cfg := llmcall.Config{Content: true, SkipScope: sdkScope}
	for _, o := range opts {
		if o.apply != nil {
			o.apply(&cfg)
		}
	}
	return llmcall.New(adapter{}, cfg).Handle
}

// ClientOptions returns the client options to record calls with agenttrace
// alone: the Middleware, and the SDK's own OpenTelemetry spans turned off
// (option.WithOpenTelemetryTraces(false)) so that a global tracer provider
// does not record every call a second time. Use
//
//	client := anthropic.NewClient(agentanthropic.ClientOptions()...)
func ClientOptions(opts ...MiddlewareOption) []option.RequestOption {
	return []option.RequestOption{
		option.WithMiddleware(Middleware(opts...)),
		option.WithOpenTelemetryTraces(false),
	}
}

type adapter struct{}

func (adapter) Provider() string { return ProviderName }

func (adapter) Match(req *http.Request) bool {
	return req.Method == http.MethodPost && strings.HasSuffix(strings.TrimSuffix(req.URL.Path, "/"), "messages")
}

func (adapter) Request(_ *http.Request, body []byte) (llmcall.Request, bool) {
	var r messagesRequest
	if json.Unmarshal(body, &r) != nil {
		return llmcall.Request{}, false
	}
	return llmcall.Request{
		Model:           r.Model,
		Input:           func() []llm.Message { return inputMessages(&r) },
		NewAccumulator:  func() llmcall.Accumulator { return &messageAccumulator{} },
		MaxOutputTokens: r.MaxTokens,
	}, true
}
