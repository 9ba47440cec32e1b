package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/agenttrace/agenttrace/internal/servertest"
	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/usage"
)

var day = time.Date(2025, 11, 16, 0, 0, 0, 0, time.UTC)

// window flags covering the fixture.
var win = []string{"--from", "2025-11-16", "--to", "2025-11-17T00:00:00Z"}

// startCLIServer serves the real server over a SQLite file holding spans,
// on 127.0.0.1, counting requests. It checks for leaked goroutines last.
func startCLIServer(t *testing.T, spans []store.Span, opts ...server.Option) *servertest.Server {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	return servertest.Start(t, spans, opts...)
}

// cli runs the agenttrace command in-process with env vars vars.
func cli(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, env{stdout: &o, stderr: &e, getenv: func(k string) string { return vars[k] }})
	return o.String(), e.String(), code
}

func tid(n int) string     { return fmt.Sprintf("%032x", 0xc000+n) }
func sid(n, k int) string  { return fmt.Sprintf("%08x%08x", 0xc000+n, k+1) }
func at(min int) time.Time { return day.Add(10*time.Hour + time.Duration(min)*time.Minute) }

// cliFixture: trace 1 (acme, s-1) is agent > plan > chat + a tool call;
// trace 2 (globex, s-2) one failed LLM call; traces 10.. are bulk.
func cliFixture(bulk int) []store.Span {
	base := func(n int, session, tenant string) store.Span {
		return store.Span{TraceID: tid(n), SessionID: session, UserID: "u-" + session, TenantID: tenant,
			Environment: "prod", ServiceName: "cli-test", Status: store.StatusOK}
	}
	var out []store.Span
	add := func(s store.Span, k, parent int, name, typ string, start time.Time, d time.Duration) *store.Span {
		s.SpanID, s.Name, s.Type, s.Start, s.End = sid(tidN(s.TraceID), k), name, typ, start, start.Add(d)
		if parent >= 0 {
			s.ParentID = sid(tidN(s.TraceID), parent)
		}
		out = append(out, s)
		return &out[len(out)-1]
	}
	llm := func(sp *store.Span, model string, in, outT, nano int64) {
		sp.Operation, sp.RequestModel, sp.Provider, sp.LLMRequest = "chat", model, "openai", true
		sp.Tokens = store.Tokens{InputTokens: in, OutputTokens: outT, CacheReadTokens: in / 2}
		sp.TotalTokens, sp.CostNanoUSD, sp.CostSource = in+outT, nano, "user"
	}
	b := base(1, "s-1", "acme")
	add(b, 0, -1, "agent", "trace", at(1), 2*time.Second)
	add(b, 1, 0, "plan", "task", at(1).Add(100*time.Millisecond), time.Second)
	llm(add(b, 2, 1, "chat gpt-4.1-mini", "llm", at(1).Add(200*time.Millisecond), 500*time.Millisecond), "gpt-4.1-mini", 200, 20, 2_000_000)
	add(b, 3, 0, "lookup", "tool", at(1).Add(1500*time.Millisecond), 250*time.Millisecond)
	llm(add(b, 4, 0, "chat gpt-4.1-mini", "llm", at(1).Add(1800*time.Millisecond), 100*time.Millisecond), "gpt-4.1-mini", 100, 10, 1_000_000)
	b = base(2, "s-2", "globex")
	b.Status = store.StatusError
	add(b, 0, -1, "agent", "trace", at(2), time.Second)
	llm(add(b, 1, 0, "chat gpt-4.1", "llm", at(2).Add(10*time.Millisecond), 900*time.Millisecond), "gpt-4.1", 1000, 100, 12_500_000_000)
	for i := range bulk {
		add(base(10+i, "s-bulk", "bulk"), 0, -1, "bulk", "trace", at(10+i), time.Second)
	}
	return out
}

func tidN(id string) int {
	var n int
	fmt.Sscanf(id, "%x", &n)
	return n - 0xc000
}

