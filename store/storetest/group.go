package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/agenttrace/agenttrace/store"
)

// groupData is usageData with models (some only a request model, some
// none) and users, sessions shared by two tenants.
func groupData(r *rand.Rand, n int) []store.Span {
	data := usageData(r, n)
	models := []string{"gpt-4.1", "gpt-4.1-mini", "claude-sonnet-4", ""}
	users := []string{"u1", "u2", "u3", ""}
	for i := range data {
		sp := &data[i]
		if sp.Type == "llm" {
			sp.RequestModel, sp.ResponseModel = models[r.IntN(len(models))], ""
			if r.IntN(2) == 0 {
				sp.ResponseModel = sp.RequestModel + "-2025"
			}
		}
		sp.UserID = users[r.IntN(len(users))]
		if d := i % 5; d == 1 || d == 2 { // a second and a third day
			sp.Start, sp.End = sp.Start.Add(time.Duration(d)*24*time.Hour), sp.End.Add(time.Duration(d)*24*time.Hour)
		}
	}
	return data
}

// groupOf is the key of sp's group under g, as GroupUsage must compute it.
func groupOf(g store.GroupBy, sp *store.Span) string {
	switch g {
	case store.GroupModel:
		return sp.Model()
	case store.GroupUser:
		return sp.UserID
	case store.GroupSession:
		return sp.SessionID
	}
	b := int64(g.Bucket())
	return time.Unix(0, sp.Start.UnixNano()/b*b).UTC().Format(time.RFC3339)
}

// bruteGroups sums the matching spans of [start, end) per group.
func bruteGroups(spans []store.Span, g store.GroupBy, match func(*store.Span) bool, start, end time.Time, sessions bool) map[string]store.Usage {
	keys := map[string]bool{}
	for i := range spans {
		sp := &spans[i]
		if match(sp) && !sp.Start.Before(start) && sp.Start.Before(end) {
			keys[groupOf(g, sp)] = true
		}
	}
	out := map[string]store.Usage{}
	for k := range keys {
		u := bruteUsage(spans, func(sp *store.Span) bool { return match(sp) && groupOf(g, sp) == k }, start, end)
		if !sessions {
			u.Sessions = 0
		}
		out[k] = u
	}
	return out
}

// checkGroups checks a grouped usage against the ungrouped total and the
// brute-force groups, and the groups' order.
func checkGroups(t *testing.T, what string, g store.GroupBy, got store.GroupedUsage, total store.Usage, want map[string]store.Usage) {
	t.Helper()
	if got.Usage != total {
		t.Fatalf("%s: grouped total\n got %+v\nwant %+v (the ungrouped usage)", what, got.Usage, total)
	}
	var sum store.Usage
	for i, gr := range got.Groups {
		sum.Tokens.Add(gr.Tokens)
		sum.Requests += gr.Requests
		sum.UnknownUsage += gr.UnknownUsage
		sum.CostNanoUSD += gr.CostNanoUSD
		sum.Spans += gr.Spans
		if gr.Other {
			t.Fatalf("%s: an Other group without a limit", what)
		}
		w, ok := want[gr.Key]
		if !ok {
			t.Fatalf("%s: unexpected group %q: %+v", what, gr.Key, gr)
		}
		if gr.Usage != w {
			t.Fatalf("%s: group %q\n got %+v\nwant %+v", what, gr.Key, gr.Usage, w)
		}
		if g.Temporal() {
			if gr.Start.Format(time.RFC3339) != gr.Key || gr.Start.Location() != time.UTC {
				t.Fatalf("%s: group %q has start %v", what, gr.Key, gr.Start)
			}
			if i > 0 && !got.Groups[i-1].Start.Before(gr.Start) {
				t.Fatalf("%s: time groups out of order at %d: %v then %v", what, i, got.Groups[i-1].Start, gr.Start)
			}
		} else if i > 0 && got.Groups[i-1].CostNanoUSD < gr.CostNanoUSD {
			t.Fatalf("%s: groups not by cost descending at %d", what, i)
		}
	}
	if len(got.Groups) != len(want) {
		t.Fatalf("%s: %d groups, want %d", what, len(got.Groups), len(want))
	}
	total.Sessions = 0
	if sum != total {
		t.Fatalf("%s: the groups add up to\n %+v\nnot the total\n %+v", what, sum, total)
	}
}

