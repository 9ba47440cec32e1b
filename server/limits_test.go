package server_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agenttrace/agenttrace/internal/wire"
	"github.com/agenttrace/agenttrace/server"
)

// waitFor polls cond every 20ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func dial(t *testing.T, ts *testServer) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// bigSpans stores n spans with a 16 KiB attribute each, in one trace.
func bigSpans(t *testing.T, ts *testServer, n int) {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	pad := strings.Repeat("x", 16<<10)
	for i := 0; i < n; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetName("big")
		sp.SetTraceID(pcommon.TraceID{0xbb, 1})
		sp.SetSpanID(pcommon.SpanID{0xbb, byte(i >> 8), byte(i), 1})
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Second)))
		sp.Attributes().PutStr("pad", pad)
	}
	if resp, body := post(t, client(t), ts.url, "application/x-protobuf", "gzip", gz(exportBody(t, td))); resp.StatusCode != http.StatusOK {
		t.Fatalf("storing big spans: %d %s", resp.StatusCode, body)
	}
}

// TestNonReadingClientsReleased: clients that ask for a large page and
// never read it are disconnected by the write timeout, and the server
// frees their requests (before, they were pinned until the clients left).
func TestNonReadingClientsReleased(t *testing.T) {
	ts := startServer(t, server.WithTimeouts(0, 0, 500*time.Millisecond))
	bigSpans(t, ts, 600) // a page is about 10 MiB of JSON
	const clients = 6
	conns := make([]net.Conn, clients)
	for i := range conns {
		conns[i] = dial(t, ts)
		if tc, ok := conns[i].(*net.TCPConn); ok {
			tc.SetReadBuffer(4 << 10)
		}
		fmt.Fprintf(conns[i], "GET /v1/spans?limit=1000&%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", window(base, base.Add(time.Hour)))
	}
	if !waitFor(10*time.Second, func() bool { return ts.srv.Stats().RequestsInFlight == clients }) {
		t.Logf("not all requests seen in flight at once: %+v", ts.srv.Stats())
	}
	if !waitFor(20*time.Second, func() bool { return ts.srv.Stats().RequestsInFlight == 0 }) {
		t.Fatalf("requests of clients that do not read are still held: %+v", ts.srv.Stats())
	}
	// The server closed their connections.
	if !waitFor(10*time.Second, func() bool { return ts.srv.Stats().OpenConns <= 1 }) {
		t.Fatalf("connections of clients that do not read are still open: %+v", ts.srv.Stats())
	}
}

// TestSlowBodyReleased: a client that sends headers and part of a body,
// then stalls, is disconnected by the read timeout.
func TestSlowBodyReleased(t *testing.T) {
	ts := startServer(t, server.WithTimeouts(500*time.Millisecond, 0, 0))
	c := dial(t, ts)
	fmt.Fprintf(c, "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100000\r\n\r\n0123456789")
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.ReadAll(c) // the server answers (or not) and closes
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a stalled body held the connection")
	}
	if !waitFor(10*time.Second, func() bool { return ts.srv.Stats().IngestInFlight == 0 && ts.srv.Stats().RequestsInFlight == 0 }) {
		t.Fatalf("stalled request still in flight: %+v", ts.srv.Stats())
	}
}

