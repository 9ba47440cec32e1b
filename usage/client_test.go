package usage_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agenttrace/agenttrace/internal/servertest"
	"github.com/agenttrace/agenttrace/internal/wire"
	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/usage"
)

func TestSessionAndTenantUsage(t *testing.T) {
	ts := servertest.Start(t, fixture(0))
	c := newClient(t, ts.URL)
	ctx := context.Background()

	su, err := c.GetSessionUsage(ctx, "s-1", wStart, wEnd)
	require.NoError(t, err)
	assert.Equal(t, &usage.SessionUsage{SessionID: "s-1", StartTime: wStart, EndTime: wEnd,
		TokenCount: 330, RequestCount: 2, TotalCost: 0.003, TotalCostNanoUSD: 3_000_000,
		Tokens: usage.Tokens{InputTokens: 300, OutputTokens: 30}}, su)

	// A session id that needs escaping in the path.
	su, err = c.GetSessionUsage(ctx, "s/3 x", wStart, wEnd)
	require.NoError(t, err)
	assert.Equal(t, "s/3 x", su.SessionID)
	assert.EqualValues(t, 440, su.TokenCount)
	assert.EqualValues(t, 4_000_000, su.TotalCostNanoUSD)

	// The window is on span start times, end exclusive: trace 2's LLM span
	// starts at t0+2m+100ms.
	su, err = c.GetSessionUsage(ctx, "s-1", wStart, t0.Add(2*time.Minute+100*time.Millisecond))
	require.NoError(t, err)
	assert.EqualValues(t, 110, su.TokenCount)

	// An unknown session has zero usage, not an error.
	su, err = c.GetSessionUsage(ctx, "nobody", wStart, wEnd)
	require.NoError(t, err)
	assert.Zero(t, su.TokenCount)

	tu, err := c.GetTenantUsage(ctx, "acme", wStart, wEnd)
	require.NoError(t, err)
	assert.Equal(t, &usage.TenantUsage{TenantID: "acme", OrganisationID: server.DefaultOrganisation,
		StartTime: wStart, EndTime: wEnd, TokenCount: 660, RequestCount: 3, SessionCount: 2,
		TotalCost: 0.006, TotalCostNanoUSD: 6_000_000, Tokens: usage.Tokens{InputTokens: 600, OutputTokens: 60}}, tu)

	tu, err = c.GetTenantUsage(ctx, "globex", wStart, wEnd)
	require.NoError(t, err)
	assert.EqualValues(t, 1, tu.SessionCount)
	assert.EqualValues(t, 440, tu.TokenCount)
}

func ids(traces []usage.TraceSummary) []string {
	out := make([]string, len(traces))
	for i, tr := range traces {
		out[i] = tr.ID
	}
	return out
}

