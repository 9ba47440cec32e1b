package openai_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/llm/internal/llmtest"
	agentopenai "github.com/agenttrace/agenttrace/llm/openai"
)

func TestMiddlewareChatCachedAndReasoning(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(200, chatCachedReasoning))
	client := srv.client()

	resp, err := client.Chat.Completions.New(rec.Start(), chatParams("gpt-4o"))
	require.NoError(t, err)
	require.Equal(t, "Hello!", resp.Choices[0].Message.Content, "the SDK still decodes the body")

	s, a := rec.One()
	assert.Equal(t, "chat gpt-4o", s.Name)
	assert.Equal(t, "gpt-4o", a[attr.RequestModel].AsString())
	assert.Equal(t, "gpt-4o-2024-08-06", a[attr.ResponseModel].AsString())
	assert.Equal(t, "openai", a[attr.ProviderName].AsString())
	assert.Equal(t, "chatcmpl-1", a[attr.ResponseID].AsString())
	assert.Equal(t, int64(200), a[semconv.HTTPResponseStatusCodeKey].AsInt64())
	assert.Equal(t, int64(120), a[attr.InputTokens].AsInt64())
	assert.Equal(t, int64(50), a[attr.OutputTokens].AsInt64())
	assert.Equal(t, int64(100), a[attr.CacheReadTokens].AsInt64())
	assert.Equal(t, int64(30), a[attr.ReasoningTokens].AsInt64())
	assert.Equal(t, int64(170), a[attr.TotalTokens].AsInt64())
	assert.InDelta(t, gpt4oCachedCost, a[attr.CostUSD].AsFloat64(), 1e-12)
	assert.Equal(t, attr.CostSourceComputed, a[attr.CostSource].AsString())
	assert.Equal(t, llm.DefaultPrices().Version(), a[attr.PriceTableVersion].AsString())
	assert.Equal(t, []string{llm.FinishStop}, a[attr.FinishReasons].AsStringSlice())
	assert.Equal(t, codes.Unset, s.Status.Code)

	in := llmtest.Messages(t, a[attr.InputMessages])
	require.Len(t, in, 2)
	assert.Equal(t, llm.TextMessage(llm.System, "Be brief."), in[0])
	assert.Equal(t, llm.TextMessage(llm.User, "Hi"), in[1])
	out := llmtest.Messages(t, a[attr.OutputMessages])
	require.Len(t, out, 1)
	assert.Equal(t, llm.Message{Role: llm.Assistant, Parts: []llm.Part{llm.Text("Hello!")}, FinishReason: llm.FinishStop}, out[0])
}

func TestMiddlewareReasoningCost(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(200, chatReasoning))
	_, err := srv.client().Chat.Completions.New(rec.Start(), chatParams("o3"))
	require.NoError(t, err)
	_, a := rec.One()
	assert.Equal(t, int64(500), a[attr.OutputTokens].AsInt64())
	assert.Equal(t, int64(400), a[attr.ReasoningTokens].AsInt64())
	// 100*2 + 500*8 = 4200 per 1M: reasoning is inside the output, not added again.
	assert.InDelta(t, 0.0042, a[attr.CostUSD].AsFloat64(), 1e-12)
}

