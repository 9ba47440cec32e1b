package anthropic_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/llm"
	agentanthropic "github.com/agenttrace/agenttrace/llm/anthropic"
	"github.com/agenttrace/agenttrace/llm/internal/llmtest"
)

func TestUsageFromNormalisesCacheBuckets(t *testing.T) {
	var m sdk.Message
	require.NoError(t, json.Unmarshal([]byte(msgCached), &m))
	want := llm.Usage{InputTokens: 1520, CacheReadTokens: 1000, CacheCreationTokens: 500, OutputTokens: 50, TotalTokens: 1570}
	assert.Equal(t, want, agentanthropic.UsageFrom(&m))
	assert.Equal(t, want, agentanthropic.UsageFrom(m.Usage))
	cost, ok := llm.DefaultPrices().Cost(string(m.Model), want)
	require.True(t, ok)
	assert.InDelta(t, sonnetCachedCost, cost, 1e-12)

	var u sdk.Usage
	require.NoError(t, json.Unmarshal([]byte(`{"input_tokens":10,"cache_creation_input_tokens":300,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200},"output_tokens":7,"output_tokens_details":{"thinking_tokens":5}}`), &u))
	assert.Equal(t, llm.Usage{InputTokens: 310, CacheCreationTokens: 300, CacheCreation1hTokens: 200, OutputTokens: 7, ReasoningTokens: 5, TotalTokens: 317}, agentanthropic.UsageFrom(&u))

	var bm sdk.BetaMessage
	require.NoError(t, json.Unmarshal([]byte(msgCached), &bm))
	assert.Equal(t, want, agentanthropic.UsageFrom(&bm))

	assert.Zero(t, agentanthropic.UsageFrom((*sdk.Message)(nil)))
	assert.Zero(t, agentanthropic.UsageFrom((*sdk.BetaMessage)(nil)))
	assert.Zero(t, agentanthropic.UsageFrom((*sdk.MessageDeltaUsage)(nil)))
	var d sdk.MessageDeltaUsage
	require.NoError(t, json.Unmarshal([]byte(`{"output_tokens":50}`), &d))
	assert.Equal(t, llm.Usage{OutputTokens: 50, TotalTokens: 50}, agentanthropic.UsageFrom(d))
}

func TestMiddlewareCacheWriteCall(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(200, msgCached))
	msg, err := srv.client().Messages.New(rec.Start(), params("claude-sonnet-4-5"))
	require.NoError(t, err)
	require.Equal(t, "Hello!", msg.Content[0].Text)

	s, a := rec.One()
	assert.Equal(t, "chat claude-sonnet-4-5", s.Name)
	assert.Equal(t, "anthropic", a[attr.ProviderName].AsString())
	assert.Equal(t, "msg_1", a[attr.ResponseID].AsString())
	assert.Equal(t, int64(1520), a[attr.InputTokens].AsInt64())
	assert.Equal(t, int64(1000), a[attr.CacheReadTokens].AsInt64())
	assert.Equal(t, int64(500), a[attr.CacheCreationTokens].AsInt64())
	assert.Equal(t, int64(50), a[attr.OutputTokens].AsInt64())
	assert.InDelta(t, sonnetCachedCost, a[attr.CostUSD].AsFloat64(), 1e-12)
	assert.Equal(t, attr.CostSourceComputed, a[attr.CostSource].AsString())
	assert.Equal(t, []string{llm.FinishStop}, a[attr.FinishReasons].AsStringSlice())
	assert.Equal(t, int64(200), a[semconv.HTTPResponseStatusCodeKey].AsInt64())
	assert.Equal(t, []llm.Message{llm.TextMessage(llm.System, "Be brief."), llm.TextMessage(llm.User, "Hi")}, llmtest.Messages(t, a[attr.InputMessages]))
	assert.Equal(t, []llm.Message{{Role: llm.Assistant, Parts: []llm.Part{llm.Text("Hello!")}, FinishReason: llm.FinishStop}}, llmtest.Messages(t, a[attr.OutputMessages]))
}