func TestListTracesFilters(t *testing.T) {
	ts := servertest.Start(t, fixture(0))
	c := newClient(t, ts.URL)
	ctx := context.Background()
	w := usage.TraceQuery{Start: wStart, End: wEnd}
	for _, tc := range []struct {
		name string
		mod  func(q *usage.TraceQuery)
		want []string // newest first (the default sort)
	}{
		{"all", func(*usage.TraceQuery) {}, []string{traceID(4), traceID(3), traceID(2), traceID(1)}},
		{"tenant", func(q *usage.TraceQuery) { q.TenantID = "acme" }, []string{traceID(3), traceID(2), traceID(1)}},
		{"user", func(q *usage.TraceQuery) { q.UserID = "u-1" }, []string{traceID(4), traceID(2), traceID(1)}},
		{"session", func(q *usage.TraceQuery) { q.SessionID = "s/3 x" }, []string{traceID(4)}},
		{"environment", func(q *usage.TraceQuery) { q.Environment = "staging" }, []string{traceID(3)}},
		{"name", func(q *usage.TraceQuery) { q.Name = "agent" }, []string{traceID(4), traceID(3), traceID(2), traceID(1)}},
		{"name none", func(q *usage.TraceQuery) { q.Name = "other" }, []string{}},
		{"status error", func(q *usage.TraceQuery) { q.Status = usage.StatusError }, []string{traceID(3)}},
		{"status ok", func(q *usage.TraceQuery) { q.Status = usage.StatusOK }, []string{traceID(4), traceID(2), traceID(1)}},
		{"one tag", func(q *usage.TraceQuery) { q.Tags = []string{"b"} }, []string{traceID(4), traceID(1)}},
		{"all tags", func(q *usage.TraceQuery) { q.Tags = []string{"a", "b"} }, []string{traceID(1)}},
		{"window", func(q *usage.TraceQuery) { q.Start, q.End = t0.Add(2*time.Minute), t0.Add(4*time.Minute) },
			[]string{traceID(3), traceID(2)}},
		{"sort tokens asc", func(q *usage.TraceQuery) { q.SortField, q.SortOrder = usage.SortTotalTokens, usage.OrderAsc },
			[]string{traceID(1), traceID(2), traceID(3), traceID(4)}},
		{"sort cost desc", func(q *usage.TraceQuery) { q.SortField = usage.SortTotalCost },
			[]string{traceID(4), traceID(3), traceID(2), traceID(1)}},
		{"offset", func(q *usage.TraceQuery) { q.Offset = 1; q.Limit = 2 }, []string{traceID(3), traceID(2)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := w
			tc.mod(&q)
			p, err := c.ListTraces(ctx, q)
			require.NoError(t, err)
			assert.Equal(t, tc.want, ids(p.Traces))
			assert.Nil(t, p.TotalCount)
		})
	}

	p, err := c.ListTraces(ctx, usage.TraceQuery{Start: wStart, End: wEnd, TenantID: "acme", Limit: 1, IncludeTotal: true})
	require.NoError(t, err)
	require.NotNil(t, p.TotalCount)
	assert.EqualValues(t, 3, *p.TotalCount)
	assert.True(t, p.HasNextPage)
	tr := p.Traces[0]
	assert.Equal(t, usage.TraceSummary{ID: traceID(3), Name: "agent", StartTime: t0.Add(3 * time.Minute),
		EndTime: t0.Add(3*time.Minute + 2*time.Second), DurationMS: 2000, Status: usage.StatusError, HasRoot: true,
		SpanCount: 3, ErrorCount: 2, Models: []string{"gpt-4.1"}, Input: `"question 3"`, Output: `"answer"`,
		TotalTokens: 330, RequestCount: 1, Tokens: usage.Tokens{InputTokens: 300, OutputTokens: 30},
		TotalCost: 0.003, TotalCostNanoUSD: 3_000_000, SessionID: "s-2", UserID: "u-2", TenantID: "acme",
		Environment: "staging", Tags: []string{}}, tr)

	got, err := c.GetTrace(ctx, strings.ToUpper(traceID(3)))
	require.NoError(t, err)
	assert.Equal(t, tr, *got)
}