// A model call whose usage is unknown is counted apart, not as zero.
func TestUsageCommandUnknownUsage(t *testing.T) {
	known := store.Span{TraceID: tid(1), SpanID: sid(1, 0), Name: "chat", Type: "llm", Start: at(1), End: at(2),
		SessionID: "s-u", TenantID: "acme", LLMRequest: true, Operation: "chat", RequestModel: "gpt-4o",
		Tokens: store.Tokens{InputTokens: 100, OutputTokens: 10}, TotalTokens: 110, CostNanoUSD: 350_000, CostSource: "computed"}
	unknown := known
	unknown.SpanID, unknown.Tokens, unknown.TotalTokens, unknown.CostNanoUSD, unknown.CostSource = sid(1, 1), store.Tokens{}, 0, 0, ""
	unknown.UsageUnknown = true
	ts := startCLIServer(t, []store.Span{known, unknown})
	out, errOut, code := cli(t, nil, append([]string{"usage", "session", "s-u", "--url", ts.URL}, win...)...)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "requests         2\n  unknown usage  1 (not in tokens or cost)\n")
	out, errOut, code = cli(t, nil, append([]string{"usage", "tenant", "acme", "--url", ts.URL, "--json"}, win...)...)
	require.Equal(t, 0, code, errOut)
	var tu usage.TenantUsage
	require.NoError(t, json.Unmarshal([]byte(out), &tu))
	assert.Equal(t, int64(2), tu.RequestCount)
	assert.Equal(t, int64(1), tu.UnknownUsageCount)
	assert.Equal(t, int64(110), tu.TokenCount)
}

func TestUsageCommand(t *testing.T) {
	ts := startCLIServer(t, cliFixture(0))
	out, errOut, code := cli(t, nil, append([]string{"usage", "session", "s-1", "--url", ts.URL}, win...)...)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, `session          s-1
window           2025-11-16 00:00:00Z to 2025-11-17 00:00:00Z
tokens           330
  input          300 (cache read 150, cache write 0)
  output         30 (reasoning 0)
requests         2
  unknown usage  0 (not in tokens or cost)
cost             $0.003
`, out)

	// Flags before the id, and the URL from the environment.
	out, errOut, code = cli(t, map[string]string{"AGENTTRACE_URL": ts.URL},
		append(append([]string{"usage"}, win...), "tenant", "globex", "--json")...)
	require.Equal(t, 0, code, errOut)
	var tu usage.TenantUsage
	require.NoError(t, json.Unmarshal([]byte(out), &tu))
	assert.Equal(t, usage.TenantUsage{TenantID: "globex", OrganisationID: "default", StartTime: day, EndTime: day.Add(24 * time.Hour),
		TokenCount: 1100, RequestCount: 1, SessionCount: 1, TotalCost: 12.5, TotalCostNanoUSD: 12_500_000_000,
		Tokens: usage.Tokens{InputTokens: 1000, OutputTokens: 100, CacheReadTokens: 500}}, tu)

	out, errOut, code = cli(t, nil, append([]string{"usage", "tenant", "globex", "--url", ts.URL,
		"--format", "{{.TenantID}} {{.TokenCount}} {{usd .TotalCostNanoUSD}} {{.SessionCount}}"}, win...)...)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "globex 1100 $12.50 1\n", out)

	// An unknown session has zero usage.
	out, _, code = cli(t, nil, append([]string{"usage", "session", "nobody", "--url", ts.URL, "--format", "{{.TokenCount}}"}, win...)...)
	assert.Equal(t, 0, code)
	assert.Equal(t, "0\n", out)
}

