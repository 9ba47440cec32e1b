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
	res := decodeResult(r)
	return res.Output
}

// FinishReasons returns the normalised finish reason of a result, as
// recorded in gen_ai.response.finish_reasons.
func FinishReasons[R Result](r R) []string {
	res := decodeResult(r)
	return res.FinishReasons
}

func decodeResult[R Result](r R) llmcall.Result {
	var (
		raw   string
		usage llm.Usage
		has   bool
	)
	switch x := any(r).(type) {
	case *sdk.Message:
		if x == nil {
			return llmcall.Result{}
		}
		raw, usage = x.RawJSON(), UsageFrom(x)
		has = x.JSON.Usage.Valid() || usage != (llm.Usage{})
	case *sdk.BetaMessage:
		if x == nil {
			return llmcall.Result{}
		}
		raw, usage = x.RawJSON(), UsageFrom(x)
		has = x.JSON.Usage.Valid() || usage != (llm.Usage{})
	}
	data := []byte(raw)
	if raw == "" {
		var err error
		if data, err = json.Marshal(r); err != nil {
			return llmcall.Result{}
		}
	}
	acc := &messageAccumulator{}
	acc.Body(data)
	res := acc.Result()
	res.Usage, res.HasUsage = usage, has
	return res
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
	all := make([]llm.Option, 0, 2+len(opts))
	all = append(all, llm.Model(modelOf(p)), llm.Provider(ProviderName))
	ctx, s := span.StartLLM(ctx, "", append(all, opts...)...)
	if s.IsRecording() {
		s.RecordInputMessages(InputMessages(p))
	}
	return ctx, s
}

// RecordRequest records a request's model and input messages on s.
func RecordRequest[P Params](s *span.Span, p P) {
	if !s.IsRecording() {
		return
	}
	s.SetRequestModel(modelOf(p))
	s.RecordInputMessages(InputMessages(p))
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
