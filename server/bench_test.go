package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/batch"
	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/sdkload"
	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/sqlite"
	"github.com/agenttrace/agenttrace/store/storetest"
	"github.com/agenttrace/agenttrace/usage"
)

// discardStore is the benchmarks' baseline: a store that keeps nothing,
// so the receiver's own cost (HTTP, gzip, OTLP decoding, attribute
// extraction) is measured alone. It is never used by tests.
type discardStore struct{ store.Store }

func (discardStore) WriteSpans(_ context.Context, spans []store.Span) (store.WriteResult, error) {
	return store.WriteResult{Inserted: len(spans)}, nil
}

// benchServer serves st on 127.0.0.1 for the benchmark's lifetime.
func benchServer(b *testing.B, st store.Store, opts ...server.Option) string {
	srv, err := server.New(st, append(opts, server.WithLogger(slog.New(slog.DiscardHandler)))...)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	b.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

// otlpBatch is one OTLP/HTTP request body (protobuf, gzip) of n new spans
// shaped like the agenttrace SDK's: traces of a root (agenttrace.span.type
// trace) and nine LLM calls with usage and a computed cost, trace-level
// fields on every span, the SDK's resource. As the SDK's batches do, a
// request holds spans of many traces at once (20 interleaved), children
// before their root, so most traces arrive in two requests.
func otlpBatch(seq, n int) []byte {
	const inflight = 20 // traces being recorded at once
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	ra.PutStr("service.name", "bench")
	ra.PutStr("telemetry.sdk.language", "go")
	ra.PutStr("telemetry.sdk.name", "opentelemetry")
	ra.PutStr("telemetry.sdk.version", "1.47.0")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("github.com/agenttrace/agenttrace")
	for i := 0; i < n; i++ {
		p := seq*n + i
		q := p / inflight
		t, k := q/10*inflight+p%inflight, q%10 // trace t's span k: 0-8 children, 9 its root
		t0 := storetest.T0.Add(time.Duration(t) * 100 * time.Millisecond)
		sp := ss.Spans().AppendEmpty()
		var tid pcommon.TraceID
		copy(tid[:], fmt.Sprintf("%016x", t))
		sp.SetTraceID(tid)
		root := pcommon.SpanID{0xff, byte(t), byte(t >> 8), byte(t >> 16), byte(t >> 24), byte(t >> 32), 1, 1}
		a := sp.Attributes()
		a.PutStr(string(attr.SessionID), fmt.Sprintf("s-%d", t/5))
		a.PutStr(string(attr.UserID), "u-1")
		a.PutStr(string(attr.TenantID), fmt.Sprintf("tenant-%d", t/5%5))
		if k == 9 {
			sp.SetSpanID(root)
			sp.SetName("agent")
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(10 * time.Millisecond)))
			a.PutStr(string(attr.SpanType), attr.TypeTrace)
			a.PutStr(string(attr.OperationName), attr.OpInvokeAgent)
			continue
		}
		sp.SetSpanID(pcommon.SpanID{byte(k), byte(t), byte(t >> 8), byte(t >> 16), byte(t >> 24), byte(t >> 32), 1, 2})
		sp.SetParentSpanID(root)
		sp.SetName("chat gpt-4.1-mini")
		sp.SetKind(ptrace.SpanKindClient)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(k) * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(k+1) * time.Millisecond)))
		a.PutStr(string(attr.SpanType), attr.TypeLLM)
		a.PutStr(string(attr.OperationName), attr.OpChat)
		a.PutStr(string(attr.RequestModel), "gpt-4.1-mini")
		a.PutStr(string(attr.ProviderName), "openai")
		a.PutInt(string(attr.InputTokens), 1200)
		a.PutInt(string(attr.OutputTokens), 300)
		a.PutInt(string(attr.TotalTokens), 1500)
		a.PutDouble(string(attr.CostUSD), 0.00096)
		a.PutStr(string(attr.CostSource), attr.CostSourceComputed)
		a.PutStr(string(attr.PriceTableVersion), "2026-11-25")
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(err)
	}
	return gz(body)
}

