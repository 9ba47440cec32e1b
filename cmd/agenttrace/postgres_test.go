package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/pgtest"
	"github.com/agenttrace/agenttrace/internal/sdkload"
	"github.com/agenttrace/agenttrace/usage"
)

// pg is the PostgreSQL server shared by this package's tests that need
// one (started on first use, stopped by TestMain). Tests that stop their
// server start one of their own.
var pg = pgtest.NewLazy()

// serveInProcess runs "serve" on db in this process until the test ends
// and returns its base URL.
func serveInProcess(t *testing.T, db string, args ...string) string {
	t.Helper()
	url, stop := serveStoppable(t, db, args...)
	t.Cleanup(stop)
	return url
}

// serveStoppable runs "serve" on db in this process and returns its base
// URL and a function that stops it (and fails t if it did not exit 0).
func serveStoppable(t *testing.T, db string, args ...string) (string, func()) {
	t.Helper()
	e, out, errb := testEnv(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--log-level", "error"}, args...), e)
	}()
	url := waitAddr(t, func() string { return out.String() }, done)
	var once sync.Once
	return url, func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("serve exited %d: %s", code, errb.String())
			}
		})
	}
}

// status returns the status of GET url.
func status(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// oneTrace returns the ended spans of one trace of n LLM spans (and a
// root), tenant acme, session sess.
func oneTrace(n int, sess string, start time.Time) []sdktrace.ReadOnlySpan {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	tracer := tp.Tracer("pgtest")
	a := []attribute.KeyValue{attr.TenantID.String("acme"), attr.SessionID.String(sess)}
	ctx, root := tracer.Start(context.Background(), "root", trace.WithTimestamp(start), trace.WithAttributes(a...))
	for i := 0; i < n; i++ {
		_, s := tracer.Start(ctx, "chat", trace.WithTimestamp(start), trace.WithAttributes(append(a,
			attr.OperationName.String(attr.OpChat), attr.InputTokens.Int(10), attr.OutputTokens.Int(1))...))
		s.End(trace.WithTimestamp(start.Add(time.Millisecond)))
	}
	root.End(trace.WithTimestamp(start.Add(time.Second)))
	return rec.Ended()
}

// export sends spans to a server with the SDK's OTLP exporter, without
// retries, and returns its error.
func export(url string, spans []sdktrace.ReadOnlySpan) error {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(url+"/v1/traces"),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}),
		otlptracehttp.WithHTTPClient(&http.Client{Transport: tr, Timeout: 20 * time.Second}))
	if err != nil {
		return err
	}
	defer exp.Shutdown(context.Background())
	return exp.ExportSpans(context.Background(), spans)
}

