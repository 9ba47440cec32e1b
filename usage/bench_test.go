package usage_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/agenttrace/agenttrace/internal/servertest"
	"github.com/agenttrace/agenttrace/internal/wire"
	"github.com/agenttrace/agenttrace/usage"
)

// BenchmarkQuery compares each client call with its baseline: the same GET
// made by hand with net/http and decoded with encoding/json into the same
// wire type, against the same real server. The difference is the client's
// own cost (validation, URL building, retry loop, body checks).
func BenchmarkQuery(b *testing.B) {
	ts := servertest.Start(b, fixture(50))
	ctx := context.Background()
	c := newClient(b, ts.URL)
	tr := &http.Transport{}
	hc := &http.Client{Transport: tr}
	b.Cleanup(tr.CloseIdleConnections)
	window := url.Values{wire.ParamStartTime: {wStart.Format(time.RFC3339)}, wire.ParamEndTime: {wEnd.Format(time.RFC3339)}}

	raw := func(b *testing.B, path string, q url.Values, newOut func() any) {
		u := ts.URL + path
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		for b.Loop() {
			resp, err := hc.Get(u)
			if err != nil {
				b.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatal(resp.Status, err)
			}
			if err := json.Unmarshal(body, newOut()); err != nil {
				b.Fatal(err)
			}
		}
	}

	b.Run("session_usage/impl=client", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.GetSessionUsage(ctx, "s-1", wStart, wEnd); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("session_usage/impl=baseline", func(b *testing.B) {
		raw(b, wire.PathSessionUsage+"s-1", window, func() any { return new(usage.SessionUsage) })
	})

	q := url.Values{wire.ParamLimit: {"50"}, wire.ParamTenantID: {"bulk"}}
	for k, v := range window {
		q[k] = v
	}
	b.Run("list_traces_50/impl=client", func(b *testing.B) {
		for b.Loop() {
			p, err := c.ListTraces(ctx, usage.TraceQuery{Start: wStart, End: wEnd, TenantID: "bulk", Limit: 50})
			if err != nil || len(p.Traces) != 50 {
				b.Fatal(err)
			}
		}
	})
	b.Run("list_traces_50/impl=baseline", func(b *testing.B) {
		raw(b, wire.PathTraces, q, func() any { return new(usage.TracesPage) })
	})

	b.Run("trace_spans/impl=client", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.ListSpansByTraceID(ctx, traceID(1), usage.SpanQuery{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("trace_spans/impl=baseline", func(b *testing.B) {
		raw(b, wire.PathTrace+traceID(1)+"/spans", nil, func() any { return new(usage.SpansPage) })
	})
}
