package openai

import (
	"context"
	"encoding/json"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/llm/internal/llmcall"
	"github.com/agenttrace/agenttrace/span"
)

// ProviderName is the gen_ai.provider.name of OpenAI calls.
const ProviderName = "openai"

// Params is a request this package converts: Chat Completions or Responses.
type Params interface {
	oai.ChatCompletionNewParams | responses.ResponseNewParams
}

// Result is a non-streamed result this package converts.
type Result interface {
	*oai.ChatCompletion | *responses.Response
}

// InputMessages returns the messages a request sends, as llm.Messages:
// Chat Completions messages in order (system and developer messages become
// system; tool results become tool messages with a tool_call_response part,
// the tool's text as a JSON string; assistant tool calls become tool_call
// parts), or a Responses request's instructions (as a system message) and
// input items. Images and files become uri, blob or file parts; inline data
// is not recorded.
func InputMessages[P Params](p P) []llm.Message {
	data, err := json.Marshal(p)
	if err != nil {
		return nil
	}
	switch any(p).(type) {
	case oai.ChatCompletionNewParams:
		var r chatRequest
		if json.Unmarshal(data, &r) != nil {
			return nil
		}
		return chatInputMessages(r.Messages)
	default:
		var r responsesRequest
		if json.Unmarshal(data, &r) != nil {
			return nil
		}
		return responsesInputMessages(&r)
	}
}

// OutputMessages returns what a result says: for Chat Completions one
// assistant message per choice, with its finish reason mapped by
// FinishReason; for Responses one assistant message holding every output
// item (reasoning summaries, text, tool calls), its finish reason derived
// from the status. A nil result gives nil.
func OutputMessages[R Result](r R) []llm.Message {
	return decodeResult(r).Output
}

// FinishReasons returns the normalised finish reasons of a result, as
// recorded in gen_ai.response.finish_reasons.
func FinishReasons[R Result](r R) []string {
	return decodeResult(r).FinishReasons
}

// decodeResult converts a typed result through its JSON: the raw JSON the
// SDK decoded it from, or its encoding when built in code.
func decodeResult[R Result](r R) llmcall.Result {
	switch x := any(r).(type) {
	case *oai.ChatCompletion:
		if x != nil {
			return llmcall.DecodeResult(&chatAccumulator{}, x.RawJSON(), x, UsageFrom(x), x.JSON.Usage.Valid())
		}
	case *responses.Response:
		if x != nil {
			return llmcall.DecodeResult(&responsesAccumulator{}, x.RawJSON(), x, UsageFrom(x), x.JSON.Usage.Valid())
		}
	}
	return llmcall.Result{}
}

func modelOf[P Params](p P) string {
	switch x := any(p).(type) {
	case oai.ChatCompletionNewParams:
		return string(x.Model)
	case responses.ResponseNewParams:
		return string(x.Model)
	}
	return ""
}

// StartSpan starts an LLM span for a request, as span.StartLLM does, with
// its model and provider "openai" (opts may add llm.Prompt or override
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

// RecordResponse records a result on s: response id and model, usage (cost
// computed from the price table when the model is known), finish reasons
// and output messages. A Responses result with status failed marks s
// failed. It does not end s. A nil result records nothing.
func RecordResponse[R Result](s *span.Span, r R) {
	if !s.IsRecording() {
		return
	}
	res := decodeResult(r)
	res.Record(s, true)
}
