package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/usage"
)

// The golden requests in testdata/foreign are OTLP/JSON shaped as each
// library emits them; every file is a JSON array of requests, each with
// "_source" (the library source or documentation the shape is taken from)
// and "_note". They are sent as they are (minus those two fields) to a
// real server on 127.0.0.1, and the usage and trace APIs are asserted
// exactly. Costs are those of the embedded price table
// (llm/prices.json), per token in nano-USD: gpt-4o-mini 150 input, 75
// cached, 600 output; gpt-4.1-mini 400 / 100 / 1600; gpt-4o 2500 / 1250 /
// 10000; claude-sonnet-4-5 3000 input, 300 cache read, 3750 cache write
// (5 minutes), 15000 output.

// foreignDay is the hour the fixtures start in (2025-11-17T10:00Z).
var foreignDay = time.Date(2025, 11, 17, 10, 0, 0, 0, time.UTC)

// postFixture sends the requests of testdata/foreign/name, in order, with
// headers; after sends the requests' index to a callback after each one.
func postFixture(t *testing.T, ts *testServer, name string, headers map[string]string, after func(i int)) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "foreign", name))
	if err != nil {
		t.Fatal(err)
	}
	var reqs []map[string]json.RawMessage
	if err := json.Unmarshal(b, &reqs); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	c := client(t)
	for i, r := range reqs {
		if len(r["_source"]) == 0 {
			t.Fatalf("%s request %d: no _source", name, i)
		}
		delete(r, "_source")
		delete(r, "_note")
		body, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodPost, ts.url+"/v1/traces", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		out.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || bytes.Contains(out.Bytes(), []byte("rejected")) {
			t.Fatalf("%s request %d: %d %s", name, i, resp.StatusCode, out.String())
		}
		if after != nil {
			after(i)
		}
	}
}

type wantUsage struct {
	usage.Tokens
	requests, sessions, costNano int64
}

func checkSession(t *testing.T, ts *testServer, session string, start, end time.Time, want wantUsage) {
	t.Helper()
	var got usage.SessionUsage
	mustGet(t, client(t), ts.url, "/v1/usage/sessions/"+session+"?"+window(start, end), nil, &got)
	if got.Tokens != want.Tokens || got.RequestCount != want.requests || got.TotalCostNanoUSD != want.costNano ||
		got.TokenCount != want.InputTokens+want.OutputTokens {
		t.Errorf("session %s [%v, %v) usage\n got %+v\nwant %+v", session, start.Format("15:04"), end.Format("15:04"), got, want)
	}
}

func checkTenant(t *testing.T, ts *testServer, tenant string, start, end time.Time, want wantUsage) {
	t.Helper()
	var got usage.TenantUsage
	mustGet(t, client(t), ts.url, "/v1/usage/tenants/"+tenant+"?"+window(start, end), nil, &got)
	if got.Tokens != want.Tokens || got.RequestCount != want.requests || got.TotalCostNanoUSD != want.costNano ||
		got.SessionCount != want.sessions || got.TokenCount != want.InputTokens+want.OutputTokens {
		t.Errorf("tenant %s usage\n got %+v\nwant %+v", tenant, got, want)
	}
}

// wantTrace is what a trace summary is asserted on.
type wantTrace struct {
	name                               string
	spans, requests, costNano, total   int64
	tokens                             usage.Tokens
	models, tags                       []string
	session, user, tenant, environment string
}

func checkTrace(t *testing.T, ts *testServer, id string, want wantTrace) {
	t.Helper()
	var got usage.TraceSummary
	mustGet(t, client(t), ts.url, "/v1/traces/"+id, nil, &got)
	if got.Name != want.name || got.SpanCount != want.spans || got.RequestCount != want.requests ||
		got.TotalCostNanoUSD != want.costNano || got.TotalTokens != want.total || got.Tokens != want.tokens ||
		!slices.Equal(got.Models, want.models) || !slices.Equal(got.Tags, want.tags) || got.SessionID != want.session ||
		got.UserID != want.user || got.TenantID != want.tenant || got.Environment != want.environment || !got.HasRoot {
		t.Errorf("trace %s\n got %+v\nwant %+v", id, got, want)
	}
}

