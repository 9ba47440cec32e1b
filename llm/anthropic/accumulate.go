package anthropic

import (
	"bytes"
	"encoding/json"

	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/llm/internal/llmcall"
)

// maxBlocks bounds the content blocks a stream accumulator tracks.
const maxBlocks = 128

// wireUsage is a usage object of a result, a message_start or a
// message_delta. Pointers tell present fields from absent ones: a
// message_delta's counts are cumulative and replace what message_start
// said, but usually only output_tokens is sent.
type wireUsage struct {
	InputTokens              *int64 `json:"input_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheCreation            *struct {
		Ephemeral5m int64 `json:"ephemeral_5m_input_tokens"`
		Ephemeral1h int64 `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation"`
	OutputTokens        *int64 `json:"output_tokens"`
	OutputTokensDetails *struct {
		ThinkingTokens int64 `json:"thinking_tokens"`
	} `json:"output_tokens_details"`
}

// usageState holds Anthropic's buckets as reported so far.
type usageState struct {
	input, cacheRead, cacheCreation, write5m, write1h, output, thinking int64
	seen                                                                bool
}

func (s *usageState) merge(raw json.RawMessage) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return
	}
	var u wireUsage
	if json.Unmarshal(raw, &u) != nil {
		return
	}
	set := func(dst *int64, src *int64) {
		if src != nil {
			*dst = *src
			s.seen = true
		}
	}
	set(&s.input, u.InputTokens)
	set(&s.cacheRead, u.CacheReadInputTokens)
	set(&s.cacheCreation, u.CacheCreationInputTokens)
	set(&s.output, u.OutputTokens)
	if u.CacheCreation != nil {
		s.write5m, s.write1h = u.CacheCreation.Ephemeral5m, u.CacheCreation.Ephemeral1h
	}
	if u.OutputTokensDetails != nil {
		s.thinking = u.OutputTokensDetails.ThinkingTokens
	}
}

func (s *usageState) usage() llm.Usage {
	return normalise(s.input, s.cacheRead, s.cacheCreation, s.write5m, s.write1h, s.output, s.thinking)
}

// messageAccumulator decodes a Messages response: a whole body, or the
// events of a stream (message_start, content_block_start/delta/stop,
// message_delta, message_stop, ping, error).
type messageAccumulator struct {
	res    llmcall.Result
	usage  usageState
	whole  bool
	blocks []*blockAcc
	stop   string
	ended  bool  // an error event or an undecodable event ended the stream
	out    int64 // bytes of deltas streamed
}

type blockAcc struct {
	b    block
	text llmcall.Text // text, thinking or tool input JSON
}

// streamEvent is the part of a stream event we read.
type streamEvent struct {
	Type         string         `json:"type"`
	Message      *messageObject `json:"message"`
	Index        int            `json:"index"`
	ContentBlock *block         `json:"content_block"`
	Delta        *struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		Thinking    string `json:"thinking"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage json.RawMessage `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func (a *messageAccumulator) Body(data []byte) {
	var m messageObject
	if json.Unmarshal(data, &m) != nil {
		return
	}
	a.whole = true
	a.res.ResponseID, a.res.ResponseModel = m.ID, m.Model
	a.res.Output, a.res.FinishReasons = outputMessages(&m)
	a.usage.merge(m.Usage)
}

func (a *messageAccumulator) Event(typ string, data []byte) {
	if typ == "error" {
		// The SDK stops at an event named error, whatever its data.
		a.fail(nil)
	}
	var ev streamEvent
	if json.Unmarshal(data, &ev) != nil {
		if typ != "" && typ != "ping" && typ != "error" && !json.Valid(data) {
			// The SDK fails the stream at an event it cannot decode.
			a.fail(&llmcall.ProviderError{Message: "stream event " + typ + " is not valid JSON"})
		}
		return
	}
	switch ev.Type {
	case "message_start":
		if ev.Message != nil {
			a.res.ResponseID, a.res.ResponseModel = ev.Message.ID, ev.Message.Model
			a.usage.merge(ev.Message.Usage)
		}
	case "content_block_start":
		if ev.ContentBlock == nil || ev.Index < 0 || ev.Index >= maxBlocks {
			return
		}
		for len(a.blocks) <= ev.Index {
			a.blocks = append(a.blocks, nil)
		}
		acc := &blockAcc{b: *ev.ContentBlock}
		acc.text.Add(ev.ContentBlock.Text)
		acc.text.Add(ev.ContentBlock.Thinking)
		a.blocks[ev.Index] = acc
	case "content_block_delta":
		if ev.Delta == nil || ev.Index < 0 || ev.Index >= len(a.blocks) || a.blocks[ev.Index] == nil {
			return
		}
		acc := a.blocks[ev.Index]
		a.out += int64(len(ev.Delta.Text) + len(ev.Delta.Thinking) + len(ev.Delta.PartialJSON))
		switch ev.Delta.Type {
		case "text_delta":
			acc.text.Add(ev.Delta.Text)
		case "thinking_delta":
			acc.text.Add(ev.Delta.Thinking)
		case "input_json_delta":
			acc.text.Add(ev.Delta.PartialJSON)
		}
	case "message_delta":
		if ev.Delta != nil && ev.Delta.StopReason != "" {
			a.stop = ev.Delta.StopReason
		}
		a.usage.merge(ev.Usage)
	case "error":
		var e *llmcall.ProviderError
		if ev.Error != nil {
			e = &llmcall.ProviderError{Type: ev.Error.Type, Message: ev.Error.Message}
		}
		a.fail(e)
	}
}

// fail marks the stream ended by an error event or an event the SDK cannot
// decode: e, or a generic error when the event told nothing better.
func (a *messageAccumulator) fail(e *llmcall.ProviderError) {
	a.ended = true
	switch {
	case e != nil:
		a.res.Err = e
	case a.res.Err == nil:
		a.res.Err = &llmcall.ProviderError{Message: "error event without an error object"}
	}
}

// Ended reports whether an error event, or an event that is not JSON,
// ended the stream (llmcall.Ender): the API sends nothing after an error
// event, and the SDK's stream stops at either without reading the body to
// its end or closing it, so the middleware ends the span at the event.
func (a *messageAccumulator) Ended() bool { return a.ended }

// OutputBytes counts the text, thinking and tool input streamed so far
// (llmcall.Progress).
func (a *messageAccumulator) OutputBytes() int64 { return a.out }

func (a *messageAccumulator) Result() llmcall.Result {
	r := a.res
	if a.usage.seen {
		r.Usage, r.HasUsage = a.usage.usage(), true
	}
	if a.whole {
		return r
	}
	m := messageObject{StopReason: a.stop}
	for _, acc := range a.blocks {
		if acc == nil {
			continue
		}
		b := acc.b
		switch b.Type {
		case "text":
			b.Text = acc.text.String()
		case "thinking":
			b.Thinking = acc.text.String()
		case "tool_use", "server_tool_use", "mcp_tool_use":
			if acc.text.Len() > 0 {
				b.Input = llmcall.ToolArguments(acc.text.String()) // invalid JSON (cut short) stays text
			}
		}
		m.Content = append(m.Content, b)
	}
	if len(m.Content) > 0 || m.StopReason != "" {
		r.Output, r.FinishReasons = outputMessages(&m)
	}
	return r
}
