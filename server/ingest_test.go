package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/wire"
	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/usage"
)

func TestIngestSDKEncodings(t *testing.T) {
	ts := startServer(t)
	c := client(t)
	for _, tc := range []struct {
		name string
		opts []otlptracehttp.Option
	}{
		{"protobuf gzip", nil},
		{"protobuf", []otlptracehttp.Option{otlptracehttp.WithCompression(otlptracehttp.NoCompression)}},
		{"json gzip", []otlptracehttp.Option{otlptracehttp.WithEncoding(otlptracehttp.EncodingJSON)}},
		{"json", []otlptracehttp.Option{otlptracehttp.WithEncoding(otlptracehttp.EncodingJSON), otlptracehttp.WithCompression(otlptracehttp.NoCompression)}},
	} {
		rec := newRecorder(t)
		_, s := rec.span(context.Background(), tc.name, base, base.Add(time.Second),
			llmAttrs(12, 3, 0.25, attr.SessionID.String("enc"), attr.Tags.StringSlice([]string{"x", "y"}))...)
		// The exporter decodes our answer in the request's encoding and
		// fails on a malformed one.
		export(t, exporter(t, ts, nil, tc.opts...), rec.take())
		var tr usage.TraceSummary
		mustGet(t, c, ts.url, "/v1/traces/"+s.SpanContext().TraceID().String(), nil, &tr)
		if tr.Name != tc.name || tr.TotalTokens != 15 || tr.TotalCostNanoUSD != 250_000_000 || tr.SessionID != "enc" ||
			len(tr.Tags) != 2 || tr.RequestCount != 1 {
			t.Fatalf("%s: stored trace %+v", tc.name, tr)
		}
	}
}

// otlpBody is an OTLP request with n spans of one trace, plus rejected
// spans without ids.
func otlpBody(t *testing.T, n, withoutIDs int) (ptrace.Traces, []byte, []byte) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "raw")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := 0; i < n+withoutIDs; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetName("raw span")
		if i < n {
			sp.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
			sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i + 1)})
		}
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Second)))
	}
	req := ptraceotlp.NewExportRequestFromTraces(td)
	pb, err := req.MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	js, err := req.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return td, pb, js
}

