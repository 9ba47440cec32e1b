package e2e_test

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/agenttrace/agenttrace/internal/wire"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/span"
	"github.com/agenttrace/agenttrace/store/sqlite"
	"github.com/agenttrace/agenttrace/trace"
	"github.com/agenttrace/agenttrace/usage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	fullKey = "k-full"
	acmeKey = "k-acme"
	org     = "org-e2e"
	nBulk   = 250
)

// call is one model call with known usage. costNano 0 means the SDK prices
// it from its table.
type call struct {
	model                         string
	in, out, cacheRead, reasoning int64
	costNano                      int64
	prompt                        string
}

// run is one recorded trace: its calls, then a tool call.
type run struct {
	name, tenant, session, user, env string
	tags                             []string
	fail                             bool
	calls                            []call
	id                               string
}

// pricedNano is the cost of run 2's call from the embedded price table,
// by hand: gpt-4.1-mini at $0.40 input, $0.10 cached input and $1.60 output
// per million tokens, 2000 input tokens of which 1000 cached, 500 output:
// (1000*0.40 + 1000*0.10 + 500*1.60) / 1e6 = $0.0013.
const pricedNano = 1_300_000

func runs() []*run {
	return []*run{
		{name: "support", tenant: "acme", session: "s-a1", user: "alice", env: "prod", tags: []string{"beta", "refunds"},
			calls: []call{
				{model: "gpt-4.1-mini", in: 1000, out: 200, costNano: 1_234_567, prompt: "welcome"},
				{model: "gpt-4.1", in: 500, out: 50, cacheRead: 100, costNano: 2_000_000},
			}},
		{name: "support", tenant: "acme", session: "s-a1", user: "alice", env: "prod", tags: []string{"beta"},
			calls: []call{{model: "gpt-4.1-mini", in: 2000, out: 500, cacheRead: 1000}}},
		{name: "triage", tenant: "acme", session: "s-a2", user: "bob", env: "staging", tags: []string{"refunds"}, fail: true,
			calls: []call{{model: "o4-mini", in: 300, out: 900, reasoning: 600, costNano: 3_000_000, prompt: "triage"}}},
		{name: "support", tenant: "globex", session: "s-g1", user: "alice", env: "prod",
			calls: []call{
				{model: "claude-haiku-4-5", in: 4000, out: 100, costNano: 4_500_000},
				{model: "claude-haiku-4-5", in: 10, out: 10, costNano: 1},
			}},
		{name: "report", tenant: "globex", session: "s-g2", user: "carol", env: "prod", tags: []string{"beta"},
			calls: []call{{model: "gpt-4.1-mini", in: 50, out: 5, costNano: 7}}},
	}
}

func (c call) nano() int64 {
	if c.costNano == 0 {
		return pricedNano
	}
	return c.costNano
}

func (c call) provider() string {
	if strings.HasPrefix(c.model, "claude") {
		return "anthropic"
	}
	return "openai"
}

// record records r with client.
func record(ctx context.Context, client *trace.Client, r *run) {
	ctx, tr := client.Start(ctx, r.name, trace.WithUserID(r.user), trace.WithSessionID(r.session),
		trace.WithTenantID(r.tenant), trace.WithTags(r.tags...), trace.WithEnvironment(r.env))
	tr.Message(llm.User, "hello from "+r.user)
	for _, c := range r.calls {
		opts := []llm.Option{llm.Model(c.model), llm.Provider(c.provider())}
		if c.prompt != "" {
			opts = append(opts, llm.Prompt(c.prompt, "v1"))
		}
		_, g := tr.LLM(ctx, "", opts...)
		u := llm.Usage{InputTokens: c.in, OutputTokens: c.out, CacheReadTokens: c.cacheRead, ReasoningTokens: c.reasoning}
		if c.costNano > 0 {
			u.CostUSD, u.CostSource = float64(c.costNano)/1e9, llm.CostUser
		}
		g.SetUsage(u)
		g.End()
	}
	_, tool := tr.Tool(ctx, "lookup", span.Arguments(map[string]any{"q": r.name}))
	tool.RecordOutput("ok")
	tool.End()
	if r.fail {
		tr.Fail(errors.New("boom"))
	}
	tr.End()
	r.id = tr.ID()
}

