package server_test

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/agenttrace/agenttrace/usage"
)

// usageSpan adds a span of trace tid to ss with the given usage attributes.
func usageSpan(ss ptrace.ScopeSpans, tid byte, sid uint32, start time.Time, put func(pcommon.Map)) {
	sp := ss.Spans().AppendEmpty()
	sp.SetName("chat")
	sp.SetTraceID(pcommon.TraceID{0xee, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, tid})
	sp.SetSpanID(pcommon.SpanID{0xee, 0, 0, 0, byte(sid >> 24), byte(sid >> 16), byte(sid >> 8), byte(sid)})
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Second)))
	a := sp.Attributes()
	a.PutStr("agenttrace.span.type", "llm")
	a.PutStr("session.id", "s-overflow")
	a.PutStr("agenttrace.tenant.id", "t-overflow")
	put(a)
}

func exportBody(t *testing.T, td ptrace.Traces) []byte {
	t.Helper()
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUsageOverflowRequests sends the requests of issue 12 that broke
// billing (two spans of MaxInt64 input tokens per request, twice into one
// session; 10,000 spans claiming $1e300 each) beside honest spans. Every
// span is stored, the offending values are dropped and counted (and named
// in the OTLP partial success), and every usage endpoint answers 200 with
// the exact, non-negative totals of the honest values.
func TestUsageOverflowRequests(t *testing.T) {
	ts := startServer(t)
	c := client(t)
	at := base.Add(10 * time.Minute)
	var sid uint32
	for req := 0; req < 2; req++ {
		td := ptrace.NewTraces()
		ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
		for i := 0; i < 2; i++ {
			sid++
			usageSpan(ss, 1, sid, at.Add(time.Duration(sid)*time.Second), func(a pcommon.Map) {
				a.PutInt("gen_ai.usage.input_tokens", math.MaxInt64)
				a.PutInt("gen_ai.usage.output_tokens", 5)
			})
		}
		sid++
		usageSpan(ss, 1, sid, at.Add(time.Duration(sid)*time.Second), func(a pcommon.Map) {
			a.PutInt("gen_ai.usage.input_tokens", 100)
			a.PutInt("gen_ai.usage.output_tokens", 10)
			a.PutDouble("agenttrace.usage.cost_usd", 0.25)
		})
		resp, body := post(t, c, ts.url, "application/x-protobuf", "", exportBody(t, td))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %s", req, resp.StatusCode, body)
		}
		er := ptraceotlp.NewExportResponse()
		if err := er.UnmarshalProto(body); err != nil {
			t.Fatal(err)
		}
		if ps := er.PartialSuccess(); ps.RejectedSpans() != 0 || !strings.Contains(ps.ErrorMessage(), "gen_ai.usage.input_tokens") {
			t.Fatalf("partial success = %d %q, want 0 rejected and a warning naming the dropped attribute", ps.RejectedSpans(), ps.ErrorMessage())
		}
	}
	// 10,000 spans of $1e300 each, in 10 requests, plus one honest cost.
	for req := 0; req < 10; req++ {
		td := ptrace.NewTraces()
		ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
		for i := 0; i < 1000; i++ {
			sid++
			usageSpan(ss, 2, sid, at.Add(time.Minute), func(a pcommon.Map) {
				a.PutDouble("agenttrace.usage.cost_usd", 1e300)
				a.PutInt("gen_ai.usage.output_tokens", 1)
			})
		}
		if resp, body := post(t, c, ts.url, "application/x-protobuf", "", exportBody(t, td)); resp.StatusCode != http.StatusOK {
			t.Fatalf("cost request %d: %d %s", req, resp.StatusCode, body)
		}
	}
	// At the bounds exactly: kept.
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	sid++
	usageSpan(ss, 3, sid, at.Add(2*time.Minute), func(a pcommon.Map) {
		a.PutInt("gen_ai.usage.input_tokens", 1<<40)
		a.PutDouble("agenttrace.usage.cost_usd", 1e6)
	})
	if resp, body := post(t, c, ts.url, "application/x-protobuf", "", exportBody(t, td)); resp.StatusCode != http.StatusOK {
		t.Fatalf("bound request: %d %s", resp.StatusCode, body)
	}

	const (
		wantIn    = 2*100 + 1<<40
		wantOut   = 2*5*2 + 2*10 + 10000
		wantNano  = 2*250_000_000 + 1_000_000*1_000_000_000
		wantSpans = 6 + 10000 + 1
	)
	if st := ts.srv.Stats(); st.UsageValuesDropped != 4+10000 || st.SpansAccepted != wantSpans {
		t.Fatalf("stats = %+v, want 10004 usage values dropped and %d spans accepted", st, wantSpans)
	}
	win := window(base, base.Add(time.Hour))
	check := func(what string, in, out, nano int64) {
		t.Helper()
		if in != wantIn || out != wantOut || nano != wantNano {
			t.Errorf("%s: input %d output %d cost %d nano-USD, want %d %d %d", what, in, out, nano, wantIn, wantOut, wantNano)
		}
	}
	var su usage.SessionUsage
	mustGet(t, c, ts.url, "/v1/usage/sessions/s-overflow?"+win, nil, &su)
	check("session usage", su.InputTokens, su.OutputTokens, su.TotalCostNanoUSD)
	if su.TokenCount != wantIn+wantOut || su.RequestCount != wantSpans {
		t.Errorf("session usage = %+v", su)
	}
	var tu usage.TenantUsage
	mustGet(t, c, ts.url, "/v1/usage/tenants/t-overflow?"+win, nil, &tu)
	check("tenant usage", tu.InputTokens, tu.OutputTokens, tu.TotalCostNanoUSD)
	// Raw-span edges of the window (partial hours) too.
	mustGet(t, c, ts.url, "/v1/usage/sessions/s-overflow?"+window(base.Add(time.Minute), base.Add(59*time.Minute)), nil, &su)
	check("session usage (edges)", su.InputTokens, su.OutputTokens, su.TotalCostNanoUSD)
	var tp usage.TracesPage
	mustGet(t, c, ts.url, "/v1/traces?"+win, nil, &tp)
	var in, out, nano int64
	for _, tr := range tp.Traces {
		if tr.InputTokens < 0 || tr.TotalCostNanoUSD < 0 || tr.TotalTokens < 0 {
			t.Errorf("negative trace totals: %+v", tr)
		}
		in, out, nano = in+tr.InputTokens, out+tr.OutputTokens, nano+tr.TotalCostNanoUSD
	}
	check("trace summaries", in, out, nano)
	var sp usage.SpansPage
	mustGet(t, c, ts.url, "/v1/spans?limit=1000&"+win, nil, &sp)
	for _, s := range sp.Spans {
		if s.InputTokens > 1<<40 || s.InputTokens < 0 || s.CostNanoUSD > 1e15 || s.CostNanoUSD < 0 {
			t.Fatalf("span beyond the bounds: %+v", s)
		}
		// The original attribute is kept as sent, for the record.
		var attrs map[string]any
		if err := json.Unmarshal(s.Attributes, &attrs); err != nil {
			t.Fatal(err)
		}
	}
}
