package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/agenttrace/agenttrace/store"
)

// Fixture describes the synthetic data set of the benchmarks: Traces
// traces of SpansPerTrace spans (a root, LLM calls and tool calls), five
// consecutive traces per session, sessions spread over Tenants tenants,
// trace starts evenly spaced over Span from Start.
type Fixture struct {
	Traces        int
	SpansPerTrace int
	Tenants       int
	Start         time.Time
	Span          time.Duration
}

// Million is the 1,000,000-span fixture of DESIGN.md section 6: 100,000
// traces of 10 spans, 20,000 sessions, 50 tenants, over 30 days.
var Million = Fixture{Traces: 100_000, SpansPerTrace: 10, Tenants: 50, Start: T0, Span: 30 * 24 * time.Hour}

// TracesPerSession is the number of consecutive traces of one session.
const TracesPerSession = 5

// TraceStart returns the start of trace i.
func (f Fixture) TraceStart(i int) time.Time {
	return f.Start.Add(time.Duration(int64(f.Span) / int64(f.Traces) * int64(i)))
}

// Session and Tenant return the session and tenant of trace i.
func (f Fixture) Session(i int) string { return fmt.Sprintf("sess-%06d", i/TracesPerSession) }

// Tenant returns the tenant of trace i.
func (f Fixture) Tenant(i int) string {
	return fmt.Sprintf("tenant-%02d", (i/TracesPerSession)%f.Tenants)
}

var fixtureAttrs = json.RawMessage(`{"gen_ai.operation.name":"chat","gen_ai.request.model":"gpt-4.1-mini","gen_ai.usage.input_tokens":1200,"gen_ai.usage.output_tokens":300}`)
var fixtureResource = json.RawMessage(`{"service.name":"bench","telemetry.sdk.language":"go","telemetry.sdk.name":"opentelemetry"}`)

// TraceSpans returns the spans of trace i.
func (f Fixture) TraceSpans(i int) []store.Span {
	start := f.TraceStart(i)
	session, tenant := f.Session(i), f.Tenant(i)
	user := fmt.Sprintf("user-%d", i%997)
	out := make([]store.Span, 0, f.SpansPerTrace)
	root := NewSpan(i, i*f.SpansPerTrace, "", start)
	root.Name, root.Type = []string{"support_agent", "triage", "refund_flow"}[i%3], "trace"
	root.End = start.Add(time.Duration(2000+i%3000) * time.Millisecond)
	root.Input, root.Output = `{"question":"where is my order?"}`, `{"answer":"on its way"}`
	out = append(out, root)
	for j := 1; j < f.SpansPerTrace; j++ {
		st := start.Add(time.Duration(j) * 100 * time.Millisecond)
		var sp store.Span
		if j%3 == 0 {
			sp = NewSpan(i, i*f.SpansPerTrace+j, root.SpanID, st)
			sp.Type, sp.Name, sp.Operation = "tool", "issue_refund", "execute_tool"
		} else {
			sp = llmSpan(i, i*f.SpansPerTrace+j, root.SpanID, st, int64(1000+(i+j)%500), int64(100+(i*j)%300), int64(1_000_000+(i+j)%7_000_000))
			sp.Attributes = fixtureAttrs
			sp.PromptSlug = []string{"welcome", "refund", ""}[j%3]
		}
		out = append(out, sp)
	}
	for k := range out {
		sp := &out[k]
		sp.SessionID, sp.TenantID, sp.UserID = session, tenant, user
		sp.Environment = []string{"production", "staging"}[i%2]
		sp.ServiceName = "bench"
		sp.Resource = fixtureResource
		if i%4 == 0 {
			sp.Tags = []string{"beta"}
		}
	}
	return out
}

// Write writes the fixture to st in batches of about batch spans.
func (f Fixture) Write(ctx context.Context, st store.Store, batch int) error {
	buf := make([]store.Span, 0, batch+f.SpansPerTrace)
	for i := 0; i < f.Traces; i++ {
		buf = append(buf, f.TraceSpans(i)...)
		if len(buf) >= batch || i == f.Traces-1 {
			if _, err := st.WriteSpans(ctx, buf); err != nil {
				return fmt.Errorf("fixture trace %d: %w", i, err)
			}
			buf = buf[:0]
		}
	}
	return nil
}

// CachedFile returns the path of a database file holding fixture f, made
// once per machine under the temp directory: build is called with a fresh
// path to fill when the cached file does not exist yet. name must change
// whenever the fixture or the schema does.
func CachedFile(name string, build func(path string) error) (string, error) {
	dir := filepath.Join(os.TempDir(), "agenttrace-bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	if err := build(tmp); err != nil {
		removeDB(tmp)
		return "", err
	}
	// A WAL database must be checkpointed and closed by build; only the
	// main file is moved.
	if err := os.Rename(tmp, path); err != nil {
		removeDB(tmp)
		return "", err
	}
	removeDB(tmp)
	return path, nil
}

func removeDB(path string) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}