func TestMiddlewareToolUseAndThinking(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(200, msgToolUseThinking))
	p := params("claude-haiku-4-5",
		sdk.NewUserMessage(sdk.NewTextBlock("Weather in Oslo and Paris?")),
		sdk.NewAssistantMessage(sdk.NewToolUseBlock("toolu_0", map[string]any{"city": "Oslo"}, "get_weather")),
		sdk.NewUserMessage(sdk.NewToolResultBlock("toolu_0", "sunny", false), sdk.NewTextBlock("And Paris?")),
	)
	_, err := srv.client().Messages.New(rec.Start(), p)
	require.NoError(t, err)

	_, a := rec.One()
	assert.Equal(t, []llm.Message{
		llm.TextMessage(llm.System, "Be brief."),
		llm.TextMessage(llm.User, "Weather in Oslo and Paris?"),
		{Role: llm.Assistant, Parts: []llm.Part{{Type: llm.PartToolCall, ID: "toolu_0", Name: "get_weather", Arguments: []byte(`{"city":"Oslo"}`)}}},
		{Role: llm.Tool, Parts: []llm.Part{{Type: llm.PartToolCallResponse, ID: "toolu_0", Response: []byte(`"sunny"`)}}},
		llm.TextMessage(llm.User, "And Paris?"),
	}, llmtest.Messages(t, a[attr.InputMessages]))
	assert.Equal(t, []llm.Message{{Role: llm.Assistant, FinishReason: llm.FinishToolCall, Parts: []llm.Part{
		{Type: llm.PartReasoning, Content: "Need the weather."},
		llm.Text("Let me check."),
		{Type: llm.PartToolCall, ID: "toolu_1", Name: "get_weather", Arguments: []byte(`{"city":"Paris"}`)},
	}}}, llmtest.Messages(t, a[attr.OutputMessages]))
	assert.Equal(t, []string{llm.FinishToolCall}, a[attr.FinishReasons].AsStringSlice())
	assert.Equal(t, int64(80), a[attr.ReasoningTokens].AsInt64())
	// claude-haiku-4-5: 400*1 + 120*5 = 1000 per 1M; thinking is inside the 120.
	assert.InDelta(t, 0.001, a[attr.CostUSD].AsFloat64(), 1e-12)
}

func TestMiddlewareStream(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.SSEHandler(streamEvents...))
	stream := srv.client().Messages.NewStreaming(rec.Start(), params("claude-sonnet-4-5"))
	var acc sdk.Message
	n := 0
	for stream.Next() {
		n++
		require.NoError(t, acc.Accumulate(stream.Current()))
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, 12, n, "ping is skipped by the SDK, every other event reaches the caller")
	assert.Equal(t, "Hello!", acc.Content[0].Text)

	_, a := rec.One()
	assert.Equal(t, int64(1520), a[attr.InputTokens].AsInt64())
	assert.Equal(t, int64(50), a[attr.OutputTokens].AsInt64(), "message_delta's cumulative count replaces message_start's")
	assert.Equal(t, int64(500), a[attr.CacheCreationTokens].AsInt64())
	assert.InDelta(t, streamCost, a[attr.CostUSD].AsFloat64(), 1e-12)
	assert.Equal(t, "claude-sonnet-4-5-20250929", a[attr.ResponseModel].AsString())
	assert.Equal(t, []string{llm.FinishToolCall}, a[attr.FinishReasons].AsStringSlice())
	assert.Contains(t, a, attr.TimeToFirstChunk)
	assert.Equal(t, []llm.Message{{Role: llm.Assistant, FinishReason: llm.FinishToolCall, Parts: []llm.Part{
		llm.Text("Hello!"),
		{Type: llm.PartToolCall, ID: "toolu_2", Name: "get_weather", Arguments: []byte(`{"city":"Paris"}`)},
	}}}, llmtest.Messages(t, a[attr.OutputMessages]))
}

func TestWrapStreamAbandoned(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.SSEHandler(streamEvents[:5]...))
	p := params("claude-sonnet-4-5")
	ctx, s := agentanthropic.StartSpan(rec.Start(), p)
	stream := agentanthropic.WrapStream(s, srv.bareClient().Messages.NewStreaming(ctx, p))
	i := 0
	for ev := range stream.All() {
		i++
		if ev.Type == "content_block_delta" {
			break // abandon mid-stream
		}
	}
	require.NoError(t, stream.Close())
	assert.Equal(t, 3, i)

	sp, a := rec.One()
	assert.Equal(t, codes.Unset, sp.Status.Code)
	assert.Equal(t, int64(1520), a[attr.InputTokens].AsInt64(), "input known from message_start")
	assert.Equal(t, []llm.Message{{Role: llm.Assistant, Parts: []llm.Part{llm.Text("Hello")}}}, llmtest.Messages(t, a[attr.OutputMessages]))
	_, hasFinish := a[attr.FinishReasons]
	assert.False(t, hasFinish)
}