func TestMiddlewareToolCallsRoundTrip(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(200, chatToolCall))
	params := chatParams("gpt-4o-mini",
		oai.DeveloperMessage("Use tools."),
		oai.UserMessage("Weather in Paris?"),
		oai.ChatCompletionMessageParamUnion{OfAssistant: &oai.ChatCompletionAssistantMessageParam{
			ToolCalls: []oai.ChatCompletionMessageToolCallUnionParam{{OfFunction: &oai.ChatCompletionMessageFunctionToolCallParam{
				ID: "call_0", Function: oai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "get_time", Arguments: `{"tz":"CET"}`},
			}}},
		}},
		oai.ToolMessage(`{"time":"12:00"}`, "call_0"),
	)
	resp, err := srv.client().Chat.Completions.New(rec.Start(), params)
	require.NoError(t, err)
	require.Len(t, resp.Choices[0].Message.ToolCalls, 1)

	_, a := rec.One()
	assert.Equal(t, []string{llm.FinishToolCall}, a[attr.FinishReasons].AsStringSlice())
	in := llmtest.Messages(t, a[attr.InputMessages])
	require.Len(t, in, 4)
	assert.Equal(t, llm.System, in[0].Role)
	assert.Equal(t, llm.Message{Role: llm.Assistant, Parts: []llm.Part{{Type: llm.PartToolCall, ID: "call_0", Name: "get_time", Arguments: []byte(`{"tz":"CET"}`)}}}, in[2])
	assert.Equal(t, llm.Message{Role: llm.Tool, Parts: []llm.Part{{Type: llm.PartToolCallResponse, ID: "call_0", Response: []byte(`"{\"time\":\"12:00\"}"`)}}}, in[3])
	out := llmtest.Messages(t, a[attr.OutputMessages])
	require.Len(t, out, 1)
	assert.Equal(t, llm.Message{Role: llm.Assistant, FinishReason: llm.FinishToolCall,
		Parts: []llm.Part{{Type: llm.PartToolCall, ID: "call_abc", Name: "get_weather", Arguments: []byte(`{"city":"Paris"}`)}}}, out[0])
	// gpt-4o-mini-2024-07-18: 82*0.15 + 17*0.6 = 22.5 per 1M.
	assert.InDelta(t, 0.0000225, a[attr.CostUSD].AsFloat64(), 1e-12)
}

func chatChunk(id, delta, finish string) string {
	if finish == "" {
		finish = "null"
	} else {
		finish = `"` + finish + `"`
	}
	return fmt.Sprintf(`data: {"id":%q,"object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}],"usage":null}`, id, delta, finish)
}

const chatUsageChunk = `data: {"id":"chatcmpl-s","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":120,"completion_tokens":50,"total_tokens":170,"prompt_tokens_details":{"cached_tokens":100},"completion_tokens_details":{"reasoning_tokens":30}}}`

func TestMiddlewareChatStream(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.SSEHandler(
		chatChunk("chatcmpl-s", `{"role":"assistant","content":"","refusal":null}`, ""),
		chatChunk("chatcmpl-s", `{"content":"Hel"}`, ""),
		chatChunk("chatcmpl-s", `{"content":"lo!"}`, ""),
		chatChunk("chatcmpl-s", `{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}`, ""),
		chatChunk("chatcmpl-s", `{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}`, ""),
		chatChunk("chatcmpl-s", `{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}`, ""),
		chatChunk("chatcmpl-s", `{}`, "tool_calls"),
		chatUsageChunk,
		"data: [DONE]",
	))
	params := chatParams("gpt-4o")
	params.StreamOptions = oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(true)}
	stream := srv.client().Chat.Completions.NewStreaming(rec.Start(), params)
	var text strings.Builder
	n := 0
	for stream.Next() {
		n++
		if ch := stream.Current(); len(ch.Choices) > 0 {
			text.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	require.NoError(t, stream.Err())
	require.NoError(t, stream.Close())
	assert.Equal(t, 8, n)
	assert.Equal(t, "Hello!", text.String())

	_, a := rec.One()
	assert.Equal(t, int64(120), a[attr.InputTokens].AsInt64())
	assert.Equal(t, int64(100), a[attr.CacheReadTokens].AsInt64())
	assert.Equal(t, int64(30), a[attr.ReasoningTokens].AsInt64())
	assert.InDelta(t, gpt4oCachedCost, a[attr.CostUSD].AsFloat64(), 1e-12)
	assert.Equal(t, []string{llm.FinishToolCall}, a[attr.FinishReasons].AsStringSlice())
	assert.Equal(t, "gpt-4o-2024-08-06", a[attr.ResponseModel].AsString())
	ttfc, ok := a[attr.TimeToFirstChunk]
	require.True(t, ok, "time to first chunk recorded")
	assert.GreaterOrEqual(t, ttfc.AsFloat64(), 0.0)
	out := llmtest.Messages(t, a[attr.OutputMessages])
	require.Len(t, out, 1)
	assert.Equal(t, llm.Message{Role: llm.Assistant, FinishReason: llm.FinishToolCall, Parts: []llm.Part{
		llm.Text("Hello!"),
		{Type: llm.PartToolCall, ID: "call_1", Name: "get_weather", Arguments: []byte(`{"city":"Paris"}`)},
	}}, out[0])
}

func TestMiddlewareStreamWithoutUsage(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.SSEHandler(
		chatChunk("c", `{"role":"assistant","content":"Hi"}`, ""),
		chatChunk("c", `{}`, "stop"),
		"data: [DONE]",
	))
	stream := srv.client().Chat.Completions.NewStreaming(rec.Start(), chatParams("gpt-4o"))
	for stream.Next() {
	}
	require.NoError(t, stream.Err())
	_, a := rec.One()
	_, hasTokens := a[attr.InputTokens]
	_, hasCost := a[attr.CostUSD]
	assert.False(t, hasTokens, "no usage was sent: none recorded")
	assert.False(t, hasCost, "no usage: no cost guessed")
	assert.True(t, a[attr.UsageUnknown].AsBool(), "usage recorded as unknown, not zero")
	assert.Equal(t, []string{llm.FinishStop}, a[attr.FinishReasons].AsStringSlice())
	// The middleware asked for the usage (the scripted server ignored it).
	assert.JSONEq(t, `{"include_usage":true}`, string(streamOptions(t, <-srv.Bodies)))
}