func tenantUsageOf(t *testing.T, c *http.Client, url string, start, end time.Time) usage.TenantUsage {
	t.Helper()
	var tu usage.TenantUsage
	q := fmt.Sprintf("%s/v1/usage/tenants/acme?start_time=%s&end_time=%s", url, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	if code := getJSON(t, c, q, &tu); code != 200 {
		t.Fatalf("tenant usage: %d", code)
	}
	return tu
}

// dbCounts returns the spans stored and the spans the tenant rollups
// count.
func dbCounts(t *testing.T, url string) (spans, rolled int64) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM spans), (SELECT coalesce(sum(spans), 0) FROM usage_tenant_hour)`).Scan(&spans, &rolled); err != nil {
		t.Fatal(err)
	}
	return spans, rolled
}

func TestServePostgresBadDB(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String() // nothing listens there once closed
	ln.Close()
	for _, tc := range []struct{ db, want string }{
		{"postgres://agent:hunter2@127.0.0.1:notaport/db", "postgres://agent:xxxxx@127.0.0.1:notaport/db"},
		{"postgres://agent:hunter2@" + closed + "/db?connect_timeout=3", "cannot reach postgres://agent:xxxxx@" + closed + "/db"},
		{"mysql://agent:hunter2@127.0.0.1/db", "not a postgres:// URL"},
	} {
		e, _, errb := testEnv(nil)
		code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--db", tc.db}, e)
		if code == 0 || !strings.Contains(errb.String(), tc.want) || strings.Contains(errb.String(), "hunter2") ||
			strings.Contains(errb.String(), "panic") {
			t.Errorf("serve --db %s: exit %d, stderr %q; want an error naming %q without the password", tc.db, code, errb.String(), tc.want)
		}
	}
}

// TestServePostgresDown: /readyz fails and ingest answers 503 while the
// database is down; both recover by themselves once it is back.
func TestServePostgresDown(t *testing.T) {
	srv, err := pgtest.Start()
	if err != nil {
		pg.Get(t) // skips or fails as for a missing server
		t.Fatal(err)
	}
	defer srv.Close()
	db := srv.NewDatabase(t)
	url := serveInProcess(t, db)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	if code := status(t, c, url+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d before the outage", code)
	}
	if err := export(url, oneTrace(3, "s1", start)); err != nil {
		t.Fatalf("export: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if code := status(t, c, url+"/readyz"); code != 503 {
		t.Fatalf("/readyz = %d while the database is down, want 503", code)
	}
	if code := status(t, c, url+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d while the database is down, want 200 (liveness)", code)
	}
	if err := export(url, oneTrace(3, "s2", start)); err == nil || !strings.Contains(err.Error(), `"code":"unavailable"`) {
		t.Fatalf("export while the database is down = %v, want a 503", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	ok := false
	for i := 0; i < 100 && !ok; i++ {
		ok = status(t, c, url+"/readyz") == 200
		if !ok {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !ok {
		t.Fatal("/readyz did not recover after the database came back")
	}
	if err := export(url, oneTrace(3, "s3", start)); err != nil {
		t.Fatalf("export after the outage: %v", err)
	}
	tu := tenantUsageOf(t, c, url, start.Add(-time.Hour), start.Add(time.Hour))
	if tu.RequestCount != 6 || tu.TokenCount != 66 || tu.SessionCount != 2 {
		t.Fatalf("usage after the outage = %+v, want the 2 traces answered 200", tu)
	}
}

// TestReplicas runs two serve processes on one database: SDK traffic is
// split between them, the same batch is sent to both at once, and usage
// read from either is exact.
func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	db := pg.Get(t).NewDatabase(t)
	bin := binary(t)
	reps := []*proc{startBinary(t, bin, db), startBinary(t, bin, db)}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	from := time.Now().Add(-time.Hour)
	ctx := context.Background()

	// SDK traffic split between the replicas.
	const perReplica = 3000
	var wg sync.WaitGroup
	offered := make([]int64, len(reps))
	for i, p := range reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client, err := sdkload.NewClient(ctx, p.url)
			if err != nil {
				t.Error(err)
				return
			}
			offered[i] = sdkload.Offer(ctx, client, perReplica, 4, 0)
			if err := client.Shutdown(ctx); err != nil {
				t.Errorf("replica %d: SDK shutdown: %v", i, err)
			}
			if st := client.Stats(); st.Exported != uint64(offered[i]) || st.Dropped.Total() != 0 {
				t.Errorf("replica %d: exported %d of %d, dropped %+v", i, st.Exported, offered[i], st.Dropped)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// The same batch to both replicas at once: both answer 200, it is
	// stored and counted once.
	same := oneTrace(50, "same", time.Now().Add(-time.Minute))
	errs := make(chan error, len(reps))
	for _, p := range reps {
		go func() { errs <- export(p.url, same) }()
	}
	for range reps {
		if err := <-errs; err != nil {
			t.Fatalf("the same batch to both replicas: %v", err)
		}
	}
	total := offered[0] + offered[1]
	traces := 2 * int64(perReplica/sdkload.SpansPerTrace)
	wantRequests := total - traces + 50
	to := time.Now().Add(time.Hour)
	var first usage.TenantUsage
	for i, p := range reps {
		tu := tenantUsageOf(t, c, p.url, from, to)
		if tu.RequestCount != wantRequests || tu.InputTokens != 1200*(total-traces)+10*50 {
			t.Fatalf("replica %d: usage %+v, want %d requests", i, tu, wantRequests)
		}
		if i == 0 {
			first = tu
		} else if tu.TotalCostNanoUSD != first.TotalCostNanoUSD || tu.SessionCount != first.SessionCount || tu.TokenCount != first.TokenCount {
			t.Fatalf("replicas disagree: %+v and %+v", first, tu)
		}
	}
	if spans, rolled := dbCounts(t, db); spans != total+51 || rolled != spans {
		t.Fatalf("database: %d spans stored, %d in rollups; want %d", spans, rolled, total+51)
	}
}

// TestPostgresOutageDuringIngest stops PostgreSQL while the SDK ingests,
// then starts it again: every span arrives (the exporter retries the 503s),
// nothing is lost, nothing is counted twice.
func TestPostgresOutageDuringIngest(t *testing.T) {
	srv, err := pgtest.Start()
	if err != nil {
		pg.Get(t)
		t.Fatal(err)
	}
	defer srv.Close()
	db := srv.NewDatabase(t)
	url := serveInProcess(t, db)
	ctx := context.Background()
	client, err := sdkload.NewClient(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now().Add(-time.Hour)
	done := make(chan int64, 1)
	go func() { done <- sdkload.Offer(ctx, client, 8000, 2, 2000) }()
	time.Sleep(1500 * time.Millisecond)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	offered := <-done
	if err := client.Shutdown(ctx); err != nil {
		t.Fatalf("SDK shutdown: %v", err)
	}
	if st := client.Stats(); st.Exported != uint64(offered) || st.Dropped.Total() != 0 {
		t.Fatalf("exported %d of %d, dropped %+v", st.Exported, offered, st.Dropped)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	tu := tenantUsageOf(t, c, url, from, time.Now().Add(time.Hour))
	traces := offered / sdkload.SpansPerTrace
	if tu.RequestCount != offered-traces || tu.InputTokens != 1200*(offered-traces) {
		t.Fatalf("usage after the outage = %+v, want %d requests", tu, offered-traces)
	}
	if spans, rolled := dbCounts(t, db); spans != offered || rolled != offered {
		t.Fatalf("database: %d spans stored, %d in rollups; want %d", spans, rolled, offered)
	}
}

// TestServeRetention: serve --retention expires what is older than the
// window on both stores and keeps the rest.
func TestServeRetention(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "ret.db")
			if kind == "postgres" {
				db = pg.Get(t).NewDatabase(t)
			}
			old := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
			recent := time.Now().Add(-time.Minute).Truncate(time.Second)
			url, stop := serveStoppable(t, db)
			if err := export(url, oneTrace(4, "old", old)); err != nil {
				t.Fatal(err)
			}
			if err := export(url, oneTrace(3, "new", recent)); err != nil {
				t.Fatal(err)
			}
			stop()
			// Restarted with a retention of two days: its first pass, at
			// start, expires the old trace.
			url = serveInProcess(t, db, "--retention", "2d")
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
			var got usage.TenantUsage
			for i := 0; i < 100; i++ {
				// A pass expires spans, then rollups, in separate
				// transactions: wait for the whole of it.
				if got = tenantUsageOf(t, c, url, old.Add(-time.Hour), recent.Add(time.Hour)); got.RequestCount == 3 && got.SessionCount == 1 {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if got.RequestCount != 3 || got.TokenCount != 33 || got.SessionCount != 1 {
				t.Fatalf("after expiry: %+v, want only the recent trace", got)
			}
		})
	}
}
