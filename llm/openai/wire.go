package openai

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/llm/internal/llmcall"
)

// This file decodes the JSON wire format of the Chat Completions and
// Responses APIs into llm.Messages. Working on the wire format (rather than
// the SDK's union types) lets the middleware, which only sees request and
// response bodies, and the typed helpers, which marshal the SDK values they
// get, share one decoder.

// chatRequest is the part of a POST /chat/completions body we record.
type chatRequest struct {
	Model               string        `json:"model"`
	Stream              bool          `json:"stream"`
	StreamOptions       *streamOpts   `json:"stream_options"`
	MaxTokens           int64         `json:"max_tokens"`
	MaxCompletionTokens int64         `json:"max_completion_tokens"`
	Messages            []chatMessage `json:"messages"`
}

type streamOpts struct {
	IncludeUsage *bool `json:"include_usage"`
}

type chatMessage struct {
	Role             string          `json:"role"`
	Name             string          `json:"name"`
	Content          json.RawMessage `json:"content"`
	Refusal          string          `json:"refusal"`
	ReasoningContent string          `json:"reasoning_content"` // OpenAI-compatible servers (vLLM, DeepSeek)
	ToolCalls        []chatToolCall  `json:"tool_calls"`
	ToolCallID       string          `json:"tool_call_id"`
	FunctionCall     *chatFunction   `json:"function_call"`
}

type chatToolCall struct {
	Index    int           `json:"index"`
	ID       string        `json:"id"`
	Type     string        `json:"type"`
	Function *chatFunction `json:"function"`
	Custom   *struct {
		Name  string `json:"name"`
		Input string `json:"input"`
	} `json:"custom"`
}

type chatFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// contentPart is one element of a content array, in either API.
type contentPart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	Refusal  string          `json:"refusal"`
	ImageURL json.RawMessage `json:"image_url"` // chat: {"url"}; responses: "url"
	FileID   string          `json:"file_id"`
	FileURL  string          `json:"file_url"`
	FileData string          `json:"file_data"`
	File     *struct {
		FileID   string `json:"file_id"`
		FileData string `json:"file_data"`
	} `json:"file"`
	InputAudio *struct {
		Format string `json:"format"`
	} `json:"input_audio"`
}

