// Package storetest is the conformance suite every store.Store must pass.
// A store's tests call Run with a constructor of fresh, empty stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			st, err := mystore.Open(...)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { st.Close() })
//			return st
//		})
//	}
package storetest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/store"
)

// Run runs the conformance suite. newStore must return a fresh, empty store
// for each call and close it when the test ends.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st store.Store)
	}{
		{"WriteAndRead", testWriteAndRead},
		{"Idempotent", testIdempotent},
		{"InvalidSpanWritesNothing", testInvalidSpan},
		{"MultiBatchRootLast", testMultiBatchRootLast},
		{"UsageWindows", testUsageWindows},
		{"UsageTenantScope", testUsageTenantScope},
		{"UsageSaturates", testUsageSaturates},
		{"UsageGroups", testUsageGroups},
		{"UsageGroupsTenantsShareIDs", testUsageGroupsTenantsShareIDs},
		{"UsageGroupsSaturate", testUsageGroupsSaturate},
		{"ListTracesFilters", testListTracesFilters},
		{"ListTracesPagination", testListTracesPagination},
		{"ListTracesOffsetTotal", testListTracesOffsetTotal},
		{"ListSpansByTrace", testListSpansByTrace},
		{"ListSpans", testListSpans},
		{"InvalidQueries", testInvalidQueries},
		{"Concurrent", testConcurrent},
		{"Scores", testScores},
		{"LateAttribution", testLateAttribution},
		{"AttributionConflicts", testAttributionConflicts},
		{"AttributionTenantWall", testAttributionTenantWall},
		{"TenantWalls", testTenantWalls},
		{"TenantWallsAbsorb", testTenantWallsAbsorb},
		{"Retention", testRetention},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
	t.Run("Closed", func(t *testing.T) {
		st := newStore(t)
		if err := st.Ping(context.Background()); err != nil {
			t.Fatalf("Ping on a fresh store: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		_, err := st.WriteSpans(context.Background(), []store.Span{NewSpan(1, 1, "", T0)})
		if !errors.Is(err, store.ErrClosed) {
			t.Fatalf("WriteSpans after Close = %v, want ErrClosed", err)
		}
		if err := st.Ping(context.Background()); err == nil {
			t.Fatal("Ping after Close = nil, want an error")
		}
	})
}

// T0 is an hour-aligned base time used by the suite's data.
var T0 = time.Date(2025, 11, 16, 0, 0, 0, 0, time.UTC)

// TraceID returns a deterministic valid trace id for n.
func TraceID(n int) string { return fmt.Sprintf("%032x", uint64(n)+0x1000) }

// SpanID returns a deterministic valid span id for n.
func SpanID(n int) string { return fmt.Sprintf("%016x", uint64(n)+0x1000) }

// NewSpan returns a minimal valid span of trace tn with span number sn and
// parent parent ("" for a root), starting at start and lasting 1s.
func NewSpan(tn, sn int, parent string, start time.Time) store.Span {
	return store.Span{
		TraceID:  TraceID(tn),
		SpanID:   SpanID(sn),
		ParentID: parent,
		Name:     fmt.Sprintf("span-%d", sn),
		Kind:     "internal",
		Type:     "span",
		Start:    start,
		End:      start.Add(time.Second),
	}
}

// llmSpan returns an LLM span with usage.
func llmSpan(tn, sn int, parent string, start time.Time, in, out, cost int64) store.Span {
	sp := NewSpan(tn, sn, parent, start)
	sp.Type = "llm"
	sp.Name = "chat gpt-test"
	sp.Operation = "chat"
	sp.RequestModel = "gpt-test"
	sp.ResponseModel = "gpt-test-2025"
	sp.InputTokens, sp.OutputTokens = in, out
	sp.CacheReadTokens, sp.ReasoningTokens = in/4, out/3
	sp.CacheCreationTokens = in / 8
	sp.TotalTokens = in + out
	sp.CostNanoUSD = cost
	sp.LLMRequest = true
	return sp
}

func write(t *testing.T, st store.Store, spans ...store.Span) store.WriteResult {
	t.Helper()
	res, err := st.WriteSpans(context.Background(), spans)
	if err != nil {
		t.Fatalf("WriteSpans: %v", err)
	}
	return res
}

func getTrace(t *testing.T, st store.Store, id string) store.TraceSummary {
	t.Helper()
	tr, err := st.GetTrace(context.Background(), id, "")
	if err != nil {
		t.Fatalf("GetTrace(%s): %v", id, err)
	}
	return tr
}

// getTenantTrace returns tenant's summary of trace id.
func getTenantTrace(t *testing.T, st store.Store, id, tenant string) store.TraceSummary {
	t.Helper()
	tr, err := st.GetTrace(context.Background(), id, tenant)
	if err != nil {
		t.Fatalf("GetTrace(%s, %q): %v", id, tenant, err)
	}
	return tr
}

func testWriteAndRead(t *testing.T, st store.Store) {
	ctx := context.Background()
	root := NewSpan(1, 1, "", T0)
	root.Type, root.Name = "trace", "support_agent"
	root.End = T0.Add(3 * time.Second)
	root.SessionID, root.UserID, root.TenantID, root.Environment = "s-1", "u-1", "acme", "prod"
	root.Tags = []string{"beta", "refunds"}
	root.Input, root.Output = `"where is my order?"`, `"on its way"`
	root.Attributes = json.RawMessage(`{"plan":"pro","n":3}`)
	root.Resource = json.RawMessage(`{"service.name":"bot"}`)
	root.Events = json.RawMessage(`[{"name":"agenttrace.message","time":"2025-11-16T00:00:00Z","attributes":{"role":"user"}}]`)
	root.ServiceName = "bot"
	llm := llmSpan(1, 2, root.SpanID, T0.Add(time.Second), 100, 40, 1234)
	llm.SessionID, llm.UserID, llm.TenantID = "s-1", "u-1", "acme"
	llm.PromptSlug, llm.PromptVersion = "welcome", "v3"
	llm.CostSource, llm.PriceTableVersion = "computed", "2026-11-25+custom"
	tool := NewSpan(1, 3, root.SpanID, T0.Add(2*time.Second))
	tool.Type, tool.Name, tool.Status, tool.StatusMessage = "tool", "issue_refund", store.StatusError, "boom"
	res := write(t, st, root, llm, tool)
	if res.Inserted != 3 || res.Duplicates != 0 {
		t.Fatalf("WriteResult = %+v, want 3 inserted", res)
	}

	tr := getTrace(t, st, TraceID(1))
	want := store.TraceSummary{
		TraceID: TraceID(1), Name: "support_agent", Status: store.StatusUnset, HasRoot: true,
		Start: T0, End: T0.Add(3 * time.Second), Duration: 3 * time.Second,
		SpanCount: 3, ErrorCount: 1,
		Tokens:      store.Tokens{InputTokens: 100, OutputTokens: 40, CacheReadTokens: 25, CacheCreationTokens: 12, ReasoningTokens: 13},
		TotalTokens: 140, Requests: 1, CostNanoUSD: 1234,
		Models: []string{"gpt-test-2025"}, Input: root.Input, Output: root.Output,
		SessionID: "s-1", UserID: "u-1", TenantID: "acme", Environment: "prod",
		Tags: []string{"beta", "refunds"},
	}
	diffTrace(t, tr, want)

	if _, err := st.GetTrace(ctx, TraceID(99), ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetTrace(unknown) = %v, want ErrNotFound", err)
	}

	page, err := st.ListSpansByTrace(ctx, store.TraceSpansQuery{TraceID: TraceID(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Spans) != 3 || page.HasMore {
		t.Fatalf("spans of trace: %d (more %v), want 3", len(page.Spans), page.HasMore)
	}
	got := page.Spans[0]
	if got.SpanID != root.SpanID || got.Name != "support_agent" || got.Type != "trace" || !got.Start.Equal(T0) ||
		!got.End.Equal(root.End) || got.SessionID != "s-1" || got.TenantID != "acme" || got.ServiceName != "bot" ||
		!slices.Equal(got.Tags, root.Tags) {
		t.Fatalf("root span read back = %+v", got)
	}
	assertJSON(t, "attributes", got.Attributes, root.Attributes)
	assertJSON(t, "resource", got.Resource, root.Resource)
	assertJSON(t, "events", got.Events, root.Events)
	g := page.Spans[1]
	if g.SpanID != llm.SpanID || g.ParentID != root.SpanID || g.Tokens != llm.Tokens || g.TotalTokens != 140 ||
		g.CostNanoUSD != 1234 || !g.LLMRequest || g.RequestModel != "gpt-test" || g.ResponseModel != "gpt-test-2025" ||
		g.PromptSlug != "welcome" || g.PromptVersion != "v3" || g.Operation != "chat" ||
		g.CostSource != "computed" || g.PriceTableVersion != "2026-11-25+custom" {
		t.Fatalf("llm span read back = %+v", g)
	}
	if b := page.Spans[2]; b.Status != store.StatusError || b.StatusMessage != "boom" {
		t.Fatalf("tool span status = %v %q", b.Status, b.StatusMessage)
	}
	// Empty JSON fields read back as valid JSON.
	for _, f := range []json.RawMessage{g.Attributes, g.Resource, g.Events} {
		if !json.Valid(f) {
			t.Fatalf("empty JSON field read back as %q", f)
		}
	}
}

func assertJSON(t *testing.T, what string, got, want json.RawMessage) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v in %s", what, err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("%s = %s, want %s", what, gb, wb)
	}
}

func diffTrace(t *testing.T, got, want store.TraceSummary) {
	t.Helper()
	if !got.Start.Equal(want.Start) || !got.End.Equal(want.End) {
		t.Errorf("times = [%v, %v], want [%v, %v]", got.Start, got.End, want.Start, want.End)
	}
	got.Start, got.End, want.Start, want.End = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Fatalf("trace summary\n got %s\nwant %s", gb, wb)
	}
}

func testIdempotent(t *testing.T, st store.Store) {
	spans := []store.Span{NewSpan(1, 1, "", T0), llmSpan(1, 2, SpanID(1), T0, 10, 5, 7)}
	spans[1].SessionID, spans[1].TenantID = "s", "t"
	write(t, st, spans...)
	res := write(t, st, spans...)
	if res.Inserted != 0 || res.Duplicates != 2 {
		t.Fatalf("second write = %+v, want 2 duplicates", res)
	}
	// A changed copy of a stored span is ignored too: rows are immutable.
	changed := spans[1]
	changed.InputTokens, changed.Name = 9999, "changed"
	res = write(t, st, changed, llmSpan(1, 3, SpanID(1), T0, 1, 1, 1))
	if res.Inserted != 1 || res.Duplicates != 1 {
		t.Fatalf("third write = %+v, want 1 inserted 1 duplicate", res)
	}
	tr := getTrace(t, st, TraceID(1))
	if tr.SpanCount != 3 || tr.InputTokens != 11 || tr.CostNanoUSD != 8 {
		t.Fatalf("after duplicates: span_count %d input %d cost %d, want 3, 11, 8", tr.SpanCount, tr.InputTokens, tr.CostNanoUSD)
	}
	// The root and the third span carry no session: they take the trace's.
	u := sessionUsage(t, st, "s", "", T0.Add(-time.Hour), T0.Add(time.Hour))
	if u.InputTokens != 11 || u.Requests != 2 || u.Spans != 3 {
		t.Fatalf("session usage after duplicates = %+v", u)
	}
}

func testInvalidSpan(t *testing.T, st store.Store) {
	good := NewSpan(1, 1, "", T0)
	for _, bad := range []func(*store.Span){
		func(s *store.Span) { s.TraceID = "" },
		func(s *store.Span) { s.TraceID = "00000000000000000000000000000000" },
		func(s *store.Span) { s.TraceID = "ABCDEF00000000000000000000000001" },
		func(s *store.Span) { s.SpanID = "xyz" },
		func(s *store.Span) { s.SpanID = "0000000000000000" },
		func(s *store.Span) { s.ParentID = "12" },
	} {
		sp := NewSpan(2, 2, "", T0)
		bad(&sp)
		if _, err := st.WriteSpans(context.Background(), []store.Span{good, sp}); !errors.Is(err, store.ErrInvalidSpan) {
			t.Fatalf("WriteSpans(%+v) = %v, want ErrInvalidSpan", sp, err)
		}
	}
	if _, err := st.GetTrace(context.Background(), TraceID(1), ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a rejected batch stored its valid span: GetTrace = %v", err)
	}
}

func testMultiBatchRootLast(t *testing.T, st store.Store) {
	root := NewSpan(1, 1, "", T0)
	root.Name, root.Type = "agent_run", "trace"
	root.End = T0.Add(10 * time.Second)
	root.SessionID, root.TenantID, root.UserID = "sess", "acme", "u"
	root.Status = store.StatusOK
	root.Input = `"hi"`
	root.Tags = []string{"root-tag"}
	var children []store.Span
	for i := 0; i < 6; i++ {
		c := llmSpan(1, 10+i, root.SpanID, T0.Add(time.Duration(i+1)*time.Second), 100, 10, 1_000_000)
		c.SessionID, c.TenantID, c.UserID = "sess", "acme", "u"
		if i == 2 {
			c.Status = store.StatusError
		}
		if i == 4 {
			c.ResponseModel = "other-model"
			c.Tags = []string{"child-tag"}
		}
		children = append(children, c)
	}
	// Children first, in two batches out of order; the root last.
	write(t, st, children[3:]...)
	tr := getTrace(t, st, TraceID(1))
	if tr.HasRoot || tr.SpanCount != 3 || tr.Status != store.StatusUnset || tr.Name != "chat gpt-test" ||
		!tr.Start.Equal(children[3].Start) || !tr.End.Equal(children[5].End) {
		t.Fatalf("provisional summary after batch 1 = %+v", tr)
	}
	write(t, st, children[:3]...)
	tr = getTrace(t, st, TraceID(1))
	if tr.HasRoot || tr.SpanCount != 6 || tr.Status != store.StatusError || !tr.Start.Equal(children[0].Start) {
		t.Fatalf("provisional summary after batch 2 = %+v", tr)
	}
	write(t, st, root)
	tr = getTrace(t, st, TraceID(1))
	want := store.TraceSummary{
		TraceID: TraceID(1), Name: "agent_run", Status: store.StatusOK, HasRoot: true,
		Start: T0, End: root.End, Duration: 10 * time.Second, SpanCount: 7, ErrorCount: 1,
		Tokens:      store.Tokens{InputTokens: 600, OutputTokens: 60, CacheReadTokens: 150, CacheCreationTokens: 72, ReasoningTokens: 18},
		TotalTokens: 660, Requests: 6, CostNanoUSD: 6_000_000,
		Models: []string{"gpt-test-2025", "other-model"}, Input: `"hi"`,
		SessionID: "sess", UserID: "u", TenantID: "acme", Tags: []string{"child-tag", "root-tag"},
	}
	diffTrace(t, tr, want)
	u := sessionUsage(t, st, "sess", "", T0, T0.Add(time.Hour))
	if u.InputTokens != 600 || u.OutputTokens != 60 || u.Requests != 6 || u.CostNanoUSD != 6_000_000 || u.Spans != 7 {
		t.Fatalf("session usage of the multi-batch trace = %+v", u)
	}
	// The late root's tags make the trace findable by them.
	page, err := st.ListTraces(context.Background(), store.TraceQuery{TraceFilter: store.TraceFilter{Tags: []string{"root-tag", "child-tag"}}})
	if err != nil || len(page.Traces) != 1 {
		t.Fatalf("ListTraces by tags = %d traces, %v", len(page.Traces), err)
	}
}

func sessionUsage(t *testing.T, st store.Store, session, tenant string, start, end time.Time) store.Usage {
	t.Helper()
	u, err := st.SessionUsage(context.Background(), store.UsageQuery{SessionID: session, TenantID: tenant, Start: start, End: end})
	if err != nil {
		t.Fatalf("SessionUsage: %v", err)
	}
	return u
}

// spanTenants returns the sorted distinct tenants of the spans of session
// that match and started in [start, end).
func spanTenants(spans []store.Span, session string, start, end time.Time) []string {
	set := map[string]bool{}
	for i := range spans {
		sp := &spans[i]
		if sp.SessionID == session && !sp.Start.Before(start) && sp.Start.Before(end) {
			set[sp.TenantID] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// mixedTenants checks that err is the *store.MixedTenantsError naming
// tenants, when a session usage without a tenant covers spans of several.
func mixedTenants(t *testing.T, what string, err error, session string, tenants []string) {
	t.Helper()
	var me *store.MixedTenantsError
	if !errors.Is(err, store.ErrMixedTenants) || !errors.As(err, &me) || me.SessionID != session || !slices.Equal(me.Tenants, tenants) {
		t.Fatalf("%s: err = %v, want a MixedTenantsError for session %q and tenants %q", what, err, session, tenants)
	}
}

// usageData is random spans over 12 hours, several sessions and tenants.
func usageData(r *rand.Rand, n int) []store.Span {
	var out []store.Span
	sessions := []string{"s1", "s2", "s3", "s4", ""}
	tenants := []string{"acme", "globex", ""}
	for i := 0; i < n; i++ {
		start := T0.Add(time.Duration(r.Int64N(int64(12 * time.Hour))))
		if i%17 == 0 { // exactly on an hour boundary
			start = T0.Add(time.Duration(r.IntN(12)) * time.Hour)
		}
		var sp store.Span
		if r.IntN(3) == 0 {
			sp = NewSpan(i, i, "", start)
		} else {
			sp = llmSpan(i, i, "", start, r.Int64N(5000), r.Int64N(900), r.Int64N(50_000_000))
			sp.LLMRequest = r.IntN(5) != 0
			if sp.LLMRequest && r.IntN(4) == 0 { // a model call of unknown usage
				sp.UsageUnknown, sp.Tokens, sp.TotalTokens, sp.CostNanoUSD, sp.CostSource = true, store.Tokens{}, 0, 0, ""
			}
		}
		sp.SessionID = sessions[r.IntN(len(sessions))]
		sp.TenantID = tenants[r.IntN(len(tenants))]
		out = append(out, sp)
	}
	return out
}

func bruteUsage(spans []store.Span, match func(*store.Span) bool, start, end time.Time) store.Usage {
	var u store.Usage
	sessions := map[string]bool{}
	for i := range spans {
		sp := &spans[i]
		if !match(sp) || sp.Start.Before(start) || !sp.Start.Before(end) {
			continue
		}
		u.Tokens.Add(sp.Tokens)
		if sp.LLMRequest {
			u.Requests++
			if sp.UsageUnknown {
				u.UnknownUsage++
			}
		}
		u.CostNanoUSD = store.SatAdd(u.CostNanoUSD, sp.CostNanoUSD)
		u.Spans++
		if sp.SessionID != "" {
			sessions[sp.SessionID] = true
		}
	}
	u.Sessions = int64(len(sessions))
	return u
}

func testUsageWindows(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	data := usageData(r, 600)
	for i := 0; i < len(data); i += 97 { // several batches
		write(t, st, data[i:min(i+97, len(data))]...)
	}
	type win struct{ start, end time.Time }
	wins := []win{
		{T0, T0.Add(12 * time.Hour)},                                     // whole hours only
		{T0.Add(-time.Hour), T0.Add(13 * time.Hour)},                     // everything
		{T0.Add(90 * time.Minute), T0.Add(150 * time.Minute)},            // inside... spans two partial hours, no whole
		{T0.Add(61 * time.Minute), T0.Add(62 * time.Minute)},             // within one hour
		{T0.Add(30 * time.Minute), T0.Add(5*time.Hour + 15*time.Minute)}, // partial both sides
		{T0.Add(2 * time.Hour), T0.Add(5*time.Hour + time.Nanosecond)},   // partial end only
		{T0.Add(2*time.Hour - time.Nanosecond), T0.Add(5 * time.Hour)},   // partial start only
		{T0.Add(3 * time.Hour), T0.Add(3*time.Hour + time.Nanosecond)},   // one nanosecond
		{T0.Add(time.Hour + time.Nanosecond), T0.Add(11*time.Hour - 1)},  // off by one both sides
		{T0.Add(-48 * time.Hour), T0.Add(-47 * time.Hour)},               // before any data
		{T0.Add(7*time.Hour + 59*time.Minute), T0.Add(8*time.Hour + 1*time.Minute)},
	}
	for i := 0; i < 60; i++ {
		a := T0.Add(time.Duration(r.Int64N(int64(13*time.Hour))) - 30*time.Minute)
		b := a.Add(time.Duration(1 + r.Int64N(int64(8*time.Hour))))
		wins = append(wins, win{a, b})
	}
	// Every span's exact start is a window edge somewhere: inclusive start.
	for _, sp := range data[:20] {
		wins = append(wins, win{sp.Start, sp.Start.Add(time.Hour)}, win{sp.Start.Add(-time.Hour), sp.Start})
	}
	for _, w := range wins {
		for _, s := range []string{"s1", "s2", "s4", "nope"} {
			for _, tn := range []string{"", "acme", "globex"} {
				q := store.UsageQuery{SessionID: s, TenantID: tn, Start: w.start, End: w.end}
				got, err := st.SessionUsage(ctx, q)
				// A session's usage never mixes tenants.
				if tenants := spanTenants(data, s, w.start, w.end); tn == "" && len(tenants) > 1 {
					mixedTenants(t, fmt.Sprintf("SessionUsage(%+v)", q), err, s, tenants)
					continue
				}
				if err != nil {
					t.Fatalf("SessionUsage(%+v): %v", q, err)
				}
				want := bruteUsage(data, func(sp *store.Span) bool { return sp.SessionID == s && (tn == "" || sp.TenantID == tn) }, w.start, w.end)
				want.Sessions = 0
				if got != want {
					t.Fatalf("SessionUsage(%+v)\n got %+v\nwant %+v", q, got, want)
				}
			}
		}
		for _, tn := range []string{"acme", "globex", "nobody"} {
			want := bruteUsage(data, func(sp *store.Span) bool { return sp.TenantID == tn }, w.start, w.end)
			got, err := st.TenantUsage(ctx, store.UsageQuery{TenantID: tn, Start: w.start, End: w.end})
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("TenantUsage(%s, [%v, %v))\n got %+v\nwant %+v", tn, w.start, w.end, got, want)
			}
		}
	}
}

// testUsageSaturates writes spans whose usage sums pass 2^63-1, in whole
// hours (rollups) and at a window's edges (raw spans): every sum is pinned
// at math.MaxInt64, never wrapped, negative or an error, and sums that fit
// stay exact.
func testUsageSaturates(t *testing.T, st store.Store) {
	ctx := context.Background()
	const big = math.MaxInt64/2 + 1
	var spans []store.Span
	for i := 0; i < 6; i++ {
		// Two hours, three spans each, all in one trace, session and tenant.
		sp := llmSpan(1, 10+i, "", T0.Add(time.Duration(i/3)*time.Hour+time.Duration(i)*time.Minute), big, 7, big)
		if i > 0 {
			sp.ParentID = SpanID(10)
		}
		sp.CacheReadTokens, sp.CacheCreationTokens, sp.ReasoningTokens = 1, 2, 3
		sp.SessionID, sp.TenantID = "huge", "acme"
		spans = append(spans, sp)
		write(t, st, sp) // one write each: rollup rows are added to in place
	}
	wins := [][2]time.Time{
		{T0, T0.Add(2 * time.Hour)},                                 // rollups only
		{T0.Add(time.Second), T0.Add(2*time.Hour - time.Second)},    // edges only
		{T0.Add(-time.Hour), T0.Add(3 * time.Hour)},                 // rollups
		{T0.Add(30 * time.Second), T0.Add(time.Hour + time.Minute)}, // both
	}
	for _, w := range wins {
		want := bruteUsage(spans, func(*store.Span) bool { return true }, w[0], w[1])
		got := sessionUsage(t, st, "huge", "", w[0], w[1])
		want.Sessions = 0
		if got != want {
			t.Fatalf("SessionUsage [%v, %v)\n got %+v\nwant %+v", w[0], w[1], got, want)
		}
		if got.TokenCount() < 0 || got.CostNanoUSD < 0 {
			t.Fatalf("negative sums: %+v", got)
		}
		tu, err := st.TenantUsage(ctx, store.UsageQuery{TenantID: "acme", Start: w[0], End: w[1]})
		if err != nil {
			t.Fatalf("TenantUsage [%v, %v): %v", w[0], w[1], err)
		}
		want.Sessions = 1
		if tu != want {
			t.Fatalf("TenantUsage [%v, %v)\n got %+v\nwant %+v", w[0], w[1], tu, want)
		}
	}
	if u := sessionUsage(t, st, "huge", "", T0, T0.Add(2*time.Hour)); u.InputTokens != math.MaxInt64 ||
		u.OutputTokens != 42 || u.ReasoningTokens != 18 || u.CostNanoUSD != math.MaxInt64 {
		t.Fatalf("saturated session usage = %+v", u)
	}
	tr := getTrace(t, st, TraceID(1))
	if tr.InputTokens != math.MaxInt64 || tr.CostNanoUSD != math.MaxInt64 || tr.TotalTokens != math.MaxInt64 ||
		tr.OutputTokens != 42 || tr.Requests != 6 || tr.SpanCount != 6 {
		t.Fatalf("saturated trace summary = %+v", tr)
	}
	page := listTraces(t, st, store.TraceQuery{TraceFilter: store.TraceFilter{Start: T0, End: T0.Add(3 * time.Hour)},
		SortField: store.SortTotalCost})
	if len(page.Traces) != 1 || page.Traces[0].CostNanoUSD != math.MaxInt64 {
		t.Fatalf("ListTraces by cost = %+v", page.Traces)
	}
}

func testUsageTenantScope(t *testing.T, st store.Store) {
	a := llmSpan(1, 1, "", T0.Add(time.Minute), 10, 1, 100)
	a.SessionID, a.TenantID = "shared", "acme"
	b := llmSpan(2, 2, "", T0.Add(2*time.Hour+time.Minute), 20, 2, 200)
	b.SessionID, b.TenantID = "shared", "globex"
	write(t, st, a, b)
	for _, w := range [][2]time.Time{{T0, T0.Add(3 * time.Hour)}, {T0.Add(time.Second), T0.Add(3*time.Hour - time.Second)}} {
		// Two tenants use the session id: without a tenant, which is
		// meant is ambiguous, and the sums are never mixed.
		_, err := st.SessionUsage(context.Background(), store.UsageQuery{SessionID: "shared", Start: w[0], End: w[1]})
		mixedTenants(t, "unscoped session usage", err, "shared", []string{"acme", "globex"})
		_, err = st.GroupUsage(context.Background(), store.UsageQuery{SessionID: "shared", Start: w[0], End: w[1], GroupBy: store.GroupModel})
		mixedTenants(t, "unscoped grouped session usage", err, "shared", []string{"acme", "globex"})
		// A window where one tenant alone uses it is that tenant's.
		if u := sessionUsage(t, st, "shared", "", w[0], w[0].Add(time.Hour)); u.InputTokens != 10 || u.Requests != 1 {
			t.Fatalf("unscoped session usage of one tenant's hour = %+v", u)
		}
		if u := sessionUsage(t, st, "shared", "acme", w[0], w[1]); u.InputTokens != 10 || u.CostNanoUSD != 100 {
			t.Fatalf("acme-scoped session usage = %+v", u)
		}
		if u := sessionUsage(t, st, "shared", "initech", w[0], w[1]); u != (store.Usage{}) {
			t.Fatalf("other-tenant session usage = %+v, want zero", u)
		}
	}
}

// traceData writes n traces of 1 to 3 spans with varied fields and returns
// their summaries as read back.
func traceData(t *testing.T, st store.Store, n int) []store.TraceSummary {
	r := rand.New(rand.NewPCG(3, 4))
	var spans []store.Span
	for i := 0; i < n; i++ {
		start := T0.Add(time.Duration(r.IntN(40)) * time.Minute) // many equal starts: ties
		root := NewSpan(i, i*10, "", start)
		root.Type = "trace"
		root.Name = []string{"alpha", "beta", "gamma"}[r.IntN(3)]
		root.End = start.Add(time.Duration(r.IntN(5)) * time.Second)
		root.TenantID = []string{"acme", "globex"}[i%2]
		root.UserID = fmt.Sprintf("u%d", r.IntN(4))
		root.SessionID = fmt.Sprintf("s%d", r.IntN(6))
		root.Environment = []string{"prod", "dev"}[r.IntN(2)]
		if r.IntN(4) == 0 {
			root.Status = store.StatusError
		}
		root.Tags = [][]string{nil, {"a"}, {"a", "b"}, {"b", "c"}}[r.IntN(4)]
		spans = append(spans, root)
		for j := 1; j < 1+r.IntN(3); j++ {
			c := llmSpan(i, i*10+j, root.SpanID, start.Add(time.Duration(j)*time.Millisecond), int64(r.IntN(3)*100), 7, int64(r.IntN(3)*1000))
			c.TenantID, c.SessionID, c.UserID = root.TenantID, root.SessionID, root.UserID
			spans = append(spans, c)
		}
	}
	write(t, st, spans...)
	out := make([]store.TraceSummary, n)
	for i := range out {
		out[i] = getTrace(t, st, TraceID(i))
	}
	return out
}

func listTraces(t *testing.T, st store.Store, q store.TraceQuery) store.TracePage {
	t.Helper()
	p, err := st.ListTraces(context.Background(), q)
	if err != nil {
		t.Fatalf("ListTraces(%+v): %v", q, err)
	}
	return p
}

func ids(trs []store.TraceSummary) []string {
	out := make([]string, len(trs))
	for i := range trs {
		out[i] = trs[i].TraceID
	}
	return out
}

func testListTracesFilters(t *testing.T, st store.Store) {
	all := traceData(t, st, 120)
	cases := []struct {
		name  string
		f     store.TraceFilter
		match func(*store.TraceSummary) bool
	}{
		{"none", store.TraceFilter{}, func(*store.TraceSummary) bool { return true }},
		{"window", store.TraceFilter{Start: T0.Add(10 * time.Minute), End: T0.Add(20 * time.Minute)}, func(s *store.TraceSummary) bool {
			return !s.Start.Before(T0.Add(10*time.Minute)) && s.Start.Before(T0.Add(20*time.Minute))
		}},
		{"tenant", store.TraceFilter{TenantID: "acme"}, func(s *store.TraceSummary) bool { return s.TenantID == "acme" }},
		{"user", store.TraceFilter{UserID: "u1"}, func(s *store.TraceSummary) bool { return s.UserID == "u1" }},
		{"session", store.TraceFilter{SessionID: "s2"}, func(s *store.TraceSummary) bool { return s.SessionID == "s2" }},
		{"environment", store.TraceFilter{Environment: "dev"}, func(s *store.TraceSummary) bool { return s.Environment == "dev" }},
		{"name", store.TraceFilter{Name: "beta"}, func(s *store.TraceSummary) bool { return s.Name == "beta" }},
		{"error", store.TraceFilter{Status: store.StatusError}, func(s *store.TraceSummary) bool { return s.Status == store.StatusError }},
		{"ok", store.TraceFilter{Status: store.StatusOK}, func(s *store.TraceSummary) bool { return s.Status != store.StatusError }},
		{"tag a", store.TraceFilter{Tags: []string{"a"}}, func(s *store.TraceSummary) bool { return slices.Contains(s.Tags, "a") }},
		{"tags a+b", store.TraceFilter{Tags: []string{"b", "a"}}, func(s *store.TraceSummary) bool {
			return slices.Contains(s.Tags, "a") && slices.Contains(s.Tags, "b")
		}},
		{"tags none match", store.TraceFilter{Tags: []string{"a", "c"}}, func(s *store.TraceSummary) bool { return false }},
		{"combined", store.TraceFilter{TenantID: "globex", Environment: "prod", Tags: []string{"b"}, End: T0.Add(30 * time.Minute)},
			func(s *store.TraceSummary) bool {
				return s.TenantID == "globex" && s.Environment == "prod" && slices.Contains(s.Tags, "b") && s.Start.Before(T0.Add(30*time.Minute))
			}},
	}
	for _, c := range cases {
		var want []string
		for i := range all {
			if c.match(&all[i]) {
				want = append(want, all[i].TraceID)
			}
		}
		got := ids(listTraces(t, st, store.TraceQuery{TraceFilter: c.f, Limit: store.MaxLimit, IncludeTotal: true}).Traces)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("filter %s: got %d traces, want %d", c.name, len(got), len(want))
		}
		if c.name != "none" && c.name != "ok" && len(want) == 0 && c.name != "tags none match" {
			t.Fatalf("filter %s matches nothing: the data does not exercise it", c.name)
		}
	}
}

func sortTraces(all []store.TraceSummary, field store.SortField, order store.SortOrder) []string {
	s := slices.Clone(all)
	slices.SortFunc(s, func(a, b store.TraceSummary) int {
		pa, pb := a.Position(field), b.Position(field)
		c := cmp.Or(cmp.Compare(pa.Num, pb.Num), cmp.Compare(pa.Str, pb.Str), cmp.Compare(pa.TraceID, pb.TraceID))
		if order == store.Desc {
			return -c
		}
		return c
	})
	return ids(s)
}

// WalkTraces pages through q in direction dir until the end and returns
// the trace ids in sort order. It fails the test after too many pages.
func WalkTraces(t *testing.T, st store.Store, q store.TraceQuery, dir store.Direction) []string {
	t.Helper()
	q.Direction, q.Cursor = dir, nil
	var out []string
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			t.Fatal("pagination does not end")
		}
		p := listTraces(t, st, q)
		if dir == store.Down {
			out = append(out, ids(p.Traces)...)
		} else {
			out = append(ids(p.Traces), out...)
		}
		if !p.HasMore {
			return out
		}
		if len(p.Traces) == 0 {
			t.Fatal("HasMore with an empty page")
		}
		edge := p.Traces[len(p.Traces)-1]
		if dir == store.Up {
			edge = p.Traces[0]
		}
		pos := edge.Position(q.SortField)
		q.Cursor = &pos
	}
}

