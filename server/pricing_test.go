package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/usage"
)

// pricedCase is one foreign chat span and the cost the server must store.
type pricedCase struct {
	name   string
	attrs  []attribute.KeyValue
	cost   int64  // nano-USD
	source string // stored cost_source
	// version is the stored price table version when it is not the
	// server's table's (a cost the SDK computed).
	version string
}

// foreignChat is a chat span as another instrumentation library writes it:
// GenAI attributes only, no agenttrace.span.type.
func foreignChat(req, resp string, in, out int64, more ...attribute.KeyValue) []attribute.KeyValue {
	a := []attribute.KeyValue{
		attr.OperationName.String(attr.OpChat),
		attr.ProviderName.String("openai"),
		attr.SessionID.String("s-price"),
		attr.TenantID.String("t-price"),
	}
	if req != "" {
		a = append(a, attr.RequestModel.String(req))
	}
	if resp != "" {
		a = append(a, attr.ResponseModel.String(resp))
	}
	if in > 0 || out > 0 {
		a = append(a, attr.InputTokens.Int64(in), attr.OutputTokens.Int64(out))
	}
	return append(a, more...)
}

// sendPriced sends the cases as one trace through the real OTel SDK
// exporter and returns the trace id.
func sendPriced(t *testing.T, ts *testServer, cases []pricedCase) string {
	t.Helper()
	rec := newRecorder(t)
	ctx, root := rec.tr.Start(context.Background(), "foreign agent", withStart(at(10, 0)))
	for i, c := range cases {
		start := at(10, 1+i)
		rec.span(ctx, c.name, start, start.Add(time.Second), c.attrs...)
	}
	root.End(withEnd(at(11, 0)))
	export(t, exporter(t, ts, nil), rec.take())
	return root.SpanContext().TraceID().String()
}

