package openai

import (
	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/agenttrace/agenttrace/llm"
)

// UsageSource is any OpenAI result UsageFrom reads: a Chat Completions
// result or chunk, its CompletionUsage, a Responses result or its
// ResponseUsage. Pointers may be nil.
type UsageSource interface {
	*oai.ChatCompletion | *oai.ChatCompletionChunk | oai.CompletionUsage | *oai.CompletionUsage |
		*responses.Response | responses.ResponseUsage | *responses.ResponseUsage
}

// UsageFrom returns the token usage of an OpenAI result as an llm.Usage.
//
// How OpenAI reports usage, and how it is normalised:
//
//   - Chat Completions: usage.prompt_tokens counts every prompt token and
//     already includes prompt_tokens_details.cached_tokens (cache hits) and
//     cache_write_tokens; usage.completion_tokens includes
//     completion_tokens_details.reasoning_tokens. These map one to one onto
//     InputTokens, CacheReadTokens, CacheCreationTokens, OutputTokens and
//     ReasoningTokens: nothing is added.
//   - Responses: usage.input_tokens includes input_tokens_details.cached_tokens
//     and cache_write_tokens, usage.output_tokens includes
//     output_tokens_details.reasoning_tokens; mapped the same way.
//   - OpenAI does not charge extra for cache writes and reports no cost, so
//     CostSource stays unknown; the span computes the cost from the price
//     table (cache writes at the input price).
//
// A nil result, or one without usage (a streamed chunk before the last, a
// request without stream_options.include_usage), gives a zero Usage.
func UsageFrom[T UsageSource](v T) llm.Usage {
	switch x := any(v).(type) {
	case *oai.ChatCompletion:
		if x == nil {
			return llm.Usage{}
		}
		return chatUsage(&x.Usage)
	case *oai.ChatCompletionChunk:
		if x == nil {
			return llm.Usage{}
		}
		return chatUsage(&x.Usage)
	case oai.CompletionUsage:
		return chatUsage(&x)
	case *oai.CompletionUsage:
		return chatUsage(x)
	case *responses.Response:
		if x == nil {
			return llm.Usage{}
		}
		return responseUsage(&x.Usage)
	case responses.ResponseUsage:
		return responseUsage(&x)
	case *responses.ResponseUsage:
		return responseUsage(x)
	}
	return llm.Usage{}
}

func chatUsage(u *oai.CompletionUsage) llm.Usage {
	if u == nil {
		return llm.Usage{}
	}
	return clean(llm.Usage{
		InputTokens:         u.PromptTokens,
		OutputTokens:        u.CompletionTokens,
		CacheReadTokens:     u.PromptTokensDetails.CachedTokens,
		CacheCreationTokens: u.PromptTokensDetails.CacheWriteTokens,
		ReasoningTokens:     u.CompletionTokensDetails.ReasoningTokens,
		TotalTokens:         u.TotalTokens,
	})
}

func responseUsage(u *responses.ResponseUsage) llm.Usage {
	if u == nil {
		return llm.Usage{}
	}
	return clean(llm.Usage{
		InputTokens:         u.InputTokens,
		OutputTokens:        u.OutputTokens,
		CacheReadTokens:     u.InputTokensDetails.CachedTokens,
		CacheCreationTokens: u.InputTokensDetails.CacheWriteTokens,
		ReasoningTokens:     u.OutputTokensDetails.ReasoningTokens,
		TotalTokens:         u.TotalTokens,
	})
}

// clean drops negative counts, which no provider sends; a usage whose parts
// exceed their totals is kept as reported (the price table then declines to
// price it rather than guess).
func clean(u llm.Usage) llm.Usage {
	for _, p := range []*int64{&u.InputTokens, &u.OutputTokens, &u.CacheReadTokens, &u.CacheCreationTokens, &u.ReasoningTokens, &u.TotalTokens} {
		if *p < 0 {
			*p = 0
		}
	}
	return u
}
