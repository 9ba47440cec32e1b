package server_test

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/wire"
	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/usage"
)

var base = time.Date(2025, 11, 16, 8, 0, 0, 0, time.UTC)

// manyTraces sends n traces (a root and an LLM child each) through the SDK
// exporter, with many ties in every sort key.
func manyTraces(t *testing.T, ts *testServer, n int, headers map[string]string) {
	rec := newRecorder(t)
	exp := exporter(t, ts, headers)
	ctx := context.Background()
	for i := 0; i < n; i++ {
		start := base.Add(time.Duration(i%137) * time.Second)
		end := start.Add(time.Duration(i%7)*100*time.Millisecond + 10*time.Millisecond)
		fields := []attribute.KeyValue{
			attr.TenantID.String([]string{"acme", "globex"}[i%2]),
			attr.SessionID.String(fmt.Sprintf("s%d", i%10)),
			attr.UserID.String(fmt.Sprintf("u%d", i%3)),
			attr.Environment.String([]string{"prod", "dev"}[i%2]),
			attr.Tags.StringSlice([][]string{{"a"}, {"a", "b"}, {"b"}, nil}[i%4]),
		}
		rctx, root := rec.tr.Start(ctx, []string{"alpha", "beta", "gamma"}[i%3], withStart(start))
		root.SetAttributes(fields...)
		rec.span(rctx, "chat", start.Add(time.Millisecond), start.Add(2*time.Millisecond), llmAttrs(int64(i%11)*10, 1, float64(i%5)*0.001, fields...)...)
		root.End(withEnd(end))
		if i%250 == 249 || i == n-1 {
			export(t, exp, rec.take())
		}
	}
}

func key(tr *usage.TraceSummary, field usage.SortField) (int64, string) {
	switch field {
	case usage.SortDuration:
		return int64(tr.DurationMS * 1e6), ""
	case usage.SortTotalTokens:
		return tr.TotalTokens, ""
	case usage.SortTotalCost:
		return tr.TotalCostNanoUSD, ""
	case usage.SortName:
		return 0, tr.Name
	}
	return tr.StartTime.UnixNano(), ""
}

// walkHTTP pages through GET /v1/traces?query in dir, following
// next_cursor while has_next_page, and returns the traces in sort order.
func walkHTTP(t *testing.T, c *http.Client, ts *testServer, query string, dir usage.Direction, limit int, headers map[string]string) []usage.TraceSummary {
	t.Helper()
	var out []usage.TraceSummary
	cursor := ""
	for pages := 0; pages < 2000; pages++ {
		q := fmt.Sprintf("%s&limit=%d&direction=%s", query, limit, dir)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		var page usage.TracesPage
		mustGet(t, c, ts.url, "/v1/traces?"+q, headers, &page)
		if len(page.Traces) > limit {
			t.Fatalf("page of %d traces with limit %d", len(page.Traces), limit)
		}
		if dir == usage.Down {
			out = append(out, page.Traces...)
		} else {
			out = append(page.Traces, out...)
		}
		if !page.HasNextPage {
			return out
		}
		if page.NextCursor == "" {
			t.Fatal("has_next_page without next_cursor")
		}
		cursor = page.NextCursor
	}
	t.Fatal("pagination does not end")
	return nil
}

