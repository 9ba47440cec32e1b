package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agenttrace/agenttrace/budget"
	agentopenai "github.com/agenttrace/agenttrace/llm/openai"
	"github.com/agenttrace/agenttrace/trace"
	"github.com/agenttrace/agenttrace/usage"
)

// scriptedOpenAI is a foreign service: an OpenAI-compatible chat endpoint
// on 127.0.0.1 answering every call with 1,000 input and 1,000 output
// tokens of gpt-4o ($0.0125), streamed without usage when asked to stream.
func scriptedOpenAI(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req struct {
			Stream bool `json:"stream"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if req.Stream {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":null}`+"\n\n")
			fmt.Fprint(w, "data: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1000,"completion_tokens":1000,"total_tokens":2000}}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// A session budget read from a real serve holds across two clients: the
// second stops when the first has spent it.
func TestSessionBudgetSharedThroughServe(t *testing.T) {
	p := startBinary(t, binary(t), filepath.Join(t.TempDir(), "agenttrace.db"))
	provider, calls := scriptedOpenAI(t)
	uc, err := usage.NewClient(p.url)
	require.NoError(t, err)
	defer uc.CloseIdleConnections()
	ctx := context.Background()

	newClient := func() (*trace.Client, *oai.Client) {
		lim, err := budget.New(0.03, budget.Window(24*time.Hour), budget.FromServer(uc, time.Nanosecond))
		require.NoError(t, err)
		tc, err := trace.NewClient(ctx, trace.WithEndpoint(p.url), trace.WithSessionBudget(lim))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, tc.Shutdown(context.Background())) })
		oc := oai.NewClient(option.WithBaseURL(provider.URL+"/v1"), option.WithAPIKey("k"),
			option.WithMiddleware(agentopenai.Middleware()), option.WithMaxRetries(0))
		return tc, &oc
	}
	params := oai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("hi")}}

	first, firstOAI := newClient()
	tctx, tr := first.Start(ctx, "agent", trace.WithSessionID("s-shared"))
	n := 0
	for ; n < 10; n++ {
		if _, err = firstOAI.Chat.Completions.New(tctx, params); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, budget.ErrExceeded)
	assert.Equal(t, 3, n, "$0.0125 a call: the fourth is refused at $0.0375 of $0.03")
	tr.End()
	require.NoError(t, first.Flush(ctx))
	assert.EqualValues(t, 3, calls.Load())

	second, secondOAI := newClient()
	tctx, tr = second.Start(ctx, "agent", trace.WithSessionID("s-shared"))
	_, err = secondOAI.Chat.Completions.New(tctx, params)
	var be *budget.ExceededError
	require.ErrorAs(t, err, &be, "the second client stops: the server holds the first's spend")
	assert.Equal(t, budget.ScopeSession, be.Scope)
	assert.Equal(t, "s-shared", be.ID)
	assert.Equal(t, budget.NanoUSD(37_500_000), be.Spent)
	assert.EqualValues(t, 3, calls.Load(), "the refused call never reached the provider")
	assert.Equal(t, budget.NanoUSD(37_500_000), second.SessionBudget("s-shared").Spent())
	tr.End()

	// Another session starts afresh; a stream read without usage is counted
	// as unknown by the server, and holds the session's budget.
	tctx, tr = second.Start(ctx, "agent", trace.WithSessionID("s-other"))
	sp := params
	sp.StreamOptions = oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(false)}
	stream := secondOAI.Chat.Completions.NewStreaming(tctx, sp)
	for stream.Next() {
	}
	require.NoError(t, stream.Err())
	_, err = secondOAI.Chat.Completions.New(tctx, params)
	require.ErrorAs(t, err, &be)
	assert.Equal(t, budget.ReasonUnknownCost, be.Reason)
	tr.End()
	require.NoError(t, second.Flush(ctx))

	day := time.Now().UTC().Truncate(24 * time.Hour)
	su, err := uc.GetSessionUsage(ctx, "s-shared", day, day.Add(24*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, int64(3), su.RequestCount)
	assert.Equal(t, int64(0), su.UnknownUsageCount)
	assert.Equal(t, int64(37_500_000), su.TotalCostNanoUSD)
	su, err = uc.GetSessionUsage(ctx, "s-other", day, day.Add(24*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, int64(1), su.RequestCount)
	assert.Equal(t, int64(1), su.UnknownUsageCount, "a call without usage is unknown, not zero")
	assert.Equal(t, int64(0), su.TokenCount)
}