func hours(n int) time.Time { return foreignDay.Add(time.Duration(n) * time.Hour) }

func TestForeignOpenInference(t *testing.T) {
	// Sent with a tenant-scoped key: OpenInference has no tenant of its own.
	ts := startServer(t, server.WithAPIKeys(server.APIKey{Key: "oi-key", Tenant: "oi-tenant"}, server.APIKey{Key: "admin"}))
	postFixture(t, ts, "openinference.json", map[string]string{"Authorization": "Bearer oi-key"}, nil)
	// Two chat calls (1200 with 1000 cached, 300 out; 500 in, 100 out) and
	// an embedding call without usage; the AGENT span's aggregate adds
	// nothing. 200*150 + 1000*75 + 300*600 + 500*150 + 100*600.
	want := wantUsage{Tokens: usage.Tokens{InputTokens: 1700, OutputTokens: 400, CacheReadTokens: 1000}, requests: 3, sessions: 1, costNano: 420_000}
	admin := map[string]string{"Authorization": "Bearer admin"}
	var got usage.SessionUsage
	mustGet(t, client(t), ts.url, "/v1/usage/sessions/oi-sess-1?"+window(hours(0), hours(2)), admin, &got)
	if got.Tokens != want.Tokens || got.RequestCount != 3 || got.TotalCostNanoUSD != 420_000 {
		t.Errorf("session usage = %+v", got)
	}
	var ten usage.TenantUsage
	mustGet(t, client(t), ts.url, "/v1/usage/tenants/oi-tenant?"+window(hours(0), hours(2)), admin, &ten)
	if ten.Tokens != want.Tokens || ten.RequestCount != 3 || ten.TotalCostNanoUSD != 420_000 || ten.SessionCount != 1 {
		t.Errorf("tenant usage = %+v", ten)
	}
	var tr usage.TraceSummary
	mustGet(t, client(t), ts.url, "/v1/traces/0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a01", admin, &tr)
	if tr.Name != "support_agent" || tr.SpanCount != 5 || tr.RequestCount != 3 || tr.Tokens != want.Tokens ||
		tr.TotalTokens != 2100 || tr.TotalCostNanoUSD != 420_000 || tr.SessionID != "oi-sess-1" || tr.UserID != "oi-user-1" ||
		tr.TenantID != "oi-tenant" || !slices.Equal(tr.Models, []string{"gpt-4o-mini-2024-07-18", "text-embedding-3-small"}) ||
		tr.Input != "Where is my order 4421?" {
		t.Errorf("trace = %+v", tr)
	}
	// The span types and the AGENT span's own attributes, still shown.
	var page usage.SpansPage
	mustGet(t, client(t), ts.url, "/v1/traces/0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a01/spans", admin, &page)
	types := map[string]string{}
	for _, sp := range page.Spans {
		types[sp.Name] = sp.Type
		if sp.Name == "support_agent" && (sp.InputTokens != 0 || !bytes.Contains(sp.Attributes, []byte(`"llm.token_count.prompt":1700`))) {
			t.Errorf("agent span: %d input tokens, attributes %s", sp.InputTokens, sp.Attributes)
		}
	}
	if types["support_agent"] != "agent" || types["lookup_order"] != "tool" || types["OpenAI Embeddings"] != "llm" || types["OpenAI Chat Completions"] != "llm" {
		t.Errorf("span types %v", types)
	}
}

func TestForeignOpenLLMetry(t *testing.T) {
	ts := startServer(t)
	postFixture(t, ts, "openllmetry.json", nil, nil)
	// 400*400 + 400*100 + 100*1600 and 300*400 + 50*1600; the embedding
	// model is not in the price table (its 12 tokens count, no cost).
	want := wantUsage{Tokens: usage.Tokens{InputTokens: 1112, OutputTokens: 150, CacheReadTokens: 400}, requests: 3, sessions: 1, costNano: 560_000}
	checkSession(t, ts, "tl-sess-1", hours(0), hours(2), want)
	checkTenant(t, ts, "globex", hours(0), hours(2), want)
	checkTrace(t, ts, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b01", wantTrace{
		name: "support.workflow", spans: 5, requests: 3, costNano: 560_000, total: 1262, tokens: want.Tokens,
		models: []string{"gpt-4.1-mini-2025-04-14", "text-embedding-3-small"}, session: "tl-sess-1", user: "tl-user-1", tenant: "globex",
	})
}

