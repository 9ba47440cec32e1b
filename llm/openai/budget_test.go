package openai_test

import (
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agenttrace/agenttrace/budget"
	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/llm/internal/llmtest"
	"github.com/agenttrace/agenttrace/trace"
)

// A chat answer of gpt-4o with 1,000 input and 1,000 output tokens:
// 1000*2.50 + 1000*10 per 1M = $0.0125.
const (
	chat1k     = `{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1000,"completion_tokens":1000,"total_tokens":2000}}`
	chat1kCost = budget.NanoUSD(12_500_000)
	// 10 input and 1,000 output tokens: $0.010025, within the worst case
	// of a call of a short prompt with at most 1,000 output tokens.
	chat10     = `{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":1000,"total_tokens":1010}}`
	chat10Cost = budget.NanoUSD(10_025_000)
)

func streamOptions(t *testing.T, body []byte) json.RawMessage {
	t.Helper()
	var req struct {
		StreamOptions json.RawMessage `json:"stream_options"`
	}
	require.NoError(t, json.Unmarshal(body, &req))
	return req.StreamOptions
}

func TestBudgetRefusesCallOnceSpent(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(200, chat1k))
	var crossed []budget.Crossing
	lim, err := budget.NewNanoUSD(2*chat1kCost+1, budget.OnThreshold(func(c budget.Crossing) { crossed = append(crossed, c) }))
	require.NoError(t, err)
	ctx, tr := rec.Client.Start(context.Background(), "agent", trace.WithBudget(lim))
	client := srv.client()

	for range 3 { // the third is sent: 2 calls spent 25,000,000 of 25,000,001
		_, err := client.Chat.Completions.New(ctx, chatParams("gpt-4o"))
		require.NoError(t, err)
	}
	assert.Equal(t, 3*chat1kCost, tr.Spent())
	assert.Equal(t, budget.NanoUSD(0), tr.Remaining())

	_, err = client.Chat.Completions.New(ctx, chatParams("gpt-4o"))
	require.Error(t, err)
	assert.True(t, errors.Is(err, budget.ErrExceeded), "errors.Is: %v", err)
	var be *budget.ExceededError
	require.True(t, errors.As(err, &be))
	assert.Equal(t, budget.ScopeTrace, be.Scope)
	assert.Equal(t, tr.ID(), be.ID)
	assert.Equal(t, 2*chat1kCost+1, be.Limit)
	assert.Equal(t, 3*chat1kCost, be.Spent)
	assert.Equal(t, budget.ReasonSpent, be.Reason)
	assert.Equal(t, "gpt-4o", be.Model)
	assert.EqualValues(t, 3, srv.Calls.Load(), "the refused call never reached the provider, and was not retried")

	// 50% at the first call... 100% at the third: each once.
	require.Len(t, crossed, 3)
	for i, p := range []float64{50, 80, 100} {
		assert.Equal(t, p, crossed[i].Percent)
		assert.Equal(t, budget.ScopeTrace, crossed[i].Scope)
	}
	assert.Equal(t, 2*chat1kCost, crossed[0].Spent)
	assert.Equal(t, 3*chat1kCost, crossed[2].Spent)

	tr.End()
	spans := rec.Spans()
	sig := llmtest.BudgetSignals(spans)
	require.Len(t, sig, 1, "one signal for the one refused call")
	assert.Equal(t, "trace", sig[0][string(attr.BudgetScope)])
	assert.Equal(t, "spent", sig[0][string(attr.BudgetReason)])
	assert.Equal(t, "gpt-4o", sig[0][string(attr.RequestModel)])
	assert.InDelta(t, 0.0375, sig[0][string(attr.BudgetSpentUSD)], 1e-12)
	assert.Len(t, rec.LLMSpans(), 3, "a refused call records no LLM span")
}