// startServer serves a fresh SQLite file on 127.0.0.1 with the real
// server's Serve, as agenttrace serve does.
func startServer(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "agenttrace.db"))
	require.NoError(t, err)
	srv, err := server.New(st, server.WithOrganisation(org), server.WithLogger(slog.New(slog.DiscardHandler)),
		server.WithAPIKeys(server.APIKey{Key: fullKey}, server.APIKey{Key: acmeKey, Tenant: "acme"}))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() {
		stop()
		assert.NoError(t, <-done)
		assert.NoError(t, st.Close())
	})
	return "http://" + ln.Addr().String()
}

func newClient(t *testing.T, url, key string) *usage.Client {
	t.Helper()
	c, err := usage.NewClient(url, usage.WithAPIKey(key), usage.WithRetry(1, 10*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func sumUsage(rs []*run, keep func(*run) bool) (u usage.Tokens, requests, nano int64) {
	for _, r := range rs {
		if !keep(r) {
			continue
		}
		for _, c := range r.calls {
			u.InputTokens += c.in
			u.OutputTokens += c.out
			u.CacheReadTokens += c.cacheRead
			u.ReasoningTokens += c.reasoning
			requests++
			nano += c.nano()
		}
	}
	return u, requests, nano
}

func traceIDs(ts []usage.TraceSummary) []string {
	out := make([]string, len(ts))
	for i := range ts {
		out[i] = ts[i].ID
	}
	return out
}

func TestEndToEnd(t *testing.T) {
	url := startServer(t)
	ctx := context.Background()
	start := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)

	rec, err := trace.NewClient(ctx, trace.WithEndpoint(url), trace.WithAPIKey(fullKey), trace.WithServiceName("e2e"))
	require.NoError(t, err)
	rs := runs()
	for _, r := range rs {
		record(ctx, rec, r)
	}
	bulk := make([]string, nBulk)
	for i := range nBulk {
		_, tr := rec.Start(ctx, "bulk", trace.WithEnvironment("bulk"), trace.WithSessionID("s-bulk"), trace.WithUserID("u-bulk"))
		tr.End()
		bulk[i] = tr.ID()
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, rec.Shutdown(sctx), "every span delivered")
	end := time.Now().Add(time.Minute).UTC().Truncate(time.Millisecond)

	c := newClient(t, url, fullKey)
	byID := map[string]*run{}
	for _, r := range rs {
		require.Len(t, r.id, 32)
		byID[r.id] = r
	}

	t.Run("session usage", func(t *testing.T) {
		for _, s := range []string{"s-a1", "s-a2", "s-g1", "s-g2"} {
			tok, req, nano := sumUsage(rs, func(r *run) bool { return r.session == s })
			got, err := c.GetSessionUsage(ctx, s, start, end)
			require.NoError(t, err)
			assert.Equal(t, &usage.SessionUsage{SessionID: s, StartTime: start, EndTime: end,
				TokenCount: tok.InputTokens + tok.OutputTokens, RequestCount: req,
				TotalCost: float64(nano) / 1e9, TotalCostNanoUSD: nano, Tokens: tok}, got, s)
		}
		// The same by hand for s-a1: 1000+200 + 500+50 + 2000+500 tokens.
		got, err := c.GetSessionUsage(ctx, "s-a1", start, end)
		require.NoError(t, err)
		assert.EqualValues(t, 4250, got.TokenCount)
		assert.EqualValues(t, 3, got.RequestCount)
		assert.EqualValues(t, 1_234_567+2_000_000+pricedNano, got.TotalCostNanoUSD)
		assert.InDelta(t, 0.004534567, got.TotalCost, 1e-12)
	})

	t.Run("tenant usage", func(t *testing.T) {
		for _, tenant := range []string{"acme", "globex"} {
			tok, req, nano := sumUsage(rs, func(r *run) bool { return r.tenant == tenant })
			got, err := c.GetTenantUsage(ctx, tenant, start, end)
			require.NoError(t, err)
			assert.Equal(t, &usage.TenantUsage{TenantID: tenant, OrganisationID: org, StartTime: start, EndTime: end,
				TokenCount: tok.InputTokens + tok.OutputTokens, RequestCount: req, SessionCount: 2,
				TotalCost: float64(nano) / 1e9, TotalCostNanoUSD: nano, Tokens: tok}, got, tenant)
		}
		// Outside the window nothing counts.
		got, err := c.GetTenantUsage(ctx, "acme", start.Add(-time.Hour), start)
		require.NoError(t, err)
		assert.Zero(t, got.TokenCount)
		assert.Zero(t, got.SessionCount)
	})

	t.Run("trace lists", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			q    usage.TraceQuery
			keep func(*run) bool
		}{
			{"tenant acme", usage.TraceQuery{TenantID: "acme"}, func(r *run) bool { return r.tenant == "acme" }},
			{"tenant globex", usage.TraceQuery{TenantID: "globex"}, func(r *run) bool { return r.tenant == "globex" }},
			{"user", usage.TraceQuery{UserID: "alice"}, func(r *run) bool { return r.user == "alice" }},
			{"session", usage.TraceQuery{SessionID: "s-a1"}, func(r *run) bool { return r.session == "s-a1" }},
			{"environment", usage.TraceQuery{Environment: "staging"}, func(r *run) bool { return r.env == "staging" }},
			{"name", usage.TraceQuery{Name: "report"}, func(r *run) bool { return r.name == "report" }},
			{"status error", usage.TraceQuery{Status: usage.StatusError}, func(r *run) bool { return r.fail }},
			{"status ok in acme", usage.TraceQuery{Status: usage.StatusOK, TenantID: "acme"},
				func(r *run) bool { return !r.fail && r.tenant == "acme" }},
			{"tag", usage.TraceQuery{Tags: []string{"beta"}}, func(r *run) bool { return slices.Contains(r.tags, "beta") }},
			{"tags", usage.TraceQuery{Tags: []string{"refunds", "beta"}},
				func(r *run) bool { return slices.Contains(r.tags, "beta") && slices.Contains(r.tags, "refunds") }},
			{"tenant and user", usage.TraceQuery{TenantID: "globex", UserID: "alice"},
				func(r *run) bool { return r.tenant == "globex" && r.user == "alice" }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				q := tc.q
				q.Start, q.End, q.IncludeTotal = start, end, true
				p, err := c.ListTraces(ctx, q)
				require.NoError(t, err)
				var want []string
				for _, r := range rs {
					if tc.keep(r) {
						want = append(want, r.id)
					}
				}
				require.NotEmpty(t, want, "the case selects something")
				assert.ElementsMatch(t, want, traceIDs(p.Traces))
				assert.False(t, p.HasNextPage)
				require.NotNil(t, p.TotalCount)
				assert.EqualValues(t, len(want), *p.TotalCount)
				assert.True(t, slices.IsSortedFunc(p.Traces, func(a, b usage.TraceSummary) int {
					return b.StartTime.Compare(a.StartTime)
				}), "newest first")
				for _, tr := range p.Traces {
					checkSummary(t, byID[tr.ID], tr)
				}
			})
		}
		got, err := c.GetTrace(ctx, rs[0].id)
		require.NoError(t, err)
		checkSummary(t, rs[0], *got)
	})

	t.Run("spans of a trace", func(t *testing.T) {
		for _, r := range rs {
			p, err := c.ListSpansByTraceID(ctx, r.id, usage.SpanQuery{})
			require.NoError(t, err)
			require.Len(t, p.Spans, len(r.calls)+3, r.id)
			root := p.Spans[0]
			assert.Equal(t, r.name, root.Name)
			assert.Equal(t, "trace", root.Type)
			assert.Empty(t, root.ParentID)
			assert.True(t, slices.ContainsFunc(p.Spans, func(s usage.Span) bool {
				return s.Type == "message" && s.ParentID == root.ID &&
					slices.ContainsFunc(s.Events, func(e usage.Event) bool { return e.Name == "agenttrace.message" })
			}), "the message is a child span of the root")
			wantStatus := usage.StatusOK
			if r.fail {
				wantStatus = usage.StatusError
			}
			assert.Equal(t, wantStatus, root.Status)
			var llmSpans []usage.Span
			for _, s := range p.Spans {
				if s.Type == "llm" {
					llmSpans = append(llmSpans, s)
				}
			}
			require.Len(t, llmSpans, len(r.calls))
			for i, cl := range r.calls {
				g := llmSpans[i]
				assert.Equal(t, "llm", g.Type)
				assert.Equal(t, "chat "+cl.model, g.Name)
				assert.Equal(t, root.ID, g.ParentID)
				assert.Equal(t, cl.model, g.Model)
				assert.Equal(t, cl.provider(), g.Provider)
				assert.Equal(t, cl.prompt, g.PromptSlug)
				assert.Equal(t, usage.Tokens{InputTokens: cl.in, OutputTokens: cl.out, CacheReadTokens: cl.cacheRead,
					ReasoningTokens: cl.reasoning}, g.Tokens)
				assert.Equal(t, cl.in+cl.out, g.TotalTokens)
				assert.Equal(t, cl.nano(), g.CostNanoUSD)
				wantSource := "user"
				if cl.costNano == 0 {
					wantSource = "computed"
				}
				assert.Equal(t, wantSource, g.CostSource)
			}
			tool := p.Spans[len(p.Spans)-1]
			assert.Equal(t, "tool", tool.Type)
			assert.Equal(t, "lookup", tool.Name)
			assert.Equal(t, root.ID, tool.ParentID)
			for _, sp := range p.Spans {
				assert.Equal(t, r.id, sp.TraceID)
				assert.Equal(t, r.session, sp.SessionID, "trace fields are on every span")
				assert.Equal(t, r.user, sp.UserID)
				assert.Equal(t, r.tenant, sp.TenantID)
				assert.Equal(t, r.env, sp.Environment)
				assert.Equal(t, "e2e", sp.ServiceName)
			}
			// The same spans one page at a time, both ways.
			var down, up []string
			for sp, err := range c.IterSpansByTraceID(ctx, r.id, usage.SpanQuery{Limit: 1}) {
				require.NoError(t, err)
				down = append(down, sp.ID)
			}
			for sp, err := range c.IterSpansByTraceID(ctx, r.id, usage.SpanQuery{Limit: 2, Direction: usage.Up}) {
				require.NoError(t, err)
				up = append(up, sp.ID)
			}
			want := make([]string, len(p.Spans))
			for i, sp := range p.Spans {
				want[i] = sp.ID
			}
			assert.Equal(t, want, down)
			slices.Reverse(up)
			assert.Equal(t, want, up)
		}
	})

	t.Run("spans across traces", func(t *testing.T) {
		count := func(q usage.SpanQuery) int {
			n := 0
			for sp, err := range c.IterSpans(ctx, q) {
				require.NoError(t, err)
				require.NotEmpty(t, sp.ID)
				n++
			}
			return n
		}
		assert.Equal(t, 4, count(usage.SpanQuery{Type: "llm", TenantID: "acme", Limit: 3}))
		assert.Equal(t, 2, count(usage.SpanQuery{Model: "claude-haiku-4-5"}))
		assert.Equal(t, 1, count(usage.SpanQuery{PromptSlug: "welcome"}))
		assert.Equal(t, 1, count(usage.SpanQuery{Status: usage.StatusError, TenantID: "acme"}))
		assert.Equal(t, 4, count(usage.SpanQuery{SessionID: "s-g2"}), "root, LLM call, message, tool")
		assert.Equal(t, 2, count(usage.SpanQuery{Tags: []string{"refunds"}, Type: "tool"}))
		assert.Equal(t, 3, count(usage.SpanQuery{Name: "lookup", UserID: "alice"}))
		assert.Equal(t, nBulk, count(usage.SpanQuery{Name: "bulk", Limit: 100, Start: start, End: end}))
		assert.Equal(t, 0, count(usage.SpanQuery{Type: "llm", End: start}))
	})

	t.Run("250 traces, limit 7, both ways", func(t *testing.T) {
		q := usage.TraceQuery{Start: start, End: end, Environment: "bulk", Limit: 7}
		var down []usage.TraceSummary
		for tr, err := range c.IterTraces(ctx, q) {
			require.NoError(t, err)
			down = append(down, tr)
		}
		ids := traceIDs(down)
		assert.ElementsMatch(t, bulk, ids, "every trace, none twice")
		assert.True(t, slices.IsSortedFunc(down, func(a, b usage.TraceSummary) int {
			return cmp.Or(b.StartTime.Compare(a.StartTime), strings.Compare(b.ID, a.ID))
		}), "newest first")

		q.Direction = usage.Up
		var up []string
		for tr, err := range c.IterTraces(ctx, q) {
			require.NoError(t, err)
			up = append(up, tr.ID)
		}
		slices.Reverse(up)
		assert.Equal(t, ids, up, "going up is going down backwards")

		// By hand, with other sort orders: pages of at most 7, no overlap.
		for _, sq := range []usage.TraceQuery{
			{SortField: usage.SortStartTime, SortOrder: usage.OrderAsc},
			{SortField: usage.SortName, SortOrder: usage.OrderDesc},
			{SortField: usage.SortDuration, SortOrder: usage.OrderAsc, Direction: usage.Up},
		} {
			sq.Start, sq.End, sq.Environment, sq.Limit = start, end, "bulk", 7
			seen := map[string]bool{}
			pages := 0
			for {
				p, err := c.ListTraces(ctx, sq)
				require.NoError(t, err)
				pages++
				require.LessOrEqual(t, len(p.Traces), 7)
				for _, tr := range p.Traces {
					require.False(t, seen[tr.ID], "trace %s twice", tr.ID)
					seen[tr.ID] = true
				}
				if !p.HasNextPage {
					break
				}
				sq.Cursor = p.NextCursor
			}
			assert.Len(t, seen, nBulk)
			assert.Equal(t, (nBulk+6)/7, pages)
		}
	})

	t.Run("errors", func(t *testing.T) {
		wrong := newClient(t, url, "nope")
		_, err := wrong.GetSessionUsage(ctx, "s-a1", start, end)
		assert.ErrorIs(t, err, usage.ErrUnauthorized)
		var ae *usage.APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, 401, ae.StatusCode)
		assert.NotEmpty(t, ae.Message)

		acme := newClient(t, url, acmeKey)
		_, err = acme.GetTenantUsage(ctx, "globex", start, end)
		assert.ErrorIs(t, err, usage.ErrForbidden)
		p, err := acme.ListTraces(ctx, usage.TraceQuery{Start: start, End: end})
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{rs[0].id, rs[1].id, rs[2].id}, traceIDs(p.Traces), "a tenant key sees its tenant only")

		_, err = c.GetTrace(ctx, strings.Repeat("ab", 16))
		assert.ErrorIs(t, err, usage.ErrNotFound)
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, 404, ae.StatusCode)
		assert.Equal(t, wire.CodeNotFound, ae.Code)

		_, err = c.ListTraces(ctx, usage.TraceQuery{Start: start, End: end, Cursor: "bm90IGEgY3Vyc29y"})
		assert.ErrorIs(t, err, usage.ErrInvalidArgument)
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, wire.ParamCursor, ae.Param)
		assert.Contains(t, ae.Message, "cursor")
		assert.Contains(t, err.Error(), ae.Message)
	})
}