func TestPaginationThousandTraces(t *testing.T) {
	ts := startServer(t)
	const n = 1000
	manyTraces(t, ts, n, nil)
	c := client(t)
	win := window(base, base.Add(time.Hour))
	for _, field := range []usage.SortField{usage.SortStartTime, usage.SortDuration, usage.SortTotalTokens, usage.SortTotalCost, usage.SortName} {
		for _, order := range []usage.SortOrder{usage.OrderAsc, usage.OrderDesc} {
			query := win + "&sort_field=" + string(field) + "&sort_order=" + string(order)
			// Uneven last pages; a small page size for the default sort.
			limit := 97
			if field == usage.SortStartTime {
				limit = 37
			}
			down := walkHTTP(t, c, ts, query, usage.Down, limit, nil)
			up := walkHTTP(t, c, ts, query, usage.Up, limit, nil)
			if len(down) != n || len(up) != n {
				t.Fatalf("%s %s: walked %d down and %d up, want %d", field, order, len(down), len(up), n)
			}
			seen := map[string]bool{}
			for i := range down {
				if seen[down[i].ID] {
					t.Fatalf("%s %s: trace %s twice", field, order, down[i].ID)
				}
				seen[down[i].ID] = true
				if up[i].ID != down[i].ID {
					t.Fatalf("%s %s: up and down walks differ at %d", field, order, i)
				}
				if i == 0 {
					continue
				}
				an, as := key(&down[i-1], field)
				bn, bs := key(&down[i], field)
				c := cmp.Or(cmp.Compare(an, bn), cmp.Compare(as, bs), cmp.Compare(down[i-1].ID, down[i].ID))
				if order == usage.OrderDesc {
					c = -c
				}
				if c >= 0 {
					t.Fatalf("%s %s: traces %d and %d out of order", field, order, i-1, i)
				}
			}
		}
	}

	// prev_cursor goes back to exactly the previous page.
	var p1, p2, back usage.TracesPage
	mustGet(t, c, ts.url, "/v1/traces?"+win+"&limit=20", nil, &p1)
	mustGet(t, c, ts.url, "/v1/traces?"+win+"&limit=20&cursor="+url.QueryEscape(p1.NextCursor), nil, &p2)
	mustGet(t, c, ts.url, "/v1/traces?"+win+"&limit=20&direction=up&cursor="+url.QueryEscape(p2.PrevCursor), nil, &back)
	if len(back.Traces) != 20 || back.Traces[0].ID != p1.Traces[0].ID || back.Traces[19].ID != p1.Traces[19].ID || back.HasNextPage {
		t.Fatalf("going back with prev_cursor did not give the first page (%d traces, more %v)", len(back.Traces), back.HasNextPage)
	}

	// offset and include_total.
	var off usage.TracesPage
	mustGet(t, c, ts.url, "/v1/traces?"+win+"&limit=20&offset=20&include_total=true&tenant_id=acme", nil, &off)
	var acme usage.TracesPage
	mustGet(t, c, ts.url, "/v1/traces?"+win+"&limit=40&tenant_id=acme", nil, &acme)
	if off.TotalCount == nil || *off.TotalCount != n/2 || off.Traces[0].ID != acme.Traces[20].ID {
		t.Fatalf("offset page: total %v, first %s, want total %d first %s", off.TotalCount, off.Traces[0].ID, n/2, acme.Traces[20].ID)
	}
	if p1.TotalCount != nil {
		t.Fatal("total_count present without include_total")
	}

	// Filters: tags all-must-match, and the combination with others.
	all := walkHTTP(t, c, ts, win+"&tags=b,a&tenant_id=globex&environment=dev&user_id=u1&status=ok", usage.Down, 1000, nil)
	want := 0
	for i := 0; i < n; i++ {
		if i%4 == 1 && i%2 == 1 && i%3 == 1 {
			want++
		}
	}
	if len(all) != want || want == 0 {
		t.Fatalf("filtered list = %d traces, want %d", len(all), want)
	}
	for _, tr := range all {
		if tr.TenantID != "globex" || tr.Environment != "dev" || tr.UserID != "u1" || len(tr.Tags) != 2 {
			t.Fatalf("filtered list holds %+v", tr)
		}
	}

	// A cursor is bound to its filters and sort.
	cur := url.QueryEscape(p1.NextCursor)
	for _, other := range []string{
		win + "&tenant_id=acme", win + "&sort_order=asc", win + "&sort_field=name", window(base, base.Add(2*time.Hour)),
		win + "&tags=a", win + "&status=error", win + "&name=alpha",
	} {
		code, eb := get(t, c, ts.url, "/v1/traces?"+other+"&cursor="+cur, nil, nil)
		if code != http.StatusBadRequest || eb.Error.Param != wire.ParamCursor {
			t.Fatalf("cursor reused with %q: %d %+v, want 400 naming cursor", other, code, eb)
		}
	}
	// ...but limit and direction may change.
	mustGet(t, c, ts.url, "/v1/traces?"+win+"&limit=3&direction=up&cursor="+cur, nil, &usage.TracesPage{})
	// A traces cursor is not a spans cursor.
	code, eb := get(t, c, ts.url, "/v1/spans?cursor="+cur, nil, nil)
	if code != http.StatusBadRequest || eb.Error.Param != wire.ParamCursor {
		t.Fatalf("traces cursor on /v1/spans: %d %+v", code, eb)
	}
}

