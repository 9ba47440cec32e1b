package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/usage"
)

func TestMain(m *testing.M) {
	if os.Getenv(pdataReceiverEnv) != "" {
		runPdataReceiver() // BenchmarkStockOTel's receiver process
		return
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if err := pg.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
		os.Exit(code)
	}))
}

// syncBuffer is a goroutine-safe bytes.Buffer.
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

func testEnv(vars map[string]string) (env, *syncBuffer, *syncBuffer) {
	out, errb := &syncBuffer{}, &syncBuffer{}
	return env{stdout: out, stderr: errb, getenv: func(k string) string { return vars[k] }}, out, errb
}

func TestRunUsageErrors(t *testing.T) {
	// A price file with a negative price.
	badPrices := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(badPrices, []byte(`{"models":[{"model":"m","input":-1,"output":1}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		vars map[string]string
		code int
		msg  string
	}{
		{nil, nil, 2, "usage: agenttrace"},
		{[]string{"help"}, nil, 0, "serve"},
		{[]string{"nope"}, nil, 2, `unknown command "nope"`},
		{[]string{"serve", "--bogus"}, nil, 2, "flag provided but not defined"},
		{[]string{"serve", "extra"}, nil, 2, "unexpected arguments"},
		{[]string{"serve", "--api-key", "=acme"}, nil, 2, "empty API key"},
		{[]string{"serve", "--addr", "nocolon"}, nil, 2, "--addr"},
		{[]string{"serve", "--log-level", "loud"}, nil, 2, "--log-level"},
		{[]string{"serve", "--retention", "30m"}, nil, 2, "at least 1h"},
		{[]string{"serve", "--retention", "forever"}, nil, 2, `--retention "forever"`},
		{[]string{"serve"}, map[string]string{"AGENTTRACE_RETENTION": "-3d"}, 2, "--retention"},
		{[]string{"serve", "-h"}, nil, 0, "AGENTTRACE_RETENTION"},
		{[]string{"serve"}, map[string]string{"AGENTTRACE_MAX_BODY_BYTES": "-1"}, 2, "AGENTTRACE_MAX_BODY_BYTES"},
		{[]string{"serve"}, map[string]string{"AGENTTRACE_API_KEYS": "k,=x"}, 2, "AGENTTRACE_API_KEYS"},
		{[]string{"serve", "--addr", "0.0.0.0:0", "--db", ":memory:"}, nil, 1, "refusing to listen on 0.0.0.0:0 with no API key"},
		{[]string{"serve", "--addr", ":0", "--db", ":memory:"}, nil, 1, "refusing"},
		{[]string{"serve", "-h"}, nil, 0, "-api-key"},
		{[]string{"serve", "-h"}, nil, 0, "AGENTTRACE_PRICES"},
		{[]string{"serve", "-h"}, nil, 0, "-query-timeout"},
		{[]string{"serve", "-h"}, nil, 0, "AGENTTRACE_MAX_QUERY_WINDOW"},
		{[]string{"serve", "-h"}, nil, 0, "-ingest-memory"},
		{[]string{"serve"}, map[string]string{"AGENTTRACE_QUERY_TIMEOUT": "soon"}, 2, "AGENTTRACE_QUERY_TIMEOUT"},
		{[]string{"serve"}, map[string]string{"AGENTTRACE_MAX_CONNS": "0"}, 2, "AGENTTRACE_MAX_CONNS"},
		{[]string{"serve", "--addr", "127.0.0.1:0", "--db", ":memory:", "--prices", "/nonexistent/prices.json"}, nil, 1,
			"--prices: llm: invalid price table: open /nonexistent/prices.json"},
		{[]string{"serve", "--addr", "127.0.0.1:0", "--db", ":memory:"}, map[string]string{"AGENTTRACE_PRICES": badPrices}, 1,
			`--prices: ` + badPrices + `: llm: invalid price table: models[0]: model "m": input price -1`},
	} {
		e, _, errb := testEnv(tc.vars)
		if code := run(context.Background(), tc.args, e); code != tc.code || !strings.Contains(errb.String(), tc.msg) {
			t.Errorf("run(%q) = %d, stderr %q; want %d containing %q", tc.args, code, errb.String(), tc.code, tc.msg)
		}
	}
}

// TestServePrices runs "serve" with AGENTTRACE_PRICES and checks that a
// foreign span of a model only that file knows is priced from it, and one
// of an embedded model from the embedded table.
func TestServePrices(t *testing.T) {
	dir := t.TempDir()
	prices := filepath.Join(dir, "prices.json")
	if err := os.WriteFile(prices, []byte(`{"version":"acme-1","models":[
		{"provider":"acme","model":"acme-llm-7b","input":2.0,"output":4.0}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	e, out, errb := testEnv(map[string]string{
		"AGENTTRACE_ADDR": "127.0.0.1:0", "AGENTTRACE_DB": filepath.Join(dir, "x.db"), "AGENTTRACE_PRICES": prices,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, e) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, errb.String())
		}
	}()
	addr := waitAddr(t, func() string { return out.String() }, done)
	if !strings.Contains(errb.String(), "price_table=2026-11-25+acme-1") {
		t.Errorf("the log does not name the merged table: %s", errb.String())
	}

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(addr+"/v1/traces"),
		otlptracehttp.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	start := time.Date(2025, 11, 16, 10, 0, 0, 0, time.UTC)
	for _, model := range []string{"acme-llm-7b", "gpt-4.1-mini"} {
		_, s := tp.Tracer("other-sdk").Start(context.Background(), "chat "+model, trace.WithTimestamp(start),
			trace.WithAttributes(attr.OperationName.String(attr.OpChat), attr.RequestModel.String(model),
				attr.InputTokens.Int(50), attr.OutputTokens.Int(5), attr.SessionID.String("s-p")))
		s.End(trace.WithTimestamp(start.Add(time.Second)))
	}
	if err := exp.ExportSpans(context.Background(), rec.Ended()); err != nil {
		t.Fatal(err)
	}
	var su usage.SessionUsage
	c := &http.Client{Transport: tr}
	if code := getJSON(t, c, addr+"/v1/usage/sessions/s-p?start_time=2025-11-16T10:00:00Z&end_time=2025-11-16T11:00:00Z", &su); code != 200 {
		t.Fatalf("session usage: %d", code)
	}
	// acme-llm-7b: (50*2 + 5*4) / 1e6; gpt-4.1-mini: (50*0.40 + 5*1.60) / 1e6.
	if want := int64(120_000 + 28_000); su.TotalCostNanoUSD != want || su.RequestCount != 2 {
		t.Fatalf("session usage = %+v, want cost %d nano-USD", su, want)
	}
}

// TestServeInProcess runs "serve" with settings from the environment and
// stops it by cancelling its context, as SIGTERM does.
func TestServeInProcess(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	e, out, errb := testEnv(map[string]string{
		"AGENTTRACE_ADDR": "127.0.0.1:0", "AGENTTRACE_DB": db, "AGENTTRACE_ORG": "org-9",
		"AGENTTRACE_API_KEYS": "k1, k2=acme", "AGENTTRACE_LOG_LEVEL": "debug",
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, e) }()
	addr := waitAddr(t, func() string { return out.String() }, done)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	req, _ := http.NewRequest(http.MethodGet, addr+"/v1/usage/tenants/acme?start_time=2025-01-01T00:00:00Z&end_time=2025-01-02T00:00:00Z", nil)
	req.Header.Set("x-api-key", "k2")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tu usage.TenantUsage
	json.NewDecoder(resp.Body).Decode(&tu)
	resp.Body.Close()
	if resp.StatusCode != 200 || tu.OrganisationID != "org-9" {
		t.Fatalf("tenant usage = %d %+v", resp.StatusCode, tu)
	}
	req.Header.Del("x-api-key")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("without a key = %d, want 401 (AGENTTRACE_API_KEYS ignored?)", resp.StatusCode)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, errb.String())
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("AGENTTRACE_DB not used: %v", err)
	}
	if !strings.Contains(errb.String(), "gogc=400") {
		t.Fatalf("serve did not log its GOGC default: %s", errb.String())
	}
	if !strings.Contains(errb.String(), "msg=stopped") {
		t.Fatalf("no clean stop in the log: %s", errb.String())
	}
}

