package openai_test

import (
	"context"
	"encoding/json"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/llm/internal/llmtest"
	agentopenai "github.com/agenttrace/agenttrace/llm/openai"
)

// bareClient is a real SDK client without the middleware.
func (s *server) bareClient() *oai.Client {
	c := oai.NewClient(option.WithBaseURL(s.URL+"/v1"), option.WithAPIKey("k"))
	return &c
}

func TestUsageFromChat(t *testing.T) {
	var c oai.ChatCompletion
	require.NoError(t, json.Unmarshal([]byte(chatCachedReasoning), &c))
	want := llm.Usage{InputTokens: 120, OutputTokens: 50, CacheReadTokens: 100, ReasoningTokens: 30, TotalTokens: 170}
	assert.Equal(t, want, agentopenai.UsageFrom(&c))
	assert.Equal(t, want, agentopenai.UsageFrom(c.Usage))
	assert.Equal(t, want, agentopenai.UsageFrom(&c.Usage))
	cost, ok := llm.DefaultPrices().Cost(c.Model, agentopenai.UsageFrom(&c))
	require.True(t, ok)
	assert.InDelta(t, gpt4oCachedCost, cost, 1e-12)

	// Nil and usage-less results give a zero Usage, without panicking.
	assert.Zero(t, agentopenai.UsageFrom((*oai.ChatCompletion)(nil)))
	assert.Zero(t, agentopenai.UsageFrom((*oai.ChatCompletionChunk)(nil)))
	assert.Zero(t, agentopenai.UsageFrom((*oai.CompletionUsage)(nil)))
	var chunk oai.ChatCompletionChunk
	require.NoError(t, json.Unmarshal([]byte(`{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":null}`), &chunk))
	assert.Zero(t, agentopenai.UsageFrom(&chunk))

	// Cache writes (newer models) are part of prompt_tokens.
	var w oai.CompletionUsage
	require.NoError(t, json.Unmarshal([]byte(`{"prompt_tokens":1000,"completion_tokens":10,"total_tokens":1010,"prompt_tokens_details":{"cached_tokens":200,"cache_write_tokens":300}}`), &w))
	assert.Equal(t, llm.Usage{InputTokens: 1000, OutputTokens: 10, CacheReadTokens: 200, CacheCreationTokens: 300, TotalTokens: 1010}, agentopenai.UsageFrom(w))
}

func TestUsageFromResponses(t *testing.T) {
	var r responses.Response
	require.NoError(t, json.Unmarshal([]byte(responsesCached), &r))
	want := llm.Usage{InputTokens: 120, OutputTokens: 50, CacheReadTokens: 100, ReasoningTokens: 30, TotalTokens: 170}
	assert.Equal(t, want, agentopenai.UsageFrom(&r))
	assert.Equal(t, want, agentopenai.UsageFrom(r.Usage))
	assert.Zero(t, agentopenai.UsageFrom((*responses.Response)(nil)))
	assert.Zero(t, agentopenai.UsageFrom((*responses.ResponseUsage)(nil)))
}

func TestOutputMessagesNilAndEmpty(t *testing.T) {
	assert.Nil(t, agentopenai.OutputMessages((*oai.ChatCompletion)(nil)))
	assert.Nil(t, agentopenai.OutputMessages((*responses.Response)(nil)))
	assert.Nil(t, agentopenai.FinishReasons((*oai.ChatCompletion)(nil)))
	// A result built in code (no raw JSON) converts through its encoding.
	c := &oai.ChatCompletion{ID: "x", Model: "gpt-4o", Choices: []oai.ChatCompletionChoice{{
		FinishReason: "length", Message: oai.ChatCompletionMessage{Content: "cut"},
	}}}
	assert.Equal(t, []llm.Message{{Role: llm.Assistant, Parts: []llm.Part{llm.Text("cut")}, FinishReason: llm.FinishLength}}, agentopenai.OutputMessages(c))
	assert.Equal(t, []string{llm.FinishLength}, agentopenai.FinishReasons(c))
}

func TestInputMessagesMultimodal(t *testing.T) {
	p := chatParams("gpt-4o", oai.UserMessage([]oai.ChatCompletionContentPartUnionParam{
		oai.TextContentPart("What is this?"),
		oai.ImageContentPart(oai.ChatCompletionContentPartImageImageURLParam{URL: "https://example.com/cat.png"}),
		oai.ImageContentPart(oai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64,iVBORw0KGgo="}),
		oai.InputAudioContentPart(oai.ChatCompletionContentPartInputAudioInputAudioParam{Data: "AAAA", Format: "wav"}),
		oai.FileContentPart(oai.ChatCompletionContentPartFileFileParam{FileID: oai.String("file-1")}),
	}))
	got := agentopenai.InputMessages(p)
	require.Len(t, got, 1)
	assert.Equal(t, []llm.Part{
		llm.Text("What is this?"),
		{Type: llm.PartURI, Modality: "image", URI: "https://example.com/cat.png"},
		{Type: llm.PartBlob, Modality: "image", MimeType: "image/png"},
		{Type: llm.PartBlob, Modality: "audio", MimeType: "audio/wav"},
		{Type: llm.PartFile, FileID: "file-1"},
	}, got[0].Parts)
	for _, part := range got[0].Parts {
		assert.NotContains(t, part.Content, "base64", "inline bytes are not recorded")
	}
}

func TestStartSpanRecordResponse(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(200, chatCachedReasoning))
	params := chatParams("gpt-4o")
	ctx, s := agentopenai.StartSpan(rec.Start(), params, llm.Prompt("greeting", "v2"))
	resp, err := srv.bareClient().Chat.Completions.New(ctx, params)
	require.NoError(t, err)
	agentopenai.RecordResponse(s, resp)
	s.End()

	_, a := rec.One()
	assert.Equal(t, "greeting", a[attr.PromptSlug].AsString())
	assert.Equal(t, "gpt-4o", a[attr.RequestModel].AsString())
	assert.Equal(t, int64(100), a[attr.CacheReadTokens].AsInt64())
	assert.InDelta(t, gpt4oCachedCost, a[attr.CostUSD].AsFloat64(), 1e-12)
	assert.Len(t, llmtest.Messages(t, a[attr.InputMessages]), 2)
	assert.Equal(t, []string{llm.FinishStop}, a[attr.FinishReasons].AsStringSlice())

	// Nil values and nil spans are safe.
	agentopenai.RecordResponse(s, (*oai.ChatCompletion)(nil))
	agentopenai.RecordResponse(nil, resp)
	agentopenai.RecordRequest(nil, params)
	_, none := agentopenai.StartSpan(context.Background(), params)
	assert.Nil(t, none, "outside a trace there is no span")
}