// checkSpans compares each span's stored cost, source and price table
// version, through the API and in the store.
func checkSpans(t *testing.T, ts *testServer, traceID string, cases []pricedCase, version string) {
	t.Helper()
	var page usage.SpansPage
	mustGet(t, client(t), ts.url, "/v1/traces/"+traceID+"/spans?limit=100", nil, &page)
	byName := map[string]usage.Span{}
	for _, sp := range page.Spans {
		byName[sp.Name] = sp
	}
	stored, err := ts.store.ListSpansByTrace(context.Background(), store.TraceSpansQuery{TraceID: traceID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]string{}
	for _, sp := range stored.Spans {
		versions[sp.Name] = sp.PriceTableVersion
	}
	for _, c := range cases {
		sp, ok := byName[c.name]
		if !ok {
			t.Errorf("span %q missing", c.name)
			continue
		}
		if sp.CostNanoUSD != c.cost || sp.CostSource != c.source {
			t.Errorf("span %q: cost %d nano-USD source %q, want %d %q", c.name, sp.CostNanoUSD, sp.CostSource, c.cost, c.source)
		}
		wantVersion := c.version
		if wantVersion == "" && c.source == attr.CostSourceComputed {
			wantVersion = version
		}
		if versions[c.name] != wantVersion {
			t.Errorf("span %q: price table version %q, want %q", c.name, versions[c.name], wantVersion)
		}
		if sp.PriceTableVersion != wantVersion {
			t.Errorf("span %q: price_table_version on the wire %q, want %q", c.name, sp.PriceTableVersion, wantVersion)
		}
	}
}

// TestPriceForeignSpans: spans from other OpenTelemetry SDKs carry a model
// and tokens but no agenttrace.usage.cost_usd; the server prices them from
// the embedded table, leaves unknown models at zero cost and never touches
// a cost a span brings.
func TestPriceForeignSpans(t *testing.T) {
	ts := startServer(t)
	// gpt-4.1-mini: $0.40 input, $0.10 cached input, $1.60 output per 1M.
	cases := []pricedCase{
		// (600*0.40 + 400*0.10 + 200*1.60) / 1e6 USD = $0.000600; the
		// response model is a dated alias of gpt-4.1-mini.
		{"cached", foreignChat("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", 1000, 200, attr.CacheReadTokens.Int64(400)), 600_000, "computed", ""},
		// No response model: the request model. (100*0.40 + 10*1.60) / 1e6.
		{"request model", foreignChat("gpt-4.1-mini", "", 100, 10), 56_000, "computed", ""},
		// Upper case and spaces are the same id. (10*0.40 + 1*1.60) / 1e6.
		{"case", foreignChat("", " GPT-4.1-Mini ", 10, 1), 5_600, "computed", ""},
		{"unknown model", foreignChat("acme-llm-7b", "", 50, 5), 0, "", ""},
		// A response model the table does not know is not priced as the
		// request model.
		{"unknown response model", foreignChat("gpt-4.1-mini", "gpt-4.1-mini-2099-01-01", 100, 10), 0, "", ""},
		// Usage that does not add up is not priced.
		{"bad usage", foreignChat("gpt-4.1-mini", "", 10, 5, attr.CacheReadTokens.Int64(11)), 0, "", ""},
		{"own cost", foreignChat("gpt-4.1-mini", "", 1000, 200,
			attr.CostUSD.Float64(0.5), attr.CostSource.String(attr.CostSourceProvider)), 500_000_000, "provider", ""},
		{"own zero cost", foreignChat("gpt-4.1-mini", "", 1000, 100,
			attr.CostUSD.Float64(0), attr.CostSource.String(attr.CostSourceUser)), 0, "user", ""},
		{"no tokens", foreignChat("gpt-4.1-mini", "", 0, 0), 0, "", ""},
		// A cost our SDK computed keeps its table's version.
		{"sdk computed", foreignChat("gpt-4.1-mini", "", 1000, 200, attr.CostUSD.Float64(0.25),
			attr.CostSource.String(attr.CostSourceComputed), attr.PriceTableVersion.String("2025-01-01")), 250_000_000, "computed", "2025-01-01"},
	}
	id := sendPriced(t, ts, cases)
	checkSpans(t, ts, id, cases, llm.DefaultPrices().Version())

	c := client(t)
	const cost = 600_000 + 56_000 + 5_600 + 500_000_000 + 250_000_000
	tokens := usage.Tokens{InputTokens: 1000 + 100 + 10 + 50 + 100 + 10 + 1000 + 1000 + 1000, OutputTokens: 200 + 10 + 1 + 5 + 10 + 5 + 200 + 100 + 200,
		CacheReadTokens: 400 + 11}
	var su usage.SessionUsage
	mustGet(t, c, ts.url, "/v1/usage/sessions/s-price?"+window(at(10, 0), at(11, 0)), nil, &su)
	if su.TotalCostNanoUSD != cost || su.TotalCost != cost/1e9 || su.RequestCount != int64(len(cases)) || su.Tokens != tokens ||
		su.TokenCount != tokens.InputTokens+tokens.OutputTokens {
		t.Errorf("session usage = %+v, want cost %d, %d requests, tokens %+v", su, cost, len(cases), tokens)
	}
	var tu usage.TenantUsage
	mustGet(t, c, ts.url, "/v1/usage/tenants/t-price?"+window(at(9, 30), at(10, 30)), nil, &tu)
	if tu.TotalCostNanoUSD != cost || tu.SessionCount != 1 || tu.Tokens != tokens {
		t.Errorf("tenant usage = %+v, want cost %d", tu, cost)
	}
	var tr usage.TraceSummary
	mustGet(t, c, ts.url, "/v1/traces/"+id, nil, &tr)
	if tr.TotalCostNanoUSD != cost {
		t.Errorf("trace cost = %d, want %d", tr.TotalCostNanoUSD, cost)
	}
}

// TestPriceOverrides: WithPrices with the default table merged with an
// override file prices a model the embedded table lacks and replaces one it
// has; WithPrices(nil) prices nothing.
func TestPriceOverrides(t *testing.T) {
	custom, err := llm.LoadPrices(strings.NewReader(`{"version": "acme-1", "models": [
		{"provider": "acme", "model": "acme-llm-7b", "input": 2.0, "output": 4.0},
		{"provider": "openai", "model": "gpt-4.1-mini", "input": 1.0, "cached_input": 0.5, "output": 1.0}]}`))
	if err != nil {
		t.Fatal(err)
	}
	prices := llm.DefaultPrices().Merge(custom)
	cases := []pricedCase{
		{"custom model", foreignChat("acme-llm-7b", "", 50, 5), 120_000, "computed", ""}, // (50*2 + 5*4) / 1e6
		// The override replaces gpt-4.1-mini with its dated alias.
		{"overridden", foreignChat("", "gpt-4.1-mini-2025-04-14", 100, 10, attr.CacheReadTokens.Int64(40)), 90_000, "computed", ""}, // (60*1 + 40*0.5 + 10*1) / 1e6
		{"default model", foreignChat("gpt-4o", "", 1000, 100), 3_500_000, "computed", ""},                                          // (1000*2.50 + 100*10) / 1e6
	}
	ts := startServer(t, server.WithPrices(prices))
	id := sendPriced(t, ts, cases)
	checkSpans(t, ts, id, cases, llm.DefaultPrices().Version()+"+acme-1")

	off := startServer(t, server.WithPrices(nil))
	for i := range cases {
		cases[i].cost, cases[i].source = 0, ""
	}
	id = sendPriced(t, off, cases)
	checkSpans(t, off, id, cases, "")
}
