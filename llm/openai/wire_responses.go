package openai

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/llm/internal/llmcall"
)

// responsesRequest is the part of a POST /responses body we record.
type responsesRequest struct {
	Model           string          `json:"model"`
	Stream          bool            `json:"stream"`
	MaxOutputTokens int64           `json:"max_output_tokens"`
	Instructions    json.RawMessage `json:"instructions"`
	Input           json.RawMessage `json:"input"`
}

// responseItem is one input or output item of the Responses API.
type responseItem struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	Input     string          `json:"input"`
	Output    json.RawMessage `json:"output"`
	Summary   []contentPart   `json:"summary"`
}

// responseObject is a Responses API result (also inside the
// response.completed, response.failed and response.incomplete events).
type responseObject struct {
	ID                string             `json:"id"`
	Model             string             `json:"model"`
	Status            string             `json:"status"`
	Output            []responseItem     `json:"output"`
	Usage             *responseUsageWire `json:"usage"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// responsesInputMessages converts the instructions and input of a Responses
// request.
func responsesInputMessages(req *responsesRequest) []llm.Message {
	var out []llm.Message
	if s := rawString(req.Instructions); s != "" {
		out = append(out, llm.TextMessage(llm.System, s))
	} else if len(req.Instructions) > 0 && req.Instructions[0] == '[' {
		var items []responseItem
		if json.Unmarshal(req.Instructions, &items) == nil {
			out = appendItems(out, items)
		}
	}
	input := bytes.TrimSpace(req.Input)
	if len(input) == 0 {
		return out
	}
	if input[0] == '"' {
		return append(out, llm.TextMessage(llm.User, rawString(input)))
	}
	var items []responseItem
	if json.Unmarshal(input, &items) != nil {
		return out
	}
	return appendItems(out, items)
}

// appendItems converts Responses items to messages. Consecutive assistant
// items (reasoning, text, tool calls of one turn) share one message; every
// tool output is a message of its own, as in Chat Completions.
func appendItems(out []llm.Message, items []responseItem) []llm.Message {
	lastAssistant := false
	add := func(role llm.Role, parts ...llm.Part) {
		if len(parts) == 0 {
			return
		}
		if role == llm.Assistant && lastAssistant {
			m := &out[len(out)-1]
			m.Parts = append(m.Parts, parts...)
			return
		}
		out = append(out, llm.Message{Role: role, Parts: parts})
		lastAssistant = role == llm.Assistant
	}
	for i := range items {
		it := &items[i]
		switch {
		case it.Type == "message" || (it.Type == "" && it.Role != ""):
			role := chatRole(it.Role)
			parts := appendContent(nil, it.Content)
			if role != llm.Assistant {
				// A new user or system turn never merges.
				out = append(out, llm.Message{Role: role, Parts: llmcall.NonNilParts(parts)})
				lastAssistant = false
				continue
			}
			add(role, parts...)
		case it.Type == "reasoning":
			var b strings.Builder
			for _, s := range it.Summary {
				b.WriteString(s.Text)
			}
			for _, p := range appendContent(nil, it.Content) {
				b.WriteString(p.Content)
			}
			add(llm.Assistant, llm.Part{Type: llm.PartReasoning, Content: b.String()})
		case it.Type == "function_call":
			add(llm.Assistant, llm.ToolCallPart(llm.ToolCall{ID: it.CallID, Name: it.Name, Arguments: rawArguments(it.Arguments)}))
		case it.Type == "custom_tool_call":
			add(llm.Assistant, llm.ToolCallPart(llm.ToolCall{ID: it.CallID, Name: it.Name, Arguments: llmcall.JSONString(it.Input)}))
		case strings.HasSuffix(it.Type, "_call_output") || it.Type == "mcp_approval_response":
			out = append(out, llm.Message{Role: llm.Tool, Parts: []llm.Part{llm.ToolResultPart(it.CallID, rawOutput(it.Output))}})
			lastAssistant = false
		case strings.HasSuffix(it.Type, "_call"):
			// Built-in tools (web_search_call, file_search_call, mcp_call,
			// computer_call...): the tool is the item type unless named.
			name := it.Name
			if name == "" {
				name = it.Type
			}
			id := it.CallID
			if id == "" {
				id = it.ID
			}
			add(llm.Assistant, llm.ToolCallPart(llm.ToolCall{ID: id, Name: name, Arguments: rawArguments(it.Arguments)}))
		}
	}
	return out
}

// rawString decodes a JSON string, or returns "" for anything else.
func rawString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// rawArguments returns tool arguments sent as a JSON string (the usual
// form) or as a JSON value.
func rawArguments(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	if raw[0] == '"' {
		return llmcall.ToolArguments(rawString(raw))
	}
	return raw
}

// rawOutput returns a tool output: a string is recorded as a JSON string,
// anything else (an array of content parts) as it is.
func rawOutput(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return json.RawMessage(`""`)
	}
	return raw
}

// responsesOutput converts a Responses result to its output message (all
// output items are the assistant's, in one message) and finish reason.
func responsesOutput(r *responseObject) ([]llm.Message, []string) {
	msgs := appendItems(nil, r.Output)
	reason := responseFinishReason(r)
	if reason != "" {
		if len(msgs) == 0 {
			msgs = append(msgs, llm.Message{Role: llm.Assistant, Parts: []llm.Part{}})
		}
		msgs[len(msgs)-1].FinishReason = reason
		return msgs, []string{reason}
	}
	return msgs, nil
}

// responseFinishReason derives a finish reason from a Responses result,
// which has a status rather than a finish reason: completed is stop, or
// tool_call when the output calls a tool; incomplete is length
// (max_output_tokens) or content_filter; failed is error.
func responseFinishReason(r *responseObject) string {
	switch r.Status {
	case "completed":
		for _, it := range r.Output {
			if it.Type == "function_call" || it.Type == "custom_tool_call" {
				return llm.FinishToolCall
			}
		}
		return llm.FinishStop
	case "incomplete":
		if r.IncompleteDetails != nil {
			switch r.IncompleteDetails.Reason {
			case "max_output_tokens":
				return llm.FinishLength
			case "content_filter":
				return llm.FinishContentFilter
			case "":
			default:
				return r.IncompleteDetails.Reason
			}
		}
		return llm.FinishLength
	case "failed":
		return llm.FinishError
	}
	return ""
}