func testListTracesPagination(t *testing.T, st store.Store) {
	all := traceData(t, st, 150)
	for _, field := range store.SortFields {
		for _, order := range []store.SortOrder{store.Asc, store.Desc} {
			want := sortTraces(all, field, order)
			q := store.TraceQuery{SortField: field, SortOrder: order, Limit: 7}
			for _, dir := range []store.Direction{store.Down, store.Up} {
				got := WalkTraces(t, st, q, dir)
				if !slices.Equal(got, want) {
					t.Fatalf("walk %s %s %s: got %d ids, want %d in order", field, order, dir, len(got), len(want))
				}
			}
			// Up from a cursor in the middle gives the page just before it.
			mid := all[slices.Index(ids(all), want[70])]
			pos := mid.Position(field)
			p := listTraces(t, st, store.TraceQuery{SortField: field, SortOrder: order, Limit: 5, Direction: store.Up, Cursor: &pos})
			if !slices.Equal(ids(p.Traces), want[65:70]) || !p.HasMore {
				t.Fatalf("up from the middle (%s %s) = %v, want %v", field, order, ids(p.Traces), want[65:70])
			}
		}
	}
	// Filtered walks in a window, under both orders: both directions give
	// exactly the filtered traces in order.
	// (A wide and a narrow window: stores may plan them differently.)
	wide := store.TraceFilter{TenantID: "acme", Tags: []string{"a"}, Start: T0.Add(5 * time.Minute), End: T0.Add(30 * time.Minute)}
	narrow := store.TraceFilter{Start: T0.Add(10 * time.Minute), End: T0.Add(14 * time.Minute)}
	for _, f := range []store.TraceFilter{wide, narrow} {
		var match []store.TraceSummary
		for _, tr := range all {
			if (f.TenantID == "" || tr.TenantID == f.TenantID) && (len(f.Tags) == 0 || slices.Contains(tr.Tags, "a")) &&
				!tr.Start.Before(f.Start) && tr.Start.Before(f.End) {
				match = append(match, tr)
			}
		}
		walkOrders(t, st, f, match)
	}
}