func TestTracesCommand(t *testing.T) {
	ts := startCLIServer(t, cliFixture(5))
	args := func(more ...string) []string {
		return append(append([]string{"traces", "--url", ts.URL}, win...), more...)
	}

	out, errOut, code := cli(t, nil, args("--tenant", "acme")...)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, `TRACE ID                          START                 NAME   STATUS  SPANS  TOKENS  COST    DURATION  SESSION  USER   TENANT
0000000000000000000000000000c001  2025-11-16 10:01:00Z  agent  ok      5      330     $0.003  2s        s-1      u-s-1  acme
`, out)

	out, errOut, code = cli(t, nil, args("--status", "error", "--total")...)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, tid(2)+"  2025-11-16 10:02:00Z  agent  error   2      1100    $12.50")
	assert.Contains(t, out, "1 matching traces in all\n")

	// One page, then the next with the printed cursor.
	out, errOut, code = cli(t, nil, args("--tenant", "bulk", "--limit", "2", "--order", "asc")...)
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	assert.True(t, strings.HasPrefix(lines[1], tid(10)))
	assert.True(t, strings.HasPrefix(lines[2], tid(11)))
	cursor, ok := strings.CutPrefix(lines[3], "more: add --cursor ")
	require.True(t, ok, lines[3])
	cursor = strings.TrimSuffix(cursor, " (or --all)")
	out, errOut, code = cli(t, nil, args("--tenant", "bulk", "--limit", "2", "--order", "asc", "--cursor", cursor, "--format", "{{.ID}}")...)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, tid(12)+"\n"+tid(13)+"\n", out)

	// --all walks every page.
	before := ts.Requests.Load()
	out, errOut, code = cli(t, nil, args("--tenant", "bulk", "--limit", "2", "--all", "--json")...)
	require.Equal(t, 0, code, errOut)
	assert.EqualValues(t, 3, ts.Requests.Load()-before, "pages of 2, 2 and 1")
	var page usage.TracesPage
	require.NoError(t, json.Unmarshal([]byte(out), &page))
	var ids []string
	for _, tr := range page.Traces {
		ids = append(ids, tr.ID)
	}
	assert.Equal(t, []string{tid(14), tid(13), tid(12), tid(11), tid(10)}, ids)
	assert.False(t, page.HasNextPage)

	out, _, code = cli(t, nil, args("--all", "--tag", "x,y", "--tag", "z")...)
	assert.Equal(t, 0, code)
	assert.Equal(t, "no traces\n", out)

	out, errOut, code = cli(t, nil, args("--all", "--user", "u-s-2", "--session", "s-2", "--env", "prod", "--name", "agent",
		"--sort", "total_cost", "--direction", "up", "--format", "{{.ID}} {{json .Models}}")...)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, tid(2)+` ["gpt-4.1"]`+"\n", out)
}

func TestSpansCommand(t *testing.T) {
	ts := startCLIServer(t, cliFixture(0))
	out, errOut, code := cli(t, nil, "spans", tid(1), "--url", ts.URL, "--limit", "2")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, `trace 0000000000000000000000000000c001
SPAN ID           START   NAME                   TYPE   STATUS  MODEL         TOKENS  COST    LATENCY
0000c00100000001  +0s     agent                  trace  ok      -             0       $0.00   2s
0000c00100000002  +100ms    plan                 task   ok      -             0       $0.00   1s
0000c00100000003  +200ms      chat gpt-4.1-mini  llm    ok      gpt-4.1-mini  220     $0.002  500ms
0000c00100000004  +1.5s     lookup               tool   ok      -             0       $0.00   250ms
0000c00100000005  +1.8s     chat gpt-4.1-mini    llm    ok      gpt-4.1-mini  110     $0.001  100ms
`, out)

	out, errOut, code = cli(t, nil, "spans", tid(1), "--url", ts.URL, "--name", "chat gpt-4.1-mini", "--json")
	require.Equal(t, 0, code, errOut)
	var page usage.SpansPage
	require.NoError(t, json.Unmarshal([]byte(out), &page))
	require.Len(t, page.Spans, 2)
	assert.Equal(t, sid(1, 2), page.Spans[0].ID)
	assert.EqualValues(t, 2_000_000, page.Spans[0].CostNanoUSD)

	// Across traces.
	out, errOut, code = cli(t, nil, append([]string{"spans", "--url", ts.URL, "--type", "llm", "--format", "{{.TraceID}} {{.ID}} {{.Model}}"}, win...)...)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, tid(2)+" "+sid(2, 1)+" gpt-4.1\n"+tid(1)+" "+sid(1, 4)+" gpt-4.1-mini\n"+tid(1)+" "+sid(1, 2)+" gpt-4.1-mini\n", out)

	out, errOut, code = cli(t, nil, append([]string{"spans", "--url", ts.URL, "--status", "error", "--tenant", "globex"}, win...)...)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "TRACE ID")
	assert.Contains(t, out, sid(2, 1))
	assert.Equal(t, 3, strings.Count(out, "\n"), out)

	out, errOut, code = cli(t, nil, append([]string{"spans", "--url", ts.URL, "--model", "gpt-4.1-mini", "--limit", "1"}, win...)...)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "more: add --cursor ")

	out, errOut, code = cli(t, nil, append([]string{"spans", "--url", ts.URL, "--model", "gpt-4.1-mini", "--limit", "1", "--all"}, win...)...)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, 3, strings.Count(out, "\n"), out)
	assert.NotContains(t, out, "more:")
}