func TestMiddlewareAbandonedStreamEndsSpan(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		llmtest.SSEHandler(chatChunk("c", `{"role":"assistant","content":"partial"}`, ""))(w, r)
		select { // hold the stream open until the client gives up
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	stream := srv.client().Chat.Completions.NewStreaming(rec.Start(), chatParams("gpt-4o"))
	require.True(t, stream.Next())
	require.NoError(t, stream.Close())

	s, a := rec.One()
	assert.Equal(t, codes.Unset, s.Status.Code)
	out := llmtest.Messages(t, a[attr.OutputMessages])
	require.Len(t, out, 1)
	assert.Equal(t, []llm.Part{llm.Text("partial")}, out[0].Parts)
	_, hasFinish := a[attr.FinishReasons]
	assert.False(t, hasFinish)
}

func TestMiddlewareResponses(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(200, responsesCached))
	resp, err := srv.client().Responses.New(rec.Start(), responses.ResponseNewParams{
		Model:        "gpt-4o",
		Instructions: oai.String("Be brief."),
		Input:        responses.ResponseNewParamsInputUnion{OfString: oai.String("Hi")},
	})
	require.NoError(t, err)
	require.Equal(t, "Hello!", resp.OutputText())

	_, a := rec.One()
	assert.Equal(t, "resp_1", a[attr.ResponseID].AsString())
	assert.Equal(t, int64(120), a[attr.InputTokens].AsInt64())
	assert.Equal(t, int64(100), a[attr.CacheReadTokens].AsInt64())
	assert.Equal(t, int64(30), a[attr.ReasoningTokens].AsInt64())
	assert.InDelta(t, gpt4oCachedCost, a[attr.CostUSD].AsFloat64(), 1e-12)
	assert.Equal(t, []llm.Message{llm.TextMessage(llm.System, "Be brief."), llm.TextMessage(llm.User, "Hi")}, llmtest.Messages(t, a[attr.InputMessages]))
	assert.Equal(t, []llm.Message{{Role: llm.Assistant, Parts: []llm.Part{llm.Text("Hello!")}, FinishReason: llm.FinishStop}}, llmtest.Messages(t, a[attr.OutputMessages]))
}

func responsesEvent(typ, body string) string {
	return fmt.Sprintf("event: %s\ndata: {\"type\":%q,%s}", typ, typ, body)
}

