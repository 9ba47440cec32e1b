package anthropic_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agenttrace/agenttrace/budget"
	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/llm/internal/llmtest"
	"github.com/agenttrace/agenttrace/trace"
)

// A hard budget refuses the call whose max_tokens worst case does not fit,
// before it is sent.
func TestBudgetHardMaxTokens(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	srv := newServer(t, llmtest.JSONHandler(200, msgCached))
	lim, err := budget.New(0.02, budget.Hard())
	require.NoError(t, err)
	ctx, tr := rec.Client.Start(context.Background(), "agent", trace.WithBudget(lim))
	client := srv.client()
	// Worst case: 1,024 output tokens at $15/1M ($0.01536) and the input
	// estimate; each call costs $0.002985.
	for range 2 {
		_, err := client.Messages.New(ctx, params("claude-sonnet-4-5"))
		require.NoError(t, err)
	}
	assert.Equal(t, budget.NanoUSD(2*2_985_000), tr.Spent())
	_, err = client.Messages.New(ctx, params("claude-sonnet-4-5"))
	require.True(t, errors.Is(err, budget.ErrExceeded), "%v", err)
	var be *budget.ExceededError
	require.True(t, errors.As(err, &be))
	assert.Equal(t, budget.ReasonWorstCase, be.Reason)
	assert.Equal(t, budget.NanoUSD(2*2_985_000), be.Spent)
	assert.Greater(t, be.Cost, budget.NanoUSD(15_360_000))
	assert.Equal(t, "claude-sonnet-4-5", be.Model)
	assert.EqualValues(t, 2, srv.Calls.Load(), "the refused call never reached the provider")
	tr.End()

	sig := llmtest.BudgetSignals(rec.Spans())
	require.Len(t, sig, 1)
	assert.Equal(t, "worst_case", sig[0][string(attr.BudgetReason)])
	assert.Equal(t, "claude-sonnet-4-5", sig[0][string(attr.RequestModel)])
}

// A tenant budget is shared by the tenant's traces, and read through the
// client.
func TestBudgetTenantAcrossTraces(t *testing.T) {
	lim, err := budget.NewNanoUSD(2 * 2_985_000)
	require.NoError(t, err)
	rec := llmtest.NewRecorder(t, trace.WithTenantBudget(lim))
	srv := newServer(t, llmtest.JSONHandler(200, msgCached))
	for range 2 {
		ctx, tr := rec.Client.Start(context.Background(), "agent", trace.WithTenantID("acme"))
		_, err := srv.client().Messages.New(ctx, params("claude-sonnet-4-5"))
		require.NoError(t, err)
		tr.End()
	}
	ten := rec.Client.TenantBudget("acme")
	assert.Equal(t, budget.NanoUSD(2*2_985_000), ten.Spent())
	assert.Equal(t, budget.NanoUSD(0), ten.Remaining())

	ctx, tr := rec.Client.Start(context.Background(), "agent", trace.WithTenantID("acme"))
	defer tr.End()
	_, err = srv.client().Messages.New(ctx, params("claude-sonnet-4-5"))
	var be *budget.ExceededError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, budget.ScopeTenant, be.Scope)
	assert.Equal(t, "acme", be.ID)
	assert.EqualValues(t, 2, srv.Calls.Load())

	// Another tenant has its own budget.
	ctx2, tr2 := rec.Client.Start(context.Background(), "agent", trace.WithTenantID("globex"))
	defer tr2.End()
	_, err = srv.client().Messages.New(ctx2, params("claude-sonnet-4-5"))
	require.NoError(t, err)
}

// A stream that runs past a hard budget with CutStreams is cut: the
// caller's stream ends with the budget's error, charged its estimate at
// the cut, and a stream_cut signal is on the trace.
func TestBudgetStreamCut(t *testing.T) {
	rec := llmtest.NewRecorder(t)
	events := []string{
		event("message_start", `{"type":"message_start","message":{"id":"msg_c","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"output_tokens":1}}}`),
		event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
	}
	for range 200 { // 200 deltas of 300 bytes: ~20,000 tokens at $15/1M
		events = append(events, event("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":%q}}`, strings.Repeat("x", 300))))
	}
	events = append(events, event("content_block_stop", `{"type":"content_block_stop","index":0}`),
		event("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":20000}}`),
		event("message_stop", `{"type":"message_stop"}`))
	srv := newServer(t, llmtest.SSEHandler(events...))
	lim, err := budget.New(0.05, budget.Hard(), budget.CutStreams())
	require.NoError(t, err)
	ctx, tr := rec.Client.Start(context.Background(), "agent", trace.WithBudget(lim))
	p := params("claude-sonnet-4-5")
	p.MaxTokens = 3000 // worst case $0.045: admitted
	stream := srv.client().Messages.NewStreaming(ctx, p)
	n := 0
	for stream.Next() {
		n++
	}
	var be *budget.ExceededError
	require.ErrorAs(t, stream.Err(), &be, "the stream ends with the budget's error")
	assert.Equal(t, budget.ReasonStreamCut, be.Reason)
	assert.Less(t, n, 200, "cut before its end")
	assert.Greater(t, n, 10)
	require.NoError(t, stream.Close())
	assert.Greater(t, tr.Spent(), lim.Amount())
	assert.Less(t, tr.Spent().USD(), 0.05+0.015)
	tr.End()
	s, a := rec.One()
	assert.True(t, a[attr.BudgetStreamCut].AsBool())
	assert.Contains(t, s.Status.Description, "stream_cut")
	sig := llmtest.BudgetSignals(rec.Spans())
	require.Len(t, sig, 1)
	assert.Equal(t, "stream_cut", sig[0][string(attr.BudgetReason)])
}