func TestBudgetHardRefusesWorstCase(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(200, chat1k))
	lim, err := budget.New(0.02, budget.Hard())
	require.NoError(t, err)
	ctx, tr := rec.Client.Start(context.Background(), "agent", trace.WithBudget(lim))
	defer tr.End()

	// Worst case of max 1,000 output tokens: input (about 30 tokens for a
	// ~90-byte body) plus $0.01 of output: fits in $0.02.
	params := chatParams("gpt-4o")
	params.MaxCompletionTokens = oai.Int(1000)
	_, err = srv.client().Chat.Completions.New(ctx, params)
	require.NoError(t, err)
	assert.Equal(t, chat1kCost, tr.Spent())

	// $0.0075 left: another worst case of $0.01+ does not fit, though the
	// budget is not spent.
	_, err = srv.client().Chat.Completions.New(ctx, params)
	var be *budget.ExceededError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, budget.ReasonWorstCase, be.Reason)
	assert.Greater(t, be.Cost, budget.NanoUSD(10_000_000))
	assert.EqualValues(t, 1, srv.Calls.Load())

	// A call without max tokens has no worst case: refused by the default
	// policy; a smaller one fits.
	_, err = srv.client().Chat.Completions.New(ctx, chatParams("gpt-4o"))
	require.ErrorAs(t, err, &be)
	assert.Equal(t, budget.ReasonUnknownCost, be.Reason)
	params.MaxCompletionTokens = oai.Int(100)
	_, err = srv.client().Chat.Completions.New(ctx, params)
	require.NoError(t, err)
	assert.EqualValues(t, 2, srv.Calls.Load())
}

func TestBudgetUnknownPrice(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(200, strings.Replace(chat1k, `"gpt-4o"`, `"house-model"`, 1)))
	refuse, err := budget.New(1)
	require.NoError(t, err)
	ctx, tr := rec.Client.Start(context.Background(), "agent", trace.WithBudget(refuse))
	_, err = srv.client().Chat.Completions.New(ctx, chatParams("house-model"))
	var be *budget.ExceededError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, budget.ReasonUnknownCost, be.Reason)
	assert.Contains(t, be.Error(), "price table does not list")
	assert.EqualValues(t, 0, srv.Calls.Load())
	tr.End()

	var unknown *budget.Tracker
	allow, err := budget.New(1, budget.OnUnknown(budget.AllowUnknown))
	require.NoError(t, err)
	c2 := llmtest.NewRecorder(t, trace.WithSessionBudget(allow))
	ctx, tr = c2.Client.Start(context.Background(), "agent", trace.WithSessionID("s1"))
	defer tr.End()
	for range 2 {
		_, err = srv.client().Chat.Completions.New(ctx, chatParams("house-model"))
		require.NoError(t, err)
	}
	unknown = c2.Client.SessionBudget("s1")
	assert.EqualValues(t, 2, unknown.UnknownCalls(), "counted, not free")
	assert.Equal(t, budget.NanoUSD(0), unknown.Spent())
}

func TestBudgetUnknownUsageHoldsBudget(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.SSEHandler(
		chatChunk("c", `{"role":"assistant","content":"Hi"}`, ""),
		chatChunk("c", `{}`, "stop"),
		"data: [DONE]",
	))
	lim, err := budget.New(1)
	require.NoError(t, err)
	ctx, tr := rec.Client.Start(context.Background(), "agent", trace.WithBudget(lim))
	defer tr.End()
	params := chatParams("gpt-4o")
	params.StreamOptions = oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(false)} // opted out
	stream := srv.client().Chat.Completions.NewStreaming(ctx, params)
	for stream.Next() {
	}
	require.NoError(t, stream.Err())
	assert.JSONEq(t, `{"include_usage":false}`, string(streamOptions(t, <-srv.Bodies)), "the caller's opt-out is kept")

	// Unknown usage without a worst case: the budget holds.
	_, err = srv.client().Chat.Completions.New(ctx, chatParams("gpt-4o"))
	var be *budget.ExceededError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, budget.ReasonUnknownCost, be.Reason)
	assert.Contains(t, be.Error(), "usage is unknown")
	assert.EqualValues(t, 1, srv.Calls.Load())
	_, a := rec.One()
	assert.True(t, a[attr.UsageUnknown].AsBool())
}

