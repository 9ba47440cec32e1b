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
type MiddlewareOption struct{ apply func(*llmcall.Config) }

// WithProviderName sets gen_ai.provider.name for an OpenAI-compatible
// endpoint that is not OpenAI (for example "azure.ai.openai", "groq"); the
// default is "openai". Cost is still computed from the model name.
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
func Middleware(opts ...MiddlewareOption) option.Middleware {
	cfg := llmcall.Config{Content: true}
	for _, o := range opts {
		if o.apply != nil {
			o.apply(&cfg)
		}
	}
	return llmcall.New(adapter{}, cfg).Handle
}

type adapter struct{}

func (adapter) Provider() string { return ProviderName }

func (adapter) Match(req *http.Request) bool {
	if req.Method != http.MethodPost {
		return false
	}
	p := strings.TrimSuffix(req.URL.Path, "/")
	return strings.HasSuffix(p, "/chat/completions") || strings.HasSuffix(p, "/responses") ||
		p == "chat/completions" || p == "responses"
}

func (adapter) Request(req *http.Request, body []byte) (llmcall.Request, bool) {
	p := strings.TrimSuffix(req.URL.Path, "/")
	if strings.HasSuffix(p, "responses") {
		var r responsesRequest
		if json.Unmarshal(body, &r) != nil {
			return llmcall.Request{}, false
		}
		return llmcall.Request{
			Model:          r.Model,
			Input:          func() []llm.Message { return responsesInputMessages(&r) },
			NewAccumulator: func() llmcall.Accumulator { return &responsesAccumulator{} },
		}, true
	}
	var r chatRequest
	if json.Unmarshal(body, &r) != nil {
		return llmcall.Request{}, false
	}
	return llmcall.Request{
		Model:          r.Model,
		Input:          func() []llm.Message { return chatInputMessages(r.Messages) },
		NewAccumulator: func() llmcall.Accumulator { return &chatAccumulator{} },
	}, true
}
