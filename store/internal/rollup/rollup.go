// Package rollup is the arithmetic of hourly usage rollups that every
// store shares: which Unix hour a time falls in, and how a usage window
// splits into the whole hours the rollups serve and the partial hours at
// its edges, read from raw spans.
package rollup

import "github.com/agenttrace/agenttrace/store"

// HourNS is the width of a rollup bucket, in nanoseconds.
const HourNS = int64(3600e9)

// FloorDiv is a / b rounded down (toward negative infinity).
func FloorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// CeilDiv is a / b rounded up.
func CeilDiv(a, b int64) int64 { return -FloorDiv(-a, b) }

// HourOf returns the Unix hour holding ns.
func HourOf(ns int64) int64 { return FloorDiv(ns, HourNS) }

// Window is a usage window [Start, End) in Unix nanoseconds, split into
// the whole hours [H0, H1) (none when H0 >= H1) and the raw edges before
// and after them.
type Window struct {
	Start, End int64
	H0, H1     int64
	Edges      [][2]int64
}

// SplitWindow splits [start, end).
func SplitWindow(start, end int64) Window {
	w := Window{Start: start, End: end, H0: CeilDiv(start, HourNS), H1: FloorDiv(end, HourNS)}
	if w.H0 >= w.H1 {
		w.H0, w.H1 = 0, 0
		w.Edges = append(w.Edges, [2]int64{start, end})
		return w
	}
	if a, b := start, w.H0*HourNS; a < b {
		w.Edges = append(w.Edges, [2]int64{a, b})
	}
	if a, b := w.H1*HourNS, end; a < b {
		w.Edges = append(w.Edges, [2]int64{a, b})
	}
	return w
}

// Delta is the change a write makes to one rollup cell: usage added, or
// (sign -1) taken out when a span's attribution moves it to another cell.
// Sums saturate (store.SatAdd).
type Delta struct {
	store.Tokens
	Requests, Cost, Spans, Unknown int64
}

// Add adds sp's usage to d, times sign (1, or -1 to take it out).
func (d *Delta) Add(sp *store.Span, sign int64) {
	d.InputTokens = store.SatAdd(d.InputTokens, sign*sp.InputTokens)
	d.OutputTokens = store.SatAdd(d.OutputTokens, sign*sp.OutputTokens)
	d.CacheReadTokens = store.SatAdd(d.CacheReadTokens, sign*sp.CacheReadTokens)
	d.CacheCreationTokens = store.SatAdd(d.CacheCreationTokens, sign*sp.CacheCreationTokens)
	d.ReasoningTokens = store.SatAdd(d.ReasoningTokens, sign*sp.ReasoningTokens)
	if sp.LLMRequest {
		d.Requests = store.SatAdd(d.Requests, sign)
		if sp.UsageUnknown {
			d.Unknown = store.SatAdd(d.Unknown, sign)
		}
	}
	d.Cost = store.SatAdd(d.Cost, sign*sp.CostNanoUSD)
	d.Spans = store.SatAdd(d.Spans, sign)
}

// SessionKey is a cell of the (session, tenant, hour) rollup.
type SessionKey struct {
	Session, Tenant string
	Hour            int64
}

// TenantKey is a cell of the (tenant, hour) rollup.
type TenantKey struct {
	Tenant string
	Hour   int64
}

// TenantSessionKey is an entry of the sessions a tenant had in an hour.
type TenantSessionKey struct {
	Tenant, Session string
	Hour            int64
}

// Deltas accumulates the rollup changes of one write.
type Deltas struct {
	Session map[SessionKey]*Delta
	Tenant  map[TenantKey]*Delta
	// TenantSessions are the (tenant, hour, session) entries the write
	// adds; Gone those a move may have emptied (a store deletes each that
	// no stored span has any more).
	TenantSessions map[TenantSessionKey]struct{}
	Gone           map[TenantSessionKey]struct{}
}

// NewDeltas returns empty Deltas.
func NewDeltas() Deltas {
	return Deltas{Session: map[SessionKey]*Delta{}, Tenant: map[TenantKey]*Delta{},
		TenantSessions: map[TenantSessionKey]struct{}{}, Gone: map[TenantSessionKey]struct{}{}}
}

// Count adds sp's usage to the cells of its session, tenant and hour,
// times sign (-1 takes it out).
func (ds *Deltas) Count(sp *store.Span, sign int64) {
	h := HourOf(sp.Start.UnixNano())
	if sp.SessionID != "" {
		k := SessionKey{sp.SessionID, sp.TenantID, h}
		d := ds.Session[k]
		if d == nil {
			d = &Delta{}
			ds.Session[k] = d
		}
		d.Add(sp, sign)
	}
	if sp.TenantID != "" {
		k := TenantKey{sp.TenantID, h}
		d := ds.Tenant[k]
		if d == nil {
			d = &Delta{}
			ds.Tenant[k] = d
		}
		d.Add(sp, sign)
		if sp.SessionID != "" && sign > 0 {
			ds.TenantSessions[TenantSessionKey{sp.TenantID, sp.SessionID, h}] = struct{}{}
		}
	}
}

// Move records that sp's usage leaves the cells of before (its fields
// before a repair) and joins those of after.
func (ds *Deltas) Move(before, after *store.Span) {
	ds.Count(before, -1)
	ds.Count(after, 1)
	if before.TenantID != "" && before.SessionID != "" && (before.TenantID != after.TenantID || before.SessionID != after.SessionID) {
		ds.Gone[TenantSessionKey{before.TenantID, before.SessionID, HourOf(before.Start.UnixNano())}] = struct{}{}
	}
}