// chatCompletion is a Chat Completions result or stream chunk.
type chatCompletion struct {
	ID      string       `json:"id"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
}

type chatChoice struct {
	Index        int          `json:"index"`
	Message      *chatMessage `json:"message"`
	Delta        *chatMessage `json:"delta"`
	FinishReason string       `json:"finish_reason"`
}

// chatRole maps a Chat Completions role onto an llm.Role.
func chatRole(r string) llm.Role {
	switch r {
	case "system", "developer":
		return llm.System
	case "user":
		return llm.User
	case "assistant":
		return llm.Assistant
	case "tool", "function":
		return llm.Tool
	}
	return llm.Role(r)
}

// chatInputMessages converts the messages of a Chat Completions request.
func chatInputMessages(msgs []chatMessage) []llm.Message {
	out := make([]llm.Message, 0, len(msgs))
	for i := range msgs {
		out = append(out, chatMessageToLLM(&msgs[i]))
	}
	return out
}

func chatMessageToLLM(m *chatMessage) llm.Message {
	msg := llm.Message{Role: chatRole(m.Role), Name: m.Name}
	switch m.Role {
	case "tool":
		msg.Name = ""
		msg.Parts = append(msg.Parts, llm.ToolResultPart(m.ToolCallID, llmcall.JSONString(contentText(m.Content))))
		return msg
	case "function": // deprecated function result: answered by name
		msg.Parts = append(msg.Parts, llm.ToolResultPart("", llmcall.JSONString(contentText(m.Content))))
		return msg
	}
	if m.ReasoningContent != "" {
		msg.Parts = append(msg.Parts, llm.Part{Type: llm.PartReasoning, Content: m.ReasoningContent})
	}
	msg.Parts = appendContent(msg.Parts, m.Content)
	if m.Refusal != "" {
		msg.Parts = append(msg.Parts, llm.Text(m.Refusal))
	}
	for _, tc := range m.ToolCalls {
		msg.Parts = append(msg.Parts, chatToolCallPart(tc))
	}
	if m.FunctionCall != nil && m.FunctionCall.Name != "" {
		msg.Parts = append(msg.Parts, llm.ToolCallPart(llm.ToolCall{Name: m.FunctionCall.Name, Arguments: llmcall.ToolArguments(m.FunctionCall.Arguments)}))
	}
	if msg.Parts == nil {
		msg.Parts = []llm.Part{}
	}
	return msg
}

func chatToolCallPart(tc chatToolCall) llm.Part {
	switch {
	case tc.Function != nil:
		return llm.ToolCallPart(llm.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: llmcall.ToolArguments(tc.Function.Arguments)})
	case tc.Custom != nil:
		return llm.ToolCallPart(llm.ToolCall{ID: tc.ID, Name: tc.Custom.Name, Arguments: llmcall.JSONString(tc.Custom.Input)})
	}
	return llm.ToolCallPart(llm.ToolCall{ID: tc.ID, Name: tc.Type})
}

// appendContent appends the parts of a content field: a string, null, or an
// array of content parts of either API.
func appendContent(parts []llm.Part, raw json.RawMessage) []llm.Part {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' {
		return parts
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			parts = append(parts, llm.Text(s))
		}
		return parts
	}
	var arr []contentPart
	if json.Unmarshal(raw, &arr) != nil {
		return parts
	}
	for _, p := range arr {
		parts = appendContentPart(parts, p)
	}
	return parts
}

func appendContentPart(parts []llm.Part, p contentPart) []llm.Part {
	switch p.Type {
	case "text", "input_text", "output_text", "summary_text", "reasoning_text":
		return append(parts, llm.Text(p.Text))
	case "refusal":
		return append(parts, llm.Text(p.Refusal))
	case "image_url", "input_image":
		url := imageURL(p.ImageURL)
		switch {
		case url != "":
			return append(parts, mediaPart("image", url))
		case p.FileID != "":
			return append(parts, llm.Part{Type: llm.PartFile, Modality: "image", FileID: p.FileID})
		}
		return parts
	case "input_audio":
		part := llm.Part{Type: llm.PartBlob, Modality: "audio"}
		if p.InputAudio != nil && p.InputAudio.Format != "" {
			part.MimeType = "audio/" + p.InputAudio.Format
		}
		return append(parts, part)
	case "file", "input_file":
		id, data := p.FileID, p.FileData
		if p.File != nil {
			id, data = p.File.FileID, p.File.FileData
		}
		switch {
		case id != "":
			return append(parts, llm.Part{Type: llm.PartFile, FileID: id})
		case p.FileURL != "":
			return append(parts, llm.Part{Type: llm.PartURI, URI: p.FileURL})
		case data != "":
			return append(parts, mediaPart("", data))
		}
		return parts
	}
	if p.Text != "" {
		return append(parts, llm.Text(p.Text))
	}
	return parts
}

func imageURL(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	}
	var o struct {
		URL string `json:"url"`
	}
	_ = json.Unmarshal(raw, &o)
	return o.URL
}

// mediaPart records a URL as a uri part, or a data: URL as a blob part
// without its bytes.
func mediaPart(modality, url string) llm.Part {
	if rest, ok := strings.CutPrefix(url, "data:"); ok {
		mime, _, _ := strings.Cut(rest, ";")
		mime, _, _ = strings.Cut(mime, ",")
		if modality == "" {
			modality = modalityOf(mime)
		}
		return llm.Part{Type: llm.PartBlob, Modality: modality, MimeType: mime}
	}
	return llm.Part{Type: llm.PartURI, Modality: modality, URI: url}
}

func modalityOf(mime string) string {
	for _, m := range []string{"image", "audio", "video"} {
		if strings.HasPrefix(mime, m+"/") {
			return m
		}
	}
	return ""
}

// contentText returns the text of a content field (a string or an array of
// text parts, joined).
func contentText(raw json.RawMessage) string {
	parts := appendContent(nil, raw)
	var b strings.Builder
	for _, p := range parts {
		if p.Type == llm.PartText {
			b.WriteString(p.Content)
		}
	}
	return b.String()
}

// FinishReason maps an OpenAI finish reason (Chat Completions
// choices[].finish_reason) onto the llm.Finish* values: stop, length,
// tool_calls and function_call (tool_call), content_filter. Other values are
// returned unchanged; an empty one stays empty.
func FinishReason(reason string) string {
	switch reason {
	case "stop":
		return llm.FinishStop
	case "length":
		return llm.FinishLength
	case "tool_calls", "function_call":
		return llm.FinishToolCall
	case "content_filter":
		return llm.FinishContentFilter
	}
	return reason
}

// chatOutput converts a Chat Completions result: one output message per
// choice, and the finish reasons in choice order.
func chatOutput(c *chatCompletion) ([]llm.Message, []string) {
	msgs := make([]llm.Message, 0, len(c.Choices))
	var reasons []string
	for _, ch := range c.Choices {
		m := ch.Message
		if m == nil {
			m = &chatMessage{Role: "assistant"}
		}
		if m.Role == "" {
			m.Role = "assistant"
		}
		msg := chatMessageToLLM(m)
		msg.FinishReason = FinishReason(ch.FinishReason)
		msgs = append(msgs, msg)
		if msg.FinishReason != "" {
			reasons = append(reasons, msg.FinishReason)
		}
	}
	return msgs, reasons
}