// waitAddr waits for the "listening on" line and returns the base URL.
func waitAddr(t *testing.T, output func() string, done <-chan int) string {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if _, rest, ok := strings.Cut(output(), "listening on "); ok {
			if line, _, ok := strings.Cut(rest, "\n"); ok {
				return strings.TrimSpace(line)
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before listening", code)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("serve did not print its address")
	return ""
}

// binary builds the agenttrace command into a temp dir.
func binary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "agenttrace")
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("building the agenttrace binary needs the go command on PATH: %v", err)
	}
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type proc struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	waited chan error
}

func startBinary(t testing.TB, bin, db string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: &syncBuffer{}, waited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.waited
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("serve: %v; stderr: %s", err, p.stderr.String())
	}
	_, p.url, _ = strings.Cut(strings.TrimSpace(line), "listening on ")
	go io.Copy(io.Discard, stdout)
	return p
}

const spansPerTrace = 20

// ingest exports traces of spansPerTrace spans with the real SDK exporter
// until an export fails (the server died) or max traces are sent, and
// records every trace that was answered 200.
func ingest(t *testing.T, url string, worker, max int, mu *sync.Mutex, acked map[string]bool, progress chan<- struct{}) {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	exp, err := otlptracehttp.New(context.Background(),
		otlptracehttp.WithEndpointURL(url+"/v1/traces"),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}),
		otlptracehttp.WithHTTPClient(&http.Client{Transport: tr, Timeout: 20 * time.Second}))
	if err != nil {
		t.Error(err)
		return
	}
	defer exp.Shutdown(context.Background())
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	tracer := tp.Tracer("durability")
	base := time.Date(2025, 11, 16, 0, 0, 0, 0, time.UTC)
	for i := 0; i < max; i++ {
		start := base.Add(time.Duration(worker*max+i) * time.Second)
		a := []attribute.KeyValue{attr.TenantID.String("dur"), attr.SessionID.String(fmt.Sprintf("w%d", worker))}
		ctx, root := tracer.Start(context.Background(), "root", trace.WithTimestamp(start), trace.WithAttributes(a...))
		for j := 1; j < spansPerTrace; j++ {
			_, s := tracer.Start(ctx, "chat", trace.WithTimestamp(start), trace.WithAttributes(append(a,
				attr.OperationName.String(attr.OpChat), attr.InputTokens.Int(10), attr.OutputTokens.Int(1))...))
			s.End(trace.WithTimestamp(start.Add(time.Millisecond)))
		}
		root.End(trace.WithTimestamp(start.Add(time.Second)))
		spans := rec.Ended()
		rec.Reset()
		if err := exp.ExportSpans(context.Background(), spans); err != nil {
			return // the server is gone
		}
		mu.Lock()
		acked[root.SpanContext().TraceID().String()] = true
		mu.Unlock()
		select {
		case progress <- struct{}{}:
		default:
		}
	}
}