func TestSpans(t *testing.T) {
	ts := servertest.Start(t, fixture(0))
	c := newClient(t, ts.URL)
	ctx := context.Background()

	p, err := c.ListSpansByTraceID(ctx, traceID(1), usage.SpanQuery{})
	require.NoError(t, err)
	require.Len(t, p.Spans, 3)
	assert.False(t, p.HasNextPage)
	names := []string{p.Spans[0].Name, p.Spans[1].Name, p.Spans[2].Name}
	assert.Equal(t, []string{"agent", "chat gpt-4.1-mini", "lookup_order"}, names, "start time order")
	g := p.Spans[1]
	assert.Equal(t, spanID(1, 1), g.ID)
	assert.Equal(t, spanID(1, 0), g.ParentID)
	assert.Equal(t, traceID(1), g.TraceID)
	assert.Equal(t, "llm", g.Type)
	assert.Equal(t, "gpt-4.1-mini", g.Model)
	assert.Equal(t, "welcome", g.PromptSlug)
	assert.Equal(t, "v3", g.PromptVersion)
	assert.EqualValues(t, 110, g.TotalTokens)
	assert.EqualValues(t, 1_000_000, g.CostNanoUSD)
	assert.InDelta(t, 0.001, g.Cost, 1e-12)
	assert.InDelta(t, 900, g.LatencyMS, 1e-9)
	assert.Equal(t, "s-1", g.SessionID)

	p, err = c.ListSpansByTraceID(ctx, traceID(1), usage.SpanQuery{Name: "lookup_order"})
	require.NoError(t, err)
	require.Len(t, p.Spans, 1)
	assert.Equal(t, spanID(1, 2), p.Spans[0].ID)

	spanIDs := func(q usage.SpanQuery) []string {
		t.Helper()
		if q.Start.IsZero() { // the server lists the last 31 days without a window
			q.Start, q.End = t0.Add(-time.Hour), t0.Add(24*time.Hour)
		}
		var out []string
		for sp, err := range c.IterSpans(ctx, q) {
			require.NoError(t, err)
			out = append(out, sp.ID)
		}
		return out
	}
	// Across traces, newest first.
	assert.Equal(t, []string{spanID(4, 1), spanID(3, 1), spanID(2, 1), spanID(1, 1)}, spanIDs(usage.SpanQuery{Type: "llm", Limit: 3}))
	assert.Equal(t, []string{spanID(1, 1), spanID(2, 1), spanID(3, 1), spanID(4, 1)},
		spanIDs(usage.SpanQuery{Type: "llm", Limit: 3, Direction: usage.Up}), "Up walks oldest first")
	assert.Equal(t, []string{spanID(4, 1), spanID(3, 1)}, spanIDs(usage.SpanQuery{Model: "gpt-4.1"}))
	assert.Equal(t, []string{spanID(3, 2), spanID(3, 0)}, spanIDs(usage.SpanQuery{Status: usage.StatusError}))
	assert.Equal(t, []string{spanID(4, 2), spanID(4, 1), spanID(4, 0)}, spanIDs(usage.SpanQuery{TenantID: "globex"}))
	assert.Equal(t, []string{spanID(3, 1)}, spanIDs(usage.SpanQuery{UserID: "u-2", PromptSlug: "welcome"}))
	assert.Equal(t, []string{spanID(2, 2)}, spanIDs(usage.SpanQuery{SessionID: "s-1", Name: "lookup_order", Tags: []string{"a"},
		Start: t0.Add(2 * time.Minute), End: t0.Add(3 * time.Minute)}))
	assert.Empty(t, spanIDs(usage.SpanQuery{PromptSlug: "nope"}))
}

func TestIterSpansByTraceID(t *testing.T) {
	ts := servertest.Start(t, fixture(0))
	c := newClient(t, ts.URL)
	ctx := context.Background()
	collect := func(q usage.SpanQuery) []string {
		var out []string
		for sp, err := range c.IterSpansByTraceID(ctx, traceID(2), q) {
			require.NoError(t, err)
			out = append(out, sp.ID)
		}
		return out
	}
	want := []string{spanID(2, 0), spanID(2, 1), spanID(2, 2)}
	before := ts.Requests.Load()
	assert.Equal(t, want, collect(usage.SpanQuery{Limit: 1}))
	assert.EqualValues(t, 3, ts.Requests.Load()-before, "three pages of one, the last says no more")
	slices.Reverse(want)
	assert.Equal(t, want, collect(usage.SpanQuery{Limit: 2, Direction: usage.Up}))
}