func walkOrders(t *testing.T, st store.Store, f store.TraceFilter, match []store.TraceSummary) {
	for _, order := range []store.SortOrder{store.Asc, store.Desc} {
		for _, field := range store.SortFields {
			q := store.TraceQuery{TraceFilter: f, Limit: 3, SortField: field, SortOrder: order}
			want := sortTraces(match, field, order)
			down := WalkTraces(t, st, q, store.Down)
			up := WalkTraces(t, st, q, store.Up)
			if len(want) < 5 || !slices.Equal(down, want) || !slices.Equal(up, want) {
				t.Fatalf("filtered walk %s %s: down %d, up %d, want %d", field, order, len(down), len(up), len(want))
			}
		}
	}
}

func testListTracesOffsetTotal(t *testing.T, st store.Store) {
	all := traceData(t, st, 40)
	want := sortTraces(all, store.SortStartTime, store.Desc)
	p := listTraces(t, st, store.TraceQuery{Offset: 10, Limit: 5, IncludeTotal: true})
	if !slices.Equal(ids(p.Traces), want[10:15]) || p.Total != 40 || !p.HasMore {
		t.Fatalf("offset page = %v total %d, want %v total 40", ids(p.Traces), p.Total, want[10:15])
	}
	p = listTraces(t, st, store.TraceQuery{Offset: 38, Limit: 5})
	if !slices.Equal(ids(p.Traces), want[38:]) || p.HasMore || p.Total != -1 {
		t.Fatalf("last offset page = %v more %v total %d", ids(p.Traces), p.HasMore, p.Total)
	}
	p = listTraces(t, st, store.TraceQuery{TraceFilter: store.TraceFilter{TenantID: "acme"}, IncludeTotal: true, Limit: 1})
	if p.Total != 20 {
		t.Fatalf("filtered total = %d, want 20", p.Total)
	}
}

