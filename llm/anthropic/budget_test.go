package anthropic_test

import (
	"context"
	"errors"
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
