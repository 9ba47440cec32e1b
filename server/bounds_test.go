package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/agenttrace/agenttrace/internal/wire"
	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/usage"
)

// TestQueryBounds: lists are bounded — a window wider than the maximum is
// a 400 naming start_time, /v1/spans without a window lists the last one,
// offset stops at 10,000, and include_total counts at most 10,000 traces
// (total_count_capped says there were more).
func TestQueryBounds(t *testing.T) {
	ts := startServer(t, server.WithMaxQueryWindow(time.Hour))
	c := client(t)
	now := time.Now().UTC().Truncate(time.Second)
	const n = store.MaxTotal + 1
	spans := make([]store.Span, 0, n+1)
	for i := range n {
		st := now.Add(-30 * time.Minute).Add(time.Duration(i) * time.Millisecond)
		spans = append(spans, store.Span{TraceID: fmt.Sprintf("%032x", i+1), SpanID: fmt.Sprintf("%016x", i+1),
			Name: "recent", Type: "trace", Start: st, End: st.Add(time.Millisecond)})
	}
	old := now.Add(-3 * time.Hour)
	spans = append(spans, store.Span{TraceID: fmt.Sprintf("%032x", n+1), SpanID: fmt.Sprintf("%016x", n+1),
		Name: "old", Type: "trace", Start: old, End: old.Add(time.Millisecond)})
	if _, err := ts.store.WriteSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	q := func(start, end time.Time) string {
		return "start_time=" + url.QueryEscape(start.Format(time.RFC3339)) + "&end_time=" + url.QueryEscape(end.Format(time.RFC3339))
	}
	for _, p := range []string{
		"/v1/traces?" + q(now.Add(-2*time.Hour), now),
		"/v1/spans?" + q(now.Add(-2*time.Hour), now),
		"/v1/spans?start_time=" + url.QueryEscape(now.Add(-2*time.Hour).Format(time.RFC3339)),
	} {
		code, eb := get(t, c, ts.url, p, nil, nil)
		if code != http.StatusBadRequest || eb.Error.Param != wire.ParamStartTime {
			t.Errorf("GET %s = %d %+v, want 400 naming start_time", p, code, eb)
		}
	}
	win := q(now.Add(-time.Hour), now)
	if code, eb := get(t, c, ts.url, "/v1/traces?offset=10001&"+win, nil, nil); code != http.StatusBadRequest || eb.Error.Param != wire.ParamOffset {
		t.Errorf("offset 10001 = %d %+v, want 400 naming offset", code, eb)
	}
	var page usage.TracesPage
	mustGet(t, c, ts.url, "/v1/traces?offset=10000&include_total=true&"+win, nil, &page)
	if page.TotalCount == nil || *page.TotalCount != store.MaxTotal || !page.TotalCountCapped || len(page.Traces) != 1 {
		t.Errorf("include_total over %d traces: total %v capped %v, %d traces at offset 10000", n, page.TotalCount, page.TotalCountCapped, len(page.Traces))
	}
	// Without a window, /v1/spans lists the last hour (newest first): the
	// old span is outside it.
	var sp usage.SpansPage
	mustGet(t, c, ts.url, "/v1/spans?limit=1000", nil, &sp)
	if len(sp.Spans) != 1000 || !sp.HasNextPage {
		t.Fatalf("spans without a window: %d, more %v", len(sp.Spans), sp.HasNextPage)
	}
	mustGet(t, c, ts.url, "/v1/spans?name=old", nil, &sp)
	if len(sp.Spans) != 0 {
		t.Errorf("spans without a window listed a span of 3 hours ago: %+v", sp.Spans)
	}
	mustGet(t, c, ts.url, "/v1/spans?name=old&"+q(old.Add(-time.Minute), old.Add(time.Minute)), nil, &sp)
	if len(sp.Spans) != 1 {
		t.Errorf("spans of the old window: %d, want 1", len(sp.Spans))
	}
}