// checkSummary compares a trace summary with what r recorded.
func checkSummary(t *testing.T, r *run, tr usage.TraceSummary) {
	t.Helper()
	require.NotNil(t, r, "a trace that was not recorded: %s", tr.ID)
	tok, req, nano := sumUsage([]*run{r}, func(*run) bool { return true })
	var models []string
	for _, c := range r.calls {
		models = append(models, c.model)
	}
	slices.Sort(models)
	models = slices.Compact(models)
	tags := slices.Sorted(slices.Values(r.tags))
	if tags == nil {
		tags = []string{}
	}
	status := usage.StatusOK
	if r.fail {
		status = usage.StatusError
	}
	assert.Equal(t, r.name, tr.Name)
	assert.Equal(t, status, tr.Status)
	assert.True(t, tr.HasRoot)
	assert.EqualValues(t, len(r.calls)+3, tr.SpanCount, "root, message, calls, tool")
	assert.Equal(t, models, tr.Models)
	assert.Equal(t, tok, tr.Tokens)
	assert.Equal(t, tok.InputTokens+tok.OutputTokens, tr.TotalTokens)
	assert.Equal(t, req, tr.RequestCount)
	assert.Equal(t, nano, tr.TotalCostNanoUSD)
	assert.Equal(t, float64(nano)/1e9, tr.TotalCost)
	assert.Equal(t, r.session, tr.SessionID)
	assert.Equal(t, r.user, tr.UserID)
	assert.Equal(t, r.tenant, tr.TenantID)
	assert.Equal(t, r.env, tr.Environment)
	assert.Equal(t, tags, tr.Tags)
	assert.True(t, tr.EndTime.After(tr.StartTime))
}