func TestWrapStreamComplete(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.SSEHandler(streamEvents...))
	p := params("claude-sonnet-4-5")
	ctx, s := agentanthropic.StartSpan(rec.Start(), p)
	stream := agentanthropic.WrapStream(s, srv.bareClient().Messages.NewStreaming(ctx, p))
	defer stream.Close()
	for stream.Next() {
	}
	require.NoError(t, stream.Err())
	_, a := rec.One()
	assert.InDelta(t, streamCost, a[attr.CostUSD].AsFloat64(), 1e-12)
	assert.Equal(t, []string{llm.FinishToolCall}, a[attr.FinishReasons].AsStringSlice())
}

// An error event (or an event the SDK cannot decode) ends the span before
// the caller's Next returns false, although the SDK's stream stops there
// without reading the body to its end or closing it. The server keeps the
// body open after the event and the stream is closed only after the
// assertions, so a span that waited for the body's end or close would not be
// there yet.
func TestMiddlewareStreamErrorEvent(t *testing.T) {
	for _, tc := range []struct{ name, event, want string }{
		{"overloaded", event("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`), "overloaded_error: Overloaded"},
		{"no error object", event("error", `{"type":"error"}`), "error event without an error object"},
		{"error not JSON", event("error", `oops`), "error event without an error object"},
		{"delta not JSON", event("content_block_delta", `{"type":"content_block_delta",`), "stream event content_block_delta is not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := llmtest.NewRecorder(t)
			release := make(chan struct{})
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				llmtest.SSEHandler(streamEvents[0], tc.event)(w, r)
				select { // hold the body open
				case <-release:
				case <-r.Context().Done():
				}
			})
			t.Cleanup(func() { close(release) }) // before the server closes
			stream := srv.client().Messages.NewStreaming(rec.Start(), params("claude-sonnet-4-5"))
			t.Cleanup(func() { _ = stream.Close() }) // after the assertions
			for stream.Next() {
			}
			require.Error(t, stream.Err())
			sp, a := rec.One()
			assert.Equal(t, codes.Error, sp.Status.Code)
			assert.Equal(t, tc.want, sp.Status.Description)
			assert.Equal(t, int64(1520), a[attr.InputTokens].AsInt64(), "usage from message_start is kept")
		})
	}
}

func TestMiddlewareOneSpanAcrossRetries(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	fail := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("retry-after-ms", "10")
		llmtest.JSONHandler(529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)(w, r)
	}
	srv := newServer(t, fail, llmtest.JSONHandler(200, msgCached))
	_, err := srv.client(option.WithMaxRetries(2)).Messages.New(rec.Start(), params("claude-sonnet-4-5"))
	require.NoError(t, err)
	require.EqualValues(t, 2, srv.Calls.Load())
	sp, a := rec.One()
	assert.Equal(t, codes.Unset, sp.Status.Code)
	assert.Equal(t, int64(1520), a[attr.InputTokens].AsInt64())
}

func TestMiddlewareRetryAfter500ThenSuccess(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	fail := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("retry-after-ms", "10")
		llmtest.JSONHandler(500, `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`)(w, r)
	}
	srv := newServer(t, fail, fail, llmtest.JSONHandler(200, msgCached))
	_, err := srv.client().Messages.New(rec.Start(), params("claude-sonnet-4-5"))
	require.NoError(t, err)
	require.EqualValues(t, 3, srv.Calls.Load())
	rec.One()
}

func TestMiddlewareErrorNotRetried(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: field required"}}`))
	_, err := srv.client().Messages.New(rec.Start(), params("claude-sonnet-4-5"))
	require.Error(t, err)
	sp, a := rec.One()
	assert.Equal(t, codes.Error, sp.Status.Code)
	assert.Contains(t, sp.Status.Description, "max_tokens: field required")
	assert.Equal(t, "400", a[semconv.ErrorTypeKey].AsString())
}