func TestSpansEndpoints(t *testing.T) {
	ts := startServer(t)
	manyTraces(t, ts, 60, nil)
	c := client(t)
	var traces usage.TracesPage
	mustGet(t, c, ts.url, "/v1/traces?"+window(base, base.Add(time.Hour))+"&limit=1", nil, &traces)
	id := traces.Traces[0].ID

	var sp usage.SpansPage
	mustGet(t, c, ts.url, "/v1/traces/"+id+"/spans", nil, &sp)
	if len(sp.Spans) != 2 || sp.HasNextPage || sp.Spans[0].ParentID != "" || sp.Spans[1].ParentID != sp.Spans[0].ID {
		t.Fatalf("spans of %s = %+v", id, sp)
	}
	llm := sp.Spans[1]
	if llm.Type != attr.TypeLLM || llm.Model != "gpt-4.1-mini" || llm.Provider != "openai" || llm.Operation != attr.OpChat ||
		llm.ServiceName != "test-svc" || llm.Kind != "internal" || llm.TraceID != id || !strings.Contains(string(llm.Attributes), `"gen_ai.usage.input_tokens"`) ||
		!strings.Contains(string(llm.ResourceAttributes), `"service.name":"test-svc"`) {
		t.Fatalf("LLM span = %+v", llm)
	}
	var named usage.SpansPage
	mustGet(t, c, ts.url, "/v1/traces/"+id+"/spans?span_name=chat&limit=5", nil, &named)
	if len(named.Spans) != 1 || named.Spans[0].ID != llm.ID {
		t.Fatalf("span_name=chat gave %d spans", len(named.Spans))
	}
	// Paging one span at a time, down then back up.
	var p1, p2, p3 usage.SpansPage
	mustGet(t, c, ts.url, "/v1/traces/"+id+"/spans?limit=1", nil, &p1)
	mustGet(t, c, ts.url, "/v1/traces/"+id+"/spans?limit=1&cursor="+url.QueryEscape(p1.NextCursor), nil, &p2)
	mustGet(t, c, ts.url, "/v1/traces/"+id+"/spans?limit=1&direction=up&cursor="+url.QueryEscape(p2.PrevCursor), nil, &p3)
	if !p1.HasNextPage || p2.HasNextPage || p1.Spans[0].ID == p2.Spans[0].ID || p3.Spans[0].ID != p1.Spans[0].ID {
		t.Fatal("span pagination of one trace is wrong")
	}
	// The cursor is bound to its trace and span_name.
	if code, eb := get(t, c, ts.url, "/v1/traces/"+id+"/spans?span_name=x&cursor="+url.QueryEscape(p1.NextCursor), nil, nil); code != 400 || eb.Error.Param != "cursor" {
		t.Fatalf("span cursor with another span_name: %d %+v", code, eb)
	}

	// Spans across traces: every filter, every page.
	query := "type=llm&model=gpt-4.1-mini&tenant_id=acme&tags=a&status=ok&" + window(base, base.Add(time.Hour))
	var got []usage.Span
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("span pagination does not end")
		}
		var page usage.SpansPage
		q := "/v1/spans?" + query + "&limit=4"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		mustGet(t, c, ts.url, q, nil, &page)
		got = append(got, page.Spans...)
		if !page.HasNextPage {
			break
		}
		cursor = page.NextCursor
	}
	want := 0
	for i := 0; i < 60; i++ {
		if i%2 == 0 && (i%4 == 0 || i%4 == 1) {
			want++
		}
	}
	if len(got) != want {
		t.Fatalf("/v1/spans filtered = %d spans, want %d", len(got), want)
	}
	for i, s := range got {
		if s.Type != "llm" || s.TenantID != "acme" || s.Status != "ok" {
			t.Fatalf("/v1/spans returned %+v", s)
		}
		if i > 0 && s.StartTime.After(got[i-1].StartTime) {
			t.Fatal("/v1/spans not newest first")
		}
	}
	var none usage.SpansPage
	mustGet(t, c, ts.url, "/v1/spans?status=error", nil, &none)
	if len(none.Spans) != 0 || none.Spans == nil {
		t.Fatalf("status=error: %d spans (nil %v), want an empty array", len(none.Spans), none.Spans == nil)
	}
}