func TestBudgetStreamCut(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	events := []string{chatChunk("c", `{"role":"assistant","content":""}`, "")}
	for range 200 { // 200 chunks of 300 bytes: ~20,000 tokens at $10/1M
		events = append(events, chatChunk("c", fmt.Sprintf(`{"content":%q}`, strings.Repeat("x", 300)), ""))
	}
	events = append(events, chatChunk("c", `{}`, "stop"), chatUsageChunk, "data: [DONE]")
	srv := newServer(t, llmtest.SSEHandler(events...))
	lim, err := budget.New(0.05, budget.Hard(), budget.CutStreams())
	require.NoError(t, err)
	ctx, tr := rec.Client.Start(context.Background(), "agent", trace.WithBudget(lim))
	params := chatParams("gpt-4o")
	params.MaxCompletionTokens = oai.Int(4000) // worst case $0.04: admitted
	stream := srv.client().Chat.Completions.NewStreaming(ctx, params)
	n := 0
	for stream.Next() {
		n++
	}
	err = stream.Err()
	var be *budget.ExceededError
	require.ErrorAs(t, err, &be, "the stream ends with the budget's error")
	assert.Equal(t, budget.ReasonStreamCut, be.Reason)
	assert.Less(t, n, 200, "cut before its end")
	assert.Greater(t, n, 10)
	require.NoError(t, stream.Close())
	// Charged its estimate at the cut: just past $0.05, by at most what
	// one read of the body brought (a few KiB of text).
	assert.Greater(t, tr.Spent(), lim.Amount())
	assert.Less(t, tr.Spent().USD(), 0.05+0.015)
	tr.End()

	s, a := rec.One()
	assert.True(t, a[attr.BudgetStreamCut].AsBool())
	assert.True(t, a[attr.UsageUnknown].AsBool())
	assert.Contains(t, s.Status.Description, "stream_cut")
	sig := llmtest.BudgetSignals(rec.Spans())
	require.Len(t, sig, 1)
	assert.Equal(t, "stream_cut", sig[0][string(attr.BudgetReason)])
}

func TestBudgetDisabledClient(t *testing.T) {
	client, err := trace.NewClient(context.Background(), trace.WithDisabled())
	require.NoError(t, err)
	lim, err := budget.NewNanoUSD(1)
	require.NoError(t, err)
	ctx, tr := client.Start(context.Background(), "agent", trace.WithBudget(lim))
	srv := newServer(t, llmtest.JSONHandler(200, chat1k))
	for range 3 {
		_, err := srv.client().Chat.Completions.New(ctx, chatParams("gpt-4o"))
		require.NoError(t, err, "a disabled client's budget refuses nothing")
	}
	assert.EqualValues(t, 3, srv.Calls.Load())
	assert.Equal(t, budget.NanoUSD(0), tr.Spent())
	assert.Equal(t, budget.Unlimited, tr.Remaining())
	assert.Equal(t, 0.0, testing.AllocsPerRun(100, func() {
		_, tr := client.Start(context.Background(), "agent", trace.WithBudget(lim))
		tr.End()
	}))
}