func TestMiddlewarePassThrough(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(200, `{"input_tokens":42}`))
	client := srv.client()
	n, err := client.Messages.CountTokens(rec.Start(), sdk.MessageCountTokensParams{Model: "claude-sonnet-4-5", Messages: params("x").Messages})
	require.NoError(t, err)
	assert.EqualValues(t, 42, n.InputTokens)
	srv2 := newServer(t, llmtest.JSONHandler(200, msgCached))
	_, err = srv2.client().Messages.New(context.Background(), params("claude-sonnet-4-5"))
	require.NoError(t, err)
	assert.Empty(t, rec.LLMSpans(), "count_tokens and calls outside a trace are not recorded")
}

func TestRecordResponseAndNil(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(200, msgCached))
	p := params("claude-sonnet-4-5")
	ctx, s := agentanthropic.StartSpan(rec.Start(), p, llm.Prompt("greet", "3"))
	msg, err := srv.bareClient().Messages.New(ctx, p)
	require.NoError(t, err)
	agentanthropic.RecordResponse(s, msg)
	s.End()
	_, a := rec.One()
	assert.InDelta(t, sonnetCachedCost, a[attr.CostUSD].AsFloat64(), 1e-12)
	assert.Equal(t, "greet", a[attr.PromptSlug].AsString())

	agentanthropic.RecordResponse(s, (*sdk.Message)(nil))
	agentanthropic.RecordResponse(nil, msg)
	agentanthropic.RecordRequest(nil, p)
	assert.Nil(t, agentanthropic.OutputMessages((*sdk.Message)(nil)))
	st := agentanthropic.WrapStream[sdk.MessageStreamEventUnion](nil, nil)
	assert.False(t, st.Next())
	assert.NoError(t, st.Close())
}

func TestMessagesBothWaysWithMedia(t *testing.T) {
	p := params("claude-sonnet-4-5", sdk.NewUserMessage(
		sdk.NewImageBlockBase64("image/png", "iVBORw0KGgo="),
		sdk.NewTextBlock("What is it?"),
	))
	got := agentanthropic.InputMessages(p)
	require.Len(t, got, 2)
	assert.Equal(t, []llm.Part{{Type: llm.PartBlob, Modality: "image", MimeType: "image/png"}, llm.Text("What is it?")}, got[1].Parts)

	var m sdk.Message
	require.NoError(t, json.Unmarshal([]byte(`{"id":"m","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{"type":"redacted_thinking","data":"xyz"},{"type":"text","text":"A cat."}],"stop_reason":"max_tokens","usage":{"input_tokens":1,"output_tokens":2}}`), &m))
	assert.Equal(t, []llm.Message{{Role: llm.Assistant, FinishReason: llm.FinishLength, Parts: []llm.Part{{Type: llm.PartReasoning}, llm.Text("A cat.")}}}, agentanthropic.OutputMessages(&m))
	assert.Equal(t, []string{llm.FinishLength}, agentanthropic.FinishReasons(&m))
}

func TestFinishReason(t *testing.T) {
	for in, want := range map[string]string{
		"end_turn": llm.FinishStop, "stop_sequence": llm.FinishStop, "max_tokens": llm.FinishLength,
		"tool_use": llm.FinishToolCall, "refusal": llm.FinishContentFilter,
		"model_context_window_exceeded": llm.FinishLength, "pause_turn": "pause_turn", "": "",
	} {
		assert.Equal(t, want, agentanthropic.FinishReason(in), in)
	}
}

// TestMiddlewareDeadlineDuringBackoff: the caller's context ends while the
// SDK waits to retry a 429 it closed unread; the span ends with the call and
// its context's error, not after MaxRetryWait (a minute here) with the 429.
func TestMiddlewareDeadlineDuringBackoff(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.RetryAfter429(`{"type":"error","error":{"type":"rate_limit_error","message":"Rate limited"}}`),
		llmtest.JSONHandler(200, msgCached))
	c := sdk.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("k"), option.WithMaxRetries(2),
		option.WithMiddleware(agentanthropic.Middleware(agentanthropic.WithMaxRetryWait(time.Minute))))
	llmtest.BackoffDeadline(t, rec, srv.Server, func(ctx context.Context) error {
		_, err := c.Messages.New(ctx, params("claude-sonnet-4-5"))
		return err
	})
}
