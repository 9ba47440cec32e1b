package server_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/usage"
)

var t10 = time.Date(2025, 11, 16, 10, 0, 0, 0, time.UTC)

func at(h, m int) time.Time {
	return t10.Add(time.Duration(h-10)*time.Hour + time.Duration(m)*time.Minute)
}

// usageFixture sends, through the real SDK exporter, spans of two sessions
// of tenant acme and one of globex around hour edges, in several batches
// with each trace's root last.
// headers go with the export requests (an API key).
func usageFixture(t *testing.T, ts *testServer, headers map[string]string) {
	rec := newRecorder(t)
	exp := exporter(t, ts, headers)
	ctx := context.Background()
	sess := func(s, tenant string) []attribute.KeyValue {
		return []attribute.KeyValue{attr.SessionID.String(s), attr.TenantID.String(tenant), attr.UserID.String("u-" + s)}
	}
	a, b, g := sess("s-A", "acme"), sess("s-B", "acme"), sess("s-G", "globex")

	// Trace 1 (s-A): root 09:59 to 13:30, children across hours.
	rctx, root := rec.tr.Start(ctx, "agent", withStart(at(9, 59)))
	root.SetAttributes(append(a, attr.SpanType.String(attr.TypeTrace))...)
	rec.span(rctx, "before", at(9, 59).Add(59*time.Second+999*time.Millisecond), at(10, 1), llmAttrs(1000, 1, 1.0, a...)...)
	rec.span(rctx, "edge", at(10, 0), at(10, 1), llmAttrs(100, 10, 0.001234567, append(a,
		attr.CacheReadTokens.Int64(20), attr.ReasoningTokens.Int64(5), attr.CacheCreationTokens.Int64(7))...)...)
	rec.span(rctx, "half", at(10, 30), at(10, 31), llmAttrs(200, 20, 0.002, a...)...)
	rec.span(rctx, "tool", at(10, 45), at(10, 46), append(a, attr.SpanType.String(attr.TypeTool))...)
	export(t, exp, rec.take()) // batch 1: children only
	rec.span(rctx, "whole", at(11, 15), at(11, 16), llmAttrs(300, 30, 0.003, a...)...)
	rec.span(rctx, "late", at(12, 20), at(12, 21), llmAttrs(400, 40, 0.004, a...)...)
	// A foreign LLM span: no agenttrace.span.type, only the GenAI operation.
	rec.span(rctx, "foreign chat", at(12, 40), at(12, 41), append(a,
		attr.OperationName.String(attr.OpChat), attr.InputTokens.Int64(500), attr.OutputTokens.Int64(50))...)
	rec.span(rctx, "embed", at(12, 50), at(12, 51), append(a,
		attr.OperationName.String("embeddings"), attr.InputTokens.Int64(60))...)
	rec.span(rctx, "at end", at(13, 0), at(13, 1), llmAttrs(7, 7, 0.007, a...)...)
	export(t, exp, rec.take()) // batch 2: more children
	root.End(withEnd(at(13, 30)))
	export(t, exp, rec.take()) // batch 3: the root, last

	// Trace 2 (s-B, acme) and trace 3 (s-G, globex).
	rctx, root = rec.tr.Start(ctx, "agent", withStart(at(10, 20)))
	root.SetAttributes(b...)
	rec.span(rctx, "b1", at(10, 20), at(10, 21), llmAttrs(11, 1, 0.5, b...)...)
	rec.span(rctx, "b2", at(11, 59), at(12, 0), llmAttrs(22, 2, 0.25, b...)...)
	root.End(withEnd(at(12, 0)))
	rctx, root = rec.tr.Start(ctx, "agent", withStart(at(10, 20)))
	root.SetAttributes(g...)
	rec.span(rctx, "g1", at(10, 20), at(10, 21), llmAttrs(1_000_000, 1, 100, g...)...)
	root.End(withEnd(at(10, 30)))
	export(t, exp, rec.take())
}