func TestMiddlewareResponsesStreamWithToolCall(t *testing.T) {
	const item = `{"type":"function_call","id":"fc_1","call_id":"call_9","name":"get_weather","arguments":"{\"city\":\"Oslo\"}","status":"completed"}`
	const reasoning = `{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Need weather."}]}`
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.SSEHandler(
		responsesEvent("response.created", `"sequence_number":0,"response":{"id":"resp_2","object":"response","created_at":1700000000,"status":"in_progress","model":"o4-mini-2025-04-16","output":[],"usage":null}`),
		responsesEvent("response.output_item.done", `"sequence_number":1,"output_index":0,"item":`+reasoning),
		responsesEvent("response.function_call_arguments.delta", `"sequence_number":2,"item_id":"fc_1","output_index":1,"delta":"{\"city\":\"Oslo\"}"`),
		responsesEvent("response.output_item.done", `"sequence_number":3,"output_index":1,"item":`+item),
		responsesEvent("response.completed", `"sequence_number":4,"response":{"id":"resp_2","object":"response","created_at":1700000000,"status":"completed","model":"o4-mini-2025-04-16","output":[`+reasoning+`,`+item+`],"usage":{"input_tokens":1000,"input_tokens_details":{"cached_tokens":0},"output_tokens":300,"output_tokens_details":{"reasoning_tokens":200},"total_tokens":1300}}`),
	))
	stream := srv.client().Responses.NewStreaming(rec.Start(), responses.ResponseNewParams{
		Model: "o4-mini",
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage("Weather in Oslo?", responses.EasyInputMessageRoleUser),
			responses.ResponseInputItemParamOfFunctionCall(`{"q":1}`, "call_8", "lookup"),
			{OfFunctionCallOutput: &responses.ResponseInputItemFunctionCallOutputParam{
				CallID: oai.String("call_8"),
				Output: responses.ResponseInputItemFunctionCallOutputOutputUnionParam{OfString: oai.String("found")},
			}},
		}},
	})
	events := 0
	for stream.Next() {
		events++
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, 5, events)

	_, a := rec.One()
	assert.Equal(t, int64(300), a[attr.OutputTokens].AsInt64())
	assert.Equal(t, int64(200), a[attr.ReasoningTokens].AsInt64())
	// o4-mini: 1000*1.1 + 300*4.4 = 2420 per 1M.
	assert.InDelta(t, 0.00242, a[attr.CostUSD].AsFloat64(), 1e-12)
	assert.Equal(t, []string{llm.FinishToolCall}, a[attr.FinishReasons].AsStringSlice())
	assert.Contains(t, a, attr.TimeToFirstChunk)
	assert.Equal(t, []llm.Message{{Role: llm.Assistant, FinishReason: llm.FinishToolCall, Parts: []llm.Part{
		{Type: llm.PartReasoning, Content: "Need weather."},
		{Type: llm.PartToolCall, ID: "call_9", Name: "get_weather", Arguments: []byte(`{"city":"Oslo"}`)},
	}}}, llmtest.Messages(t, a[attr.OutputMessages]))
	assert.Equal(t, []llm.Message{
		llm.TextMessage(llm.User, "Weather in Oslo?"),
		{Role: llm.Assistant, Parts: []llm.Part{{Type: llm.PartToolCall, ID: "call_8", Name: "lookup", Arguments: []byte(`{"q":1}`)}}},
		{Role: llm.Tool, Parts: []llm.Part{{Type: llm.PartToolCallResponse, ID: "call_8", Response: []byte(`"found"`)}}},
	}, llmtest.Messages(t, a[attr.InputMessages]))
}

func TestMiddlewareOneSpanAcrossRetries(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	fail := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("retry-after-ms", "10")
		llmtest.JSONHandler(500, `{"error":{"message":"overloaded","type":"server_error","code":null}}`)(w, r)
	}
	srv := newServer(t, fail, fail, llmtest.JSONHandler(200, chatCachedReasoning))
	_, err := srv.client(option.WithMaxRetries(2)).Chat.Completions.New(rec.Start(), chatParams("gpt-4o"))
	require.NoError(t, err)
	require.EqualValues(t, 3, srv.Calls.Load(), "the SDK made three attempts")

	s, a := rec.One()
	assert.Equal(t, codes.Unset, s.Status.Code, "the call succeeded in the end")
	assert.Equal(t, int64(200), a[semconv.HTTPResponseStatusCodeKey].AsInt64())
	assert.Equal(t, int64(120), a[attr.InputTokens].AsInt64())
	// The bodies of all attempts were restored for the SDK.
	for range 3 {
		assert.Contains(t, string(<-srv.Bodies), `"model":"gpt-4o"`)
	}
}

func TestMiddlewareRetriesExhausted(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("retry-after-ms", "10")
		llmtest.JSONHandler(503, `{"error":{"message":"try later","type":"server_error","code":"busy"}}`)(w, r)
	})
	_, err := srv.client(option.WithMaxRetries(1)).Chat.Completions.New(rec.Start(), chatParams("gpt-4o"))
	var apiErr *oai.Error
	require.ErrorAs(t, err, &apiErr, "the SDK still gets its error body")
	assert.Equal(t, 503, apiErr.StatusCode)
	require.EqualValues(t, 2, srv.Calls.Load())

	s, a := rec.One()
	assert.Equal(t, codes.Error, s.Status.Code)
	assert.Contains(t, s.Status.Description, "try later")
	assert.Equal(t, "503", a[semconv.ErrorTypeKey].AsString())
	assert.Equal(t, int64(503), a[semconv.HTTPResponseStatusCodeKey].AsInt64())
}

