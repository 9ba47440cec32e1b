package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/trace"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// keepSpans keeps the in-memory exporter's spans past the client's
// Shutdown, which run calls.
type keepSpans struct{ *tracetest.InMemoryExporter }

func (keepSpans) Shutdown(context.Context) error { return nil }

// TestAgentLoop runs the agent against a local stand-in for an
// OpenAI-compatible server: one turn of two tool calls, then an answer.
func TestAgentLoop(t *testing.T) {
	var turn atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []json.RawMessage `json:"messages"`
		}
		body, _ := io.ReadAll(r.Body)
		require.NoError(t, json.Unmarshal(body, &req))
		w.Header().Set("Content-Type", "application/json")
		if turn.Add(1) == 1 {
			assert.Len(t, req.Messages, 2)
			fmt.Fprint(w, `{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,"tool_calls":[
				{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
				{"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}}],
				"usage":{"prompt_tokens":90,"completion_tokens":40,"total_tokens":130}}`)
			return
		}
		assert.Len(t, req.Messages, 5, "system, user, assistant tool calls, two tool results")
		assert.Contains(t, string(body), `\"temperature_c\":4`)
		fmt.Fprint(w, `{"id":"c2","object":"chat.completion","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Paris is warmer."}}],
			"usage":{"prompt_tokens":200,"completion_tokens":10,"total_tokens":210,"prompt_tokens_details":{"cached_tokens":128}}}`)
	}))
	defer srv.Close()

	mem := tracetest.NewInMemoryExporter()
	var out bytes.Buffer
	err := run(context.Background(), config{
		Model: "gpt-4o-mini", Question: "Oslo or Paris?", Out: &out,
		Trace:  []trace.Option{trace.WithExporter(keepSpans{mem})},
		OpenAI: []option.RequestOption{option.WithBaseURL(srv.URL + "/v1"), option.WithAPIKey("test")},
	})
	require.NoError(t, err)
	assert.Equal(t, "Paris is warmer.\n", out.String())

	types := map[string]int{}
	var cost float64
	for _, s := range mem.GetSpans() {
		for _, kv := range s.Attributes {
			switch kv.Key {
			case attr.SpanType:
				types[kv.Value.AsString()]++
			case attr.CostUSD:
				cost += kv.Value.AsFloat64()
			}
		}
	}
	assert.Equal(t, map[string]int{"trace": 1, "llm": 2, "tool": 2, "message": 4}, types)
	// gpt-4o-mini: (90*0.15 + 40*0.6) + (72*0.15 + 128*0.075 + 10*0.6) per 1M.
	assert.InDelta(t, (13.5+24+10.8+9.6+6)/1e6, cost, 1e-12)
}