func TestForeignVercelLegacy(t *testing.T) {
	ts := startServer(t)
	postFixture(t, ts, "vercel_legacy.json", nil, nil)
	// doGenerate 1: 200*400 + 1000*100 + 100*1600; doGenerate 2: 300*400 +
	// 500*100 + 200*1600 (reasoning billed as output); doStream:
	// 400*150 + 80*600. The outer ai.generateText / ai.streamText spans'
	// sums add nothing.
	want := wantUsage{Tokens: usage.Tokens{InputTokens: 2400, OutputTokens: 380, CacheReadTokens: 1500, ReasoningTokens: 100}, requests: 3, costNano: 938_000}
	checkSession(t, ts, "vl-sess-1", hours(0), hours(2), want)
	checkTrace(t, ts, "0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d01", wantTrace{
		name: "ai.generateText", spans: 4, requests: 2, costNano: 830_000, total: 2300,
		tokens: usage.Tokens{InputTokens: 2000, OutputTokens: 300, CacheReadTokens: 1500, ReasoningTokens: 100},
		models: []string{"gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"}, session: "vl-sess-1", user: "vl-user-1",
	})
	checkTrace(t, ts, "0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d02", wantTrace{
		name: "ai.streamText", spans: 2, requests: 1, costNano: 108_000, total: 480,
		tokens: usage.Tokens{InputTokens: 400, OutputTokens: 80},
		models: []string{"gpt-4o-mini", "gpt-4o-mini-2024-07-18"}, session: "vl-sess-1", user: "vl-user-1",
	})
}

func TestForeignLangfuse(t *testing.T) {
	ts := startServer(t)
	postFixture(t, ts, "langfuse.json", nil, nil)
	// Generation 1: its cost_details total ($0.00225); generation 2:
	// priced, 100*2500 + 25*10000; the older trace's OpenAI-shaped usage:
	// 30*150 + 10*600. The agent observation's usage adds nothing.
	want := wantUsage{Tokens: usage.Tokens{InputTokens: 1330, OutputTokens: 85, CacheReadTokens: 1000, ReasoningTokens: 5}, requests: 3, costNano: 2_760_500}
	checkSession(t, ts, "lf-sess-1", hours(0), hours(2), want)
	checkTrace(t, ts, "0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e01", wantTrace{
		name: "support-run", spans: 4, requests: 2, costNano: 2_750_000, total: 1375,
		tokens: usage.Tokens{InputTokens: 1300, OutputTokens: 75, CacheReadTokens: 1000, ReasoningTokens: 5},
		models: []string{"gpt-4o"}, tags: []string{"beta", "support"}, session: "lf-sess-1", user: "lf-user-1", environment: "production",
	})
	checkTrace(t, ts, "0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e02", wantTrace{
		name: "legacy-run", spans: 2, requests: 1, costNano: 10_500, total: 40,
		tokens: usage.Tokens{InputTokens: 30, OutputTokens: 10}, models: []string{"gpt-4o-mini"}, session: "lf-sess-1", user: "lf-user-2",
	})
}