func TestMiddlewareBadRequestNotRetried(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(400, `{"error":{"message":"Invalid 'messages'","type":"invalid_request_error","param":"messages","code":null}}`))
	_, err := srv.client().Chat.Completions.New(rec.Start(), chatParams("gpt-4o"))
	require.Error(t, err)
	s, _ := rec.One()
	assert.Equal(t, codes.Error, s.Status.Code)
	assert.Contains(t, s.Status.Description, "Invalid 'messages'")
}

func TestMiddlewareTransportError(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(200, chatCachedReasoning))
	url := srv.URL
	srv.Close()
	client := oai.NewClient(option.WithBaseURL(url+"/v1"), option.WithAPIKey("k"), option.WithMaxRetries(0),
		option.WithMiddleware(agentopenai.Middleware()))
	_, err := client.Chat.Completions.New(rec.Start(), chatParams("gpt-4o"))
	require.Error(t, err)
	s, _ := rec.One()
	assert.Equal(t, codes.Error, s.Status.Code)
}

func TestMiddlewareOutsideTraceAndOtherEndpoints(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(200, chatCachedReasoning))
	client := srv.client()
	// No trace in the context: nothing recorded, the call works.
	resp, err := client.Chat.Completions.New(context.Background(), chatParams("gpt-4o"))
	require.NoError(t, err)
	assert.Equal(t, "Hello!", resp.Choices[0].Message.Content)
	// Another endpoint inside a trace: passed through.
	srv2 := newServer(t, llmtest.JSONHandler(200, `{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1,"owned_by":"openai"}]}`))
	_, err = srv2.client().Models.List(rec.Start())
	require.NoError(t, err)
	assert.Empty(t, rec.LLMSpans())
}

func TestMiddlewareUnknownModelRecordsTokensOnly(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	body := strings.ReplaceAll(chatCachedReasoning, "gpt-4o-2024-08-06", "my-local-llama")
	srv := newServer(t, llmtest.JSONHandler(200, body))
	_, err := srv.client().Chat.Completions.New(rec.Start(), chatParams("my-local-llama"))
	require.NoError(t, err)
	_, a := rec.One()
	assert.Equal(t, int64(120), a[attr.InputTokens].AsInt64())
	_, hasCost := a[attr.CostUSD]
	assert.False(t, hasCost, "unknown model: no cost")
}

func TestMiddlewareResponseWithoutUsage(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(200, `{"id":"x","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"length"}]}`))
	_, err := srv.client().Chat.Completions.New(rec.Start(), chatParams("gpt-4o"))
	require.NoError(t, err)
	_, a := rec.One()
	_, hasTokens := a[attr.InputTokens]
	assert.False(t, hasTokens)
	assert.True(t, a[attr.UsageUnknown].AsBool())
	assert.Equal(t, []string{llm.FinishLength}, a[attr.FinishReasons].AsStringSlice())
}

func TestMiddlewareStreamErrorEvent(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.SSEHandler(
		chatChunk("c", `{"role":"assistant","content":"Hi"}`, ""),
		`data: {"error":{"message":"The server had an error","type":"server_error"}}`,
	))
	stream := srv.client().Chat.Completions.NewStreaming(rec.Start(), chatParams("gpt-4o"))
	for stream.Next() {
	}
	require.Error(t, stream.Err())
	s, _ := rec.One()
	assert.Equal(t, codes.Error, s.Status.Code)
	assert.Contains(t, s.Status.Description, "The server had an error")
}

