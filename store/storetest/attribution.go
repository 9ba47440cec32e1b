package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/agenttrace/agenttrace/store"
)

// Late attribution (store/ATTRIBUTION.md): spans without a session, user,
// tenant or environment take their trace's, whenever it arrives; rollups
// stay exact at hour edges.

// hourH is an hour boundary the attribution cases straddle.
var hourH = T0.Add(5 * time.Hour)

func tenantUsage(t *testing.T, st store.Store, tenant string, start, end time.Time) store.Usage {
	t.Helper()
	u, err := st.TenantUsage(context.Background(), store.UsageQuery{TenantID: tenant, Start: start, End: end})
	if err != nil {
		t.Fatalf("TenantUsage: %v", err)
	}
	return u
}

// usageIs checks the input tokens, requests, cost, spans and sessions of
// u.
func usageIs(t *testing.T, what string, u store.Usage, in, requests, cost, spans, sessions int64) {
	t.Helper()
	if u.InputTokens != in || u.Requests != requests || u.CostNanoUSD != cost || u.Spans != spans || u.Sessions != sessions {
		t.Errorf("%s = %+v, want input %d requests %d cost %d spans %d sessions %d", what, u, in, requests, cost, spans, sessions)
	}
}

func testLateAttribution(t *testing.T, st store.Store) {
	ctx := context.Background()
	h := hourH
	root := NewSpan(1, 1, "", h.Add(-time.Minute))
	root.Name, root.Type, root.End = "agent", "trace", h.Add(2*time.Hour)
	root.SessionID, root.UserID, root.TenantID, root.Environment = "late-s", "late-u", "late-t", "prod"
	// a carries the session itself (no tenant); the others carry nothing.
	a := llmSpan(1, 2, root.SpanID, h.Add(-time.Millisecond), 100, 10, 1000) // last instant of hour H-1
	a.SessionID = "late-s"
	b := llmSpan(1, 3, root.SpanID, h, 200, 20, 2000)                     // first instant of hour H
	c := llmSpan(1, 4, root.SpanID, h.Add(90*time.Minute), 400, 40, 4000) // middle of hour H+1
	tool := NewSpan(1, 5, root.SpanID, h.Add(10*time.Minute))
	day0, day1 := h.Add(-2*time.Hour), h.Add(3*time.Hour)

	write(t, st, b, a) // in one call, b takes a's session
	write(t, st, c, tool)
	usageIs(t, "session before the root", sessionUsage(t, st, "late-s", "", day0, day1), 700, 3, 7000, 4, 0)
	usageIs(t, "session of the tenant before the root", sessionUsage(t, st, "late-s", "late-t", day0, day1), 0, 0, 0, 0, 0)
	usageIs(t, "tenant before the root", tenantUsage(t, st, "late-t", day0, day1), 0, 0, 0, 0, 0)

	// The root comes last, in a call of its own.
	if res := write(t, st, root); res.Inserted != 1 || res.Conflicts != 0 {
		t.Fatalf("root write = %+v", res)
	}
	for i := 0; i < 2; i++ { // a second time: resending changes nothing
		usageIs(t, "session, whole hours", sessionUsage(t, st, "late-s", "", h.Add(-time.Hour), h.Add(2*time.Hour)), 700, 3, 7000, 5, 0)
		usageIs(t, "session of the tenant", sessionUsage(t, st, "late-s", "late-t", day0, day1), 700, 3, 7000, 5, 0)
		usageIs(t, "session, hour H only", sessionUsage(t, st, "late-s", "", h, h.Add(time.Hour)), 200, 1, 2000, 2, 0)
		usageIs(t, "session, partial hours", sessionUsage(t, st, "late-s", "", h.Add(-30*time.Minute), h.Add(30*time.Minute)), 300, 2, 3000, 4, 0)
		usageIs(t, "session, across the edge", sessionUsage(t, st, "late-s", "", h.Add(-time.Millisecond), h.Add(time.Millisecond)), 300, 2, 3000, 2, 0)
		usageIs(t, "tenant", tenantUsage(t, st, "late-t", day0, day1), 700, 3, 7000, 5, 1)
		usageIs(t, "tenant, hour H+1", tenantUsage(t, st, "late-t", h.Add(time.Hour), h.Add(2*time.Hour)), 400, 1, 4000, 1, 1)
		tr := getTrace(t, st, TraceID(1))
		if tr.SessionID != "late-s" || tr.UserID != "late-u" || tr.TenantID != "late-t" || tr.Environment != "prod" || tr.SpanCount != 5 || tr.InputTokens != 700 || tr.Tenants != nil {
			t.Errorf("trace summary = %+v", tr)
		}
		// The spans stored before their tenant was known joined its
		// summary: the tenant's view is the whole trace.
		if tt := getTenantTrace(t, st, TraceID(1), "late-t"); tt.SpanCount != 5 || tt.InputTokens != 700 || !tt.HasRoot || tt.Name != "agent" || tt.SessionID != "late-s" {
			t.Errorf("tenant's trace summary = %+v", tt)
		}
		for _, f := range []store.TraceFilter{{SessionID: "late-s"}, {UserID: "late-u"}, {TenantID: "late-t"}, {Environment: "prod"}} {
			f.Start, f.End = day0, day1
			if page := listTraces(t, st, store.TraceQuery{TraceFilter: f}); len(page.Traces) != 1 {
				t.Errorf("traces by %+v: %d", f, len(page.Traces))
			}
		}
		for _, q := range []store.SpanQuery{{SessionID: "late-s"}, {UserID: "late-u"}, {TenantID: "late-t"}} {
			page, err := st.ListSpans(ctx, q)
			if err != nil || len(page.Spans) != 5 {
				t.Fatalf("spans by %+v: %d, %v", q, len(page.Spans), err)
			}
			for _, sp := range page.Spans {
				var want store.Fields
				switch sp.SpanID {
				case root.SpanID:
				case a.SpanID:
					want = store.FieldUser | store.FieldTenant | store.FieldEnvironment
				default:
					want = store.FieldSession | store.FieldUser | store.FieldTenant | store.FieldEnvironment
				}
				if sp.Inherited != want || sp.Environment != "prod" || sp.SessionID != "late-s" {
					t.Errorf("span %s: inherited %b env %q session %q, want %b", sp.SpanID, sp.Inherited, sp.Environment, sp.SessionID, want)
				}
			}
		}
		write(t, st, root, a, b, c, tool)
	}
}

