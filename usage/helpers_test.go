package usage_test

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/usage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the start of the fixture's window.
var t0 = time.Date(2025, 11, 16, 10, 0, 0, 0, time.UTC)

// newClient returns a usage client of ts with fast retries and no key
// (whatever the environment says) unless opts give one.
func newClient(t testing.TB, url string, opts ...usage.Option) *usage.Client {
	t.Helper()
	opts = append([]usage.Option{usage.WithAPIKey(""), usage.WithRetry(2, time.Millisecond)}, opts...)
	c, err := usage.NewClient(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// traceID and spanID make fixture ids: trace n, span k of trace n.
func traceID(n int) string   { return fmt.Sprintf("%032x", 0xa000+n) }
func spanID(n, k int) string { return fmt.Sprintf("%08x%08x", 0xa000+n, k+1) }

// ftrace describes one fixture trace: a root span "agent" with a child LLM
// call and a tool call.
type ftrace struct {
	n                     int
	start                 time.Time
	session, user, tenant string
	env                   string
	in, out               int64
	costNano              int64
	model                 string
	failed                bool
	tags                  []string
}

// spans returns the store rows of f.
func (f ftrace) spans() []store.Span {
	id := traceID(f.n)
	common := func(s store.Span) store.Span {
		s.TraceID = id
		s.SessionID, s.UserID, s.TenantID, s.Environment = f.session, f.user, f.tenant, f.env
		s.Tags = f.tags
		s.ServiceName = "fixture"
		return s
	}
	status := store.StatusOK
	if f.failed {
		status = store.StatusError
	}
	root := common(store.Span{SpanID: spanID(f.n, 0), Name: "agent", Type: "trace", Kind: "internal",
		Status: status, Start: f.start, End: f.start.Add(2 * time.Second),
		Input: fmt.Sprintf(`"question %d"`, f.n), Output: `"answer"`})
	llm := common(store.Span{SpanID: spanID(f.n, 1), ParentID: root.SpanID, Name: "chat " + f.model, Type: "llm",
		Kind: "client", Status: store.StatusOK, Start: f.start.Add(100 * time.Millisecond), End: f.start.Add(time.Second),
		Operation: "chat", RequestModel: f.model, ResponseModel: f.model, Provider: "openai",
		PromptSlug: "welcome", PromptVersion: "v3",
		Tokens:      store.Tokens{InputTokens: f.in, OutputTokens: f.out},
		TotalTokens: f.in + f.out, CostNanoUSD: f.costNano, CostSource: "user", LLMRequest: true})
	tool := common(store.Span{SpanID: spanID(f.n, 2), ParentID: root.SpanID, Name: "lookup_order", Type: "tool",
		Kind: "internal", Status: status, Start: f.start.Add(1100 * time.Millisecond), End: f.start.Add(1500 * time.Millisecond),
		Operation: "execute_tool"})
	return []store.Span{root, llm, tool}
}

// fixture is a small data set: 3 sessions in 2 tenants, plus nPaged
// traces of session "paged" (tenant "bulk") one minute apart for paging.
//
//	trace 1  s-1   u-1  acme    prod     100/10   1_000_000 nano  gpt-4.1-mini  tags a,b
//	trace 2  s-1   u-1  acme    prod     200/20   2_000_000 nano  gpt-4.1-mini  tags a
//	trace 3  s-2   u-2  acme    staging  300/30   3_000_000 nano  gpt-4.1       failed
//	trace 4  s/3 x u-1  globex  prod     400/40   4_000_000 nano  gpt-4.1       tags b
func fixture(nPaged int) []store.Span {
	ts := []ftrace{
		{n: 1, start: t0.Add(1 * time.Minute), session: "s-1", user: "u-1", tenant: "acme", env: "prod",
			in: 100, out: 10, costNano: 1_000_000, model: "gpt-4.1-mini", tags: []string{"a", "b"}},
		{n: 2, start: t0.Add(2 * time.Minute), session: "s-1", user: "u-1", tenant: "acme", env: "prod",
			in: 200, out: 20, costNano: 2_000_000, model: "gpt-4.1-mini", tags: []string{"a"}},
		{n: 3, start: t0.Add(3 * time.Minute), session: "s-2", user: "u-2", tenant: "acme", env: "staging",
			in: 300, out: 30, costNano: 3_000_000, model: "gpt-4.1", failed: true},
		{n: 4, start: t0.Add(4 * time.Minute), session: "s/3 x", user: "u-1", tenant: "globex", env: "prod",
			in: 400, out: 40, costNano: 4_000_000, model: "gpt-4.1", tags: []string{"b"}},
	}
	for i := range nPaged {
		ts = append(ts, ftrace{n: 100 + i, start: t0.Add(time.Hour + time.Duration(i)*time.Minute),
			session: "paged", user: "u-p", tenant: "bulk", env: "prod", in: 1, out: 1, costNano: 1, model: "m"})
	}
	var out []store.Span
	for _, f := range ts {
		out = append(out, f.spans()...)
	}
	return out
}

// window covers every fixture trace.
var (
	wStart = t0
	wEnd   = t0.Add(24 * time.Hour)
)
