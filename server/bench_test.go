package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
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

	"github.com/agenttrace/agenttrace/internal/attr"
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
func benchServer(b *testing.B, st store.Store) string {
	srv, err := server.New(st, server.WithLogger(slog.New(slog.DiscardHandler)))
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

// otlpBatch is one OTLP/HTTP request body (protobuf, gzip) of n spans of
// new traces, shaped like the SDK's: LLM spans with usage and trace-level
// fields, 10 spans per trace.
func otlpBatch(seq, n int) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "bench")
	rs.Resource().Attributes().PutStr("telemetry.sdk.language", "go")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("github.com/agenttrace/agenttrace")
	t0 := storetest.T0.Add(time.Duration(seq) * time.Second)
	for i := 0; i < n; i++ {
		sp := ss.Spans().AppendEmpty()
		var tid pcommon.TraceID
		copy(tid[:], fmt.Sprintf("%08x%08x", seq, i/10))
		sp.SetTraceID(tid)
		sp.SetSpanID(pcommon.SpanID{byte(i), byte(i >> 8), 1, 2, 3, 4, 5, 6})
		if i%10 != 0 {
			sp.SetParentSpanID(pcommon.SpanID{byte(i / 10 * 10), byte(i / 10 * 10 >> 8), 1, 2, 3, 4, 5, 6})
		}
		sp.SetName("chat gpt-4.1-mini")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i+1) * time.Millisecond)))
		a := sp.Attributes()
		a.PutStr(string(attr.SpanType), attr.TypeLLM)
		a.PutStr(string(attr.OperationName), attr.OpChat)
		a.PutStr(string(attr.RequestModel), "gpt-4.1-mini")
		a.PutStr(string(attr.ProviderName), "openai")
		a.PutInt(string(attr.InputTokens), 1200)
		a.PutInt(string(attr.OutputTokens), 300)
		a.PutDouble(string(attr.CostUSD), 0.00123)
		a.PutStr(string(attr.CostSource), attr.CostSourceComputed)
		a.PutStr(string(attr.SessionID), fmt.Sprintf("s-%d-%d", seq, i/50))
		a.PutStr(string(attr.UserID), "u-1")
		a.PutStr(string(attr.TenantID), fmt.Sprintf("tenant-%d", i%5))
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(err)
	}
	return gz(body)
}

// BenchmarkIngest posts OTLP/HTTP requests of 512 new spans to the real
// server; spans/s is the ingest rate. store=discard is the receiver
// without storage, the ceiling the SQLite store is compared with.
func BenchmarkIngest(b *testing.B) {
	const perReq = 512
	for _, backend := range []string{"sqlite", "discard"} {
		for _, clients := range []int{1, 4} {
			b.Run(fmt.Sprintf("store=%s/clients=%d", backend, clients), func(b *testing.B) {
				var st store.Store = discardStore{}
				if backend == "sqlite" {
					s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "ingest.db"))
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { s.Close() })
					st = s
				}
				base := benchServer(b, st)
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
				b.ReportMetric(float64(sent.Load())/b.Elapsed().Seconds(), "spans/s")
			})
		}
	}
}

// BenchmarkSDKToServer is the whole pipeline of DESIGN section 6: spans
// made with the OTel SDK, batched by its BatchSpanProcessor (blocking, so
// none is dropped), exported by otlptracehttp (protobuf, gzip) to the
// server, stored in SQLite, in traces of ten spans. Every span is counted
// in the store at the end.
func BenchmarkSDKToServer(b *testing.B) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "sdk.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	base := benchServer(b, st)
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
	u, err := st.TenantUsage(ctx, store.UsageQuery{TenantID: "acme", Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	if u.Spans != int64(b.N) {
		b.Fatalf("stored %d of %d spans", u.Spans, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "spans/s")
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