func testAttributionConflicts(t *testing.T, st store.Store) {
	h := hourH
	rootID := SpanID(20)
	x := llmSpan(2, 21, rootID, h.Add(time.Minute), 10, 1, 100)
	x.SessionID = "own-s"
	y := llmSpan(2, 22, rootID, h.Add(2*time.Minute), 20, 2, 200)
	write(t, st, x)
	write(t, st, y) // takes the first session stored, x's
	usageIs(t, "first session stored", sessionUsage(t, st, "own-s", "", h, h.Add(time.Hour)), 30, 2, 300, 2, 0)

	root := NewSpan(2, 20, "", h)
	root.SessionID = "root-s"
	write(t, st, root) // the root's wins; x keeps its own
	usageIs(t, "the span's own session", sessionUsage(t, st, "own-s", "", h, h.Add(time.Hour)), 10, 1, 100, 1, 0)
	usageIs(t, "the root's session", sessionUsage(t, st, "root-s", "", h, h.Add(time.Hour)), 20, 1, 200, 2, 0)
	if tr := getTrace(t, st, TraceID(2)); tr.SessionID != "root-s" {
		t.Errorf("trace session %q, want the root's", tr.SessionID)
	}
	z := llmSpan(2, 23, rootID, h.Add(3*time.Minute), 1, 1, 1)
	z.SessionID = "other-s"
	if res := write(t, st, z); res.Conflicts != 1 {
		t.Errorf("write of a span with another session: %+v, want 1 conflict", res)
	}
}

func testAttributionTenantWall(t *testing.T, st store.Store) {
	h := hourH
	root := NewSpan(3, 30, "", h)
	root.TenantID, root.SessionID = "X", "sx"
	// Tenant Y's span shares X's trace id (as a tenant-scoped key's would).
	ySpan := llmSpan(3, 31, root.SpanID, h.Add(time.Minute), 50, 5, 500)
	ySpan.TenantID = "Y"
	nSpan := llmSpan(3, 32, root.SpanID, h.Add(2*time.Minute), 7, 1, 70)
	nSpan.SessionID = "sn"
	write(t, st, ySpan, nSpan)
	// The trace is Y's (the first tenant stored): the tenantless span is
	// Y's, and gives Y's span its session.
	usageIs(t, "tenant Y before X's root", tenantUsage(t, st, "Y", h, h.Add(time.Hour)), 57, 2, 570, 2, 1)
	// X's root comes later: a trace's tenant never changes once it has
	// one, so X takes nothing from Y and gives Y nothing.
	if res := write(t, st, root); res.Conflicts != 1 {
		t.Errorf("X's root under Y's trace: %+v, want 1 conflict (its tenant)", res)
	}
	usageIs(t, "tenant Y", tenantUsage(t, st, "Y", h, h.Add(time.Hour)), 57, 2, 570, 2, 1)
	usageIs(t, "tenant X", tenantUsage(t, st, "X", h, h.Add(time.Hour)), 0, 0, 0, 1, 1)
	usageIs(t, "session sx", sessionUsage(t, st, "sx", "", h, h.Add(time.Hour)), 0, 0, 0, 1, 0)
	usageIs(t, "session sn", sessionUsage(t, st, "sn", "", h, h.Add(time.Hour)), 57, 2, 570, 2, 0)
	usageIs(t, "session sn of X", sessionUsage(t, st, "sn", "X", h, h.Add(time.Hour)), 0, 0, 0, 0, 0)
	page, err := st.ListSpans(context.Background(), store.SpanQuery{TenantID: "Y"})
	if err != nil || len(page.Spans) != 2 {
		t.Fatalf("Y's spans = %+v, %v", page.Spans, err)
	}
	for _, sp := range page.Spans {
		if sp.TenantID != "Y" || sp.SessionID != "sn" {
			t.Errorf("Y's span %s: tenant %q session %q", sp.SpanID, sp.TenantID, sp.SessionID)
		}
	}
	if y := getTenantTrace(t, st, TraceID(3), "Y"); y.SpanCount != 2 || y.InputTokens != 57 || y.HasRoot || y.SessionID != "sn" {
		t.Errorf("Y's summary = %+v", y)
	}
	if x := getTenantTrace(t, st, TraceID(3), "X"); x.SpanCount != 1 || x.InputTokens != 0 || !x.HasRoot || x.SessionID != "sx" {
		t.Errorf("X's summary = %+v", x)
	}
}
