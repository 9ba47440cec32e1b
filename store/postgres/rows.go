package postgres

import (
	"slices"
	"time"

	"github.com/agenttrace/agenttrace/store"
)

// traceRow is a row of the traces table.
type traceRow struct {
	store.TraceSummary
	minStart, maxEnd int64
}

// addSorted inserts v into the sorted set list.
func addSorted(list []string, v string) []string {
	if v == "" {
		return list
	}
	i, found := slices.BinarySearch(list, v)
	if found {
		return list
	}
	return slices.Insert(list, i, v)
}

// merge folds one newly stored span into the trace's summary. first is
// true for the first span of a trace not stored before.
func (r *traceRow) merge(sp *store.Span, first bool) {
	st, en := sp.Start.UnixNano(), sp.End.UnixNano()
	earliest := first || st < r.minStart
	if first {
		r.minStart, r.maxEnd = st, en
	} else {
		r.minStart, r.maxEnd = min(r.minStart, st), max(r.maxEnd, en)
	}
	r.SpanCount++
	if sp.Status == store.StatusError {
		r.ErrorCount++
	}
	r.Tokens.Add(sp.Tokens)
	r.TotalTokens = store.SatAdd(r.TotalTokens, sp.TotalTokens)
	if sp.LLMRequest {
		r.Requests++
	}
	r.CostNanoUSD = store.SatAdd(r.CostNanoUSD, sp.CostNanoUSD)
	r.Models = addSorted(r.Models, sp.Model())
	for _, t := range sp.Tags {
		r.Tags = addSorted(r.Tags, t)
	}

	switch {
	case sp.ParentID == "" && !r.HasRoot:
		// The root decides name, status, times and previews, and its
		// trace-level fields win over those of earlier spans.
		r.HasRoot = true
		r.Name, r.Status = sp.Name, sp.Status
		r.Input, r.Output = store.Preview(sp.Input), store.Preview(sp.Output)
		r.Start, r.End = sp.Start, sp.End
		setIf(&r.SessionID, sp.SessionID)
		setIf(&r.UserID, sp.UserID)
		setIf(&r.TenantID, sp.TenantID)
		setIf(&r.Environment, sp.Environment)
	case !r.HasRoot && earliest:
		// Provisional: the earliest span stands in for the root.
		r.Name = sp.Name
		r.Input, r.Output = store.Preview(sp.Input), store.Preview(sp.Output)
	}
	fillIf(&r.SessionID, sp.SessionID)
	fillIf(&r.UserID, sp.UserID)
	fillIf(&r.TenantID, sp.TenantID)
	fillIf(&r.Environment, sp.Environment)
	if !r.HasRoot {
		r.Status = store.StatusUnset
		if r.ErrorCount > 0 {
			r.Status = store.StatusError
		}
		r.Start, r.End = time.Unix(0, r.minStart).UTC(), time.Unix(0, r.maxEnd).UTC()
	}
	r.Duration = max(0, r.End.Sub(r.Start))
}

func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func fillIf(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}
