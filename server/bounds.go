package server

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

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

// Span times are stored as int64 Unix nanoseconds. The range a span may
// claim is [minSpanTime, maxSpanTime): 1970-01-01 to 2262-01-01 (UTC).
//
//   - A start time outside it (0, that is unset, included) is refused:
//     the span is rejected and counted in the OTLP partial success
//     (rejected_spans) and Stats.SpansRejected.
//   - An end time outside it, or before the start, is corrected to the
//     start (a zero duration), counted in Stats.TimestampsCorrected and
//     named in the partial success message.
var (
	minSpanTime = time.Unix(0, 1).UTC()
	maxSpanTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// spanTimes reads a span's start and end. bad says why the span is
// refused, fixed what was corrected.
func spanTimes(sp ptrace.Span) (start, end time.Time, bad, fixed string) {
	st, en := uint64(sp.StartTimestamp()), uint64(sp.EndTimestamp())
	if st == 0 || st >= uint64(maxSpanTime.UnixNano()) {
		return start, end, fmt.Sprintf("start_time_unix_nano %d is outside %s to %s", st,
			minSpanTime.Format(time.RFC3339), maxSpanTime.Format(time.RFC3339)), ""
	}
	start = time.Unix(0, int64(st)).UTC()
	switch {
	case en == 0 || en >= uint64(maxSpanTime.UnixNano()):
		fixed = fmt.Sprintf("end_time_unix_nano %d is outside the range; set to the start time", en)
	case en < st:
		fixed = fmt.Sprintf("end_time_unix_nano %d is before the start %d; set to the start time", en, st)
	default:
		return start, time.Unix(0, int64(en)).UTC(), "", ""
	}
	return start, start, "", fixed
}