func TestQueryCommandErrors(t *testing.T) {
	ts := startCLIServer(t, cliFixture(0), server.WithAPIKeys(server.APIKey{Key: "k1"}, server.APIKey{Key: "k-acme", Tenant: "acme"}))
	key := map[string]string{"AGENTTRACE_API_KEY": "k1"}

	// The key from the environment works.
	_, errOut, code := cli(t, key, "spans", tid(1), "--url", ts.URL)
	assert.Equal(t, 0, code, errOut)

	for _, tc := range []struct {
		name    string
		vars    map[string]string
		args    []string
		code    int
		stderr  []string
		request bool // whether the server is asked at all
	}{
		{"wrong key", nil, []string{"traces", "--url", ts.URL, "--api-key", "nope"}, 1,
			[]string{"401", "unauthenticated", "--api-key or AGENTTRACE_API_KEY"}, true},
		{"other tenant", nil, []string{"usage", "tenant", "globex", "--url", ts.URL, "--api-key", "k-acme"}, 1,
			[]string{"403", "permission_denied", "globex"}, true},
		{"unknown trace", key, []string{"spans", strings.Repeat("ab", 16), "--url", ts.URL}, 1,
			[]string{"404", "not_found"}, true},
		{"bad cursor", key, []string{"traces", "--url", ts.URL, "--cursor", "zzz"}, 1,
			[]string{"400", "invalid_argument", "cursor"}, true},
		{"bad trace id", key, []string{"spans", "xyz", "--url", ts.URL}, 2, []string{"trace_id", "32 hex digits"}, false},
		{"limit too big", key, []string{"traces", "--url", ts.URL, "--limit", "5000"}, 2, []string{"limit"}, false},
		{"bad direction", key, []string{"traces", "--url", ts.URL, "--direction", "left"}, 2, []string{"direction"}, false},
		{"bad sort", key, []string{"traces", "--url", ts.URL, "--sort", "colour"}, 2, []string{"sort_field"}, false},
		{"to before from", key, []string{"usage", "session", "s", "--url", ts.URL, "--from", "1h", "--to", "2h"}, 2,
			[]string{"end_time"}, false},
		{"bad time", key, []string{"traces", "--url", ts.URL, "--from", "yesterday"}, 2, []string{"yesterday", "RFC 3339"}, false},
		{"bad URL", key, []string{"traces", "--url", "localhost:4318"}, 2, []string{"--url"}, false},
		{"json and format", key, []string{"traces", "--url", ts.URL, "--json", "--format", "{{.ID}}"}, 2, []string{"exclude"}, false},
		{"bad template", key, []string{"traces", "--url", ts.URL, "--format", "{{.ID"}, 2, []string{"--format"}, false},
		{"unknown field in template", key, []string{"usage", "session", "s-1", "--url", ts.URL, "--format", "{{.Nope}}"}, 2,
			[]string{"Nope"}, true},
		{"missing id", key, []string{"usage", "session", "--url", ts.URL}, 2, []string{"session ID"}, false},
		{"unknown kind", key, []string{"usage", "user", "u", "--url", ts.URL}, 2, []string{"tenant ID"}, false},
		{"extra argument", key, []string{"traces", "extra", "--url", ts.URL}, 2, []string{"extra"}, false},
		{"two trace ids", key, []string{"spans", tid(1), tid(2), "--url", ts.URL}, 2, []string{"one trace id"}, false},
		{"filter with trace id", key, []string{"spans", tid(1), "--url", ts.URL, "--model", "m"}, 2, []string{"--model"}, false},
		{"unknown flag", key, []string{"traces", "--url", ts.URL, "--colour"}, 2, []string{"colour"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.Requests.Load()
			out, errOut, code := cli(t, tc.vars, tc.args...)
			assert.Equal(t, tc.code, code, "stdout %q stderr %q", out, errOut)
			for _, s := range tc.stderr {
				assert.Contains(t, errOut, s)
			}
			if !tc.request {
				assert.Equal(t, before, ts.Requests.Load(), "no request for an invalid command line")
				assert.Empty(t, out)
			}
		})
	}

	t.Run("server down", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		_, errOut, code := cli(t, nil, "traces", "--url", "http://"+addr, "--timeout", "5s")
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, "is agenttrace serve running at http://"+addr)
	})
	t.Run("help", func(t *testing.T) {
		for _, c := range []string{"usage", "traces", "spans"} {
			_, errOut, code := cli(t, nil, c, "-h")
			assert.Equal(t, 0, code)
			assert.Contains(t, errOut, "usage: agenttrace "+c)
			assert.Contains(t, errOut, "--from")
		}
		_, errOut, code := cli(t, nil, "help")
		assert.Equal(t, 0, code)
		for _, c := range []string{"usage", "traces", "spans"} {
			assert.Contains(t, errOut, "  "+c+" ")
		}
	})
}