func TestUsageExactTotals(t *testing.T) {
	ts := startServer(t, server.WithOrganisation("org-42"))
	usageFixture(t, ts, nil)
	c := client(t)
	type sess struct {
		session    string
		start, end time.Time
		want       usage.SessionUsage
	}
	for _, tc := range []sess{
		{"s-A", at(10, 15), at(12, 45), usage.SessionUsage{ // partial hours at both edges, one whole hour
			TokenCount: 220 + 330 + 440 + 550, RequestCount: 4, TotalCostNanoUSD: 9_000_000,
			Tokens: usage.Tokens{InputTokens: 1400, OutputTokens: 140}}},
		{"s-A", at(10, 0), at(13, 0), usage.SessionUsage{ // whole hours only: start inclusive, end exclusive
			TokenCount: 110 + 220 + 330 + 440 + 550 + 60, RequestCount: 6, TotalCostNanoUSD: 10_234_567,
			Tokens: usage.Tokens{InputTokens: 1560, OutputTokens: 150, CacheReadTokens: 20, CacheCreationTokens: 7, ReasoningTokens: 5}}},
		{"s-A", at(10, 0).Add(time.Nanosecond), at(13, 0).Add(time.Nanosecond), usage.SessionUsage{ // off by 1ns
			TokenCount: 220 + 330 + 440 + 550 + 60 + 14, RequestCount: 6, TotalCostNanoUSD: 16_000_000,
			Tokens: usage.Tokens{InputTokens: 1467, OutputTokens: 147}}},
		{"s-A", at(9, 0), at(10, 0), usage.SessionUsage{ // only the span 1ms before 10:00
			TokenCount: 1001, RequestCount: 1, TotalCostNanoUSD: 1_000_000_000,
			Tokens: usage.Tokens{InputTokens: 1000, OutputTokens: 1}}},
		{"s-A", at(10, 31), at(10, 44), usage.SessionUsage{}}, // inside one hour, nothing
		{"s-B", at(10, 0), at(12, 0), usage.SessionUsage{
			TokenCount: 36, RequestCount: 2, TotalCostNanoUSD: 750_000_000, Tokens: usage.Tokens{InputTokens: 33, OutputTokens: 3}}},
		{"unknown", at(0, 0), at(23, 0), usage.SessionUsage{}},
	} {
		var got usage.SessionUsage
		mustGet(t, c, ts.url, "/v1/usage/sessions/"+tc.session+"?"+window(tc.start, tc.end), nil, &got)
		want := tc.want
		want.SessionID, want.StartTime, want.EndTime = tc.session, tc.start, tc.end
		want.TotalCost = float64(want.TotalCostNanoUSD) / 1e9
		if !reflect.DeepEqual(got, want) {
			t.Errorf("session %s [%s, %s)\n got %+v\nwant %+v", tc.session, tc.start.Format(time.RFC3339Nano), tc.end.Format(time.RFC3339Nano), got, want)
		}
	}

	type ten struct {
		tenant     string
		start, end time.Time
		want       usage.TenantUsage
	}
	for _, tc := range []ten{
		{"acme", at(10, 15), at(12, 45), usage.TenantUsage{ // s-A as above plus s-B's two spans
			TokenCount: 1540 + 36, RequestCount: 6, SessionCount: 2, TotalCostNanoUSD: 9_000_000 + 750_000_000,
			Tokens: usage.Tokens{InputTokens: 1433, OutputTokens: 143}}},
		{"acme", at(11, 0), at(12, 0), usage.TenantUsage{ // one whole hour
			TokenCount: 330 + 24, RequestCount: 2, SessionCount: 2, TotalCostNanoUSD: 253_000_000,
			Tokens: usage.Tokens{InputTokens: 322, OutputTokens: 32}}},
		{"acme", at(12, 30), at(14, 0), usage.TenantUsage{ // s-A only
			TokenCount: 550 + 60 + 14, RequestCount: 3, SessionCount: 1, TotalCostNanoUSD: 7_000_000,
			Tokens: usage.Tokens{InputTokens: 567, OutputTokens: 57}}},
		{"globex", at(0, 0), at(23, 0), usage.TenantUsage{
			TokenCount: 1_000_001, RequestCount: 1, SessionCount: 1, TotalCostNanoUSD: 100_000_000_000,
			Tokens: usage.Tokens{InputTokens: 1_000_000, OutputTokens: 1}}},
		{"nobody", at(0, 0), at(23, 0), usage.TenantUsage{}},
	} {
		var got usage.TenantUsage
		mustGet(t, c, ts.url, "/v1/usage/tenants/"+tc.tenant+"?"+window(tc.start, tc.end), nil, &got)
		want := tc.want
		want.TenantID, want.OrganisationID, want.StartTime, want.EndTime = tc.tenant, "org-42", tc.start, tc.end
		want.TotalCost = float64(want.TotalCostNanoUSD) / 1e9
		if !reflect.DeepEqual(got, want) {
			t.Errorf("tenant %s [%s, %s)\n got %+v\nwant %+v", tc.tenant, tc.start.Format(time.RFC3339), tc.end.Format(time.RFC3339), got, want)
		}
	}

	// The multi-batch trace, root last: the root named it and the children
	// sent before it all count.
	var page usage.TracesPage
	mustGet(t, c, ts.url, "/v1/traces?session_id=s-A&"+window(at(0, 0), at(23, 0)), nil, &page)
	if len(page.Traces) != 1 {
		t.Fatalf("traces of s-A = %d, want 1", len(page.Traces))
	}
	tr := page.Traces[0]
	if tr.Name != "agent" || !tr.HasRoot || tr.SpanCount != 10 || !tr.StartTime.Equal(at(9, 59)) || !tr.EndTime.Equal(at(13, 30)) ||
		tr.DurationMS != float64((3*time.Hour+31*time.Minute)/time.Millisecond) || tr.RequestCount != 8 ||
		tr.InputTokens != 2567 || tr.OutputTokens != 158 || tr.TotalTokens != 2725 || tr.TotalCostNanoUSD != 1_017_234_567 ||
		tr.TenantID != "acme" || tr.SessionID != "s-A" || tr.UserID != "u-s-A" || len(tr.Models) != 1 || tr.Models[0] != "gpt-4.1-mini" {
		t.Fatalf("multi-batch trace summary = %+v", tr)
	}
	var got usage.TraceSummary
	mustGet(t, c, ts.url, "/v1/traces/"+tr.ID, nil, &got)
	if got.ID != tr.ID || got.SpanCount != 10 || got.TotalCostNanoUSD != tr.TotalCostNanoUSD {
		t.Fatalf("GET trace = %+v, want the listed summary", got)
	}
}