// TestPagination pages through 30 traces by hand and with the iterators,
// both ways, and checks breaking sends no further request.
func TestPagination(t *testing.T) {
	const n = 30
	ts := servertest.Start(t, fixture(n))
	c := newClient(t, ts.URL)
	ctx := context.Background()
	q := usage.TraceQuery{Start: wStart, End: wEnd, TenantID: "bulk", SortOrder: usage.OrderAsc, Limit: 4}
	var want []string
	for i := range n {
		want = append(want, traceID(100+i))
	}

	// By hand: down to the end, then back up with PrevCursor.
	var got []string
	var pages []*usage.TracesPage
	for pq := q; ; {
		p, err := c.ListTraces(ctx, pq)
		require.NoError(t, err)
		got = append(got, ids(p.Traces)...)
		pages = append(pages, p)
		if !p.HasNextPage {
			break
		}
		pq.Cursor = p.NextCursor
	}
	assert.Equal(t, want, got)
	require.Len(t, pages, 8)
	back := q
	back.Direction, back.Cursor = usage.Up, pages[7].PrevCursor
	p, err := c.ListTraces(ctx, back)
	require.NoError(t, err)
	assert.Equal(t, ids(pages[6].Traces), ids(p.Traces), "PrevCursor with Up gives the page before")
	assert.True(t, p.HasNextPage)

	// Iterators: every trace once, in order, each way.
	collect := func(q usage.TraceQuery) []string {
		var out []string
		for tr, err := range c.IterTraces(ctx, q) {
			require.NoError(t, err)
			out = append(out, tr.ID)
		}
		return out
	}
	assert.Equal(t, want, collect(q))
	up := q
	up.Direction = usage.Up
	rev := slices.Clone(want)
	slices.Reverse(rev)
	assert.Equal(t, rev, collect(up))
	// Starting from a cursor, with an offset on the first page only.
	from := q
	from.Cursor, from.Offset = pages[1].NextCursor, 1
	assert.Equal(t, want[9:], collect(from))
	// The same iterator ranged over twice starts from its cursor both times.
	seq := c.IterTraces(ctx, from)
	for range 2 {
		var got []string
		for tr, err := range seq {
			require.NoError(t, err)
			got = append(got, tr.ID)
		}
		assert.Equal(t, want[9:], got)
	}

	// Breaking early: no request beyond the page that was being read.
	for _, stopAfter := range []int{1, 4, 5} {
		before := ts.Requests.Load()
		k := 0
		for _, err := range c.IterTraces(ctx, q) {
			require.NoError(t, err)
			if k++; k == stopAfter {
				break
			}
		}
		wantReq := int64((stopAfter + 3) / 4)
		assert.Equal(t, wantReq, ts.Requests.Load()-before, "break after %d traces", stopAfter)
	}

	// An iterator built but never ranged over sends nothing.
	before := ts.Requests.Load()
	_ = c.IterTraces(ctx, q)
	assert.Equal(t, before, ts.Requests.Load())
}

