package openai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/llm"
	agentopenai "github.com/agenttrace/agenttrace/llm/openai"
	"github.com/agenttrace/agenttrace/trace"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is an agenttrace client exporting into the OTel SDK's in-memory
// exporter.
type recorder struct {
	t      *testing.T
	client *trace.Client
	mem    *tracetest.InMemoryExporter
}

func newRecorder(t *testing.T, opts ...trace.Option) *recorder {
	t.Helper()
	mem := tracetest.NewInMemoryExporter()
	client, err := trace.NewClient(context.Background(), append([]trace.Option{trace.WithExporter(mem)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, client.Shutdown(context.Background())) })
	return &recorder{t: t, client: client, mem: mem}
}

// start starts a trace and returns its context; the trace ends with the test.
func (r *recorder) start() context.Context {
	ctx, tr := r.client.Start(context.Background(), "agent")
	r.t.Cleanup(tr.End)
	return ctx
}

// llmSpans flushes and returns the exported LLM spans.
func (r *recorder) llmSpans() []tracetest.SpanStub {
	r.t.Helper()
	require.NoError(r.t, r.client.Flush(context.Background()))
	var out []tracetest.SpanStub
	for _, s := range r.mem.GetSpans() {
		if attrs(s)[attr.SpanType].AsString() == attr.TypeLLM {
			out = append(out, s)
		}
	}
	return out
}

// one returns the only LLM span.
func (r *recorder) one() (tracetest.SpanStub, map[attribute.Key]attribute.Value) {
	r.t.Helper()
	spans := r.llmSpans()
	require.Len(r.t, spans, 1, "want exactly one LLM span")
	return spans[0], attrs(spans[0])
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(s.Attributes))
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// messages decodes a gen_ai.*.messages attribute.
func messages(t *testing.T, v attribute.Value) []llm.Message {
	t.Helper()
	var out []llm.Message
	text := v.AsString()
	require.NoError(t, json.Unmarshal([]byte(text), &out), "messages JSON: %.300s", text)
	return out
}

// server is a scripted OpenAI API: each request gets the next handler (the
// last one repeats).
type server struct {
	*httptest.Server
	calls    atomic.Int32
	handlers []http.HandlerFunc
	bodies   chan []byte
}

func newServer(t *testing.T, handlers ...http.HandlerFunc) *server {
	t.Helper()
	s := &server{handlers: handlers, bodies: make(chan []byte, 16)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.calls.Add(1)) - 1
		var body []byte
		if r.Body != nil {
			body = make([]byte, 0, 1024)
			buf := make([]byte, 4096)
			for {
				k, err := r.Body.Read(buf)
				body = append(body, buf[:k]...)
				if err != nil {
					break
				}
			}
		}
		select {
		case s.bodies <- body:
		default:
		}
		s.handlers[min(n, len(s.handlers)-1)](w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) client(opts ...option.RequestOption) *oai.Client {
	c := oai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(s.URL + "/v1"), option.WithAPIKey("test-key"),
		option.WithMiddleware(agentopenai.Middleware()),
	}, opts...)...)
	return &c
}

func jsonHandler(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

// sseHandler writes events as a text/event-stream, flushing each.
func sseHandler(events ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		f := w.(http.Flusher)
		for _, e := range events {
			fmt.Fprint(w, e)
			if !strings.HasSuffix(e, "\n\n") {
				fmt.Fprint(w, "\n\n")
			}
			f.Flush()
		}
	}
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
