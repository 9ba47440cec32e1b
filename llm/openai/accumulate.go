package openai

import (
	"bytes"
	"encoding/json"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/llm/internal/llmcall"
)

// maxStreamItems bounds the choices, tool calls and output items a stream
// accumulator tracks; indexes beyond it are ignored.
const maxStreamItems = 128

// chatAccumulator decodes a Chat Completions response: a whole body, or the
// chunks of a stream (choices[].delta, then a last chunk with usage when
// stream_options.include_usage is set).
type chatAccumulator struct {
	res     llmcall.Result
	choices []*chatChoiceAcc
	whole   bool // Body was called: res.Output is set
}

type chatChoiceAcc struct {
	role      string
	text      llmcall.Text
	reasoning llmcall.Text
	refusal   llmcall.Text
	tools     []*chatToolAcc
	finish    string
}

type chatToolAcc struct {
	id, name, typ string
	args          llmcall.Text
}

// chatChunk is a stream chunk (or a whole result) with its usage and any
// error object.
type chatChunk struct {
	chatCompletion
	Usage *chatUsageWire  `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// chatUsageWire is CompletionUsage as sent, decoded in the same pass as the
// rest of the body (the SDK's own decoder is several times slower).
type chatUsageWire struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens     int64 `json:"cached_tokens"`
		CacheWriteTokens int64 `json:"cache_write_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

func (w *chatUsageWire) usage() llm.Usage {
	var u oai.CompletionUsage
	u.PromptTokens, u.CompletionTokens, u.TotalTokens = w.PromptTokens, w.CompletionTokens, w.TotalTokens
	u.PromptTokensDetails.CachedTokens = w.PromptTokensDetails.CachedTokens
	u.PromptTokensDetails.CacheWriteTokens = w.PromptTokensDetails.CacheWriteTokens
	u.CompletionTokensDetails.ReasoningTokens = w.CompletionTokensDetails.ReasoningTokens
	return UsageFrom(u)
}

// responseUsageWire is ResponseUsage as sent.
type responseUsageWire struct {
	InputTokens        int64 `json:"input_tokens"`
	OutputTokens       int64 `json:"output_tokens"`
	TotalTokens        int64 `json:"total_tokens"`
	InputTokensDetails struct {
		CachedTokens     int64 `json:"cached_tokens"`
		CacheWriteTokens int64 `json:"cache_write_tokens"`
	} `json:"input_tokens_details"`
	OutputTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
}

func (w *responseUsageWire) usage() llm.Usage {
	var u responses.ResponseUsage
	u.InputTokens, u.OutputTokens, u.TotalTokens = w.InputTokens, w.OutputTokens, w.TotalTokens
	u.InputTokensDetails.CachedTokens = w.InputTokensDetails.CachedTokens
	u.InputTokensDetails.CacheWriteTokens = w.InputTokensDetails.CacheWriteTokens
	u.OutputTokensDetails.ReasoningTokens = w.OutputTokensDetails.ReasoningTokens
	return UsageFrom(u)
}

func (a *chatAccumulator) Body(data []byte) {
	var c chatChunk
	if err := json.Unmarshal(data, &c); err != nil {
		return
	}
	a.whole = true
	a.res.ResponseID, a.res.ResponseModel = c.ID, c.Model
	a.res.Output, a.res.FinishReasons = chatOutput(&c.chatCompletion)
	a.usage(c.Usage)
}

func (a *chatAccumulator) usage(w *chatUsageWire) {
	if w != nil {
		a.res.Usage, a.res.HasUsage = w.usage(), true
	}
}

func (a *chatAccumulator) Event(_ string, data []byte) {
	if bytes.HasPrefix(data, []byte("[DONE]")) {
		return
	}
	var c chatChunk
	if err := json.Unmarshal(data, &c); err != nil {
		return
	}
	if len(c.Error) > 0 && string(c.Error) != "null" {
		a.res.Err = llmcall.DecodeError(c.Error)
		return
	}
	if c.ID != "" {
		a.res.ResponseID = c.ID
	}
	if c.Model != "" {
		a.res.ResponseModel = c.Model
	}
	a.usage(c.Usage)
	for _, ch := range c.Choices {
		if ch.Index < 0 || ch.Index >= maxStreamItems {
			continue
		}
		for len(a.choices) <= ch.Index {
			a.choices = append(a.choices, &chatChoiceAcc{})
		}
		acc := a.choices[ch.Index]
		if ch.FinishReason != "" {
			acc.finish = ch.FinishReason
		}
		d := ch.Delta
		if d == nil {
			continue
		}
		if d.Role != "" {
			acc.role = d.Role
		}
		acc.text.Add(rawString(d.Content))
		acc.reasoning.Add(d.ReasoningContent)
		acc.refusal.Add(d.Refusal)
		for _, tc := range d.ToolCalls {
			if tc.Index < 0 || tc.Index >= maxStreamItems {
				continue
			}
			for len(acc.tools) <= tc.Index {
				acc.tools = append(acc.tools, &chatToolAcc{})
			}
			t := acc.tools[tc.Index]
			if tc.ID != "" {
				t.id = tc.ID
			}
			if tc.Type != "" {
				t.typ = tc.Type
			}
			if tc.Function != nil {
				if tc.Function.Name != "" {
					t.name = tc.Function.Name
				}
				t.args.Add(tc.Function.Arguments)
			}
			if tc.Custom != nil {
				if tc.Custom.Name != "" {
					t.name = tc.Custom.Name
				}
				t.args.Add(tc.Custom.Input)
			}
		}
	}
}

// OutputBytes counts the text and tool arguments streamed so far
// (llmcall.Progress).
func (a *chatAccumulator) OutputBytes() int64 {
	var n int64
	for _, c := range a.choices {
		n += c.text.Total() + c.reasoning.Total() + c.refusal.Total()
		for _, t := range c.tools {
			n += t.args.Total()
		}
	}
	return n
}

func (a *chatAccumulator) Result() llmcall.Result {
	if a.whole {
		return a.res
	}
	r := a.res
	r.Output, r.FinishReasons = nil, nil
	for _, acc := range a.choices {
		m := llm.Message{Role: llm.Assistant, Parts: []llm.Part{}}
		if acc.reasoning.Len() > 0 {
			m.Parts = append(m.Parts, llm.Part{Type: llm.PartReasoning, Content: acc.reasoning.String()})
		}
		if acc.text.Len() > 0 {
			m.Parts = append(m.Parts, llm.Text(acc.text.String()))
		}
		if acc.refusal.Len() > 0 {
			m.Parts = append(m.Parts, llm.Text(acc.refusal.String()))
		}
		for _, t := range acc.tools {
			if t.typ == "custom" {
				m.Parts = append(m.Parts, llm.ToolCallPart(llm.ToolCall{ID: t.id, Name: t.name, Arguments: llmcall.JSONString(t.args.String())}))
				continue
			}
			m.Parts = append(m.Parts, llm.ToolCallPart(llm.ToolCall{ID: t.id, Name: t.name, Arguments: llmcall.ToolArguments(t.args.String())}))
		}
		m.FinishReason = FinishReason(acc.finish)
		if m.FinishReason != "" {
			r.FinishReasons = append(r.FinishReasons, m.FinishReason)
		}
		r.Output = append(r.Output, m)
	}
	return r
}

// responsesAccumulator decodes a Responses result, or its stream: the
// result (with usage) arrives whole in response.completed,
// response.incomplete or response.failed; before that, finished output items
// and text deltas are kept so that a stream closed early still shows what
// it produced.
type responsesAccumulator struct {
	res      llmcall.Result
	whole    bool
	items    []responseItem
	itemSize int
	text     llmcall.Text
	out      int64 // bytes of output deltas streamed
}

// OutputBytes counts the output deltas streamed so far (llmcall.Progress).
func (a *responsesAccumulator) OutputBytes() int64 { return a.out }

// responsesEvent is the part of a Responses stream event we read.
type responsesEvent struct {
	Type     string          `json:"type"`
	Response *responseObject `json:"response"`
	Item     *responseItem   `json:"item"`
	Delta    string          `json:"delta"`
	Message  string          `json:"message"`
	Code     json.RawMessage `json:"code"`
}

func (a *responsesAccumulator) Body(data []byte) {
	var r responseObject
	if json.Unmarshal(data, &r) != nil {
		return
	}
	a.setResponse(&r)
}

func (a *responsesAccumulator) setResponse(r *responseObject) {
	a.whole = true
	a.res.ResponseID, a.res.ResponseModel = r.ID, r.Model
	a.res.Output, a.res.FinishReasons = responsesOutput(r)
	if r.Usage != nil {
		a.res.Usage, a.res.HasUsage = r.Usage.usage(), true
	}
	if r.Status == "failed" && r.Error != nil {
		a.res.Err = &llmcall.ProviderError{Code: r.Error.Code, Message: r.Error.Message}
	}
}

func (a *responsesAccumulator) Event(_ string, data []byte) {
	var ev responsesEvent
	if json.Unmarshal(data, &ev) != nil {
		return
	}
	switch ev.Type {
	case "response.created", "response.in_progress", "response.queued":
		if ev.Response != nil {
			a.res.ResponseID, a.res.ResponseModel = ev.Response.ID, ev.Response.Model
		}
	case "response.output_text.delta":
		a.text.Add(ev.Delta)
		a.out += int64(len(ev.Delta))
	case "response.function_call_arguments.delta", "response.reasoning_summary_text.delta",
		"response.reasoning_text.delta", "response.refusal.delta", "response.custom_tool_call_input.delta":
		a.out += int64(len(ev.Delta))
	case "response.output_item.done":
		if ev.Item != nil && len(a.items) < maxStreamItems && a.itemSize < llmcall.MaxText {
			a.items = append(a.items, *ev.Item)
			a.itemSize += len(ev.Item.Content) + len(ev.Item.Arguments) + len(ev.Item.Output)
			a.text = llmcall.Text{}
		}
	case "response.completed", "response.incomplete", "response.failed":
		if ev.Response != nil {
			a.setResponse(ev.Response)
		}
	case "error":
		pe := &llmcall.ProviderError{Message: ev.Message}
		if s := rawString(ev.Code); s != "" {
			pe.Code = s
		}
		a.res.Err = pe
	}
}

func (a *responsesAccumulator) Result() llmcall.Result {
	if a.whole {
		return a.res
	}
	r := a.res
	r.Output = appendItems(nil, a.items)
	if a.text.Len() > 0 {
		r.Output = appendItems(r.Output, []responseItem{{Type: "message", Role: "assistant", Content: llmcall.JSONString(a.text.String())}})
	}
	return r
}
