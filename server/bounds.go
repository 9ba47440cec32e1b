package server

import (
	"fmt"

	"github.com/agenttrace/agenttrace/store"
)

// Bounds on what one span may claim. A usage value beyond them is not
// trusted: the span is stored without it (as if the attribute were absent)
// and the drop is counted (Stats.UsageValuesDropped, the OTLP response's
// partial_success message, a warning in the log). The rest of the span is
// kept, so one bad attribute loses no trace structure.
//
//   - each token count (input, output, cache read, cache creation,
//     reasoning): at most store.MaxSpanTokens (2^40);
//   - agenttrace.usage.total_tokens: at most 2^41 (input + output at
//     their bounds);
//   - cost: at most store.MaxSpanCostNanoUSD ($1,000,000). A cost
//     dropped this way is computed from the price table when the span's
//     model and tokens allow it, as for a span that carries none; a
//     computed cost past the bound is dropped too.
//
// With these bounds a sum needs 2^23 spans at their maximum to reach
// int64's range; stores add with store.SatAdd beyond that.
const maxSpanTotalTokens = 2 * store.MaxSpanTokens

// maxSpanCostUSD is store.MaxSpanCostNanoUSD in dollars.
const maxSpanCostUSD = float64(store.MaxSpanCostNanoUSD) / 1e9

// boundTokens drops the token counts past the bounds; it returns the
// names of the attributes dropped.
func (f *fields) boundTokens(dropped []string) []string {
	for _, c := range []struct {
		v   *int64
		key string
		max int64
	}{
		{&f.in, "gen_ai.usage.input_tokens", store.MaxSpanTokens},
		{&f.out, "gen_ai.usage.output_tokens", store.MaxSpanTokens},
		{&f.cacheRead, "gen_ai.usage.cache_read.input_tokens", store.MaxSpanTokens},
		{&f.cacheCreation, "gen_ai.usage.cache_creation.input_tokens", store.MaxSpanTokens},
		{&f.reasoning, "gen_ai.usage.reasoning.output_tokens", store.MaxSpanTokens},
		{&f.total, "agenttrace.usage.total_tokens", maxSpanTotalTokens},
	} {
		if *c.v > c.max || *c.v < 0 {
			*c.v = 0
			dropped = append(dropped, c.key)
		}
	}
	return f.boundCost(dropped)
}

// boundCost drops a cost past the bound (given or computed).
func (f *fields) boundCost(dropped []string) []string {
	if f.hasCost && f.cost > maxSpanCostUSD {
		f.cost, f.hasCost, f.costSource, f.priceVersion = 0, false, "", ""
		dropped = append(dropped, "agenttrace.usage.cost_usd")
	}
	return dropped
}

// dropNote describes the first span whose usage values were dropped.
func dropNote(traceID, spanID string, dropped []string) string {
	return fmt.Sprintf("span %s of trace %s: dropped %v (beyond the per-span bounds: %d tokens of each kind, $%.0f)",
		spanID, traceID, dropped, int64(store.MaxSpanTokens), maxSpanCostUSD)
}
