package anthropic

import (
	sdk "github.com/anthropics/anthropic-sdk-go"

	"github.com/agenttrace/agenttrace/llm"
)

// UsageSource is any Anthropic value UsageFrom reads: a Messages result or
// its Usage (stable or beta API), or a stream's message_delta usage.
// Pointers may be nil.
type UsageSource interface {
	*sdk.Message | sdk.Usage | *sdk.Usage | sdk.MessageDeltaUsage | *sdk.MessageDeltaUsage |
		*sdk.BetaMessage | sdk.BetaUsage | *sdk.BetaUsage | sdk.BetaMessageDeltaUsage | *sdk.BetaMessageDeltaUsage
}

// UsageFrom returns the token usage of an Anthropic result as an llm.Usage.
//
// How Anthropic reports usage, and how it is normalised:
//
//   - usage.input_tokens counts only the input after the last cache
//     breakpoint: it EXCLUDES cache_read_input_tokens and
//     cache_creation_input_tokens, three disjoint buckets. InputTokens is
//     their sum (input + cache read + cache creation), CacheReadTokens and
//     CacheCreationTokens are the two cache buckets.
//   - usage.cache_creation.ephemeral_1h_input_tokens is the part of the
//     cache writes made with a one-hour lifetime (CacheCreation1hTokens);
//     the rest are five-minute writes, the default. If the breakdown adds up
//     to more than cache_creation_input_tokens, the breakdown is used.
//   - usage.output_tokens includes extended-thinking tokens (billed as
//     output); output_tokens_details.thinking_tokens is ReasoningTokens.
//   - TotalTokens is InputTokens + OutputTokens; Anthropic reports no cost,
//     so the span computes it from the price table.
//
// In a stream, message_start carries the input and cache counts and each
// message_delta the cumulative output count (usually nothing else): the
// usage of a message_delta alone has no input. WrapStream and Middleware
// combine both. A nil result gives a zero Usage.
func UsageFrom[T UsageSource](v T) llm.Usage {
	switch x := any(v).(type) {
	case *sdk.Message:
		if x == nil {
			return llm.Usage{}
		}
		return usageOf(&x.Usage)
	case sdk.Usage:
		return usageOf(&x)
	case *sdk.Usage:
		return usageOf(x)
	case sdk.MessageDeltaUsage:
		return normalise(x.InputTokens, x.CacheReadInputTokens, x.CacheCreationInputTokens, 0, 0, x.OutputTokens, x.OutputTokensDetails.ThinkingTokens)
	case *sdk.MessageDeltaUsage:
		if x == nil {
			return llm.Usage{}
		}
		return UsageFrom(*x)
	case *sdk.BetaMessage:
		if x == nil {
			return llm.Usage{}
		}
		return betaUsageOf(&x.Usage)
	case sdk.BetaUsage:
		return betaUsageOf(&x)
	case *sdk.BetaUsage:
		return betaUsageOf(x)
	case sdk.BetaMessageDeltaUsage:
		return normalise(x.InputTokens, x.CacheReadInputTokens, x.CacheCreationInputTokens, 0, 0, x.OutputTokens, x.OutputTokensDetails.ThinkingTokens)
	case *sdk.BetaMessageDeltaUsage:
		if x == nil {
			return llm.Usage{}
		}
		return UsageFrom(*x)
	}
	return llm.Usage{}
}

func usageOf(u *sdk.Usage) llm.Usage {
	if u == nil {
		return llm.Usage{}
	}
	return normalise(u.InputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens,
		u.CacheCreation.Ephemeral5mInputTokens, u.CacheCreation.Ephemeral1hInputTokens,
		u.OutputTokens, u.OutputTokensDetails.ThinkingTokens)
}

func betaUsageOf(u *sdk.BetaUsage) llm.Usage {
	if u == nil {
		return llm.Usage{}
	}
	return normalise(u.InputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens,
		u.CacheCreation.Ephemeral5mInputTokens, u.CacheCreation.Ephemeral1hInputTokens,
		u.OutputTokens, u.OutputTokensDetails.ThinkingTokens)
}

// normalise turns Anthropic's disjoint buckets into llm.Usage's included
// convention.
func normalise(input, cacheRead, cacheCreation, write5m, write1h, output, thinking int64) llm.Usage {
	for _, p := range []*int64{&input, &cacheRead, &cacheCreation, &write5m, &write1h, &output, &thinking} {
		if *p < 0 {
			*p = 0
		}
	}
	if write5m+write1h > cacheCreation {
		cacheCreation = write5m + write1h
	}
	u := llm.Usage{
		InputTokens:           input + cacheRead + cacheCreation,
		CacheReadTokens:       cacheRead,
		CacheCreationTokens:   cacheCreation,
		CacheCreation1hTokens: write1h,
		OutputTokens:          output,
		ReasoningTokens:       thinking,
	}
	u.TotalTokens = u.InputTokens + u.OutputTokens
	return u
}
