package anthropic

import (
	"context"
	"encoding/json"

	sdk "github.com/anthropics/anthropic-sdk-go"

	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/llm/internal/llmcall"
	"github.com/agenttrace/agenttrace/span"
)

// ProviderName is the gen_ai.provider.name of Anthropic calls.
const ProviderName = "anthropic"

// Params is a request this package converts (stable or beta Messages API).
type Params interface {
	sdk.MessageNewParams | sdk.BetaMessageNewParams
}

// Result is a non-streamed result this package converts.
type Result interface {
	*sdk.Message | *sdk.BetaMessage
}

// InputMessages returns the messages a request sends, as llm.Messages: the
// system prompt as a system message, then the conversation. Assistant
// tool_use blocks become tool_call parts (their input as arguments); a user
// turn's tool_result blocks become one tool message of tool_call_response
// parts (text content as a JSON string), and the rest of the turn a user
// message. Thinking blocks become reasoning parts (redacted ones without
// content); images and documents become uri, file or blob parts, inline
// data not recorded.
func InputMessages[P Params](p P) []llm.Message {
	data, err := json.Marshal(p)
	if err != nil {
		return nil
	}
	var r messagesRequest
	if json.Unmarshal(data, &r) != nil {
		return nil
	}
	return inputMessages(&r)
}

// OutputMessages returns a result's content as one assistant message, its
// finish reason mapped by FinishReason. A nil result gives nil.
func OutputMessages[R Result](r R) []llm.Message {
	return decodeResult(r).Output
}

// FinishReasons returns the normalised finish reason of a result, as
// recorded in gen_ai.response.finish_reasons.
func FinishReasons[R Result](r R) []string {
	return decodeResult(r).FinishReasons
}

// decodeResult converts a typed result through its JSON: the raw JSON the
// SDK decoded it from, or its encoding when built in code.
func decodeResult[R Result](r R) llmcall.Result {
	switch x := any(r).(type) {
	case *sdk.Message:
		if x != nil {
			return llmcall.DecodeResult(&messageAccumulator{}, x.RawJSON(), x, UsageFrom(x), x.JSON.Usage.Valid())
		}
	case *sdk.BetaMessage:
		if x != nil {
			return llmcall.DecodeResult(&messageAccumulator{}, x.RawJSON(), x, UsageFrom(x), x.JSON.Usage.Valid())
		}
	}
	return llmcall.Result{}
}

func modelOf[P Params](p P) string {
	switch x := any(p).(type) {
	case sdk.MessageNewParams:
		return string(x.Model)
	case sdk.BetaMessageNewParams:
		return string(x.Model)
	}
	return ""
}

// StartSpan starts an LLM span for a request, as span.StartLLM does, with
// its model and provider "anthropic" (opts may add llm.Prompt or override
// them), and records its input messages. The caller ends the span, or hands
// it to WrapStream. Outside a trace it returns ctx and a nil span, on which
// everything is a no-op.
func StartSpan[P Params](ctx context.Context, p P, opts ...llm.Option) (context.Context, *span.Span) {
	return llmcall.StartSpan(ctx, modelOf(p), ProviderName, func() []llm.Message { return InputMessages(p) }, opts)
}

// RecordRequest records a request's model and input messages on s.
func RecordRequest[P Params](s *span.Span, p P) {
	llmcall.RecordRequest(s, modelOf(p), func() []llm.Message { return InputMessages(p) })
}

// RecordResponse records a result on s: response id and model, normalised
// usage (cost computed from the price table when the model is known),
// finish reason and output message. It does not end s. A nil result
// records nothing.
func RecordResponse[R Result](s *span.Span, r R) {
	if !s.IsRecording() {
		return
	}
	res := decodeResult(r)
	res.Record(s, true)
}
