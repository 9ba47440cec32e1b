package anthropic

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/llm/internal/llmcall"
)

// This file decodes the JSON wire format of the Messages API into
// llm.Messages, for the middleware (which sees bodies) and the typed helpers
// (which marshal the SDK values they get).

type messagesRequest struct {
	Model     string          `json:"model"`
	Stream    bool            `json:"stream"`
	MaxTokens int64           `json:"max_tokens"`
	System    json.RawMessage `json:"system"`
	Messages  []wireMessage   `json:"messages"`
}

type wireMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// block is a content block of a request or a response.
type block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	Source    *struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type"`
		URL       string `json:"url"`
		FileID    string `json:"file_id"`
	} `json:"source"`
}

// messageObject is a Messages API result (also the message of a
// message_start event).
type messageObject struct {
	ID         string          `json:"id"`
	Model      string          `json:"model"`
	Role       string          `json:"role"`
	Content    []block         `json:"content"`
	StopReason string          `json:"stop_reason"`
	Usage      json.RawMessage `json:"usage"`
}

// FinishReason maps an Anthropic stop_reason onto the llm.Finish* values:
// end_turn and stop_sequence are stop, max_tokens and
// model_context_window_exceeded are length, tool_use is tool_call, refusal
// is content_filter. Other values (pause_turn) are returned unchanged.
func FinishReason(stopReason string) string {
	switch stopReason {
	case "end_turn", "stop_sequence":
		return llm.FinishStop
	case "max_tokens", "model_context_window_exceeded":
		return llm.FinishLength
	case "tool_use":
		return llm.FinishToolCall
	case "refusal":
		return llm.FinishContentFilter
	}
	return stopReason
}

// inputMessages converts a request's system prompt and messages. A user
// message's tool_result blocks become one tool message (they come first in
// Anthropic's user turns); the rest of the turn stays a user message.
func inputMessages(r *messagesRequest) []llm.Message {
	out := make([]llm.Message, 0, len(r.Messages)+1)
	if sys := contentParts(r.System); len(sys) > 0 {
		out = append(out, llm.Message{Role: llm.System, Parts: sys})
	}
	for _, m := range r.Messages {
		parts := contentParts(m.Content)
		if m.Role == "assistant" {
			out = append(out, llm.Message{Role: llm.Assistant, Parts: llmcall.NonNilParts(parts)})
			continue
		}
		var results, rest []llm.Part
		for _, p := range parts {
			if p.Type == llm.PartToolCallResponse {
				results = append(results, p)
			} else {
				rest = append(rest, p)
			}
		}
		if len(results) > 0 {
			out = append(out, llm.Message{Role: llm.Tool, Parts: results})
		}
		if len(rest) > 0 || len(results) == 0 {
			out = append(out, llm.Message{Role: roleOf(m.Role), Parts: llmcall.NonNilParts(rest)})
		}
	}
	return out
}

func roleOf(r string) llm.Role {
	switch r {
	case "user":
		return llm.User
	case "assistant":
		return llm.Assistant
	}
	return llm.Role(r)
}

// contentParts converts a content field: a string or an array of blocks.
func contentParts(raw json.RawMessage) []llm.Part {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil || s == "" {
			return nil
		}
		return []llm.Part{llm.Text(s)}
	}
	var blocks []block
	if json.Unmarshal(raw, &blocks) != nil {
		return nil
	}
	return blockParts(nil, blocks)
}

func blockParts(parts []llm.Part, blocks []block) []llm.Part {
	for i := range blocks {
		if p, ok := blockPart(&blocks[i]); ok {
			parts = append(parts, p)
		}
	}
	return parts
}

func blockPart(b *block) (llm.Part, bool) {
	switch b.Type {
	case "text":
		return llm.Text(b.Text), true
	case "thinking":
		return llm.Part{Type: llm.PartReasoning, Content: b.Thinking}, true
	case "redacted_thinking":
		// Encrypted: its presence is recorded, not its data.
		return llm.Part{Type: llm.PartReasoning}, true
	case "tool_use", "server_tool_use", "mcp_tool_use":
		return llm.ToolCallPart(llm.ToolCall{ID: b.ID, Name: b.Name, Arguments: jsonValue(b.Input)}), true
	case "tool_result", "mcp_tool_result":
		return llm.ToolResultPart(b.ToolUseID, toolResult(b.Content)), true
	case "image", "document":
		return mediaPart(b), b.Source != nil
	}
	if strings.HasSuffix(b.Type, "_tool_result") { // web_search_tool_result, code_execution_tool_result, ...
		return llm.ToolResultPart(b.ToolUseID, jsonValue(b.Content)), true
	}
	return llm.Part{}, false
}

func mediaPart(b *block) llm.Part {
	s := b.Source
	if s == nil {
		return llm.Part{}
	}
	modality := ""
	if b.Type == "image" {
		modality = "image"
	}
	switch s.Type {
	case "url":
		return llm.Part{Type: llm.PartURI, Modality: modality, URI: s.URL, MimeType: s.MediaType}
	case "file":
		return llm.Part{Type: llm.PartFile, Modality: modality, FileID: s.FileID}
	}
	// base64, text, content: inline data, not recorded.
	return llm.Part{Type: llm.PartBlob, Modality: modality, MimeType: s.MediaType}
}

// toolResult returns a tool_result's content as JSON: a string (or text
// blocks, joined) as a JSON string, anything else as sent.
func toolResult(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return json.RawMessage(`""`)
	}
	if raw[0] == '[' {
		var blocks []block
		if json.Unmarshal(raw, &blocks) == nil {
			var b strings.Builder
			for _, bl := range blocks {
				if bl.Type != "text" {
					return raw
				}
				b.WriteString(bl.Text)
			}
			return llmcall.JSONString(b.String())
		}
	}
	return raw
}

// jsonValue returns raw, or nil for an absent or null value.
func jsonValue(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	return raw
}

// outputMessages converts a result's content to its output message.
func outputMessages(m *messageObject) ([]llm.Message, []string) {
	msg := llm.Message{Role: llm.Assistant, Parts: llmcall.NonNilParts(blockParts(nil, m.Content)), FinishReason: FinishReason(m.StopReason)}
	if msg.FinishReason == "" {
		return []llm.Message{msg}, nil
	}
	return []llm.Message{msg}, []string{msg.FinishReason}
}