// TestMaxConns: past the connection cap, a new connection is not served
// until one closes.
func TestMaxConns(t *testing.T) {
	ts := startServer(t, server.WithMaxConns(2))
	held := []net.Conn{dial(t, ts), dial(t, ts)}
	if !waitFor(10*time.Second, func() bool { return ts.srv.Stats().OpenConns == 2 }) {
		t.Fatalf("open conns = %d, want 2", ts.srv.Stats().OpenConns)
	}
	third := dial(t, ts)
	fmt.Fprintf(third, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	br := bufio.NewReader(third)
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := http.ReadResponse(br, nil); err == nil {
		t.Fatal("a connection past the cap was served")
	}
	held[0].Close()
	third.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after a connection closed: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestIngestBusy: with the ingest slots or the memory budget spent, ingest
// answers 429 with Retry-After and a JSON error, and counts it; once the
// holder is gone ingest works again.
func TestIngestBusy(t *testing.T) {
	const maxBody = 64 << 10
	ts := startServer(t, server.WithMaxBodyBytes(maxBody), server.WithIngestLimits(2, 1))
	_, pb, _ := otlpBody(t, 3, 0)
	c := client(t)
	// A declared body of the maximum size is charged the whole budget
	// (8 x max body) before it is read; it stalls.
	hold := dial(t, ts)
	fmt.Fprintf(hold, "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: %d\r\n\r\nxx", maxBody)
	if !waitFor(10*time.Second, func() bool { return ts.srv.Stats().IngestBytesInFlight == maxBody }) {
		t.Fatalf("stats = %+v", ts.srv.Stats())
	}
	resp, body := post(t, c, ts.url, "application/x-protobuf", "gzip", gz(pb))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
		!bytes.Contains(body, []byte(wire.CodeResourceExhausted)) {
		t.Fatalf("ingest with the budget spent = %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// The second slot is taken by a stalled body too: no slot left.
	hold2 := dial(t, ts)
	fmt.Fprintf(hold2, "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n")
	if !waitFor(10*time.Second, func() bool { return ts.srv.Stats().IngestInFlight == 2 }) {
		t.Fatalf("stats = %+v", ts.srv.Stats())
	}
	resp, body = post(t, c, ts.url, "application/x-protobuf", "", pb)
	if resp.StatusCode != http.StatusTooManyRequests || !bytes.Contains(body, []byte("too many ingest requests")) {
		t.Fatalf("ingest with no slot = %d %s", resp.StatusCode, body)
	}
	if st := ts.srv.Stats(); st.IngestBusy != 2 {
		t.Fatalf("stats = %+v, want 2 busy", st)
	}
	hold.Close()
	hold2.Close()
	if !waitFor(10*time.Second, func() bool { return ts.srv.Stats().IngestInFlight == 0 }) {
		t.Fatalf("stats = %+v", ts.srv.Stats())
	}
	if resp, body = post(t, c, ts.url, "application/x-protobuf", "", pb); resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest after the holders left = %d %s", resp.StatusCode, body)
	}
	if st := ts.srv.Stats(); st.IngestBytesInFlight != 0 {
		t.Fatalf("budget not given back: %+v", st)
	}
}

// TestQueryTimeout: a request that runs past the query timeout is a 503
// deadline_exceeded JSON error with Retry-After, counted.
func TestQueryTimeout(t *testing.T) {
	ts := startServer(t, server.WithTimeouts(0, time.Nanosecond, 0))
	c := client(t)
	for _, path := range []string{"/v1/spans?" + window(base, base.Add(time.Hour)), "/v1/traces?" + window(base, base.Add(time.Hour)),
		"/v1/usage/sessions/s?" + window(base, base.Add(time.Hour))} {
		code, eb := get(t, c, ts.url, path, nil, nil)
		if code != http.StatusServiceUnavailable || eb.Error.Code != wire.CodeDeadlineExceeded {
			t.Errorf("GET %s = %d %+v, want 503 %s", path, code, eb, wire.CodeDeadlineExceeded)
		}
	}
	if ts.srv.Stats().QueryTimeouts != 3 {
		t.Fatalf("stats = %+v", ts.srv.Stats())
	}
}

// TestReadyz: /readyz answers 200 with the counters while the store can
// write, 503 JSON once it cannot; /healthz stays 200 (liveness). Neither
// needs a key.
func TestReadyz(t *testing.T) {
	ts := startServer(t, server.WithAPIKeys(server.APIKey{Key: "k"}))
	c := client(t)
	var ready struct {
		Status string
		Stats  server.Stats
	}
	mustGet(t, c, ts.url, server.PathReady, nil, &ready)
	if ready.Status != "ok" {
		t.Fatalf("readyz = %+v", ready)
	}
	ts.store.Close()
	if code, eb := get(t, c, ts.url, server.PathReady, nil, nil); code != http.StatusServiceUnavailable || eb.Error.Code != wire.CodeUnavailable {
		t.Fatalf("readyz with the store closed = %d %+v", code, eb)
	}
	mustGet(t, c, ts.url, wire.PathHealth, nil, nil)
}
