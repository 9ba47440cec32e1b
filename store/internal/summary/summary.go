// Package summary folds spans into trace summaries: the rule every store
// applies to keep one summary per tenant and trace (store/ATTRIBUTION.md),
// whatever its tables. A Row is what a store keeps of a summary; Merge
// adds a newly stored span to it and Absorb folds another summary of the
// same trace into it.
package summary

import (
	"slices"
	"time"

	"github.com/agenttrace/agenttrace/store"
)

// Row is a trace summary as a store keeps it: the summary and the bounds
// of its spans' times (the provisional start and end until the root is
// stored).
type Row struct {
	store.TraceSummary
	MinStart, MaxEnd int64
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

// Merge folds one newly stored span into the trace's summary. first is
// true for the first span of a trace not stored before.
func (r *Row) Merge(sp *store.Span, first bool) {
	st, en := sp.Start.UnixNano(), sp.End.UnixNano()
	earliest := first || st < r.MinStart
	if first {
		r.MinStart, r.MaxEnd = st, en
	} else {
		r.MinStart, r.MaxEnd = min(r.MinStart, st), max(r.MaxEnd, en)
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
	r.settle()
}

// settle sets a rootless summary's provisional status and times, and the
// duration.
func (r *Row) settle() {
	if !r.HasRoot {
		r.Status = store.StatusUnset
		if r.ErrorCount > 0 {
			r.Status = store.StatusError
		}
		r.Start, r.End = time.Unix(0, r.MinStart).UTC(), time.Unix(0, r.MaxEnd).UTC()
	}
	r.Duration = max(0, r.End.Sub(r.Start))
}

// Absorb folds o, the summary of other spans of the same trace, into r,
// as if o's spans had been merged into r: r's root decides when it has
// one, else o's; without either, the earlier of the two provisional
// names and previews. r keeps its tenant; its session, user and
// environment are filled from o's where empty.
func (r *Row) Absorb(o *Row) {
	if o.SpanCount == 0 {
		return
	}
	if r.SpanCount == 0 {
		tenant := r.TenantID
		*r = *o
		r.Models, r.Tags = slices.Clone(o.Models), slices.Clone(o.Tags)
		r.TenantID = tenant
		return
	}
	earlier := o.MinStart < r.MinStart
	r.MinStart, r.MaxEnd = min(r.MinStart, o.MinStart), max(r.MaxEnd, o.MaxEnd)
	r.SpanCount = store.SatAdd(r.SpanCount, o.SpanCount)
	r.ErrorCount = store.SatAdd(r.ErrorCount, o.ErrorCount)
	r.Tokens.Add(o.Tokens)
	r.TotalTokens = store.SatAdd(r.TotalTokens, o.TotalTokens)
	r.Requests = store.SatAdd(r.Requests, o.Requests)
	r.CostNanoUSD = store.SatAdd(r.CostNanoUSD, o.CostNanoUSD)
	for _, m := range o.Models {
		r.Models = addSorted(r.Models, m)
	}
	for _, t := range o.Tags {
		r.Tags = addSorted(r.Tags, t)
	}
	switch {
	case r.HasRoot:
	case o.HasRoot:
		r.HasRoot = true
		r.Name, r.Status, r.Input, r.Output, r.Start, r.End = o.Name, o.Status, o.Input, o.Output, o.Start, o.End
	case earlier:
		r.Name, r.Input, r.Output = o.Name, o.Input, o.Output
	}
	fillIf(&r.SessionID, o.SessionID)
	fillIf(&r.UserID, o.UserID)
	fillIf(&r.Environment, o.Environment)
	r.settle()
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

// Fold folds the summaries of every tenant of one trace, sorted by tenant,
// into one based on that of the trace's tenant (an unscoped reader's view
// of the whole trace); Tenants lists them when there are several. It
// changes and returns that summary.
func Fold(parts []*Row, tenant string) *Row {
	base := parts[0]
	for _, p := range parts {
		if p.TenantID == tenant {
			base = p
		}
	}
	tenants := make([]string, 0, len(parts))
	for _, p := range parts {
		tenants = append(tenants, p.TenantID)
		if p != base {
			base.Absorb(p)
		}
	}
	if len(tenants) > 1 {
		base.Tenants = tenants
	}
	return base
}
