package anthropic

import (
	"encoding/json"
	"testing"
)

func FuzzAccumulator(f *testing.F) {
	f.Add([]byte(`{"type":"message_start","message":{"id":"m","model":"claude","usage":{"input_tokens":5,"cache_creation":{"ephemeral_1h_input_tokens":9}}}}`))
	f.Add([]byte(`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}`))
	f.Add([]byte(`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a"}}`))
	f.Add([]byte(`{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":-3}}`))
	f.Add([]byte(`{"type":"error","error":{"type":"overloaded_error","message":"x"}}`))
	f.Add([]byte(`{"id":"m","content":[{"type":"web_search_tool_result","tool_use_id":"a","content":[1]},{"type":"image","source":{"type":"url","url":"u"}}],"stop_reason":"end_turn","usage":{"input_tokens":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a := &messageAccumulator{}
		a.Event("", []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`))
		a.Event("", data)
		a.Event("", data)
		r := a.Result()
		if _, err := json.Marshal(r.Output); err != nil {
			t.Fatalf("output does not encode: %v", err)
		}
		if r.Usage.InputTokens < 0 || r.Usage.OutputTokens < 0 {
			t.Fatalf("negative usage %+v", r.Usage)
		}
		b := &messageAccumulator{}
		b.Body(data)
		_ = b.Result()
		if req, ok := (adapter{}).Request(nil, data); ok {
			if _, err := json.Marshal(req.Input()); err != nil {
				t.Fatalf("input does not encode: %v", err)
			}
		}
	})
}
