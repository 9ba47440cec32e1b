package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/agenttrace/agenttrace/store"
)

// Tenants are walls: two tenants whose services share a trace id (W3C
// trace-context propagation does that without any attacker) each see a
// summary of their own spans alone, in either arrival order, through every
// read.

// testTenantWalls writes a trace id shared by tenants A and B, B's span
// first in one trace and A's first in the other, and checks every read.
func testTenantWalls(t *testing.T, st store.Store) {
	ctx := context.Background()
	for _, order := range []struct {
		name   string
		trace  int
		bFirst bool
	}{{"B's child first", 40, true}, {"A's root first", 41, false}} {
		t.Run(order.name, func(t *testing.T) {
			n := order.trace
			id := TraceID(n)
			start := T0.Add(time.Duration(n) * time.Minute)
			aRoot := llmSpan(n, 1, "", start, 10, 1, 100)
			aRoot.Name, aRoot.TenantID, aRoot.SessionID, aRoot.UserID = "a-root", "A", "s-shared", "uA"
			aRoot.Tags = []string{"a-tag"}
			aRoot.Input = `"A's question"`
			aChild := llmSpan(n, 2, aRoot.SpanID, start.Add(time.Second), 5, 1, 50)
			aChild.TenantID = "A" // a tenant-scoped key's spans all carry it
			bChild := llmSpan(n, 3, aRoot.SpanID, start.Add(2*time.Second), 100, 10, 1000)
			bChild.Name, bChild.TenantID, bChild.SessionID, bChild.UserID = "b-call", "B", "s-shared", "uB"
			bChild.Tags = []string{"b-tag"}
			bChild.Input = `"B's secret"`
			bChild.RequestModel, bChild.ResponseModel = "b-model", "b-model"
			bScore := scoreSpan(n, 4, aRoot.SpanID, start.Add(3*time.Second), "b-rating", "1")
			bScore.TenantID = "B"
			if order.bFirst {
				write(t, st, bChild, bScore)
				write(t, st, aRoot, aChild)
			} else {
				write(t, st, aRoot, aChild)
				write(t, st, bChild, bScore)
			}

			a := getTenantTrace(t, st, id, "A")
			if a.SpanCount != 2 || a.InputTokens != 15 || a.CostNanoUSD != 150 || a.Requests != 2 || !a.HasRoot ||
				a.Name != "a-root" || a.SessionID != "s-shared" || a.UserID != "uA" || a.TenantID != "A" ||
				!slices.Equal(a.Tags, []string{"a-tag"}) || slices.Contains(a.Models, "b-model") || a.Scores != nil ||
				a.Input != `"A's question"` || a.Tenants != nil {
				t.Errorf("A's summary = %+v", a)
			}
			b := getTenantTrace(t, st, id, "B")
			if b.SpanCount != 2 || b.InputTokens != 100 || b.CostNanoUSD != 1000 || b.Requests != 1 || b.HasRoot ||
				b.UserID != "uB" || b.TenantID != "B" || !slices.Equal(b.Tags, []string{"b-tag"}) ||
				len(b.Scores) != 1 || b.Scores[0].Name != "b-rating" || b.Input != `"B's secret"` {
				t.Errorf("B's summary = %+v", b)
			}
			if _, err := st.GetTrace(ctx, id, "C"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetTrace of a tenant without spans in the trace: %v, want ErrNotFound", err)
			}
			// The unscoped view is the whole trace.
			all := getTrace(t, st, id)
			wantTenant := "A"
			if order.bFirst {
				wantTenant = "B" // the first tenant stored
			}
			if all.SpanCount != 4 || all.InputTokens != 115 || all.CostNanoUSD != 1150 || !all.HasRoot || all.Name != "a-root" ||
				all.TenantID != wantTenant || !slices.Equal(all.Tenants, []string{"A", "B"}) ||
				!slices.Equal(all.Tags, []string{"a-tag", "b-tag"}) || len(all.Scores) != 1 {
				t.Errorf("unscoped summary = %+v", all)
			}

			// Lists: each tenant's row; unscoped, one row per tenant,
			// paged one at a time without loss or repeat.
			window := store.TraceFilter{Start: start, End: start.Add(time.Minute)}
			for _, tc := range []struct {
				f    store.TraceFilter
				want []int64 // input tokens of the rows
			}{
				{store.TraceFilter{TenantID: "A"}, []int64{15}},
				{store.TraceFilter{TenantID: "B"}, []int64{100}},
				{store.TraceFilter{TenantID: "A", Tags: []string{"b-tag"}}, nil},
				{store.TraceFilter{TenantID: "B", Tags: []string{"a-tag"}}, nil},
				{store.TraceFilter{Tags: []string{"b-tag"}}, []int64{100}},
				{store.TraceFilter{TenantID: "A", UserID: "uB"}, nil},
				{store.TraceFilter{TenantID: "A", SessionID: "s-shared"}, []int64{15}},
			} {
				f := tc.f
				f.Start, f.End = window.Start, window.End
				page := listTraces(t, st, store.TraceQuery{TraceFilter: f})
				var got []int64
				for _, tr := range page.Traces {
					got = append(got, tr.InputTokens)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("ListTraces(%+v): input tokens %v, want %v", tc.f, got, tc.want)
				}
			}
			for _, sf := range store.SortFields {
				var seen []string
				var cursor *store.Position
				for i := 0; i < 4; i++ {
					page := listTraces(t, st, store.TraceQuery{TraceFilter: window, SortField: sf, Limit: 1, Cursor: cursor})
					if len(page.Traces) == 0 {
						break
					}
					tr := page.Traces[0]
					seen = append(seen, tr.TraceID+"/"+tr.TenantID)
					p := tr.Position(sf)
					cursor = &p
				}
				slices.Sort(seen)
				if want := []string{id + "/A", id + "/B"}; !slices.Equal(seen, want) {
					t.Errorf("paging by %s one at a time: %v, want %v", sf, seen, want)
				}
			}

			// Spans of the trace, and span search.
			for tenant, want := range map[string]int{"A": 2, "B": 2, "C": 0, "": 4} {
				page, err := st.ListSpansByTrace(ctx, store.TraceSpansQuery{TraceID: id, TenantID: tenant})
				if err != nil || len(page.Spans) != want {
					t.Fatalf("ListSpansByTrace(%q) = %d spans, %v; want %d", tenant, len(page.Spans), err, want)
				}
				for _, sp := range page.Spans {
					if tenant != "" && sp.TenantID != tenant {
						t.Errorf("ListSpansByTrace(%q) gave span %s of tenant %q", tenant, sp.SpanID, sp.TenantID)
					}
				}
			}
			page, err := st.ListSpans(ctx, store.SpanQuery{TenantID: "A", Start: start, End: start.Add(time.Minute)})
			if err != nil || len(page.Spans) != 2 {
				t.Fatalf("ListSpans(A) = %d spans, %v", len(page.Spans), err)
			}
			page, err = st.ListSpans(ctx, store.SpanQuery{TenantID: "A", Model: "b-model", Start: start, End: start.Add(time.Minute)})
			if err != nil || len(page.Spans) != 0 {
				t.Fatalf("ListSpans(A, B's model) = %d spans, %v", len(page.Spans), err)
			}

			// Usage: a session belongs to a tenant.
			win := [2]time.Time{start, start.Add(time.Minute)}
			// Spans of another tenant than the trace's inherit nothing
			// (store/ATTRIBUTION.md): the child of the trace's tenant
			// takes its session, the other's does not.
			if order.bFirst {
				usageIs(t, "A's session", sessionUsage(t, st, "s-shared", "A", win[0], win[1]), 10, 1, 100, 1, 0)
				usageIs(t, "B's session", sessionUsage(t, st, "s-shared", "B", win[0], win[1]), 100, 1, 1000, 2, 0)
			} else {
				usageIs(t, "A's session", sessionUsage(t, st, "s-shared", "A", win[0], win[1]), 15, 2, 150, 2, 0)
				usageIs(t, "B's session", sessionUsage(t, st, "s-shared", "B", win[0], win[1]), 100, 1, 1000, 1, 0)
			}
			_, err = st.SessionUsage(ctx, store.UsageQuery{SessionID: "s-shared", Start: win[0], End: win[1]})
			mixedTenants(t, "unscoped session usage", err, "s-shared", []string{"A", "B"})
			usageIs(t, "tenant A", tenantUsage(t, st, "A", win[0], win[1]), 15, 2, 150, 2, 1)
			usageIs(t, "tenant B", tenantUsage(t, st, "B", win[0], win[1]), 100, 1, 1000, 2, 1)
		})
	}
}