func TestIterYieldsErrors(t *testing.T) {
	ts := servertest.Start(t, fixture(10))
	c := newClient(t, ts.URL)
	ctx := context.Background()

	// A cursor made with other filters: the server's 400, yielded once.
	p, err := c.ListTraces(ctx, usage.TraceQuery{Start: wStart, End: wEnd, TenantID: "bulk", Limit: 3})
	require.NoError(t, err)
	n, errs := 0, 0
	for tr, err := range c.IterTraces(ctx, usage.TraceQuery{Start: wStart, End: wEnd, Cursor: p.NextCursor}) {
		n++
		if err != nil {
			errs++
			assert.ErrorIs(t, err, usage.ErrInvalidArgument)
			var ae *usage.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, wire.ParamCursor, ae.Param)
			assert.Contains(t, ae.Message, "other filters")
			assert.Zero(t, tr.ID)
		}
	}
	assert.Equal(t, 1, n)
	assert.Equal(t, 1, errs)

	// Invalid arguments: yielded without a request.
	before := ts.Requests.Load()
	for _, it := range []func(func(string, error) bool){
		func(yield func(string, error) bool) {
			for tr, err := range c.IterTraces(ctx, usage.TraceQuery{Start: wStart}) {
				yield(tr.ID, err)
			}
		},
		func(yield func(string, error) bool) {
			for sp, err := range c.IterSpansByTraceID(ctx, "", usage.SpanQuery{}) {
				yield(sp.ID, err)
			}
		},
		func(yield func(string, error) bool) {
			for sp, err := range c.IterSpans(ctx, usage.SpanQuery{Limit: -1}) {
				yield(sp.ID, err)
			}
		},
	} {
		var got []error
		it(func(_ string, err error) bool { got = append(got, err); return true })
		require.Len(t, got, 1)
		var ve *usage.ValidationError
		assert.ErrorAs(t, got[0], &ve)
	}
	assert.Equal(t, before, ts.Requests.Load())

	// Mid-way failure: the server's store closes after the first page.
	noRetry := newClient(t, ts.URL, usage.WithRetry(0, 0))
	k := 0
	var last error
	for _, err := range noRetry.IterTraces(ctx, usage.TraceQuery{Start: wStart, End: wEnd, Limit: 4}) {
		if err != nil {
			last = err
			continue
		}
		if k++; k == 4 {
			require.NoError(t, ts.Store.Close())
		}
	}
	assert.Equal(t, 4, k)
	assert.ErrorIs(t, last, usage.ErrUnavailable)
}

