package openai

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/openai/openai-go/v3/option"

	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/llm/internal/llmcall"
)

// MiddlewareOption configures Middleware; build it with the With*
// functions of this package.
type MiddlewareOption struct{ apply func(*middlewareConfig) }

type middlewareConfig struct {
	llmcall.Config
	noStreamUsage bool
}

// WithProviderName sets gen_ai.provider.name for an OpenAI-compatible
// endpoint that is not OpenAI (for example "azure.ai.openai", "groq"); the
// default is "openai". Cost is still computed from the model name.
func WithProviderName(name string) MiddlewareOption {
	return MiddlewareOption{func(c *middlewareConfig) { c.Provider = name }}
}

// WithoutContent records no input or output messages, only model, usage,
// cost, finish reasons and errors.
func WithoutContent() MiddlewareOption {
	return MiddlewareOption{func(c *middlewareConfig) { c.Content = false }}
}

// WithSpanOptions adds llm options (for example llm.Prompt) to every span.
func WithSpanOptions(opts ...llm.Option) MiddlewareOption {
	return MiddlewareOption{func(c *middlewareConfig) { c.Options = append(c.Options, opts...) }}
}

// WithMaxRetryWait sets how long a call whose attempt failed with a
// retryable status waits for the SDK's next attempt before its span ends
// with that error (default 2 minutes). It only matters when the SDK gives up
// without reading the error, which happens when the call's context ends.
func WithMaxRetryWait(d time.Duration) MiddlewareOption {
	return MiddlewareOption{func(c *middlewareConfig) { c.MaxRetryWait = d }}
}

// Middleware returns an option.Middleware that records every Chat
// Completions (POST .../chat/completions) and Responses (POST .../responses)
// call made inside an agenttrace trace as an LLM span: request model,
// provider, input and output messages, usage and cost, finish reasons,
// response id and model, http.response.status_code, time to first chunk for
// streams, and the error of a failed call. Other requests, and requests
// whose context carries no trace, pass through untouched.
//
// One span covers a logical call however many attempts the SDK makes: the
// SDK runs middleware once per attempt, and an error response it closes
// unread (it does so only to retry) keeps the span open for the attempt
// that follows. Streams are decoded as the application reads them and are
// never buffered; the span ends when the stream is read to its end or
// closed. Use
//
//	client := openai.NewClient(option.WithMiddleware(agentopenai.Middleware()))
//
// Do not also wrap the same calls by hand (StartSpan, WrapStream), or each
// call is recorded twice.
//
// Usage of streams: a streamed Chat Completions call reports its usage only
// when the request sets stream_options.include_usage. Middleware sets it on
// every streamed chat request that does not set it itself, so that the
// stream's cost is known; the stream then ends with one more chunk, whose
// choices are empty and which carries the usage (code that reads
// chunk.Choices[0] without checking the length must check it). A request
// that sets include_usage to false, or a client built with
// WithoutStreamUsage, is left as it is: the call's usage is then unknown
// and its span says so (agenttrace.usage.unknown=true), never zero.
//
// Budgets: inside a trace with budgets (trace.WithBudget,
// trace.WithSessionBudget, trace.WithTenantBudget), a call that a budget
// refuses is not sent: the SDK method returns an error that is
// budget.ErrExceeded (see package budget), and the trace gets a
// budget_exceeded signal.
func Middleware(opts ...MiddlewareOption) option.Middleware {
	cfg := middlewareConfig{Config: llmcall.Config{Content: true}}
	for _, o := range opts {
		if o.apply != nil {
			o.apply(&cfg)
		}
	}
	return llmcall.New(adapter{streamUsage: !cfg.noStreamUsage}, cfg.Config).Handle
}

// WithoutStreamUsage stops Middleware from asking streamed Chat
// Completions calls for their usage (see Middleware). Their usage is then
// unknown, recorded as agenttrace.usage.unknown=true, and counted by
// budgets by their unknown policy. A request that sets
// stream_options.include_usage to false opts out by itself.
func WithoutStreamUsage() MiddlewareOption {
	return MiddlewareOption{func(c *middlewareConfig) { c.noStreamUsage = true }}
}

type adapter struct {
	streamUsage bool // ask streamed chat calls for usage
}

func (adapter) Provider() string { return ProviderName }

func (adapter) Match(req *http.Request) bool {
	if req.Method != http.MethodPost {
		return false
	}
	p := strings.TrimSuffix(req.URL.Path, "/")
	return strings.HasSuffix(p, "/chat/completions") || strings.HasSuffix(p, "/responses") ||
		p == "chat/completions" || p == "responses"
}

func (a adapter) Request(req *http.Request, body []byte) (llmcall.Request, bool) {
	p := strings.TrimSuffix(req.URL.Path, "/")
	if strings.HasSuffix(p, "responses") {
		var r responsesRequest
		if json.Unmarshal(body, &r) != nil {
			return llmcall.Request{}, false
		}
		return llmcall.Request{
			Model:           r.Model,
			Input:           func() []llm.Message { return responsesInputMessages(&r) },
			NewAccumulator:  func() llmcall.Accumulator { return &responsesAccumulator{} },
			MaxOutputTokens: r.MaxOutputTokens,
		}, true
	}
	var r chatRequest
	if json.Unmarshal(body, &r) != nil {
		return llmcall.Request{}, false
	}
	out := llmcall.Request{
		Model:           r.Model,
		Input:           func() []llm.Message { return chatInputMessages(r.Messages) },
		NewAccumulator:  func() llmcall.Accumulator { return &chatAccumulator{} },
		MaxOutputTokens: r.MaxCompletionTokens,
	}
	if out.MaxOutputTokens == 0 {
		out.MaxOutputTokens = r.MaxTokens
	}
	if a.streamUsage && r.Stream && (r.StreamOptions == nil || r.StreamOptions.IncludeUsage == nil) {
		out.Body = withStreamUsage(body)
	}
	return out, true
}

// withStreamUsage returns a Chat Completions request body with
// stream_options.include_usage set to true (other stream options kept), or
// nil when body cannot be rewritten.
func withStreamUsage(body []byte) []byte {
	var req map[string]json.RawMessage
	if json.Unmarshal(body, &req) != nil {
		return nil
	}
	opts := map[string]json.RawMessage{}
	if raw, ok := req["stream_options"]; ok && string(raw) != "null" {
		if json.Unmarshal(raw, &opts) != nil {
			return nil
		}
	}
	opts["include_usage"] = json.RawMessage("true")
	raw, err := json.Marshal(opts)
	if err != nil {
		return nil
	}
	req["stream_options"] = raw
	out, err := json.Marshal(req)
	if err != nil {
		return nil
	}
	return out
}