func testListSpansByTrace(t *testing.T, st store.Store) {
	ctx := context.Background()
	var spans []store.Span
	for i := 0; i < 23; i++ {
		sp := NewSpan(1, 100+i, SpanID(99), T0.Add(time.Duration(i/2)*time.Second)) // pairs share a start
		sp.Name = []string{"chat", "tool"}[i%2]
		sp.TenantID = "acme"
		if i == 22 {
			sp.TenantID = "globex"
		}
		spans = append(spans, sp)
	}
	spans = append(spans, NewSpan(2, 500, "", T0)) // another trace
	write(t, st, spans...)
	var want []string
	for _, sp := range spans[:23] {
		want = append(want, sp.SpanID)
	}
	walk := func(q store.TraceSpansQuery, dir store.Direction) []string {
		q.Direction, q.Limit = dir, 4
		var out []string
		for n := 0; n < 100; n++ {
			p, err := st.ListSpansByTrace(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, sp := range p.Spans {
				got = append(got, sp.SpanID)
			}
			if dir == store.Down {
				out = append(out, got...)
			} else {
				out = append(got, out...)
			}
			if !p.HasMore {
				return out
			}
			edge := p.Spans[len(p.Spans)-1]
			if dir == store.Up {
				edge = p.Spans[0]
			}
			pos := edge.Position()
			q.Cursor = &pos
		}
		t.Fatal("span pagination does not end")
		return nil
	}
	for _, dir := range []store.Direction{store.Down, store.Up} {
		if got := walk(store.TraceSpansQuery{TraceID: TraceID(1)}, dir); !slices.Equal(got, want) {
			t.Fatalf("spans walk %s = %v, want %v", dir, got, want)
		}
		var tools []string
		for i, id := range want {
			if i%2 == 1 {
				tools = append(tools, id)
			}
		}
		if got := walk(store.TraceSpansQuery{TraceID: TraceID(1), SpanName: "tool"}, dir); !slices.Equal(got, tools) {
			t.Fatalf("span_name walk %s = %v, want %v", dir, got, tools)
		}
		if got := walk(store.TraceSpansQuery{TraceID: TraceID(1), TenantID: "acme"}, dir); !slices.Equal(got, want[:22]) {
			t.Fatalf("tenant-scoped walk %s = %d spans, want 22", dir, len(got))
		}
	}
	p, err := st.ListSpansByTrace(ctx, store.TraceSpansQuery{TraceID: TraceID(77)})
	if err != nil || len(p.Spans) != 0 || p.HasMore {
		t.Fatalf("spans of unknown trace = %+v, %v", p, err)
	}
}

func testListSpans(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	var spans []store.Span
	for i := 0; i < 200; i++ {
		start := T0.Add(time.Duration(r.IntN(30)) * time.Second)
		var sp store.Span
		if i%3 == 0 {
			sp = NewSpan(i/4, i, "", start)
			sp.Type = []string{"tool", "task"}[r.IntN(2)]
		} else {
			sp = llmSpan(i/4, i, "", start, 10, 10, 10)
			if i%5 == 0 {
				sp.RequestModel, sp.ResponseModel = "claude", ""
			}
			sp.PromptSlug = []string{"", "welcome", "refund"}[r.IntN(3)]
		}
		if r.IntN(5) == 0 {
			sp.Status = store.StatusError
		} else if r.IntN(2) == 0 {
			sp.Status = store.StatusOK
		}
		sp.TenantID = []string{"acme", "globex"}[r.IntN(2)]
		sp.UserID = []string{"u1", "u2"}[r.IntN(2)]
		sp.SessionID = []string{"s1", "s2", "s3"}[r.IntN(3)]
		sp.Name = []string{"x", "y"}[r.IntN(2)]
		sp.Tags = [][]string{nil, {"t1"}, {"t1", "t2"}, {"t2"}}[r.IntN(4)]
		spans = append(spans, sp)
	}
	write(t, st, spans...)
	sorted := slices.Clone(spans)
	slices.SortFunc(sorted, func(a, b store.Span) int {
		return -cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.TraceID, b.TraceID), cmp.Compare(a.SpanID, b.SpanID))
	})
	cases := []struct {
		name  string
		q     store.SpanQuery
		match func(*store.Span) bool
	}{
		{"all", store.SpanQuery{}, func(*store.Span) bool { return true }},
		{"window", store.SpanQuery{Start: T0.Add(5 * time.Second), End: T0.Add(9 * time.Second)}, func(s *store.Span) bool {
			return !s.Start.Before(T0.Add(5*time.Second)) && s.Start.Before(T0.Add(9*time.Second))
		}},
		{"open end", store.SpanQuery{Start: T0.Add(25 * time.Second)}, func(s *store.Span) bool { return !s.Start.Before(T0.Add(25 * time.Second)) }},
		{"error", store.SpanQuery{Status: store.StatusError}, func(s *store.Span) bool { return s.Status == store.StatusError }},
		{"ok", store.SpanQuery{Status: store.StatusOK}, func(s *store.Span) bool { return s.Status != store.StatusError }},
		{"type", store.SpanQuery{Type: "tool"}, func(s *store.Span) bool { return s.Type == "tool" }},
		{"tenant", store.SpanQuery{TenantID: "globex"}, func(s *store.Span) bool { return s.TenantID == "globex" }},
		{"user", store.SpanQuery{UserID: "u2"}, func(s *store.Span) bool { return s.UserID == "u2" }},
		{"session", store.SpanQuery{SessionID: "s3"}, func(s *store.Span) bool { return s.SessionID == "s3" }},
		{"request model", store.SpanQuery{Model: "claude"}, func(s *store.Span) bool { return s.RequestModel == "claude" }},
		{"response model", store.SpanQuery{Model: "gpt-test-2025"}, func(s *store.Span) bool { return s.ResponseModel == "gpt-test-2025" }},
		{"prompt", store.SpanQuery{PromptSlug: "refund"}, func(s *store.Span) bool { return s.PromptSlug == "refund" }},
		{"name", store.SpanQuery{Name: "y"}, func(s *store.Span) bool { return s.Name == "y" }},
		{"tags", store.SpanQuery{Tags: []string{"t2", "t1"}}, func(s *store.Span) bool {
			return slices.Contains(s.Tags, "t1") && slices.Contains(s.Tags, "t2")
		}},
		{"combined", store.SpanQuery{Status: store.StatusOK, Type: "llm", TenantID: "acme", Tags: []string{"t1"}, PromptSlug: "welcome"},
			func(s *store.Span) bool {
				return s.Status != store.StatusError && s.Type == "llm" && s.TenantID == "acme" && slices.Contains(s.Tags, "t1") && s.PromptSlug == "welcome"
			}},
	}
	for _, c := range cases {
		var want []string
		for i := range sorted {
			if c.match(&sorted[i]) {
				want = append(want, sorted[i].TraceID+sorted[i].SpanID)
			}
		}
		if len(want) == 0 {
			t.Fatalf("case %s matches nothing", c.name)
		}
		for _, dir := range []store.Direction{store.Down, store.Up} {
			q := c.q
			q.Direction, q.Limit = dir, 9
			var got []string
			for n := 0; ; n++ {
				if n > 100 {
					t.Fatal("span pagination does not end")
				}
				p, err := st.ListSpans(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, sp := range p.Spans {
					ids = append(ids, sp.TraceID+sp.SpanID)
				}
				if dir == store.Down {
					got = append(got, ids...)
				} else {
					got = append(ids, got...)
				}
				if !p.HasMore {
					break
				}
				edge := p.Spans[len(p.Spans)-1]
				if dir == store.Up {
					edge = p.Spans[0]
				}
				pos := edge.Position()
				q.Cursor = &pos
			}
			if !slices.Equal(got, want) {
				t.Fatalf("ListSpans %s %s: got %d spans, want %d in order", c.name, dir, len(got), len(want))
			}
		}
	}
}

