package llm

import "encoding/json"

// Role is the author of a conversation message.
type Role string

// Conversation roles.
const (
	System    Role = "system"
	User      Role = "user"
	Assistant Role = "assistant"
	Tool      Role = "tool"
)

// PartType is the kind of a message Part, as in the GenAI semantic
// conventions' message schema.
type PartType string

// Part types.
const (
	PartText             PartType = "text"
	PartToolCall         PartType = "tool_call"
	PartToolCallResponse PartType = "tool_call_response"
	PartReasoning        PartType = "reasoning"
	// PartURI is media referenced by URI (an image URL): Modality, URI and
	// optionally MimeType are set.
	PartURI PartType = "uri"
	// PartBlob is inline media (base64 data). Only its MimeType and Modality
	// are recorded, not the bytes.
	PartBlob PartType = "blob"
	// PartFile is media uploaded to the provider, referenced by FileID.
	PartFile PartType = "file"
)

// Part is one piece of a message's content. Its JSON form is the GenAI
// semantic conventions' part: {"type":"text","content":...},
// {"type":"tool_call","id","name","arguments"},
// {"type":"tool_call_response","id","response"},
// {"type":"reasoning","content"}, or media: {"type":"uri","modality","uri"},
// {"type":"blob","modality","mime_type"} (content not recorded) and
// {"type":"file","modality","file_id"}.
type Part struct {
	Type      PartType        `json:"type"`
	Content   string          `json:"content,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Response  json.RawMessage `json:"response,omitempty"`
	// Modality is the kind of media of a uri, blob or file part: "image",
	// "audio" or "video" (empty for documents).
	Modality string `json:"modality,omitempty"`
	// MimeType is the media type of a uri, blob or file part, if known.
	MimeType string `json:"mime_type,omitempty"`
	// URI is the address of a uri part.
	URI string `json:"uri,omitempty"`
	// FileID is the provider's id of a file part.
	FileID string `json:"file_id,omitempty"`
}

// ToolCall is a model's request to call a tool.
type ToolCall struct {
	// ID is the provider's id for the call; a tool result refers to it.
	ID string
	// Name is the tool's name.
	Name string
	// Arguments is the JSON arguments the model produced.
	Arguments json.RawMessage
}

// Message is one conversation turn. Its JSON form is the GenAI semantic
// conventions' input/output message: {"role","parts":[...],"finish_reason"}.
type Message struct {
	Role  Role   `json:"role"`
	Parts []Part `json:"parts"`
	// Name optionally names the participant.
	Name string `json:"name,omitempty"`
	// FinishReason is set on output messages (stop, length, tool_call,
	// content_filter, error).
	FinishReason string `json:"finish_reason,omitempty"`
}

// Text returns a text part.
func Text(content string) Part { return Part{Type: PartText, Content: content} }

// ToolCallPart returns a tool_call part for tc.
func ToolCallPart(tc ToolCall) Part {
	return Part{Type: PartToolCall, ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments}
}

// ToolResultPart returns a tool_call_response part answering the call with
// the given id. response must be JSON; a non-JSON string should be encoded
// with json.Marshal first.
func ToolResultPart(id string, response json.RawMessage) Part {
	return Part{Type: PartToolCallResponse, ID: id, Response: response}
}

// TextMessage returns a message with a single text part.
func TextMessage(role Role, content string) Message {
	return Message{Role: role, Parts: []Part{Text(content)}}
}

// Finish reasons normalised across providers, as used in
// gen_ai.response.finish_reasons and Message.FinishReason.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCall      = "tool_call"
	FinishContentFilter = "content_filter"
	FinishError         = "error"
)
