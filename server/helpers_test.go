package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/wire"
	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/store/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testServer is our real server on a 127.0.0.1 listener over a temp
// SQLite file.
type testServer struct {
	url   string
	store *sqlite.Store
	srv   *server.Server
	stop  func() error // cancels Serve and waits for it
}

func startServer(t *testing.T, opts ...server.Option) *testServer {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "agenttrace.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, ln) }()
	ts := &testServer{url: "http://" + ln.Addr().String(), store: st, srv: srv}
	var stopped bool
	var stopErr error
	ts.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			stopErr = <-errc
		}
		return stopErr
	}
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
		st.Close()
	})
	return ts
}

// client is an HTTP client whose idle connections are closed at cleanup.
func client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// exporter is the real OTel SDK OTLP/HTTP exporter pointed at ts, with
// retries off so every ExportSpans is one request.
func exporter(t *testing.T, ts *testServer, headers map[string]string, opts ...otlptracehttp.Option) *otlptrace.Exporter {
	t.Helper()
	opts = append([]otlptracehttp.Option{
		otlptracehttp.WithEndpointURL(ts.url + "/v1/traces"),
		otlptracehttp.WithHeaders(headers),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression),
		otlptracehttp.WithHTTPClient(client(t)),
	}, opts...)
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exp.Shutdown(context.Background()) })
	return exp
}

// recorder makes spans with the real SDK and hands them out as
// ReadOnlySpans for explicit export.
type recorder struct {
	tp  *sdktrace.TracerProvider
	rec *tracetest.SpanRecorder
	tr  trace.Tracer
}

func newRecorder(t *testing.T, res ...attribute.KeyValue) *recorder {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(rec),
		sdktrace.WithResource(resource.NewSchemaless(append([]attribute.KeyValue{semconv.ServiceName("test-svc")}, res...)...)),
	)
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return &recorder{tp: tp, rec: rec, tr: tp.Tracer("agenttrace-test")}
}

// take returns the spans ended since the last take.
func (r *recorder) take() []sdktrace.ReadOnlySpan {
	spans := r.rec.Ended()
	r.rec.Reset()
	return spans
}

// span starts and ends a span at [start, end) under parent ctx.
func (r *recorder) span(ctx context.Context, name string, start, end time.Time, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	ctx, s := r.tr.Start(ctx, name, trace.WithTimestamp(start), trace.WithAttributes(attrs...))
	s.End(trace.WithTimestamp(end))
	return ctx, s
}

func export(t *testing.T, exp *otlptrace.Exporter, spans []sdktrace.ReadOnlySpan) {
	t.Helper()
	if err := exp.ExportSpans(context.Background(), spans); err != nil {
		t.Fatalf("ExportSpans(%d spans): %v", len(spans), err)
	}
}

// llmAttrs are the attributes of an LLM span with usage and cost.
func llmAttrs(in, out int64, cost float64, more ...attribute.KeyValue) []attribute.KeyValue {
	a := []attribute.KeyValue{
		attr.SpanType.String(attr.TypeLLM),
		attr.OperationName.String(attr.OpChat),
		attr.RequestModel.String("gpt-4.1-mini"),
		attr.ProviderName.String("openai"),
		attr.InputTokens.Int64(in),
		attr.OutputTokens.Int64(out),
	}
	if cost > 0 {
		a = append(a, attr.CostUSD.Float64(cost), attr.CostSource.String(attr.CostSourceComputed))
	}
	return append(a, more...)
}

// get GETs path (with query) with optional headers and decodes a 200 JSON
// answer into out; it returns the status and the error body otherwise.
func get(t *testing.T, c *http.Client, base, path string, headers map[string]string, out any) (int, wire.ErrorBody) {
	t.Helper()
	resp, body := rawGet(t, c, base, path, headers)
	var eb wire.ErrorBody
	if resp.StatusCode != http.StatusOK {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("GET %s: %d with Content-Type %q: %s", path, resp.StatusCode, ct, body)
		}
		if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
			t.Fatalf("GET %s: %d with a malformed error body %s", path, resp.StatusCode, body)
		}
		return resp.StatusCode, eb
	}
	if out != nil {
		dec := json.NewDecoder(bytesReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(out); err != nil {
			t.Fatalf("GET %s: decode %T: %v in %s", path, out, err, body)
		}
	}
	return resp.StatusCode, eb
}

// rawGet GETs path with headers and returns the response (its body read
// and closed) and the body.
func rawGet(t *testing.T, c *http.Client, base, path string, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func mustGet(t *testing.T, c *http.Client, base, path string, headers map[string]string, out any) {
	t.Helper()
	if code, eb := get(t, c, base, path, headers, out); code != http.StatusOK {
		t.Fatalf("GET %s = %d %+v", path, code, eb)
	}
}

type byteReader struct {
	b []byte
}

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func bytesReader(b []byte) io.Reader { return &byteReader{b} }

// window formats a query window.
func window(start, end time.Time) string {
	return fmt.Sprintf("start_time=%s&end_time=%s", url.QueryEscape(start.Format(time.RFC3339Nano)), url.QueryEscape(end.Format(time.RFC3339Nano)))
}

func withStart(t time.Time) trace.SpanStartOption { return trace.WithTimestamp(t) }

func withEnd(t time.Time) trace.SpanEndOption { return trace.WithTimestamp(t) }

func memStore(t *testing.T) *sqlite.Store {
	st, err := sqlite.Open(context.Background(), sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
