package server

import (
	"context"
	"strconv"

	"github.com/agenttrace/agenttrace/internal/wire"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/usage"
)

// groupParams parses group_by and, with it, limit (the most groups listed,
// default and at most store.MaxLimit) of a usage endpoint.
func groupParams(ps params) (store.GroupBy, int, error) {
	g := store.GroupBy(ps.str(wire.ParamGroupBy))
	lim := ps.str(wire.ParamLimit)
	if g == "" {
		if lim != "" {
			return "", 0, badParam(wire.ParamLimit, "limits the groups of group_by, which is not given")
		}
		return "", 0, nil
	}
	if !g.Valid() {
		return "", 0, badParam(wire.ParamGroupBy, "%q is not one of model, user, session, hour, day", string(g))
	}
	if lim == "" {
		return g, store.MaxLimit, nil
	}
	n, err := strconv.Atoi(lim)
	if err != nil || n < 1 || n > store.MaxLimit {
		return "", 0, badParam(wire.ParamLimit, "%q is not an integer from 1 to %d", lim, store.MaxLimit)
	}
	return g, n, nil
}

// sumUsage answers a usage query: ungrouped through sum (the store's
// SessionUsage or TenantUsage), grouped through GroupUsage.
func (s *Server) sumUsage(ctx context.Context, q store.UsageQuery,
	sum func(context.Context, store.UsageQuery) (store.Usage, error)) (store.Usage, []usage.UsageGroup, error) {
	if q.GroupBy == "" {
		u, err := sum(ctx, q)
		return u, nil, storeErr(err)
	}
	g, err := s.st.GroupUsage(ctx, q)
	if err != nil {
		return store.Usage{}, nil, storeErr(err)
	}
	out := make([]usage.UsageGroup, len(g.Groups))
	for i, gr := range g.Groups {
		out[i] = usage.UsageGroup{Key: gr.Key, Other: gr.Other, TokenCount: gr.TokenCount(), RequestCount: gr.Requests,
			UnknownUsageCount: gr.UnknownUsage, SessionCount: gr.Sessions, SpanCount: gr.Spans, TotalCost: usd(gr.CostNanoUSD),
			TotalCostNanoUSD: gr.CostNanoUSD, Tokens: wireTokens(gr.Tokens)}
	}
	return g.Usage, out, nil
}