// Many goroutines of one trace spend at once.
func TestBudgetConcurrent(t *testing.T) {
	const goroutines, perG = 16, 20
	for _, hard := range []bool{false, true} {
		t.Run(fmt.Sprintf("hard=%v", hard), func(t *testing.T) {
			rec := llmtest.NewRecorder(t)
			srv := newServer(t, llmtest.JSONHandler(200, chat10))
			var opts []budget.Option
			if hard {
				opts = append(opts, budget.Hard())
			}
			var fired [3]atomic.Int32
			opts = append(opts, budget.OnThreshold(func(c budget.Crossing) {
				fired[map[float64]int{50: 0, 80: 1, 100: 2}[c.Percent]].Add(1)
			}))
			limit := 10*chat10Cost + chat10Cost/2
			lim, err := budget.NewNanoUSD(limit, opts...)
			require.NoError(t, err)
			ctx, tr := rec.Client.Start(context.Background(), "agent", trace.WithBudget(lim))
			defer tr.End()
			client := srv.client(option.WithMaxRetries(0))
			params := chatParams("gpt-4o")
			params.MaxCompletionTokens = oai.Int(1000)

			var ok, refused atomic.Int64
			var wg sync.WaitGroup
			for range goroutines {
				wg.Go(func() {
					for range perG {
						_, err := client.Chat.Completions.New(ctx, params)
						switch {
						case err == nil:
							ok.Add(1)
						case errors.Is(err, budget.ErrExceeded):
							refused.Add(1)
						default:
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			assert.Equal(t, int64(goroutines*perG), ok.Load()+refused.Load())
			assert.Equal(t, ok.Load(), int64(srv.Calls.Load()), "no refused call reached the provider")
			spent := tr.Spent()
			assert.Equal(t, budget.NanoUSD(ok.Load())*chat10Cost, spent)
			if hard {
				// Each call costs less than its worst case: the limit holds.
				assert.LessOrEqual(t, spent, limit)
			} else {
				assert.GreaterOrEqual(t, spent, limit, "a soft budget spends up to its limit")
				// Exceeded at most by the calls in flight when reached.
				assert.Less(t, spent, limit+goroutines*chat10Cost)
			}
			for i := range fired {
				if hard && i == 2 {
					continue // 100% is not reached with worst cases reserved
				}
				assert.EqualValues(t, 1, fired[i].Load(), "threshold %d fired once", i)
			}
		})
	}
}

// TestBudgetCountsSampledOutCalls: a trace its sampler drops records no
// spans, but its calls still spend: they are charged to its budget, which
// stops the agent as it would a sampled one.
func TestBudgetCountsSampledOutCalls(t *testing.T) {
	rec := llmtest.NewRecorder(t, trace.WithSampler(sdktrace.NeverSample()))
	srv := newServer(t, llmtest.JSONHandler(200, chat1k))
	lim, err := budget.NewNanoUSD(2*chat1kCost + 1)
	require.NoError(t, err)
	ctx, tr := rec.Client.Start(context.Background(), "agent", trace.WithBudget(lim))
	client := srv.client()
	for range 3 {
		_, err := client.Chat.Completions.New(ctx, chatParams("gpt-4o"))
		require.NoError(t, err)
	}
	assert.Equal(t, 3*chat1kCost, tr.Spent(), "sampled-out calls are charged")
	_, err = client.Chat.Completions.New(ctx, chatParams("gpt-4o"))
	assert.ErrorIs(t, err, budget.ErrExceeded)
	assert.EqualValues(t, 3, srv.Calls.Load(), "the fourth call was not sent")
	tr.End()
	assert.Empty(t, rec.Spans(), "a sampled-out trace exports nothing")
}

// TestBudgetErrorAnswerCostsNothing: a call the provider answers with an
// error (here a 400) ran no model: its usage is known and zero, so a soft
// budget that refuses unknown usage is not held by it, and the next call
// is sent.
func TestBudgetErrorAnswerCostsNothing(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	var n atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			llmtest.JSONHandler(400, `{"error":{"message":"context length exceeded","type":"invalid_request_error","code":"context_length_exceeded"}}`)(w, r)
			return
		}
		llmtest.JSONHandler(200, chat1k)(w, r)
	})
	lim, err := budget.New(1)
	require.NoError(t, err)
	ctx, tr := rec.Client.Start(context.Background(), "agent", trace.WithBudget(lim))
	_, err = srv.client().Chat.Completions.New(ctx, chatParams("gpt-4o"))
	require.Error(t, err)
	assert.NotErrorIs(t, err, budget.ErrExceeded)
	_, err = srv.client().Chat.Completions.New(ctx, chatParams("gpt-4o"))
	require.NoError(t, err, "the failed call does not hold the budget")
	assert.Equal(t, chat1kCost, tr.Spent())
	tr.End()
	spans := rec.LLMSpans()
	require.Len(t, spans, 2)
	failed := llmtest.Attrs(spans[0])
	if spans[1].Status.Code == codes.Error {
		failed = llmtest.Attrs(spans[1])
	}
	assert.False(t, failed[attr.UsageUnknown].AsBool(), "an error answer's usage is known")
	assert.Equal(t, int64(0), failed[attr.InputTokens].AsInt64())
}