func testUsageGroups(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	data := groupData(r, 500)
	for i := 0; i < len(data); i += 83 {
		write(t, st, data[i:min(i+83, len(data))]...)
	}
	type win struct{ start, end time.Time }
	wins := []win{
		{T0, T0.Add(12 * time.Hour)},                                     // whole hours only
		{T0.Add(-time.Hour), T0.Add(73 * time.Hour)},                     // everything, over three days
		{T0.Add(90 * time.Minute), T0.Add(150 * time.Minute)},            // two partial hours
		{T0.Add(30 * time.Minute), T0.Add(5*time.Hour + 15*time.Minute)}, // partial both sides
		{T0.Add(2*time.Hour - time.Nanosecond), T0.Add(5*time.Hour + time.Nanosecond)},
		{T0.Add(3 * time.Hour), T0.Add(3*time.Hour + time.Nanosecond)}, // one nanosecond on an edge
		{T0.Add(-48 * time.Hour), T0.Add(-47 * time.Hour)},             // nothing
		{T0.Add(20 * time.Hour), T0.Add(30*time.Hour + time.Minute)},   // across midnight
	}
	// Hour edges: a window ending exactly where a span starts excludes it,
	// one starting there includes it.
	// usageData puts every 17th span exactly on an hour boundary.
	for i := 0; i < 6*17; i += 17 {
		sp := data[i]
		wins = append(wins, win{sp.Start, sp.Start.Add(2 * time.Hour)}, win{sp.Start.Add(-90 * time.Minute), sp.Start})
	}
	for _, w := range wins {
		for _, g := range store.GroupBys {
			for _, sc := range []struct{ session, tenant string }{{"s1", ""}, {"s2", "acme"}, {"s2", "globex"}, {"nope", ""}} {
				q := store.UsageQuery{SessionID: sc.session, TenantID: sc.tenant, Start: w.start, End: w.end, GroupBy: g}
				got, err := st.GroupUsage(ctx, q)
				if tenants := spanTenants(data, sc.session, w.start, w.end); sc.tenant == "" && len(tenants) > 1 {
					mixedTenants(t, fmt.Sprintf("GroupUsage(%+v)", q), err, sc.session, tenants)
					continue
				}
				if err != nil {
					t.Fatalf("GroupUsage(%+v): %v", q, err)
				}
				match := func(sp *store.Span) bool {
					return sp.SessionID == sc.session && (sc.tenant == "" || sp.TenantID == sc.tenant)
				}
				what := fmt.Sprintf("session %s tenant %q by %s [%v, %v)", sc.session, sc.tenant, g, w.start, w.end)
				checkGroups(t, what, g, got, sessionUsage(t, st, sc.session, sc.tenant, w.start, w.end),
					bruteGroups(data, g, match, w.start, w.end, false))
			}
			for _, tn := range []string{"acme", "globex", "nobody"} {
				q := store.UsageQuery{TenantID: tn, Start: w.start, End: w.end, GroupBy: g}
				got, err := st.GroupUsage(ctx, q)
				if err != nil {
					t.Fatalf("GroupUsage(%+v): %v", q, err)
				}
				total, err := st.TenantUsage(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				what := fmt.Sprintf("tenant %s by %s [%v, %v)", tn, g, w.start, w.end)
				checkGroups(t, what, g, got, total,
					bruteGroups(data, g, func(sp *store.Span) bool { return sp.TenantID == tn }, w.start, w.end, true))
			}
		}
	}
	// A limit folds the rest into one Other group; the sums still hold.
	for _, g := range store.GroupBys {
		q := store.UsageQuery{TenantID: "acme", Start: T0, End: T0.Add(72 * time.Hour), GroupBy: g}
		all, err := st.GroupUsage(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(all.Groups) < 3 {
			t.Fatalf("by %s: only %d groups in the data", g, len(all.Groups))
		}
		q.GroupLimit = 2
		got, err := st.GroupUsage(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Groups) != 2 || got.Groups[0].Key != all.Groups[0].Key || !got.Groups[1].Other || got.Groups[1].Key != "" {
			t.Fatalf("by %s limit 2: groups %+v", g, got.Groups)
		}
		var cost, spans int64
		for _, gr := range got.Groups {
			cost += gr.CostNanoUSD
			spans += gr.Spans
		}
		if cost != all.Usage.CostNanoUSD || spans != all.Usage.Spans || got.Usage != all.Usage {
			t.Fatalf("by %s limit 2: groups sum to %d nano-USD, %d spans; total %+v", g, cost, spans, all.Usage)
		}
	}
	for _, q := range []store.UsageQuery{
		{TenantID: "acme", Start: T0, End: T0.Add(time.Hour)},                                   // no grouping
		{TenantID: "acme", Start: T0, End: T0.Add(time.Hour), GroupBy: "week"},                  // unknown
		{TenantID: "acme", Start: T0, End: T0.Add(time.Hour), GroupBy: "model", GroupLimit: -1}, // negative
		{TenantID: "acme", Start: T0, End: T0, GroupBy: "model"},                                // empty window
	} {
		if _, err := st.GroupUsage(ctx, q); !errors.Is(err, store.ErrInvalidQuery) {
			t.Errorf("GroupUsage(%+v) = %v, want ErrInvalidQuery", q, err)
		}
	}
}

// testUsageGroupsTenantsShareIDs: two tenants using the same session and
// user ids and models never see each other's spans in a group.
func testUsageGroupsTenantsShareIDs(t *testing.T, st store.Store) {
	ctx := context.Background()
	a := llmSpan(1, 1, "", T0.Add(59*time.Minute), 10, 1, 100)
	a.SessionID, a.TenantID, a.UserID = "shared", "acme", "bob"
	b := llmSpan(2, 2, "", T0.Add(time.Hour), 20, 2, 200)
	b.SessionID, b.TenantID, b.UserID = "shared", "globex", "bob"
	write(t, st, a, b)
	for _, g := range store.GroupBys {
		for _, c := range []struct {
			tenant string
			cost   int64
		}{{"acme", 100}, {"globex", 200}} {
			for _, q := range []store.UsageQuery{
				{TenantID: c.tenant, Start: T0, End: T0.Add(2 * time.Hour), GroupBy: g},
				{SessionID: "shared", TenantID: c.tenant, Start: T0, End: T0.Add(2 * time.Hour), GroupBy: g},
			} {
				got, err := st.GroupUsage(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(got.Groups) != 1 || got.Groups[0].CostNanoUSD != c.cost || got.Usage.CostNanoUSD != c.cost {
					t.Fatalf("GroupUsage(%+v) = %+v, want one group of %d nano-USD", q, got, c.cost)
				}
			}
		}
	}
}

// testUsageGroupsSaturate: grouped sums past 2^63-1 are pinned there like
// the ungrouped ones, never wrapped, negative or an error.
func testUsageGroupsSaturate(t *testing.T, st store.Store) {
	ctx := context.Background()
	const big = math.MaxInt64/2 + 1
	for i := 0; i < 6; i++ {
		sp := llmSpan(1, 10+i, "", T0.Add(time.Duration(i/3)*time.Hour+time.Duration(i)*time.Minute), big, 7, big)
		sp.SessionID, sp.TenantID = "huge", "acme"
		write(t, st, sp)
	}
	for _, w := range [][2]time.Time{{T0, T0.Add(2 * time.Hour)}, {T0.Add(30 * time.Second), T0.Add(time.Hour + time.Minute)}} {
		for _, g := range store.GroupBys {
			q := store.UsageQuery{TenantID: "acme", Start: w[0], End: w[1], GroupBy: g}
			got, err := st.GroupUsage(ctx, q)
			if err != nil {
				t.Fatalf("GroupUsage(%+v): %v", q, err)
			}
			total, err := st.TenantUsage(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if got.Usage != total || total.CostNanoUSD != math.MaxInt64 {
				t.Fatalf("by %s [%v, %v): total %+v, ungrouped %+v", g, w[0], w[1], got.Usage, total)
			}
			var sum int64
			for _, gr := range got.Groups {
				if gr.CostNanoUSD < 0 || gr.InputTokens < 0 || gr.CostNanoUSD < big {
					t.Fatalf("by %s: group %+v", g, gr)
				}
				sum = store.SatAdd(sum, gr.CostNanoUSD)
			}
			if sum != math.MaxInt64 {
				t.Fatalf("by %s: groups sum to %d", g, sum)
			}
		}
	}
}