func TestMalformedParams(t *testing.T) {
	ts := startServer(t)
	manyTraces(t, ts, 3, nil)
	c := client(t)
	win := window(base, base.Add(time.Hour))
	id := strings.Repeat("ab", 16)
	var tags []string
	for i := 0; i < 40; i++ {
		tags = append(tags, fmt.Sprintf("t%d", i))
	}
	manyTags := strings.Join(tags, ",")
	for _, tc := range []struct{ path, param string }{
		{"/v1/traces?start_time=yesterday&end_time=2025-11-16T00:00:00Z", "start_time"},
		{"/v1/traces?end_time=2025-11-16T00:00:00Z", "start_time"},
		{"/v1/traces?start_time=2025-11-16T00:00:00Z", "end_time"},
		{"/v1/traces?start_time=2025-11-16T00:00:00Z&end_time=2025-11-15T00:00:00Z", "end_time"},
		{"/v1/traces?start_time=2025-11-16T00:00:00Z&end_time=2025-11-16T00:00:00Z", "end_time"},
		{"/v1/traces?start_time=1900-01-01T00:00:00Z&end_time=2025-11-16T00:00:00Z", "start_time"},
		{"/v1/traces?" + win + "&limit=0", "limit"},
		{"/v1/traces?" + win + "&limit=1001", "limit"},
		{"/v1/traces?" + win + "&limit=ten", "limit"},
		{"/v1/traces?" + win + "&limit=1&limit=2", "limit"},
		{"/v1/traces?" + win + "&cursor=%21%21%21", "cursor"},
		{"/v1/traces?" + win + "&cursor=e30", "cursor"}, // "{}"
		{"/v1/traces?" + win + "&cursor=" + strings.Repeat("A", 5000), "cursor"},
		{"/v1/traces?" + win + "&direction=sideways", "direction"},
		{"/v1/traces?" + win + "&sort_field=cost", "sort_field"},
		{"/v1/traces?" + win + "&sort_order=up", "sort_order"},
		{"/v1/traces?" + win + "&status=failed", "status"},
		{"/v1/traces?" + win + "&offset=-1", "offset"},
		{"/v1/traces?" + win + "&include_total=maybe", "include_total"},
		{"/v1/traces?" + win + "&startTime=x", "startTime"},
		{"/v1/traces?" + win + "&tags=" + manyTags, "tags"},
		{"/v1/traces/not-a-trace-id", "trace_id"},
		{"/v1/traces/" + strings.Repeat("zz", 16), "trace_id"},
		{"/v1/traces/" + id + "?x=1", "x"},
		{"/v1/usage/sessions/s1?start_time=2025-11-16T00:00:00Z", "end_time"},
		{"/v1/usage/sessions/s1?" + win + "&limit=5", "limit"},
		{"/v1/usage/tenants/acme?start_time=2025-13-01T00:00:00Z&end_time=2025-11-16T00:00:00Z", "start_time"},
		{"/v1/spans?status=ERROR", "status"},
		{"/v1/spans?start_time=2025-11-16", "start_time"},
		{"/v1/spans?limit=-5", "limit"},
		{"/v1/spans?direction=UP", "direction"},
		{"/v1/spans?sort_field=name", "sort_field"},
	} {
		code, eb := get(t, c, ts.url, tc.path, nil, nil)
		if code != http.StatusBadRequest || eb.Error.Code != wire.CodeInvalidArgument || eb.Error.Param != tc.param ||
			!strings.Contains(eb.Error.Message, tc.param) {
			t.Errorf("GET %.90s = %d %+v, want 400 naming %s", tc.path, code, eb, tc.param)
		}
	}
	// Unknown ids and paths are 404, wrong methods 405, all as JSON errors.
	// The Allow header lists the methods registered for the path, always
	// in the same order (GET also serves HEAD).
	for _, tc := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"GET", "/v1/traces/" + id, 404, ""},
		{"GET", "/v1/traces/" + id + "/spans", 404, ""},
		{"GET", "/v1/nothing", 404, ""},
		{"DELETE", "/v1/traces", 405, "GET, HEAD, POST"},
		{"PATCH", "/v1/traces", 405, "GET, HEAD, POST"},
		{"POST", "/v1/spans", 405, "GET, HEAD"},
		{"POST", "/v1/traces/" + id, 405, "GET, HEAD"},
		{"PUT", "/v1/usage/tenants/acme", 405, "GET, HEAD"},
		{"POST", "/healthz", 405, "GET, HEAD"},
		{"DELETE", "/readyz", 405, "GET, HEAD"},
	} {
		req, _ := http.NewRequest(tc.method, ts.url+tc.path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s = %d %s, want %d JSON", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.code)
		}
		if tc.code == 405 && resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: 405 with Allow %q, want %q", tc.method, tc.path, resp.Header.Get("Allow"), tc.allow)
		}
	}
	// Nothing stored changed.
	var page usage.TracesPage
	mustGet(t, c, ts.url, "/v1/traces?"+win+"&include_total=true", nil, &page)
	if *page.TotalCount != 3 {
		t.Fatalf("after bad requests: %d traces, want 3", *page.TotalCount)
	}
}