// TestValidationSendsNothing checks every argument the client can tell is
// invalid is refused before any request.
func TestValidationSendsNothing(t *testing.T) {
	ts := servertest.Start(t, nil)
	c := newClient(t, ts.URL)
	ctx := context.Background()
	okID := traceID(1)
	var nilCtx context.Context
	q := func(mod func(*usage.TraceQuery)) usage.TraceQuery {
		tq := usage.TraceQuery{Start: wStart, End: wEnd}
		mod(&tq)
		return tq
	}
	for _, tc := range []struct {
		name  string
		field string
		call  func() (any, error)
	}{
		{"session empty id", "session_id", func() (any, error) { return c.GetSessionUsage(ctx, "", wStart, wEnd) }},
		{"session blank id", "session_id", func() (any, error) { return c.GetSessionUsage(ctx, "  ", wStart, wEnd) }},
		{"session zero start", "start_time", func() (any, error) { return c.GetSessionUsage(ctx, "s", time.Time{}, wEnd) }},
		{"session zero end", "end_time", func() (any, error) { return c.GetSessionUsage(ctx, "s", wStart, time.Time{}) }},
		{"session end before start", "end_time", func() (any, error) { return c.GetSessionUsage(ctx, "s", wEnd, wStart) }},
		{"session end equals start", "end_time", func() (any, error) { return c.GetSessionUsage(ctx, "s", wStart, wStart) }},
		{"session before 1970", "start_time", func() (any, error) {
			return c.GetSessionUsage(ctx, "s", time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC), wEnd)
		}},
		{"session nil ctx", "ctx", func() (any, error) { return c.GetSessionUsage(nilCtx, "s", wStart, wEnd) }},
		{"tenant empty id", "tenant_id", func() (any, error) { return c.GetTenantUsage(ctx, "", wStart, wEnd) }},
		{"tenant dot-dot id", "tenant_id", func() (any, error) { return c.GetTenantUsage(ctx, "..", wStart, wEnd) }},
		{"tenant end before start", "end_time", func() (any, error) { return c.GetTenantUsage(ctx, "t", wEnd, wStart) }},
		{"traces no window", "start_time", func() (any, error) { return c.ListTraces(ctx, usage.TraceQuery{}) }},
		{"traces no end", "end_time", func() (any, error) { return c.ListTraces(ctx, usage.TraceQuery{Start: wStart}) }},
		{"traces limit high", "limit", func() (any, error) { return c.ListTraces(ctx, q(func(q *usage.TraceQuery) { q.Limit = 1001 })) }},
		{"traces limit negative", "limit", func() (any, error) { return c.ListTraces(ctx, q(func(q *usage.TraceQuery) { q.Limit = -1 })) }},
		{"traces direction", "direction", func() (any, error) {
			return c.ListTraces(ctx, q(func(q *usage.TraceQuery) { q.Direction = "sideways" }))
		}},
		{"traces sort field", "sort_field", func() (any, error) {
			return c.ListTraces(ctx, q(func(q *usage.TraceQuery) { q.SortField = "colour" }))
		}},
		{"traces sort order", "sort_order", func() (any, error) {
			return c.ListTraces(ctx, q(func(q *usage.TraceQuery) { q.SortOrder = "up" }))
		}},
		{"traces status", "status", func() (any, error) { return c.ListTraces(ctx, q(func(q *usage.TraceQuery) { q.Status = "fine" })) }},
		{"traces empty tag", "tags", func() (any, error) {
			return c.ListTraces(ctx, q(func(q *usage.TraceQuery) { q.Tags = []string{"a", ""} }))
		}},
		{"traces comma tag", "tags", func() (any, error) {
			return c.ListTraces(ctx, q(func(q *usage.TraceQuery) { q.Tags = []string{"a,b"} }))
		}},
		{"traces offset", "offset", func() (any, error) { return c.ListTraces(ctx, q(func(q *usage.TraceQuery) { q.Offset = -3 })) }},
		{"traces blank cursor", "cursor", func() (any, error) { return c.ListTraces(ctx, q(func(q *usage.TraceQuery) { q.Cursor = " " })) }},
		{"trace empty id", "trace_id", func() (any, error) { return c.GetTrace(ctx, "") }},
		{"trace short id", "trace_id", func() (any, error) { return c.GetTrace(ctx, "abc") }},
		{"trace non-hex id", "trace_id", func() (any, error) { return c.GetTrace(ctx, strings.Repeat("g", 32)) }},
		{"trace zero id", "trace_id", func() (any, error) { return c.GetTrace(ctx, strings.Repeat("0", 32)) }},
		{"trace path id", "trace_id", func() (any, error) { return c.GetTrace(ctx, "../../v1/usage/tenants/acmexxxx") }},
		{"trace nil ctx", "ctx", func() (any, error) { return c.GetTrace(nilCtx, okID) }},
		{"trace spans bad id", "trace_id", func() (any, error) { return c.ListSpansByTraceID(ctx, "x", usage.SpanQuery{}) }},
		{"trace spans limit", "limit", func() (any, error) { return c.ListSpansByTraceID(ctx, okID, usage.SpanQuery{Limit: 5000}) }},
		{"trace spans direction", "direction", func() (any, error) {
			return c.ListSpansByTraceID(ctx, okID, usage.SpanQuery{Direction: "DOWN"})
		}},
		{"trace spans model filter", "model", func() (any, error) {
			return c.ListSpansByTraceID(ctx, okID, usage.SpanQuery{Model: "gpt-4.1"})
		}},
		{"trace spans window filter", "start_time", func() (any, error) {
			return c.ListSpansByTraceID(ctx, okID, usage.SpanQuery{Start: wStart})
		}},
		{"spans end before start", "end_time", func() (any, error) {
			return c.ListSpans(ctx, usage.SpanQuery{Start: wEnd, End: wStart})
		}},
		{"spans after 2261", "end_time", func() (any, error) {
			return c.ListSpans(ctx, usage.SpanQuery{End: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)})
		}},
		{"spans status", "status", func() (any, error) { return c.ListSpans(ctx, usage.SpanQuery{Status: "OK"}) }},
		{"spans limit", "limit", func() (any, error) { return c.ListSpans(ctx, usage.SpanQuery{Limit: -5}) }},
		{"spans tag", "tags", func() (any, error) { return c.ListSpans(ctx, usage.SpanQuery{Tags: []string{" "}}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.call()
			require.Error(t, err)
			assert.True(t, isNil(res), "a result with an error: %#v", res)
			assert.ErrorIs(t, err, usage.ErrInvalidArgument)
			var ve *usage.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.field, ve.Field)
			assert.NotEmpty(t, ve.Reason)
			var ae *usage.APIError
			assert.False(t, errors.As(err, &ae), "a client-side error is not an APIError")
		})
	}
	assert.Zero(t, ts.Requests.Load(), "no request was sent")

	var nilClient *usage.Client
	_, err := nilClient.GetTrace(ctx, okID)
	assert.ErrorIs(t, err, usage.ErrInvalidOption)
	for _, err := range nilClient.IterTraces(ctx, usage.TraceQuery{Start: wStart, End: wEnd}) {
		assert.ErrorIs(t, err, usage.ErrInvalidOption)
	}
	assert.Empty(t, nilClient.BaseURL())
	nilClient.CloseIdleConnections()
}