func testInvalidQueries(t *testing.T, st store.Store) {
	ctx := context.Background()
	checks := map[string]error{}
	_, checks["empty usage window"] = st.SessionUsage(ctx, store.UsageQuery{SessionID: "s", Start: T0, End: T0})
	_, checks["reversed usage window"] = st.TenantUsage(ctx, store.UsageQuery{TenantID: "t", Start: T0, End: T0.Add(-1)})
	_, checks["sort field"] = st.ListTraces(ctx, store.TraceQuery{SortField: "bogus"})
	_, checks["sort order"] = st.ListTraces(ctx, store.TraceQuery{SortOrder: "sideways"})
	_, checks["limit"] = st.ListTraces(ctx, store.TraceQuery{Limit: store.MaxLimit + 1})
	_, checks["direction"] = st.ListSpans(ctx, store.SpanQuery{Direction: "left"})
	_, checks["negative limit"] = st.ListSpansByTrace(ctx, store.TraceSpansQuery{TraceID: TraceID(1), Limit: -1})
	_, checks["offset"] = st.ListTraces(ctx, store.TraceQuery{Offset: -1})
	for name, err := range checks {
		if !errors.Is(err, store.ErrInvalidQuery) {
			t.Errorf("%s: error %v, want ErrInvalidQuery", name, err)
		}
	}
}

