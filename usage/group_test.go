package usage_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agenttrace/agenttrace/internal/servertest"
	"github.com/agenttrace/agenttrace/usage"
)

func TestUsageGroupBy(t *testing.T) {
	ts := servertest.Start(t, fixture(0))
	c := newClient(t, ts.URL)
	ctx := context.Background()

	tu, err := c.GetTenantUsage(ctx, "acme", wStart, wEnd, usage.GroupBy(usage.ByModel))
	require.NoError(t, err)
	assert.Equal(t, usage.ByModel, tu.GroupBy)
	require.Len(t, tu.Groups, 3)
	assert.Equal(t, []string{"gpt-4.1-mini", "gpt-4.1", ""}, []string{tu.Groups[0].Key, tu.Groups[1].Key, tu.Groups[2].Key})
	assert.Equal(t, usage.UsageGroup{Key: "gpt-4.1-mini", TokenCount: 330, RequestCount: 2, SessionCount: 1, SpanCount: 2,
		TotalCost: 0.003, TotalCostNanoUSD: 3_000_000, Tokens: usage.Tokens{InputTokens: 300, OutputTokens: 30}}, tu.Groups[0])
	var nano, tokens int64
	for _, g := range tu.Groups {
		nano += g.TotalCostNanoUSD
		tokens += g.TokenCount
	}
	assert.Equal(t, tu.TotalCostNanoUSD, nano)
	assert.Equal(t, tu.TokenCount, tokens)

	su, err := c.GetSessionUsage(ctx, "s-1", wStart, wEnd, usage.GroupBy(usage.ByHour))
	require.NoError(t, err)
	require.Len(t, su.Groups, 1)
	assert.Equal(t, wStart.Format("2006-01-02T15:00:00Z07:00"), su.Groups[0].Key)
	assert.EqualValues(t, 3_000_000, su.Groups[0].TotalCostNanoUSD)

	tu, err = c.GetTenantUsage(ctx, "acme", wStart, wEnd, usage.GroupBy(usage.ByModel), usage.GroupLimit(2))
	require.NoError(t, err)
	require.Len(t, tu.Groups, 2)
	assert.Equal(t, "gpt-4.1-mini", tu.Groups[0].Key)
	assert.True(t, tu.Groups[1].Other)
	assert.EqualValues(t, 3_000_000, tu.Groups[1].TotalCostNanoUSD)

	// Bad options are refused before anything is sent.
	before := ts.Requests.Load()
	for _, opts := range [][]usage.UsageOption{
		{usage.GroupBy("week")},
		{usage.GroupBy(usage.ByDay), usage.GroupLimit(0)},
		{usage.GroupBy(usage.ByDay), usage.GroupLimit(usage.MaxLimit + 1)},
		{usage.GroupLimit(5)},
	} {
		_, err := c.GetTenantUsage(ctx, "acme", wStart, wEnd, opts...)
		assert.True(t, errors.Is(err, usage.ErrInvalidArgument), "%v", err)
	}
	assert.Equal(t, before, ts.Requests.Load())
}