// TestMiddlewareStreamMemoryFlat streams about 10 MB through the middleware
// and checks the heap does not grow with it: the stream is decoded as it is
// read, never buffered.
func TestMiddlewareStreamMemoryFlat(t *testing.T) {
	const chunks = 20000
	content := strings.Repeat("x", 500)
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range chunks {
			fmt.Fprintf(w, "%s\n\n", chatChunk("c", `{"content":"`+content+`"}`, ""))
			if i%1000 == 0 {
				w.(http.Flusher).Flush()
			}
		}
		fmt.Fprintf(w, "%s\n\n%s\n\ndata: [DONE]\n\n", chatChunk("c", `{}`, "stop"), chatUsageChunk)
	})
	stream := srv.client().Chat.Completions.NewStreaming(rec.Start(), chatParams("gpt-4o"))
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	var before, after uint64
	n := 0
	for stream.Next() {
		n++
		switch n {
		case 2000:
			before = heap()
		case chunks - 10:
			after = heap()
		}
	}
	require.NoError(t, stream.Err())
	require.Equal(t, chunks+2, n)
	streamed := uint64(chunks * len(content))
	growth := int64(after) - int64(before)
	t.Logf("streamed %d MB of content; heap in use grew by %d KB", streamed>>20, growth>>10)
	assert.Less(t, growth, int64(streamed/4), "heap grew with the stream: it is being buffered")

	_, a := rec.One()
	assert.Equal(t, int64(120), a[attr.InputTokens].AsInt64(), "usage at the end of a long stream is still recorded")
	out := a[attr.OutputMessages].AsString()
	assert.True(t, strings.HasPrefix(out, `[{"role":"assistant","parts":[{"type":"text","content":"xxxx`), "%.100s", out)
	assert.Less(t, len(out), 64<<10, "recorded output is bounded")
}

func TestMiddlewareCanceledContext(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ctx, cancel := context.WithCancel(rec.Start())
	client := srv.client()
	done := make(chan error, 1)
	go func() {
		_, err := client.Chat.Completions.New(ctx, chatParams("gpt-4o"))
		done <- err
	}()
	for srv.Calls.Load() == 0 {
		runtime.Gosched()
	}
	cancel()
	err := <-done
	require.True(t, errors.Is(err, context.Canceled), "err = %v", err)
	s, _ := rec.One()
	assert.Equal(t, codes.Error, s.Status.Code)
}

// Concurrent calls under one parent, each retried once, keep one span each.
func TestMiddlewareConcurrentRetries(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Stainless-Retry-Count") == "0" {
			w.Header().Set("retry-after-ms", "10")
			llmtest.JSONHandler(500, `{"error":{"message":"flaky"}}`)(w, r)
			return
		}
		llmtest.JSONHandler(200, chatCachedReasoning)(w, r)
	})
	client := srv.client()
	ctx := rec.Start()
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := client.Chat.Completions.New(ctx, chatParams(fmt.Sprintf("gpt-4o-%d", i)))
			errs <- err
		}()
	}
	for range n {
		require.NoError(t, <-errs)
	}
	require.EqualValues(t, 2*n, srv.Calls.Load())
	spans := rec.LLMSpans()
	require.Len(t, spans, n)
	models := map[string]bool{}
	for _, s := range spans {
		a := llmtest.Attrs(s)
		models[a[attr.RequestModel].AsString()] = true
		assert.Equal(t, codes.Unset, s.Status.Code)
		assert.Equal(t, int64(120), a[attr.InputTokens].AsInt64())
	}
	assert.Len(t, models, n)
}

func TestMiddlewareOptions(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(200, chatCachedReasoning))
	client := oai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("k"),
		option.WithMiddleware(agentopenai.Middleware(
			agentopenai.WithoutContent(),
			agentopenai.WithProviderName("azure.ai.openai"),
			agentopenai.WithSpanOptions(llm.Prompt("welcome", "v3")),
			agentopenai.WithMaxRetryWait(time.Second),
		)))
	_, err := client.Chat.Completions.New(rec.Start(), chatParams("gpt-4o"))
	require.NoError(t, err)
	_, a := rec.One()
	assert.Equal(t, "azure.ai.openai", a[attr.ProviderName].AsString())
	assert.Equal(t, "welcome", a[attr.PromptSlug].AsString())
	assert.Equal(t, "v3", a[attr.PromptVersion].AsString())
	assert.NotContains(t, a, attr.InputMessages)
	assert.NotContains(t, a, attr.OutputMessages)
	assert.InDelta(t, gpt4oCachedCost, a[attr.CostUSD].AsFloat64(), 1e-12, "usage and cost are still recorded")
}
