package openai_test

import (
	"net/http"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"go.uber.org/goleak"

	"github.com/agenttrace/agenttrace/llm/internal/llmtest"
	agentopenai "github.com/agenttrace/agenttrace/llm/openai"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is a scripted OpenAI API.
type server struct{ *llmtest.Server }

func newServer(t *testing.T, handlers ...http.HandlerFunc) *server {
	return &server{llmtest.NewServer(t, handlers...)}
}

func (s *server) client(opts ...option.RequestOption) *oai.Client {
	c := oai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(s.URL + "/v1"), option.WithAPIKey("test-key"),
		option.WithMiddleware(agentopenai.Middleware()),
	}, opts...)...)
	return &c
}

// Shapes from the OpenAI API reference (and notes/providers.md).
const (
	chatCachedReasoning = `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":120,"completion_tokens":50,"total_tokens":170,"prompt_tokens_details":{"cached_tokens":100,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":30,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_1"}`

	chatToolCall = `{"id":"chatcmpl-2","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}],"annotations":[]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`

	// o3: 100 input, 500 output of which 400 reasoning.
	chatReasoning = `{"id":"chatcmpl-3","object":"chat.completion","created":1700000000,"model":"o3-2025-04-16","choices":[{"index":0,"message":{"role":"assistant","content":"42","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":500,"total_tokens":600,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":400}}}`

	responsesCached = `{"id":"resp_1","object":"response","created_at":1700000000,"status":"completed","error":null,"incomplete_details":null,"model":"gpt-4o-2024-08-06","output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello!","annotations":[]}]}],"usage":{"input_tokens":120,"input_tokens_details":{"cached_tokens":100},"output_tokens":50,"output_tokens_details":{"reasoning_tokens":30},"total_tokens":170}}`
)

// Cost of 120 input (100 cached) and 50 output tokens of gpt-4o (alias
// gpt-4o-2024-08-06): 20*2.50 + 100*1.25 + 50*10 = 675 per 1M = $0.000675.
const gpt4oCachedCost = 0.000675

func chatParams(model string, msgs ...oai.ChatCompletionMessageParamUnion) oai.ChatCompletionNewParams {
	if len(msgs) == 0 {
		msgs = []oai.ChatCompletionMessageParamUnion{oai.SystemMessage("Be brief."), oai.UserMessage("Hi")}
	}
	return oai.ChatCompletionNewParams{Model: model, Messages: msgs}
}