// testTenantWallsAbsorb: spans of no tenant stored before any span of
// their trace carries one join that tenant's summary when it arrives,
// with their tags; no summary of no tenant is left behind.
func testTenantWallsAbsorb(t *testing.T, st store.Store) {
	n := 45
	id := TraceID(n)
	start := T0.Add(3 * time.Hour)
	early := llmSpan(n, 2, SpanID(1), start.Add(time.Second), 20, 2, 200)
	early.Tags = []string{"early"}
	write(t, st, early)
	if tr := getTrace(t, st, id); tr.TenantID != "" || tr.SpanCount != 1 {
		t.Fatalf("summary before any tenant = %+v", tr)
	}
	late := llmSpan(n, 3, SpanID(1), start.Add(2*time.Second), 30, 3, 300)
	late.TenantID = "Z"
	write(t, st, late)
	z := getTenantTrace(t, st, id, "Z")
	if z.SpanCount != 2 || z.InputTokens != 50 || z.CostNanoUSD != 500 || !slices.Equal(z.Tags, []string{"early"}) || z.Name != early.Name {
		t.Errorf("Z's summary = %+v", z)
	}
	if all := getTrace(t, st, id); all.Tenants != nil || all.SpanCount != 2 || all.TenantID != "Z" {
		t.Errorf("unscoped summary = %+v", all)
	}
	f := store.TraceFilter{Start: start, End: start.Add(time.Hour)}
	page := listTraces(t, st, store.TraceQuery{TraceFilter: f})
	if len(page.Traces) != 1 || page.Traces[0].TenantID != "Z" {
		t.Errorf("traces = %+v, want Z's alone", page.Traces)
	}
	f.TenantID, f.Tags = "Z", []string{"early"}
	if page := listTraces(t, st, store.TraceQuery{TraceFilter: f}); len(page.Traces) != 1 {
		t.Errorf("Z's traces tagged early = %d, want 1", len(page.Traces))
	}
	usageIs(t, "tenant Z", tenantUsage(t, st, "Z", start, start.Add(time.Hour)), 50, 2, 500, 2, 0)
	// The root comes last, of another tenant: Z keeps the trace.
	root := NewSpan(n, 1, "", start)
	root.TenantID = "W"
	write(t, st, root)
	if z := getTenantTrace(t, st, id, "Z"); z.SpanCount != 2 || z.HasRoot {
		t.Errorf("Z's summary after W's root = %+v", z)
	}
	if w := getTenantTrace(t, st, id, "W"); w.SpanCount != 1 || !w.HasRoot {
		t.Errorf("W's summary = %+v", w)
	}
}
