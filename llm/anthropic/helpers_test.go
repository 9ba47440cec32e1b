package anthropic_test

import (
	"net/http"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"go.uber.org/goleak"

	agentanthropic "github.com/agenttrace/agenttrace/llm/anthropic"
	"github.com/agenttrace/agenttrace/llm/internal/llmtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is a scripted Anthropic API.
type server struct{ *llmtest.Server }

func newServer(t *testing.T, handlers ...http.HandlerFunc) *server {
	return &server{llmtest.NewServer(t, handlers...)}
}

func (s *server) client(opts ...option.RequestOption) *sdk.Client {
	base := []option.RequestOption{option.WithBaseURL(s.URL), option.WithAPIKey("test-key")}
	base = append(base, agentanthropic.ClientOptions()...)
	c := sdk.NewClient(append(base, opts...)...)
	return &c
}

func (s *server) bareClient() *sdk.Client {
	c := sdk.NewClient(option.WithBaseURL(s.URL), option.WithAPIKey("k"))
	return &c
}

// event formats a stream event as the API sends it.
func event(typ, data string) string { return "event: " + typ + "\ndata: " + data }

// Shapes from the Anthropic API reference (and notes/providers.md).
const (
	// 20 uncached, 1000 cache read, 500 cache write (5m), 50 output.
	msgCached = `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hello!"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":20,"cache_creation_input_tokens":500,"cache_read_input_tokens":1000,"cache_creation":{"ephemeral_5m_input_tokens":500,"ephemeral_1h_input_tokens":0},"output_tokens":50,"service_tier":"standard"}}`

	msgToolUseThinking = `{"id":"msg_2","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[{"type":"thinking","thinking":"Need the weather.","signature":"sig"},{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":400,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":120,"output_tokens_details":{"thinking_tokens":80},"service_tier":"standard"}}`
)

// claude-sonnet-4-5: 20*3 + 1000*0.30 + 500*3.75 + 50*15 = 2985 per 1M.
const sonnetCachedCost = 0.002985

func params(model string, msgs ...sdk.MessageParam) sdk.MessageNewParams {
	if len(msgs) == 0 {
		msgs = []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("Hi"))}
	}
	return sdk.MessageNewParams{Model: sdk.Model(model), MaxTokens: 1024, System: []sdk.TextBlockParam{{Text: "Be brief."}}, Messages: msgs}
}

// streamEvents is a stream with cache writes of both lifetimes, text and a
// tool call, shaped like the API reference's example.
var streamEvents = []string{
	event("message_start", `{"type":"message_start","message":{"id":"msg_s","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"cache_creation_input_tokens":500,"cache_read_input_tokens":1000,"cache_creation":{"ephemeral_5m_input_tokens":300,"ephemeral_1h_input_tokens":200},"output_tokens":1,"service_tier":"standard"}}}`),
	event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
	event("ping", `{"type": "ping"}`),
	event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`),
	event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}`),
	event("content_block_stop", `{"type":"content_block_stop","index":0}`),
	event("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_2","name":"get_weather","input":{}}}`),
	event("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`),
	event("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Par"}}`),
	event("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"is\"}"}}`),
	event("content_block_stop", `{"type":"content_block_stop","index":1}`),
	event("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":50}}`),
	event("message_stop", `{"type":"message_stop"}`),
}

// Normalised: input 20+1000+500 = 1520, output 50. claude-sonnet-4-5 with
// 300 5m and 200 1h writes: 20*3 + 1000*0.3 + 300*3.75 + 200*6 + 50*15 =
// 60 + 300 + 1125 + 1200 + 750 = 3435 per 1M.
const streamCost = 0.003435