// isNil reports whether v is a nil pointer in an interface.
func isNil(v any) bool {
	switch p := v.(type) {
	case *usage.SessionUsage:
		return p == nil
	case *usage.TenantUsage:
		return p == nil
	case *usage.TracesPage:
		return p == nil
	case *usage.TraceSummary:
		return p == nil
	case *usage.SpansPage:
		return p == nil
	}
	return v == nil
}

// TestServerErrors checks each error answer of the real server comes back
// as an *APIError with its status, code and message.
func TestServerErrors(t *testing.T) {
	ts := servertest.Start(t, fixture(3), server.WithAPIKeys(server.APIKey{Key: "full"}, server.APIKey{Key: "acme-key", Tenant: "acme"}))
	ctx := context.Background()
	full := newClient(t, ts.URL, usage.WithAPIKey("full"))
	acme := newClient(t, ts.URL, usage.WithAPIKey("acme-key"))

	check := func(t *testing.T, res any, err error, sentinel error, status int, code string) *usage.APIError {
		t.Helper()
		require.Error(t, err)
		assert.True(t, isNil(res), "a result with an error: %#v", res)
		assert.ErrorIs(t, err, sentinel)
		var ae *usage.APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, status, ae.StatusCode)
		assert.Equal(t, code, ae.Code)
		assert.NotEmpty(t, ae.Message)
		assert.Contains(t, err.Error(), ae.Message)
		for _, other := range []error{usage.ErrInvalidArgument, usage.ErrUnauthorized, usage.ErrForbidden, usage.ErrNotFound, usage.ErrUnavailable} {
			if other != sentinel {
				assert.NotErrorIs(t, err, other)
			}
		}
		return ae
	}

	t.Run("wrong key", func(t *testing.T) {
		c := newClient(t, ts.URL, usage.WithAPIKey("wrong"))
		res, err := c.GetSessionUsage(ctx, "s-1", wStart, wEnd)
		ae := check(t, res, err, usage.ErrUnauthorized, 401, wire.CodeUnauthenticated)
		assert.Equal(t, "GET", ae.Method)
		assert.Equal(t, "/v1/usage/sessions/s-1", ae.Path)
	})
	t.Run("no key", func(t *testing.T) {
		c := newClient(t, ts.URL)
		res, err := c.ListTraces(ctx, usage.TraceQuery{Start: wStart, End: wEnd})
		check(t, res, err, usage.ErrUnauthorized, 401, wire.CodeUnauthenticated)
	})
	t.Run("key from the environment", func(t *testing.T) {
		t.Setenv(usage.EnvAPIKey, "full")
		c, err := usage.NewClient(ts.URL)
		require.NoError(t, err)
		defer c.CloseIdleConnections()
		_, err = c.GetTenantUsage(ctx, "acme", wStart, wEnd)
		require.NoError(t, err)
	})
	t.Run("other tenant", func(t *testing.T) {
		res, err := acme.GetTenantUsage(ctx, "globex", wStart, wEnd)
		ae := check(t, res, err, usage.ErrForbidden, 403, wire.CodePermissionDenied)
		assert.Contains(t, ae.Message, "globex")
		// Another tenant's trace is not found, exactly like an unknown one.
		res2, err := acme.GetTrace(ctx, traceID(4))
		check(t, res2, err, usage.ErrNotFound, 404, wire.CodeNotFound)
		// Naming the other tenant is refused; the unscoped key may.
		res2, err = acme.GetTrace(ctx, traceID(4), "globex")
		check(t, res2, err, usage.ErrForbidden, 403, wire.CodePermissionDenied)
		tr, err := full.GetTrace(ctx, traceID(4), "globex")
		require.NoError(t, err)
		assert.Equal(t, "globex", tr.TenantID)
		_, err = full.GetTrace(ctx, traceID(4), "globex", "acme")
		assert.ErrorIs(t, err, usage.ErrInvalidArgument)
		_, err = full.GetSessionUsage(ctx, "s-1", wStart, wEnd, usage.Tenant(""))
		assert.ErrorIs(t, err, usage.ErrInvalidArgument)
		// A scoped key's lists are forced to its tenant.
		p, err := acme.ListTraces(ctx, usage.TraceQuery{Start: wStart, End: wEnd})
		require.NoError(t, err)
		assert.Equal(t, []string{traceID(3), traceID(2), traceID(1)}, ids(p.Traces))
	})
	t.Run("unknown trace", func(t *testing.T) {
		res, err := full.GetTrace(ctx, strings.Repeat("ab", 16))
		check(t, res, err, usage.ErrNotFound, 404, wire.CodeNotFound)
		res2, err := full.ListSpansByTraceID(ctx, strings.Repeat("ab", 16), usage.SpanQuery{})
		check(t, res2, err, usage.ErrNotFound, 404, wire.CodeNotFound)
	})
	t.Run("bad cursor", func(t *testing.T) {
		res, err := full.ListTraces(ctx, usage.TraceQuery{Start: wStart, End: wEnd, Cursor: "not-a-cursor!"})
		ae := check(t, res, err, usage.ErrInvalidArgument, 400, wire.CodeInvalidArgument)
		assert.Equal(t, wire.ParamCursor, ae.Param)
		assert.Contains(t, ae.Message, "malformed cursor")
		res2, err := full.ListSpans(ctx, usage.SpanQuery{Cursor: "eyJ2IjoxfQ"})
		check(t, res2, err, usage.ErrInvalidArgument, 400, wire.CodeInvalidArgument)
	})
	t.Run("cursor with other filters", func(t *testing.T) {
		p, err := full.ListTraces(ctx, usage.TraceQuery{Start: wStart, End: wEnd, Limit: 1})
		require.NoError(t, err)
		res, err := full.ListTraces(ctx, usage.TraceQuery{Start: wStart, End: wEnd, Limit: 1, TenantID: "acme", Cursor: p.NextCursor})
		ae := check(t, res, err, usage.ErrInvalidArgument, 400, wire.CodeInvalidArgument)
		assert.Contains(t, ae.Message, "other filters")
	})
	t.Run("closed store", func(t *testing.T) {
		ts2 := servertest.Start(t, nil)
		require.NoError(t, ts2.Store.Close())
		c := newClient(t, ts2.URL, usage.WithRetry(1, time.Millisecond))
		res, err := c.GetSessionUsage(ctx, "s", wStart, wEnd)
		check(t, res, err, usage.ErrUnavailable, 503, wire.CodeUnavailable)
		assert.EqualValues(t, 2, ts2.Requests.Load(), "a 503 is retried (after the server's Retry-After)")
	})
}
