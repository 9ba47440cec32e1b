// Package llmcall is the provider-independent part of the model-call
// instrumentation in llm/openai and llm/anthropic: what a response tells
// about a call (Result), text accumulation with a bound, and the HTTP
// middleware that turns SDK requests into LLM spans (Middleware).
package llmcall

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/span"
)

// Result is what a model response (a body or a finished stream) says about
// the call.
type Result struct {
	ResponseID    string
	ResponseModel string
	Usage         llm.Usage
	HasUsage      bool
	Output        []llm.Message
	FinishReasons []string
	// Err is an error the provider reported inside a successful HTTP
	// response (an error event in a stream, a failed response).
	Err error
}

// Record writes r onto s: response id and model, usage, finish reasons, the
// output messages when content is true, and Err. It does not end s.
func (r *Result) Record(s *span.Span, content bool) {
	if s == nil || r == nil {
		return
	}
	s.SetResponseID(r.ResponseID)
	s.SetResponseModel(r.ResponseModel)
	if r.HasUsage {
		s.SetUsage(r.Usage)
	}
	s.SetFinishReasons(r.FinishReasons...)
	if content && r.Output != nil {
		s.RecordOutputMessages(r.Output)
	}
	if r.Err != nil {
		s.Fail(r.Err)
	}
}

// ProviderError is an error a provider reported: in an HTTP error response
// (Status is its code) or inside a stream or a result (Status 0).
type ProviderError struct {
	Status  int
	Type    string
	Code    string
	Message string
}

// DecodeError decodes a provider's error object,
// {"message", "type", "code"} (a string or number code), or a bare JSON
// string taken as the message.
func DecodeError(raw json.RawMessage) *ProviderError {
	var d struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	if json.Unmarshal(raw, &d) != nil {
		var s string
		_ = json.Unmarshal(raw, &s)
		return &ProviderError{Message: s}
	}
	e := &ProviderError{Message: d.Message, Type: d.Type}
	var code string
	if json.Unmarshal(d.Code, &code) == nil {
		e.Code = code
	} else if len(d.Code) > 0 && string(d.Code) != "null" {
		e.Code = string(d.Code)
	}
	return e
}

func (e *ProviderError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "no message"
	}
	kind := e.Type
	if kind == "" {
		kind = e.Code
	}
	switch {
	case e.Status != 0 && kind != "":
		return "HTTP " + strconv.Itoa(e.Status) + " " + kind + ": " + msg
	case e.Status != 0:
		return "HTTP " + strconv.Itoa(e.Status) + ": " + msg
	case kind != "":
		return kind + ": " + msg
	}
	return msg
}

// MaxText bounds the text accumulated for one part of a streamed message;
// spans truncate values well below it, so nothing visible is lost.
const MaxText = 64 << 10

// Text accumulates streamed text up to MaxText bytes, cut on a rune
// boundary.
type Text struct {
	b     []byte
	full  bool
	total int64
}

// Add appends s, or the part of it that fits.
func (t *Text) Add(s string) {
	t.total += int64(len(s))
	if t.full || s == "" {
		return
	}
	room := MaxText - len(t.b)
	if len(s) > room {
		cut := room
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
		t.full = true
	}
	t.b = append(t.b, s...)
}

// String returns the accumulated text.
func (t *Text) String() string { return string(t.b) }

// Len returns the accumulated length in bytes.
func (t *Text) Len() int { return len(t.b) }

// Total returns the length of everything added, kept or not.
func (t *Text) Total() int64 { return t.total }