const rawTraceID = "0102030405060708090a0b0c0d0e0f10"

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func post(t *testing.T, c *http.Client, url, contentType, encoding string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

func TestIngestHTTP(t *testing.T) {
	const limit = 64 << 10
	ts := startServer(t, server.WithMaxBodyBytes(limit))
	c := client(t)
	_, pb, js := otlpBody(t, 3, 2)

	// Protobuf in, protobuf out, with the rejected spans reported.
	resp, body := post(t, c, ts.url, "application/x-protobuf", "", pb)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-protobuf" {
		t.Fatalf("protobuf POST = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	er := ptraceotlp.NewExportResponse()
	if err := er.UnmarshalProto(body); err != nil {
		t.Fatalf("response is not an ExportTraceServiceResponse: %v", err)
	}
	if er.PartialSuccess().RejectedSpans() != 2 || er.PartialSuccess().ErrorMessage() == "" {
		t.Fatalf("partial success = %d %q, want 2 rejected", er.PartialSuccess().RejectedSpans(), er.PartialSuccess().ErrorMessage())
	}
	// JSON (with a charset parameter) in, JSON out; the same spans again
	// are duplicates and change nothing.
	resp, body = post(t, c, ts.url, "application/json; charset=utf-8", "gzip", gz(js))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("JSON POST = %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if err := ptraceotlp.NewExportResponse().UnmarshalJSON(body); err != nil {
		t.Fatalf("JSON response: %v in %s", err, body)
	}
	var tr usage.TraceSummary
	mustGet(t, c, ts.url, "/v1/traces/"+rawTraceID, nil, &tr)
	if tr.SpanCount != 3 {
		t.Fatalf("span_count = %d after a protobuf and a JSON copy of 3 spans, want 3", tr.SpanCount)
	}

	big := bytes.Repeat([]byte{0}, 4*limit) // compresses to a few hundred bytes
	for _, tc := range []struct {
		name, ct, enc string
		body          []byte
		code          int
		errCode       string
	}{
		{"text/plain", "text/plain", "", pb, 415, wire.CodeUnsupportedMedia},
		{"no content type", "", "", pb, 415, wire.CodeUnsupportedMedia},
		{"brotli", "application/x-protobuf", "br", pb, 415, wire.CodeUnsupportedMedia},
		{"garbage protobuf", "application/x-protobuf", "", []byte("\xff\xff\xff\xff garbage"), 400, wire.CodeInvalidArgument},
		{"garbage JSON", "application/json", "", []byte(`{"resourceSpans":[{"scopeSpans":7}]`), 400, wire.CodeInvalidArgument},
		{"not gzip", "application/x-protobuf", "gzip", pb, 400, wire.CodeInvalidArgument},
		{"truncated gzip", "application/x-protobuf", "gzip", gz(pb)[:20], 400, wire.CodeInvalidArgument},
		{"over the limit", "application/x-protobuf", "", big, 413, wire.CodeTooLarge},
		{"over the limit once decompressed", "application/x-protobuf", "gzip", gz(big), 413, wire.CodeTooLarge},
	} {
		resp, body := post(t, c, ts.url, tc.ct, tc.enc, tc.body)
		var eb wire.ErrorBody
		if err := jsonUnmarshal(body, &eb); err != nil || resp.StatusCode != tc.code || eb.Error.Code != tc.errCode {
			t.Errorf("%s: %d %s, want %d %s", tc.name, resp.StatusCode, body, tc.code, tc.errCode)
		}
	}
	if len(gz(big)) >= limit {
		t.Fatal("the gzip bomb is not small once compressed")
	}
	// An empty request is fine.
	if resp, _ := post(t, c, ts.url, "application/x-protobuf", "", nil); resp.StatusCode != 200 {
		t.Fatalf("empty request = %d", resp.StatusCode)
	}
	mustGet(t, c, ts.url, "/v1/traces/"+rawTraceID, nil, &tr)
	if tr.SpanCount != 3 {
		t.Fatalf("bad requests changed the stored trace: span_count %d", tr.SpanCount)
	}
}

func TestIngestUnavailable(t *testing.T) {
	ts := startServer(t)
	c := client(t)
	_, pb, _ := otlpBody(t, 1, 0)
	ts.store.Close() // the store can no longer write
	resp, body := post(t, c, ts.url, "application/x-protobuf", "", pb)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), wire.CodeUnavailable) {
		t.Fatalf("POST with a closed store = %d %s, want 503 with Retry-After", resp.StatusCode, body)
	}
	rec := newRecorder(t)
	rec.span(context.Background(), "x", base, base.Add(time.Second))
	err := exporter(t, ts, nil).ExportSpans(context.Background(), rec.take())
	if err == nil || !strings.Contains(err.Error(), "retry-able") {
		t.Fatalf("SDK export to a server that cannot write: %v, want a retryable 503", err)
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	ts := startServer(t)
	_, pb, _ := otlpBody(t, 5, 0)
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, ts.url+"/v1/traces", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(pb))
	req.Header.Set("Content-Type", "application/x-protobuf")
	// With Expect: 100-continue the client sends the body only once the
	// handler reads it: when the first write returns, the request is in
	// flight on the server.
	req.Header.Set("Expect", "100-continue")
	tr := &http.Transport{ExpectContinueTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{code: resp.StatusCode}
	}()
	if _, err := pw.Write(pb[:10]); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- ts.stop() }()
	// Shutdown has begun once the listener refuses new connections.
	addr := strings.TrimPrefix(ts.url, "http://")
	for i := 0; ; i++ {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if i > 500 {
			t.Fatal("the listener still accepts after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	default:
	}
	if _, err := pw.Write(pb[10:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if r := <-done; r.err != nil || r.code != http.StatusOK {
		t.Fatalf("in-flight request during shutdown: %d %v, want 200", r.code, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Serve after graceful shutdown: %v", err)
	}
	got, err := ts.store.GetTrace(context.Background(), rawTraceID, "")
	if err != nil || got.SpanCount != 5 {
		t.Fatalf("spans of the in-flight request: %+v %v", got, err)
	}
}

// fakeListener is a listener on a non-loopback address that accepts
// nothing: no network is touched.
type fakeListener struct{ closed chan struct{} }

func (l *fakeListener) Accept() (net.Conn, error) { <-l.closed; return nil, net.ErrClosed }
func (l *fakeListener) Close() error {
	select {
	case <-l.closed:
	default:
		close(l.closed)
	}
	return nil
}
func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4318} }

func TestOpenServerLoopbackOnly(t *testing.T) {
	st := memStore(t)
	srv, err := server.New(st)
	if err != nil {
		t.Fatal(err)
	}
	if !srv.Open() {
		t.Fatal("a server without keys is not open")
	}
	err = srv.Serve(context.Background(), &fakeListener{closed: make(chan struct{})})
	if !errors.Is(err, server.ErrOpenNonLoopback) {
		t.Fatalf("Serve on a non-loopback address without keys = %v", err)
	}
	// A request from another host is refused even if it gets in.
	req := httptest.NewRequest(http.MethodGet, "/v1/spans", nil)
	req.RemoteAddr = "192.0.2.7:5555"
	rw := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rw, req)
	if rw.Code != http.StatusForbidden {
		t.Fatalf("non-loopback client of an open server = %d, want 403", rw.Code)
	}
	req.RemoteAddr = "[::1]:5555"
	rw = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rw, req)
	if rw.Code != http.StatusForbidden || !strings.Contains(rw.Body.String(), "example.com") {
		t.Fatalf("loopback client of an open server with Host example.com (DNS rebinding) = %d %s, want 403", rw.Code, rw.Body)
	}
	for host, want := range map[string]int{
		"localhost:4318": 200, "127.0.0.1:4318": 200, "[::1]:4318": 200, "127.9.9.9": 200, "app.localhost:80": 200,
		"LOCALHOST.": 200, "evil.example:4318": 403, "127.0.0.1.nip.io": 403, "localhost.evil.example": 403, "10.0.0.1:4318": 403,
	} {
		req.Host = host
		rw = httptest.NewRecorder()
		srv.Handler().ServeHTTP(rw, req)
		if rw.Code != want {
			t.Errorf("open server, Host %q = %d %s, want %d", host, rw.Code, rw.Body, want)
		}
	}
	// With keys, a non-loopback listener is allowed.
	srv, err = server.New(st, server.WithAPIKeys(server.APIKey{Key: "k"}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Serve(ctx, &fakeListener{closed: make(chan struct{})}); err != nil {
		t.Fatalf("Serve with keys on a non-loopback listener: %v", err)
	}
	// With keys, any Host is served to a client with a key.
	req = httptest.NewRequest(http.MethodGet, "/v1/spans", nil)
	req.Host = "traces.example.com"
	req.Header.Set("Authorization", "Bearer k")
	rw = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rw, req)
	if rw.Code != http.StatusOK {
		t.Fatalf("server with keys, Host traces.example.com = %d %s", rw.Code, rw.Body)
	}
}

func TestAPIKeys(t *testing.T) {
	for in, want := range map[string]server.APIKey{
		"k1": {Key: "k1"}, "k2=acme": {Key: "k2", Tenant: "acme"}, " k3 = globex ": {Key: "k3", Tenant: "globex"},
	} {
		if got, err := server.ParseAPIKey(in); err != nil || got != want {
			t.Errorf("ParseAPIKey(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "=acme", "k=", "  "} {
		if _, err := server.ParseAPIKey(bad); err == nil {
			t.Errorf("ParseAPIKey(%q) succeeded", bad)
		}
	}
	st := memStore(t)
	if _, err := server.New(st, server.WithAPIKeys(server.APIKey{Key: "k", Tenant: "a"}, server.APIKey{Key: "k", Tenant: "b"})); err == nil {
		t.Error("one key for two tenants accepted")
	}
	if _, err := server.New(st, server.WithAPIKeys(server.APIKey{})); err == nil {
		t.Error("empty key accepted")
	}
	if _, err := server.New(nil); err == nil {
		t.Error("nil store accepted")
	}
}