// BenchmarkIngest posts OTLP/HTTP requests of 512 new spans (otlpBatch) to
// the real server; spans/s is the ingest rate. store=discard is the
// receiver without storage, the ceiling the SQLite store is compared with.
// cpu-µs/span is the process's CPU time per span, the clients' requests
// included (their bodies are made before the timer starts).
// store=sqlite+log is the SQLite store behind the ingest log
// (WithIngestLog, as agenttrace serve runs it): requests are answered once
// logged, and the timer runs until a query made after the last answer
// returns, so the store's writes behind the log are inside it.
func BenchmarkIngest(b *testing.B) {
	const perReq = 512
	for _, backend := range []string{"sqlite", "sqlite+log", "discard"} {
		for _, clients := range []int{1, 4} {
			b.Run(fmt.Sprintf("store=%s/clients=%d", backend, clients), func(b *testing.B) {
				var st store.Store = discardStore{}
				var opts []server.Option
				if backend != "discard" {
					s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "ingest.db"))
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { s.Close() })
					st = s
				}
				if backend == "sqlite+log" {
					opts = append(opts, server.WithIngestLog(filepath.Join(b.TempDir(), "ingest.log"), false))
				}
				base := benchServer(b, st, opts...)
				// Every request holds new spans: no duplicate shortcut.
				bodies := make([][]byte, b.N)
				for i := range bodies {
					bodies[i] = otlpBatch(i, perReq)
				}
				tr := &http.Transport{MaxIdleConnsPerHost: clients}
				b.Cleanup(tr.CloseIdleConnections)
				c := &http.Client{Transport: tr}
				var seq atomic.Int64
				var sent atomic.Int64
				b.ResetTimer()
				cpu0 := sdkload.ProcessCPU()
				var wg sync.WaitGroup
				work := make(chan struct{})
				for w := 0; w < clients; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range work {
							body := bodies[int(seq.Add(1))-1]
							req, _ := http.NewRequest(http.MethodPost, base+"/v1/traces", bytes.NewReader(body))
							req.Header.Set("Content-Type", "application/x-protobuf")
							req.Header.Set("Content-Encoding", "gzip")
							resp, err := c.Do(req)
							if err != nil {
								b.Error(err)
								return
							}
							resp.Body.Close()
							if resp.StatusCode != 200 {
								b.Errorf("status %d", resp.StatusCode)
								return
							}
							sent.Add(perReq)
						}
					}()
				}
				for i := 0; i < b.N; i++ {
					work <- struct{}{}
				}
				close(work)
				wg.Wait()
				// A query waits for what was answered before it: with the
				// ingest log, the store's writes behind it are timed too.
				if backend != "discard" {
					if resp, err := c.Get(base + "/v1/traces/00000000000000000000000000000001"); err != nil {
						b.Fatal(err)
					} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
						b.Fatalf("query after ingest: %d", resp.StatusCode)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(sent.Load())/b.Elapsed().Seconds(), "spans/s")
				b.ReportMetric(float64((sdkload.ProcessCPU()-cpu0).Microseconds())/float64(sent.Load()), "cpu-µs/span")
			})
		}
	}
}

// BenchmarkSDKToServer is the whole pipeline of DESIGN section 6: spans
// recorded by an SDK, exported over OTLP/HTTP (protobuf, gzip) to the real
// server on 127.0.0.1, stored in SQLite, in traces of ten spans (a root and
// nine LLM calls with usage). spans/s counts the spans found in the store
// at the end over the time from the first span to the end of the final
// flush; lost is what was offered and is not in the store; cpu-µs/span is
// the process's CPU time (SDK, exporter, server and SQLite together) per
// span offered, which other load on a shared machine skews less than
// spans/s.
//
//   - sdk=agenttrace: the agenttrace SDK (trace.NewClient with WithEndpoint,
//     default settings: batch.Processor, non-blocking OnEnd, 8 exports in
//     flight) driven by four goroutines. rate=max offers spans as fast as
//     they can be made, so its spans/s is what the pipeline delivers flat
//     out and lost counts the spans the full queue turned away; rate=50000
//     offers 50,000 spans/s, the target, paced per trace. lost must equal
//     the client's own dropped count (checked).
//   - sdk=otel-bsp: the baseline, the OpenTelemetry SDK's BatchSpanProcessor
//     (blocking, so it loses nothing, one export at a time) and
//     otlptracehttp, from one goroutine.
//
// Run it with a fixed span count, e.g. -benchtime=200000x, so that the
// queue (16,384 spans) cannot hide a pipeline slower than the offer.
func BenchmarkSDKToServer(b *testing.B) {
	for _, rate := range []int{0, 50_000} {
		name := "sdk=agenttrace/rate=max"
		if rate > 0 {
			name = fmt.Sprintf("sdk=agenttrace/rate=%d", rate)
		}
		b.Run(name, func(b *testing.B) { benchAgenttraceSDK(b, 4, rate) })
	}
	b.Run("sdk=otel-bsp/rate=max", benchOTelSDK)
}

