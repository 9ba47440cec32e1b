package openai

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// FuzzAccumulators feeds arbitrary bodies and stream events to the decoders
// the middleware uses: they must never panic, and what they return must
// encode as JSON.
func FuzzAccumulators(f *testing.F) {
	f.Add([]byte(`{"id":"c","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"hi","tool_calls":[{"index":0,"id":"x","function":{"name":"f","arguments":"{"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}`))
	f.Add([]byte(`{"type":"response.completed","response":{"id":"r","status":"completed","output":[{"type":"function_call","call_id":"a","name":"f","arguments":"{}"},{"type":"reasoning","summary":[{"text":"t"}]}],"usage":{"input_tokens":5}}}`))
	f.Add([]byte(`{"type":"response.output_item.done","item":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"x"}]}}`))
	f.Add([]byte(`{"choices":[{"index":99999999,"delta":{"tool_calls":[{"index":-1}]}}]}`))
	f.Add([]byte(`{"error":{"message":"m","code":5}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, acc := range []interface {
			Body([]byte)
			Event(string, []byte)
		}{&chatAccumulator{}, &responsesAccumulator{}} {
			acc.Event("", data)
			acc.Event("", data)
			acc.Body(data)
		}
		for _, acc := range []interface {
			Event(string, []byte)
		}{&chatAccumulator{}, &responsesAccumulator{}} {
			acc.Event("", data)
		}
		c := &chatAccumulator{}
		c.Event("", data)
		r := c.Result()
		if _, err := json.Marshal(r.Output); err != nil {
			t.Fatalf("chat output does not encode: %v", err)
		}
		ra := &responsesAccumulator{}
		ra.Event("", data)
		rr := ra.Result()
		if _, err := json.Marshal(rr.Output); err != nil {
			t.Fatalf("responses output does not encode: %v", err)
		}
	})
}

// FuzzRequest feeds arbitrary request bodies to the middleware's request
// decoder.
func FuzzRequest(f *testing.F) {
	f.Add([]byte(`{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,xx"}}]},{"role":"tool","tool_call_id":"a","content":"r"}]}`))
	f.Add([]byte(`{"model":"o3","instructions":"be brief","input":[{"type":"function_call_output","call_id":"a","output":[{"type":"input_text","text":"x"}]},{"type":"web_search_call","id":"w"}]}`))
	f.Add([]byte(`{"input":"hi"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/v1/chat/completions", "/v1/responses"} {
			req := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: path}}
			r, ok := adapter{}.Request(req, body)
			if !ok {
				continue
			}
			if _, err := json.Marshal(r.Input()); err != nil {
				t.Fatalf("input does not encode: %v", err)
			}
		}
	})
}