func TestParseTime(t *testing.T) {
	now := time.Date(2025, 11, 16, 12, 30, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"now":                       now,
		"NOW":                       now,
		"2025-11-16T09:00:00Z":      time.Date(2025, 11, 16, 9, 0, 0, 0, time.UTC),
		"2025-11-16T09:00:00+02:00": time.Date(2025, 11, 16, 7, 0, 0, 0, time.UTC),
		"2025-11-16T09:00:00.5Z":    time.Date(2025, 11, 16, 9, 0, 0, 5e8, time.UTC),
		"2025-11-15":                time.Date(2025, 11, 15, 0, 0, 0, 0, time.UTC),
		"90m":                       now.Add(-90 * time.Minute),
		"-1h30m":                    now.Add(-90 * time.Minute),
		"7d":                        now.Add(-7 * 24 * time.Hour),
		" 0s ":                      now,
	} {
		got, err := parseTime(in, now)
		if assert.NoError(t, err, in) {
			assert.True(t, want.Equal(got), "%q: got %v, want %v", in, got, want)
		}
	}
	for _, in := range []string{"", "yesterday", "7", "d", "-d", "1.5d", "+1h", "--1h", "2025-13-01", "99999d", "1y"} {
		_, err := parseTime(in, now)
		assert.Error(t, err, in)
	}
}

// FuzzParseTime: any --from/--to value either parses or gives an error,
// never a panic, and relative values are never after now.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"now", "1h", "7d", "-30m", "2025-11-16", "2025-11-16T09:00:00Z", "x", "9999999999d", "1e9h"} {
		f.Add(s)
	}
	now := time.Date(2025, 11, 16, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s, now)
		if err != nil {
			return
		}
		if got.IsZero() {
			t.Fatalf("parseTime(%q) = zero time without an error", s)
		}
		if _, rfcErr := time.Parse(time.RFC3339Nano, strings.TrimSpace(s)); rfcErr != nil {
			if _, dateErr := time.Parse(time.DateOnly, strings.TrimSpace(s)); dateErr != nil && got.After(now) {
				t.Fatalf("relative %q gave %v, after now", s, got)
			}
		}
	})
}

func TestFormatting(t *testing.T) {
	for nano, want := range map[int64]string{
		0: "$0.00", 1: "$0.000000001", 1_300_000: "$0.0013", 10_000_000: "$0.01", 12_500_000_000: "$12.50",
		4_534_567: "$0.004534567", 3_000_000_000: "$3.00", -2_000_000: "-$0.002",
	} {
		assert.Equal(t, want, fmtUSD(nano), nano)
	}
	assert.Equal(t, "2s", fmtMS(2000))
	assert.Equal(t, "1.23s", fmtMS(1234.5))
	assert.Equal(t, "31ms", fmtMS(31.2))
	assert.Equal(t, "6µs", fmtMS(0.006))
	assert.Equal(t, "a b c", cell("a\tb\nc"))
	assert.Equal(t, "-", cell(""))
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		flag string
	}{
		{[]string{"session", "s-1", "--x", "v"}, []string{"session", "s-1"}, "v"},
		{[]string{"--x", "v", "session", "s-1"}, []string{"session", "s-1"}, "v"},
		{[]string{"session", "--x=v", "s-1"}, []string{"session", "s-1"}, "v"},
		{[]string{"session", "--", "--x", "v"}, []string{"session", "--x", "v"}, ""},
		{nil, nil, ""},
	} {
		fs := newTestFlagSet()
		x := fs.String("x", "", "")
		pos, err := parseArgs(fs, tc.args)
		require.NoError(t, err, tc.args)
		assert.Equal(t, tc.pos, pos, tc.args)
		assert.Equal(t, tc.flag, *x, tc.args)
	}
	fs := newTestFlagSet()
	_, err := parseArgs(fs, []string{"a", "--nope"})
	assert.True(t, errors.As(err, new(usageError)))
}

func newTestFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