// sdkBenchStore opens the benchmark's store and serves it.
func sdkBenchStore(b *testing.B) (*sqlite.Store, string) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "sdk.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st, benchServer(b, st)
}

// storedSpans counts the spans of tenant acme in the store.
func storedSpans(b *testing.B, st store.Store) int64 {
	u, err := st.TenantUsage(context.Background(), store.UsageQuery{TenantID: "acme",
		Start: time.Now().Add(-24 * time.Hour), End: time.Now().Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	return u.Spans
}

func benchAgenttraceSDK(b *testing.B, goroutines, rate int) {
	st, base := sdkBenchStore(b)
	ctx := context.Background()
	client, err := sdkload.NewClient(ctx, base)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := sdkload.ProcessCPU()
	offered := sdkload.Offer(ctx, client, b.N, goroutines, rate)
	if err := client.Shutdown(ctx); err != nil {
		var ue *batch.UndeliveredError
		if !errors.As(err, &ue) { // undelivered spans are counted below
			b.Fatal(err)
		}
	}
	b.StopTimer()
	stored := storedSpans(b, st)
	stats := client.Stats()
	lost := offered - stored
	if offered != int64(b.N) || uint64(lost) != stats.Dropped.Total() || stats.Exported != uint64(stored) {
		b.Fatalf("offered %d, stored %d, client stats %+v: the accounting does not add up", offered, stored, stats)
	}
	b.ReportMetric(float64(stored)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64((sdkload.ProcessCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/span")
}

func benchOTelSDK(b *testing.B) {
	st, base := sdkBenchStore(b)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(base+"/v1/traces"),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression), otlptracehttp.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		b.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("bench"))),
		sdktrace.WithBatcher(exp, sdktrace.WithBlocking(), sdktrace.WithMaxExportBatchSize(512), sdktrace.WithMaxQueueSize(8192)))
	tracer := tp.Tracer("bench")
	attrs := []attribute.KeyValue{
		attr.SpanType.String(attr.TypeLLM), attr.OperationName.String(attr.OpChat),
		attr.RequestModel.String("gpt-4.1-mini"), attr.InputTokens.Int(1200), attr.OutputTokens.Int(300),
		attr.CostUSD.Float64(0.00123), attr.SessionID.String("s-1"), attr.TenantID.String("acme"), attr.UserID.String("u-1"),
	}
	ctx := context.Background()
	b.ResetTimer()
	cpu0 := sdkload.ProcessCPU()
	// Traces of ten spans: a root and nine LLM calls.
	var rctx context.Context
	var root trace.Span
	for i := 0; i < b.N; i++ {
		if i%10 == 0 {
			rctx, root = tracer.Start(ctx, "agent", trace.WithAttributes(attrs[6:]...))
			if i == b.N-1 {
				root.End()
			}
			continue
		}
		_, s := tracer.Start(rctx, "chat gpt-4.1-mini")
		s.SetAttributes(attrs...)
		s.End()
		if i%10 == 9 || i == b.N-1 {
			root.End()
		}
	}
	if err := tp.Shutdown(ctx); err != nil { // flushes every span
		b.Fatal(err)
	}
	b.StopTimer()
	stored := storedSpans(b, st)
	b.ReportMetric(float64(stored)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(int64(b.N)-stored), "lost")
	b.ReportMetric(float64((sdkload.ProcessCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/span")
}

var (
	millionOnce sync.Once
	millionPath string
	millionErr  error
)

// millionServer serves the cached 1,000,000-span fixture (built once per
// machine through the store's write path; benchmarks only).
func millionServer(b *testing.B) string {
	millionOnce.Do(func() {
		schema, err := schemaOf(filepath.Join(b.TempDir(), "schema.db"))
		if err != nil {
			millionErr = err
			return
		}
		sum := sha256.Sum256([]byte(fmt.Sprint(storetest.Million) + schema))
		millionPath, millionErr = storetest.CachedFile("server-million-"+hex.EncodeToString(sum[:6])+".db", func(path string) error {
			st, err := sqlite.Open(context.Background(), path)
			if err != nil {
				return err
			}
			if err := storetest.Million.Write(context.Background(), st, 10_000); err != nil {
				st.Close()
				return err
			}
			return st.Close()
		})
	})
	if millionErr != nil {
		b.Fatal(millionErr)
	}
	st, err := sqlite.Open(context.Background(), millionPath)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return benchServer(b, st)
}

// schemaOf returns the SQL schema the store creates, so that a cached
// fixture made by another version is not reused.
func schemaOf(path string) (string, error) {
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		return "", err
	}
	st.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var schema string
	err = db.QueryRow(`SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_master ORDER BY name)`).Scan(&schema)
	return schema, err
}

// BenchmarkQueryHTTP is the query API over HTTP with 1,000,000 spans
// stored: session usage, tenant usage and a page of traces, as a client
// sees them (request, JSON answer, decode).
func BenchmarkQueryHTTP(b *testing.B) {
	base := millionServer(b)
	f := storetest.Million
	day := f.Start.Add(10*24*time.Hour + 13*time.Minute)
	dayEnd := day.Add(24*time.Hour + 34*time.Minute)
	i := int((day.Sub(f.Start) + 5*time.Hour) / (f.Span / time.Duration(f.Traces)))
	win := window(day, dayEnd)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for _, tc := range []struct {
		name, path string
		out        func() any
	}{
		{"session_usage", "/v1/usage/sessions/" + f.Session(i) + "?" + win, func() any { return &usage.SessionUsage{} }},
		{"tenant_usage/day", "/v1/usage/tenants/" + f.Tenant(i) + "?" + win, func() any { return &usage.TenantUsage{} }},
		{"tenant_usage/month", "/v1/usage/tenants/" + f.Tenant(i) + "?" + window(f.Start, f.Start.Add(f.Span)), func() any { return &usage.TenantUsage{} }},
		{"trace_page/day", "/v1/traces?" + win, func() any { return &usage.TracesPage{} }},
		{"trace_page/month/tenant", "/v1/traces?tenant_id=" + url.QueryEscape(f.Tenant(i)) + "&" + window(f.Start, f.Start.Add(f.Span)), func() any { return &usage.TracesPage{} }},
		// /v1/spans filters: model (on about 60% of spans, and on none),
		// tags (25%), in a day's window and the whole 30-day fixture (the
		// widest window allowed is 31 days). An absent model over the
		// whole month scans every span of it and ends at the query
		// timeout (503 deadline_exceeded): see BENCHMARKS.md.
		{"spans/model/day", "/v1/spans?model=gpt-test-2025&" + win, func() any { return &usage.SpansPage{} }},
		{"spans/model/month", "/v1/spans?model=gpt-test-2025&" + window(f.Start, f.Start.Add(f.Span)), func() any { return &usage.SpansPage{} }},
		{"spans/model_absent/day", "/v1/spans?model=nope&" + win, func() any { return &usage.SpansPage{} }},
		{"spans/tags/day", "/v1/spans?tags=beta&" + win, func() any { return &usage.SpansPage{} }},
		{"spans/tags/month", "/v1/spans?tags=beta&" + window(f.Start, f.Start.Add(f.Span)), func() any { return &usage.SpansPage{} }},
		{"spans/tags_absent/month", "/v1/spans?tags=nope&" + window(f.Start, f.Start.Add(f.Span)), func() any { return &usage.SpansPage{} }},
		{"healthz", "/healthz", func() any { return &map[string]string{} }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				resp, err := c.Get(base + tc.path)
				if err != nil {
					b.Fatal(err)
				}
				var buf bytes.Buffer
				buf.ReadFrom(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("%s: %d %s", tc.path, resp.StatusCode, strings.TrimSpace(buf.String()))
				}
				if err := jsonUnmarshal(buf.Bytes(), tc.out()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