func testConcurrent(t *testing.T, st store.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	const writers, batches, per = 4, 10, 20
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				var spans []store.Span
				for i := 0; i < per; i++ {
					n := (w*batches+b)*per + i
					sp := llmSpan(n/5, n, "", T0.Add(time.Duration(n)*time.Second), 1, 1, 1)
					sp.SessionID, sp.TenantID = "s", "t"
					spans = append(spans, sp)
				}
				if _, err := st.WriteSpans(ctx, spans); err != nil {
					errs <- err
					return
				}
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, err := st.TenantUsage(ctx, store.UsageQuery{TenantID: "t", Start: T0, End: T0.Add(24 * time.Hour)}); err != nil {
					errs <- err
					return
				}
				if _, err := st.ListTraces(ctx, store.TraceQuery{Limit: 10}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	u, err := st.TenantUsage(ctx, store.UsageQuery{TenantID: "t", Start: T0, End: T0.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if n := int64(writers * batches * per); u.Spans != n || u.Requests != n || u.Sessions != 1 {
		t.Fatalf("after concurrent writes: %+v, want %d spans", u, n)
	}
}

// scoreSpan returns a score span (as trace.Client.Score records it) of
// trace tn with span number sn, parent parent, name and value: a JSON
// number, or a string for what the server stores of a non-finite value.
func scoreSpan(tn, sn int, parent string, start time.Time, name, value string) store.Span {
	sp := NewSpan(tn, sn, parent, start)
	sp.Type = attr.TypeScore
	sp.Name = "score " + name
	sp.Attributes = json.RawMessage(fmt.Sprintf(`{%q:%q,%q:%q,%q:%s,%q:"c"}`,
		attr.SpanType, attr.TypeScore, attr.ScoreName, name, attr.ScoreValue, value, attr.ScoreComment))
	return sp
}

// testScores: a trace's summary aggregates its score spans by name, in
// name order, whether they arrive before the trace's other spans (a score
// for a trace not stored yet is kept, and shown once it arrives) or long
// after; a non-finite value is left out.
func testScores(t *testing.T, st store.Store) {
	id := TraceID(7)
	// A score for a trace id the store has not seen: stored, summary
	// provisional, score shown.
	write(t, st, scoreSpan(7, 10, SpanID(99), T0.Add(time.Hour), "helpful", "1"))
	tr := getTrace(t, st, id)
	if tr.HasRoot {
		t.Fatal("a score alone is no root")
	}
	want := []store.Score{{Name: "helpful", Count: 1, Mean: 1, Min: 1, Max: 1, Last: 1}}
	if !slices.Equal(tr.Scores, want) {
		t.Fatalf("scores before the trace = %+v, want %+v", tr.Scores, want)
	}

	root := NewSpan(7, 1, "", T0)
	root.Name = "agent"
	write(t, st, root, llmSpan(7, 2, SpanID(1), T0, 100, 10, 1000))
	write(t, st,
		scoreSpan(7, 11, SpanID(1), T0.Add(2*time.Hour), "helpful", "0"),
		scoreSpan(7, 12, SpanID(1), T0.Add(3*time.Hour), "accuracy", "0.25"),
		scoreSpan(7, 13, SpanID(99), T0.Add(4*time.Hour), "accuracy", `"NaN"`),
		scoreSpan(7, 14, SpanID(99), T0.Add(5*time.Hour), "helpful", "0.5"))
	tr = getTrace(t, st, id)
	if !tr.HasRoot || tr.Name != "agent" || tr.InputTokens != 100 {
		t.Fatalf("summary = %+v", tr)
	}
	want = []store.Score{
		{Name: "accuracy", Count: 1, Mean: 0.25, Min: 0.25, Max: 0.25, Last: 0.25},
		{Name: "helpful", Count: 3, Mean: 0.5, Min: 0, Max: 1, Last: 0.5},
	}
	if !slices.Equal(tr.Scores, want) {
		t.Fatalf("scores = %+v, want %+v", tr.Scores, want)
	}
	// Another trace's summary has none.
	write(t, st, NewSpan(8, 1, "", T0))
	if sc := getTrace(t, st, TraceID(8)).Scores; sc != nil {
		t.Fatalf("scores of a trace without any = %+v", sc)
	}
}