func TestForeignLegacySemconv(t *testing.T) {
	ts := startServer(t)
	postFixture(t, ts, "legacy_semconv.json", nil, nil)
	// 1000*3000 + 3000*300 + 1000*3750 + 400*15000, and the span without an
	// operation name: 100*3000 + 10*15000.
	want := wantUsage{Tokens: usage.Tokens{InputTokens: 5100, OutputTokens: 410, CacheReadTokens: 3000, CacheCreationTokens: 1000}, requests: 2, sessions: 1, costNano: 14_100_000}
	checkSession(t, ts, "ls-sess-1", hours(0), hours(2), want)
	checkTenant(t, ts, "initech", hours(0), hours(2), want)
	checkTrace(t, ts, "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f01", wantTrace{
		name: "vendor.workflow", spans: 3, requests: 2, costNano: 14_100_000, total: 5510, tokens: want.Tokens,
		models: []string{"claude-sonnet-4-5", "claude-sonnet-4-5-20250929"}, session: "ls-sess-1", user: "ls-user-1", tenant: "initech", environment: "staging",
	})
}

func TestForeignVercelOTel(t *testing.T) {
	ts := startServer(t)
	// chat 1 (10:59:50) and chat 2 (11:00:10) carry no session, user or
	// tenant: they take the trace's, from the step spans and the root sent
	// last.
	chat1 := wantUsage{Tokens: usage.Tokens{InputTokens: 1000, OutputTokens: 50, CacheReadTokens: 800}, requests: 1, sessions: 1, costNano: 120_000}
	chat2 := wantUsage{Tokens: usage.Tokens{InputTokens: 500, OutputTokens: 200, CacheReadTokens: 200}, requests: 1, sessions: 1, costNano: 180_000}
	both := wantUsage{Tokens: usage.Tokens{InputTokens: 1500, OutputTokens: 250, CacheReadTokens: 1000}, requests: 2, sessions: 1, costNano: 300_000}
	postFixture(t, ts, "vercel_otel.json", nil, func(i int) {
		switch i {
		case 0:
			checkSession(t, ts, "v-sess-1", hours(0), hours(2), chat1)
		case 2:
			checkSession(t, ts, "v-sess-1", hours(0), hours(1), chat1)
			checkSession(t, ts, "v-sess-1", hours(1), hours(2), chat2)
			checkSession(t, ts, "v-sess-1", hours(0), hours(2), both)
			checkTenant(t, ts, "acme", hours(0), hours(2), both)
			checkTenant(t, ts, "acme", foreignDay.Add(59*time.Minute), hours(1).Add(time.Minute), both)
		}
	})
	var spans usage.SpansPage
	mustGet(t, client(t), ts.url, "/v1/spans?user_id=v-user-1&"+window(hours(0), hours(2)), nil, &spans)
	if len(spans.Spans) != 6 {
		t.Errorf("spans of the user: %d, want 6", len(spans.Spans))
	}
	// chat 1: 200*150 + 800*75 + 50*600; chat 2: 300*150 + 200*75 +
	// 200*600. The invoke_agent root carries their sum: it adds nothing.
	checkTrace(t, ts, "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c01", wantTrace{
		name: "invoke_agent gpt-4o-mini", spans: 6, requests: 2, costNano: 300_000, total: 1750,
		tokens:  usage.Tokens{InputTokens: 1500, OutputTokens: 250, CacheReadTokens: 1000},
		models:  []string{"gpt-4o-mini", "gpt-4o-mini-2024-07-18"},
		session: "v-sess-1", user: "v-user-1", tenant: "acme",
	})
}

// syncBuffer is a bytes.Buffer safe for the server's logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// badInput is one request with conflicting and unreadable values.
const badInput = `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"bad"}}]},"scopeSpans":[{"scope":{"name":"x"},"spans":[
{"traceId":"11111111111111111111111111111101","spanId":"1111111111111101","name":"run","startTimeUnixNano":"1763373600000000000","endTimeUnixNano":"1763373660000000000",
 "attributes":[{"key":"session.id","value":{"stringValue":"bad-A"}},{"key":"user.id","value":{"stringValue":"u-A"}}]},
{"traceId":"11111111111111111111111111111101","spanId":"1111111111111102","parentSpanId":"1111111111111101","name":"chat 1","startTimeUnixNano":"1763373601000000000","endTimeUnixNano":"1763373602000000000",
 "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o-mini"}},
  {"key":"gen_ai.usage.input_tokens","value":{"stringValue":"lots"}},{"key":"llm.token_count.prompt","value":{"intValue":"70"}},
  {"key":"gen_ai.usage.output_tokens","value":{"intValue":"-5"}},{"key":"agenttrace.usage.cost_usd","value":{"stringValue":"NaN"}},
  {"key":"session.id","value":{"stringValue":"bad-B"}}]},
{"traceId":"11111111111111111111111111111101","spanId":"1111111111111103","parentSpanId":"1111111111111101","name":"chat 2","startTimeUnixNano":"1763373603000000000","endTimeUnixNano":"1763373604000000000",
 "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o-mini"}},
  {"key":"gen_ai.usage.input_tokens","value":{"intValue":"10"}},{"key":"gen_ai.usage.output_tokens","value":{"doubleValue":2.5}},
  {"key":"langfuse.observation.usage_details","value":{"stringValue":"{\"input\": -1"}}]}
]}]}]}`

