package store

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// GroupBy is how GroupUsage splits a usage sum into groups.
type GroupBy string

// The groupings of GroupUsage.
const (
	// GroupModel groups by the span's model (response model, else request
	// model); spans without one fall into the group with the key "".
	GroupModel GroupBy = "model"
	// GroupUser groups by user id ("" for spans without one).
	GroupUser GroupBy = "user"
	// GroupSession groups by session id ("" for spans without one).
	GroupSession GroupBy = "session"
	// GroupHour and GroupDay group by the UTC hour or day the span
	// started in.
	GroupHour GroupBy = "hour"
	GroupDay  GroupBy = "day"
)

// GroupBys lists every valid GroupBy.
var GroupBys = []GroupBy{GroupModel, GroupUser, GroupSession, GroupHour, GroupDay}

// Valid reports whether g is a known grouping.
func (g GroupBy) Valid() bool {
	for _, v := range GroupBys {
		if g == v {
			return true
		}
	}
	return false
}

// Temporal reports whether g groups by time (hour or day).
func (g GroupBy) Temporal() bool { return g == GroupHour || g == GroupDay }

// Bucket returns the width of a time group: an hour or a day (0 for the
// other groupings).
func (g GroupBy) Bucket() time.Duration {
	switch g {
	case GroupHour:
		return time.Hour
	case GroupDay:
		return 24 * time.Hour
	}
	return 0
}

// UsageGroup is the usage of one group. Its Sessions counts the distinct
// sessions of the group's spans (tenant usage only).
type UsageGroup struct {
	// Key is the model, user id or session id of the group, or for time
	// groups the start of the hour or day in RFC 3339 (UTC).
	Key string
	// Start is the start of a time group's hour or day; zero otherwise.
	Start time.Time
	// Other marks the one group that folds every group past the query's
	// GroupLimit (its Key is ""). Its Sessions is the sum of the folded
	// groups', exact for GroupSession and an upper bound otherwise.
	Other bool
	Usage
}

// GroupedUsage is a usage sum and its groups: the groups' tokens,
// requests, costs and span counts add up exactly to Usage's.
type GroupedUsage struct {
	Usage  Usage
	Groups []UsageGroup
}

// CheckGroupQuery validates the grouping fields of q.
func CheckGroupQuery(q UsageQuery) error {
	if !q.GroupBy.Valid() {
		return fmt.Errorf("%w: group by %q (want one of %v)", ErrInvalidQuery, q.GroupBy, GroupBys)
	}
	if q.GroupLimit < 0 {
		return fmt.Errorf("%w: negative group limit %d", ErrInvalidQuery, q.GroupLimit)
	}
	return nil
}

// FinishGroups orders groups and folds those past limit (0: no limit)
// into one Other group. Time groups are ordered by time; the others by
// cost, then tokens, then span count, all descending, then key. Stores
// call it on the groups they computed, so every store orders and folds
// alike.
func FinishGroups(g GroupBy, groups []UsageGroup, limit int) []UsageGroup {
	sortGroups(g, groups)
	if limit <= 0 || len(groups) <= limit {
		return groups
	}
	// Keep limit-1 groups and fold the rest, so at most limit rows.
	keep := max(limit-1, 0)
	other := UsageGroup{Other: true}
	for _, gr := range groups[keep:] {
		other.Tokens.Add(gr.Tokens)
		other.Requests = SatAdd(other.Requests, gr.Requests)
		other.UnknownUsage = SatAdd(other.UnknownUsage, gr.UnknownUsage)
		other.Sessions = SatAdd(other.Sessions, gr.Sessions)
		other.CostNanoUSD = SatAdd(other.CostNanoUSD, gr.CostNanoUSD)
		other.Spans = SatAdd(other.Spans, gr.Spans)
	}
	return append(groups[:keep:keep], other)
}
func sortGroups(g GroupBy, groups []UsageGroup) {
	if g.Temporal() {
		slices.SortFunc(groups, func(a, b UsageGroup) int { return a.Start.Compare(b.Start) })
		return
	}
	slices.SortFunc(groups, func(a, b UsageGroup) int {
		if c := cmp.Compare(b.CostNanoUSD, a.CostNanoUSD); c != 0 {
			return c
		}
		if c := cmp.Compare(b.TokenCount(), a.TokenCount()); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Spans, a.Spans); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
}