func TestRecordResponseFailedResponses(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	var r responses.Response
	require.NoError(t, json.Unmarshal([]byte(`{"id":"resp_f","object":"response","created_at":1,"status":"failed","model":"gpt-4o","output":[],"error":{"code":"server_error","message":"boom"},"usage":null}`), &r))
	_, s := agentopenai.StartSpan(rec.Start(), responses.ResponseNewParams{Model: "gpt-4o"})
	agentopenai.RecordResponse(s, &r)
	s.End()
	sp, a := rec.One()
	assert.Equal(t, codes.Error, sp.Status.Code)
	assert.Contains(t, sp.Status.Description, "boom")
	assert.Equal(t, []string{llm.FinishError}, a[attr.FinishReasons].AsStringSlice())
	_, hasTokens := a[attr.InputTokens]
	assert.False(t, hasTokens, "no usage: none recorded")
}

func TestWrapStreamChat(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.SSEHandler(
		chatChunk("chatcmpl-s", `{"role":"assistant","content":"Hel"}`, ""),
		chatChunk("chatcmpl-s", `{"content":"lo!"}`, "stop"),
		chatUsageChunk,
		"data: [DONE]",
	))
	params := chatParams("gpt-4o")
	params.StreamOptions = oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(true)}
	ctx, s := agentopenai.StartSpan(rec.Start(), params)
	stream := agentopenai.WrapStream(s, srv.bareClient().Chat.Completions.NewStreaming(ctx, params))
	defer stream.Close()
	var text string
	for stream.Next() {
		if ch := stream.Current(); len(ch.Choices) > 0 {
			text += ch.Choices[0].Delta.Content
		}
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, "Hello!", text)

	_, a := rec.One() // ended by the wrapper
	assert.InDelta(t, gpt4oCachedCost, a[attr.CostUSD].AsFloat64(), 1e-12)
	assert.Equal(t, []string{llm.FinishStop}, a[attr.FinishReasons].AsStringSlice())
	assert.Contains(t, a, attr.TimeToFirstChunk)
	assert.Equal(t, []llm.Message{{Role: llm.Assistant, Parts: []llm.Part{llm.Text("Hello!")}, FinishReason: llm.FinishStop}}, llmtest.Messages(t, a[attr.OutputMessages]))
}

func TestWrapStreamResponsesAbandoned(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.SSEHandler(
		responsesEvent("response.created", `"sequence_number":0,"response":{"id":"resp_3","object":"response","created_at":1,"status":"in_progress","model":"gpt-4o-2024-08-06","output":[],"usage":null}`),
		responsesEvent("response.output_text.delta", `"sequence_number":1,"item_id":"m","output_index":0,"content_index":0,"delta":"Half","logprobs":[]`),
		responsesEvent("response.output_text.delta", `"sequence_number":2,"item_id":"m","output_index":0,"content_index":0,"delta":" way","logprobs":[]`),
	))
	params := responses.ResponseNewParams{Model: "gpt-4o", Input: responses.ResponseNewParamsInputUnion{OfString: oai.String("Hi")}}
	ctx, s := agentopenai.StartSpan(rec.Start(), params)
	stream := agentopenai.WrapStream(s, srv.bareClient().Responses.NewStreaming(ctx, params))
	require.True(t, stream.Next())
	require.True(t, stream.Next())
	require.True(t, stream.Next())
	assert.Equal(t, " way", stream.Current().Delta)
	require.NoError(t, stream.Close()) // abandoned before response.completed

	sp, a := rec.One()
	assert.Equal(t, codes.Unset, sp.Status.Code)
	assert.Equal(t, "resp_3", a[attr.ResponseID].AsString())
	assert.Equal(t, []llm.Message{{Role: llm.Assistant, Parts: []llm.Part{llm.Text("Half way")}}}, llmtest.Messages(t, a[attr.OutputMessages]))
	_, hasTokens := a[attr.InputTokens]
	assert.False(t, hasTokens)
}

func TestWrapStreamNilAndError(t *testing.T) {
	st := agentopenai.WrapStream[oai.ChatCompletionChunk](nil, nil)
	assert.False(t, st.Next())
	assert.NoError(t, st.Err())
	assert.NoError(t, st.Close())

	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(401, `{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}`))
	params := chatParams("gpt-4o")
	ctx, s := agentopenai.StartSpan(rec.Start(), params)
	stream := agentopenai.WrapStream(s, srv.bareClient().Chat.Completions.NewStreaming(ctx, params))
	assert.False(t, stream.Next())
	require.Error(t, stream.Err())
	sp, _ := rec.One()
	assert.Equal(t, codes.Error, sp.Status.Code)
	assert.Contains(t, sp.Status.Description, "401")
}
