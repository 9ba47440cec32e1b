package llmcall

import (
	"encoding/json"

	"github.com/agenttrace/agenttrace/llm"
)

// Helpers of the providers' wire decoders.

// JSONString encodes s as a JSON string.
func JSONString(s string) json.RawMessage {
	b, err := json.Marshal(s)
	if err != nil {
		return json.RawMessage(`""`)
	}
	return b
}

// ToolArguments returns a model's tool-call arguments as JSON: the text
// itself when it is valid JSON (it normally is an object), else the text as
// a JSON string (arguments cut short, or a custom tool's free text). Empty
// text gives nil.
func ToolArguments(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	return JSONString(s)
}

// NonNilParts returns p, or an empty slice for nil (a message's parts
// encode as [] rather than null).
func NonNilParts(p []llm.Part) []llm.Part {
	if p == nil {
		return []llm.Part{}
	}
	return p
}