func getJSON(t *testing.T, c *http.Client, url string, out any) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// TestDurabilityKillDuringIngest builds the binary, kills "serve" with
// SIGKILL while four SDK exporters ingest, restarts it on the same file,
// and checks that every span answered 200 is there and that rollups agree
// with the spans (no half-applied transaction).
func TestDurabilityKillDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := binary(t)
	db := filepath.Join(t.TempDir(), "agenttrace.db")
	acked := map[string]bool{}
	var mu sync.Mutex
	const workers, maxPerWorker = 4, 400
	for round := 0; round < 3; round++ {
		p := startBinary(t, bin, db)
		progress := make(chan struct{}, 1)
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ingest(t, p.url, round*workers+w, maxPerWorker, &mu, acked, progress)
			}()
		}
		// Kill after some traces were acknowledged, with exports in flight.
		for n := 0; n < 15; n++ {
			<-progress
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.waited
		p.waited <- nil // for the cleanup
		wg.Wait()
	}
	if len(acked) < 45 {
		t.Fatalf("only %d traces acknowledged", len(acked))
	}

	p := startBinary(t, bin, db)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for id := range acked {
		var sum usage.TraceSummary
		if code := getJSON(t, c, p.url+"/v1/traces/"+id, &sum); code != 200 || sum.SpanCount != spansPerTrace {
			t.Fatalf("acknowledged trace %s after SIGKILL and restart: %d, span_count %d", id, code, sum.SpanCount)
		}
		var spans usage.SpansPage
		if code := getJSON(t, c, p.url+"/v1/traces/"+id+"/spans?limit=100", &spans); code != 200 || len(spans.Spans) != spansPerTrace {
			t.Fatalf("acknowledged trace %s has %d spans stored", id, len(spans.Spans))
		}
	}
	// Every stored trace (acknowledged or not) is whole, and the tenant
	// rollup counts exactly the stored LLM spans.
	var page usage.TracesPage
	win := "start_time=2025-11-16T00:00:00Z&end_time=2025-11-17T00:00:00Z"
	if code := getJSON(t, c, p.url+"/v1/traces?"+win+"&limit=1000&include_total=true", &page); code != 200 {
		t.Fatal(code)
	}
	var stored int64
	for _, tr := range page.Traces {
		if tr.SpanCount != spansPerTrace {
			t.Fatalf("trace %s is partial: %d spans", tr.ID, tr.SpanCount)
		}
		stored += tr.SpanCount
	}
	var tu usage.TenantUsage
	if code := getJSON(t, c, p.url+"/v1/usage/tenants/dur?"+win, &tu); code != 200 {
		t.Fatal(code)
	}
	llm := stored / spansPerTrace * (spansPerTrace - 1)
	if tu.RequestCount != llm || tu.InputTokens != 10*llm || *page.TotalCount != int64(len(page.Traces)) {
		t.Fatalf("rollups disagree with spans: %d requests, %d input tokens for %d stored LLM spans", tu.RequestCount, tu.InputTokens, llm)
	}
	// A clean stop on SIGTERM.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p.waited; err != nil {
		t.Fatalf("serve after SIGTERM: %v; stderr: %s", err, p.stderr.String())
	}
	p.waited <- nil
	if !strings.Contains(p.stderr.String(), "msg=stopped") {
		t.Fatalf("no clean stop: %s", p.stderr.String())
	}
}