func TestTenantIsolation(t *testing.T) {
	ts := startServer(t, server.WithAPIKeys(
		server.APIKey{Key: "admin-key"},
		server.APIKey{Key: "acme-key", Tenant: "acme"},
		server.APIKey{Key: "globex-key", Tenant: "globex"},
	))
	admin := map[string]string{"Authorization": "Bearer admin-key"}
	acme := map[string]string{"x-api-key": "acme-key"}
	manyTraces(t, ts, 40, admin)
	c := client(t)
	win := window(base, base.Add(time.Hour))

	// Find one trace of each tenant with the admin key.
	var all usage.TracesPage
	mustGet(t, c, ts.url, "/v1/traces?"+win+"&limit=100", admin, &all)
	if len(all.Traces) != 40 {
		t.Fatalf("admin sees %d traces, want 40", len(all.Traces))
	}
	var acmeID, globexID string
	for _, tr := range all.Traces {
		if tr.TenantID == "acme" {
			acmeID = tr.ID
		} else {
			globexID = tr.ID
		}
	}

	forbidden := []string{
		"/v1/usage/tenants/globex?" + win,
		"/v1/traces?tenant_id=globex&" + win,
		"/v1/traces/" + acmeID + "?tenant_id=globex",
		"/v1/traces/" + acmeID + "/spans?tenant_id=globex",
		"/v1/usage/sessions/s-1?tenant_id=globex&" + win,
		"/v1/spans?tenant_id=globex",
	}
	for _, p := range forbidden {
		if code, eb := get(t, c, ts.url, p, acme, nil); code != http.StatusForbidden || eb.Error.Code != wire.CodePermissionDenied {
			t.Errorf("acme key GET %s = %d %+v, want 403", p, code, eb)
		}
	}
	// Another tenant's trace is not found, exactly like an unknown one:
	// the answer does not tell that it exists.
	for _, p := range []string{"/v1/traces/" + globexID, "/v1/traces/" + globexID + "/spans"} {
		if code, eb := get(t, c, ts.url, p, acme, nil); code != http.StatusNotFound || eb.Error.Code != wire.CodeNotFound {
			t.Errorf("acme key GET %s = %d %+v, want 404", p, code, eb)
		}
	}
	// Lists are forced to the key's tenant; session usage counts only it.
	var list usage.TracesPage
	mustGet(t, c, ts.url, "/v1/traces?"+win+"&limit=100&include_total=true", acme, &list)
	if *list.TotalCount != 20 || len(list.Traces) != 20 {
		t.Fatalf("acme key lists %d traces (total %d), want 20", len(list.Traces), *list.TotalCount)
	}
	for _, tr := range list.Traces {
		if tr.TenantID != "acme" {
			t.Fatalf("acme key listed a %s trace", tr.TenantID)
		}
	}
	var spans usage.SpansPage
	mustGet(t, c, ts.url, "/v1/spans?limit=1000&"+win, acme, &spans)
	if len(spans.Spans) != 40 {
		t.Fatalf("acme key lists %d spans, want 40", len(spans.Spans))
	}
	for _, s := range spans.Spans {
		if s.TenantID != "acme" {
			t.Fatalf("acme key listed a %s span", s.TenantID)
		}
	}
	// s1 only has globex traces (odd i): empty for acme, not for admin.
	var su usage.SessionUsage
	mustGet(t, c, ts.url, "/v1/usage/sessions/s1?"+win, acme, &su)
	if su.TokenCount != 0 || su.RequestCount != 0 {
		t.Fatalf("acme key sees globex session usage %+v", su)
	}
	mustGet(t, c, ts.url, "/v1/usage/sessions/s1?"+win, admin, &su)
	if su.RequestCount == 0 {
		t.Fatal("admin sees no usage for s1")
	}
	mustGet(t, c, ts.url, "/v1/traces/"+acmeID+"/spans", acme, &spans)
	mustGet(t, c, ts.url, "/v1/usage/tenants/acme?"+win, acme, &usage.TenantUsage{})

	// Auth failures.
	for _, h := range []map[string]string{nil, {"Authorization": "Bearer nope"}, {"x-api-key": "nope"}, {"Authorization": "Basic YWRtaW4="}} {
		if code, eb := get(t, c, ts.url, "/v1/traces?"+win, h, nil); code != http.StatusUnauthorized || eb.Error.Code != wire.CodeUnauthenticated {
			t.Errorf("GET with %v = %d, want 401", h, code)
		}
	}
	mustGet(t, c, ts.url, "/healthz", nil, &map[string]string{})

	// Writes: a tenant key cannot write into another tenant; spans without
	// a tenant are stamped with the key's.
	rec := newRecorder(t)
	_, s := rec.span(context.Background(), "intruder", base, base.Add(time.Second), attr.TenantID.String("globex"))
	intruderTrace := s.SpanContext().TraceID().String()
	if err := exporter(t, ts, acme).ExportSpans(context.Background(), rec.take()); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("acme key writing a globex span: %v, want a 403", err)
	}
	if code, _ := get(t, c, ts.url, "/v1/traces/"+intruderTrace, admin, nil); code != http.StatusNotFound {
		t.Fatalf("the rejected span was stored (GET = %d)", code)
	}
	_, s = rec.span(context.Background(), "no tenant", base, base.Add(time.Second))
	stamped := s.SpanContext().TraceID().String()
	export(t, exporter(t, ts, acme), rec.take())
	var tr usage.TraceSummary
	mustGet(t, c, ts.url, "/v1/traces/"+stamped, admin, &tr)
	if tr.TenantID != "acme" {
		t.Fatalf("span without tenant written with the acme key has tenant %q", tr.TenantID)
	}
	rec.span(context.Background(), "wrong key", base, base.Add(time.Second))
	if err := exporter(t, ts, map[string]string{"x-api-key": "wrong"}).ExportSpans(context.Background(), rec.take()); err == nil {
		t.Fatal("export with a wrong key succeeded")
	}
}