func TestForeignBadInput(t *testing.T) {
	var logs syncBuffer
	ts := startServer(t, server.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	c := client(t)
	resp, err := c.Post(ts.url+"/v1/traces", "application/json", strings.NewReader(badInput))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// chat 1 keeps its own session; its input comes from the next key in
	// priority (the string is ignored), its output count and cost are
	// ignored (the cost is computed: 70*150).
	checkSession(t, ts, "bad-B", foreignDay, hours(1), wantUsage{Tokens: usage.Tokens{InputTokens: 70}, requests: 1, costNano: 10_500})
	// chat 2 carries no session: it takes the trace's, the root's; its
	// output count (2.5) is not a count. 10*150.
	checkSession(t, ts, "bad-A", foreignDay, hours(1), wantUsage{Tokens: usage.Tokens{InputTokens: 10}, requests: 1, costNano: 1_500})
	// Five values ignored: "lots", -5, "NaN", the 2.5 output count and
	// the unterminated usage_details JSON.
	if l := logs.String(); !strings.Contains(l, "ingest: ignored attribute values") || !strings.Contains(l, "values=5") ||
		!strings.Contains(l, "each keeps its own") || !strings.Contains(l, "fields=1") {
		t.Errorf("log:\n%s", l)
	}
}

// Our own SDK's spans follow the same rule: usage set on a trace root or a
// task span (a sum of the calls under it) adds nothing; only llm spans do.
func TestOwnSDKAggregatesAddNothing(t *testing.T) {
	ts := startServer(t)
	rec := newRecorder(t)
	exp := exporter(t, ts, nil)
	sess := attr.SessionID.String("own-s")
	rctx, root := rec.tr.Start(context.Background(), "agent", withStart(foreignDay))
	root.SetAttributes(attr.SpanType.String(attr.TypeTrace), sess, attr.InputTokens.Int64(300), attr.OutputTokens.Int64(30),
		attr.CostUSD.Float64(0.3))
	tctx, _ := rec.span(rctx, "resolve", foreignDay.Add(time.Second), foreignDay.Add(5*time.Second),
		attr.SpanType.String(attr.TypeTask), sess, attr.InputTokens.Int64(200), attr.OutputTokens.Int64(20))
	rec.span(tctx, "chat", foreignDay.Add(2*time.Second), foreignDay.Add(3*time.Second), llmAttrs(100, 10, 0.001, sess)...)
	root.End(withEnd(foreignDay.Add(10 * time.Second)))
	export(t, exp, rec.take())
	checkSession(t, ts, "own-s", foreignDay, hours(1), wantUsage{Tokens: usage.Tokens{InputTokens: 100, OutputTokens: 10}, requests: 1, costNano: 1_000_000})
	var page usage.SpansPage
	mustGet(t, client(t), ts.url, "/v1/spans?session_id=own-s&"+window(foreignDay, hours(1)), nil, &page)
	for _, sp := range page.Spans {
		if sp.Name == "agent" && !bytes.Contains(sp.Attributes, []byte(`"gen_ai.usage.input_tokens":300`)) {
			t.Errorf("the root's own usage is not shown: %s", sp.Attributes)
		}
	}
}
