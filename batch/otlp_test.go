package batch

// Tests against the real OTLP/HTTP exporter, built by agenttrace's exporter
// package (otlptracehttp with its retry policy and a transport that reports
// connection errors as temporary, so that they are retried too), and
// httptest servers that play a foreign collector's failures.

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	otlpexp "github.com/agenttrace/agenttrace/exporter"
)

// countingTransport counts the requests the exporter makes, retries
// included; the exporter wraps it.
type countingTransport struct {
	base     http.RoundTripper
	attempts atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.attempts.Add(1)
	return t.base.RoundTrip(r)
}

var fastRetry = otlptracehttp.RetryConfig{
	Enabled:         true,
	InitialInterval: 50 * time.Millisecond,
	MaxInterval:     200 * time.Millisecond,
	MaxElapsedTime:  10 * time.Second,
}

// otlpExporter returns a real OTLP/HTTP exporter (protobuf, gzip unless plain)
// posting to baseURL, built by exporter.New.
func otlpExporter(t testing.TB, baseURL string, retry otlptracehttp.RetryConfig, plain bool) (sdktrace.SpanExporter, *countingTransport) {
	t.Helper()
	base := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(base.CloseIdleConnections)
	tr := &countingTransport{base: base}
	exp, err := otlpexp.New(context.Background(),
		otlpexp.WithEndpoint(baseURL),
		otlpexp.WithCompression(!plain),
		otlpexp.WithRetry(retry),
		otlpexp.WithHTTPClient(&http.Client{Transport: tr, Timeout: 5 * time.Second}),
	)
	if err != nil {
		t.Fatal(err)
	}
	return exp, tr
}

// TestExporterRetryFitsExportTimeout: the exporter's default retry budget
// fits in one export's default timeout, which bounds it.
func TestExporterRetryFitsExportTimeout(t *testing.T) {
	if got := otlpexp.DefaultRetry().MaxElapsedTime; got > DefaultExportTimeout {
		t.Fatalf("exporter retries for up to %v, longer than the %v export timeout", got, DefaultExportTimeout)
	}
}

// collector is an httptest OTLP/HTTP receiver whose answers a test scripts.
type collector struct {
	srv *httptest.Server

	// respond returns the status and headers for the n-th request (1-based)
	// with the decoded body size; nil means 200.
	respond func(n int, size int) (int, http.Header)
	delay   time.Duration
	// rejected, if set, gives the number of spans the n-th request's
	// partial-success answer rejects (0: a full success).
	rejected func(n int) int64

	mu       sync.Mutex
	requests int
	arrivals []time.Time
	sizes    []int          // decompressed body sizes of every request
	names    map[string]int // spans in requests answered 200
	statuses map[int]int
	cur, max int
	bad      []error
}

func newCollector(t testing.TB) *collector {
	c := &collector{names: map[string]int{}, statuses: map[int]int{}}
	c.srv = httptest.NewServer(http.HandlerFunc(c.handle))
	t.Cleanup(func() {
		c.srv.Close()
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, err := range c.bad {
			t.Errorf("collector: %v", err)
		}
	})
	return c
}

func (c *collector) handle(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.requests++
	n := c.requests
	c.arrivals = append(c.arrivals, time.Now())
	c.cur++
	c.max = max(c.max, c.cur)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.cur--
		c.mu.Unlock()
	}()

	raw, err := readBody(r)
	if err != nil {
		c.fail(err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(raw); err != nil {
		c.fail(fmt.Errorf("decode request %d: %w", n, err))
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	status, hdr := http.StatusOK, http.Header(nil)
	if c.respond != nil {
		status, hdr = c.respond(n, len(raw))
	}
	c.mu.Lock()
	c.sizes = append(c.sizes, len(raw))
	c.statuses[status]++
	if status == http.StatusOK {
		rss := req.Traces().ResourceSpans()
		for i := range rss.Len() {
			sss := rss.At(i).ScopeSpans()
			for j := range sss.Len() {
				spans := sss.At(j).Spans()
				for k := range spans.Len() {
					c.names[spans.At(k).Name()]++
				}
			}
		}
	}
	c.mu.Unlock()
	for k, v := range hdr {
		w.Header()[k] = v
	}
	if status != http.StatusOK {
		http.Error(w, http.StatusText(status), status)
		return
	}
	resp := ptraceotlp.NewExportResponse()
	if c.rejected != nil {
		if k := c.rejected(n); k > 0 {
			resp.PartialSuccess().SetRejectedSpans(k)
			resp.PartialSuccess().SetErrorMessage("attribute too long")
		}
	}
	body, _ := resp.MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(body)
}

func (c *collector) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bad = append(c.bad, err)
}

func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
		rd = zr
	}
	return io.ReadAll(rd)
}

// received returns the span names the collector accepted and how often.
func (c *collector) received() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.names))
	for k, v := range c.names {
		out[k] = v
	}
	return out
}

// wantExactly fails unless got holds each of names exactly once and nothing
// else.
func wantExactly(t testing.TB, got map[string]int, names []string) {
	t.Helper()
	if len(got) != len(names) {
		t.Fatalf("collector got %d distinct spans, want %d", len(got), len(names))
	}
	for _, n := range names {
		if got[n] != 1 {
			t.Fatalf("span %q arrived %d times", n, got[n])
		}
	}
}

func endSpans(p *Processor, prefix string, n int, attrs ...attribute.KeyValue) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", prefix, i)
		p.OnEnd(mkSpan(names[i], attrs...))
	}
	return names
}

func TestOTLPCollectorDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connection refused

	retry := fastRetry
	retry.MaxElapsedTime = 300 * time.Millisecond
	exp, tr := otlpExporter(t, "http://"+addr, retry, false)
	var logs syncBuffer
	p := mustNew(t, exp, WithInterval(time.Hour), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	endSpans(p, "down", 20)
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatalf("ForceFlush = %v", err)
	}
	st := p.Stats()
	checkInvariant(t, st)
	if st.Exported != 0 || st.Dropped.ExportFailed != 20 {
		t.Fatalf("stats %+v", st)
	}
	if n := tr.attempts.Load(); n < 2 {
		t.Fatalf("%d connection attempts: the refused connection was not retried", n)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown = %v (nothing was pending)", err)
	}
	if !strings.Contains(logs.String(), "export_failed=20") || !strings.Contains(logs.String(), "connection refused") {
		t.Fatalf("log = %q", logs.String())
	}
}

func TestOTLPUnavailableThenOK(t *testing.T) {
	c := newCollector(t)
	c.respond = func(n, _ int) (int, http.Header) {
		if n <= 2 {
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	}
	exp, _ := otlpExporter(t, c.srv.URL, fastRetry, false)
	p := mustNew(t, exp, WithInterval(time.Hour), WithMaxBatchSpans(50), WithMaxInFlight(1))
	names := endSpans(p, "u", 50)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantExactly(t, c.received(), names)
	st := p.Stats()
	checkInvariant(t, st)
	if st.Exported != 50 || st.Dropped.Total() != 0 || c.requests != 3 || c.statuses[503] != 2 {
		t.Fatalf("stats %+v, %d requests %v", st, c.requests, c.statuses)
	}
}

func TestOTLPTooManyRequestsRetryAfter(t *testing.T) {
	c := newCollector(t)
	c.respond = func(n, _ int) (int, http.Header) {
		if n == 1 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}}
		}
		return http.StatusOK, nil
	}
	exp, _ := otlpExporter(t, c.srv.URL, fastRetry, false)
	p := mustNew(t, exp, WithInterval(time.Hour))
	names := endSpans(p, "r", 10)
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantExactly(t, c.received(), names)
	c.mu.Lock()
	gap := c.arrivals[1].Sub(c.arrivals[0])
	reqs := c.requests
	c.mu.Unlock()
	// The backoff alone would wait about 50ms; only Retry-After explains 1s.
	if reqs != 2 || gap < time.Second {
		t.Fatalf("%d requests, retried after %v: Retry-After: 1 not honoured", reqs, gap)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Exported != 10 || st.Dropped.Total() != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestOTLPSlowCollector: each request takes 500ms; exports must overlap so the
// queue keeps draining.
func TestOTLPSlowCollector(t *testing.T) {
	c := newCollector(t)
	c.delay = 500 * time.Millisecond
	exp, _ := otlpExporter(t, c.srv.URL, fastRetry, false)
	p := mustNew(t, exp, WithInterval(time.Hour), WithMaxBatchSpans(10), WithMaxInFlight(4))
	names := endSpans(p, "slow", 80)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantExactly(t, c.received(), names)
	st := p.Stats()
	checkInvariant(t, st)
	if st.Exported != 80 || c.requests != 8 {
		t.Fatalf("stats %+v, %d requests", st, c.requests)
	}
	if c.max < 2 {
		t.Fatalf("at most %d requests were in flight at once; exports did not overlap", c.max)
	}
}

// TestOTLPRequestTooLarge: the collector answers 413 to bodies over 16 KiB.
// With the maximum request size at that limit every span but the one that is
// too large alone arrives; with it set higher, the rejected batches are
// counted as export_failed and not retried.
func TestOTLPRequestTooLarge(t *testing.T) {
	const limit = 16 << 10
	prompt := attribute.String("gen_ai.prompt", strings.Repeat("p", 1000))
	huge := attribute.String("gen_ai.prompt", strings.Repeat("h", 20<<10))
	respond := func(_ int, size int) (int, http.Header) {
		if size > limit {
			return http.StatusRequestEntityTooLarge, nil
		}
		return http.StatusOK, nil
	}

	t.Run("split", func(t *testing.T) {
		c := newCollector(t)
		c.respond = respond
		exp, _ := otlpExporter(t, c.srv.URL, fastRetry, false)
		p := mustNew(t, exp, WithInterval(time.Hour), WithMaxBatchBytes(limit), WithLogger(slog.New(slog.DiscardHandler)))
		names := endSpans(p, "ok", 100, prompt)
		p.OnEnd(mkSpan("huge", huge))
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		wantExactly(t, c.received(), names)
		st := p.Stats()
		checkInvariant(t, st)
		if st.Exported != 100 || st.Dropped.TooLarge != 1 || c.statuses[413] != 0 || c.requests < 7 {
			t.Fatalf("stats %+v, statuses %v, %d requests", st, c.statuses, c.requests)
		}
		for _, s := range c.sizes {
			if s > limit {
				t.Fatalf("a %d-byte request exceeded the %d-byte maximum", s, limit)
			}
		}
	})

	t.Run("collector limit below ours", func(t *testing.T) {
		c := newCollector(t)
		c.respond = respond
		exp, _ := otlpExporter(t, c.srv.URL, fastRetry, false)
		p := mustNew(t, exp, WithInterval(time.Hour), WithMaxBatchBytes(4*limit), WithMaxInFlight(1), WithLogger(slog.New(slog.DiscardHandler)))
		endSpans(p, "ok", 100, prompt)
		p.OnEnd(mkSpan("huge", huge))
		err := p.Shutdown(context.Background())
		var ue *UndeliveredError
		if !errors.As(err, &ue) || ue.Err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		st := p.Stats()
		checkInvariant(t, st)
		got := c.received()
		if st.Exported+st.Dropped.ExportFailed != 101 || st.Dropped.ExportFailed == 0 || uint64(len(got)) != st.Exported ||
			ue.Dropped.ExportFailed != st.Dropped.ExportFailed {
			t.Fatalf("stats %+v, collector got %d, error %v", st, len(got), err)
		}
		if c.statuses[413] == 0 || c.requests != c.statuses[413]+c.statuses[200] {
			t.Fatalf("statuses %v in %d requests: 413 must not be retried", c.statuses, c.requests)
		}
	})
}

var otlptracehttpNoRetry = otlptracehttp.RetryConfig{Enabled: false}

// TestOTLPPartialSuccess: the collector accepts a request but rejects 3 of its
// spans; only those 3 count as export_failed.
func TestOTLPPartialSuccess(t *testing.T) {
	c := newCollector(t)
	c.rejected = func(n int) int64 {
		if n == 1 {
			return 3
		}
		return 0
	}
	exp, _ := otlpExporter(t, c.srv.URL, fastRetry, false)
	var drops dropTally
	p := mustNew(t, exp, WithInterval(time.Hour), WithOnDrop(drops.onDrop), WithLogger(slog.New(slog.DiscardHandler)))
	endSpans(p, "ps", 10)
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	endSpans(p, "ok", 5)
	err := p.Shutdown(context.Background())
	if err != nil {
		t.Fatalf("Shutdown = %v (the partial success was before it)", err)
	}
	st := p.Stats()
	checkInvariant(t, st)
	if st.Exported != 12 || st.Dropped.ExportFailed != 3 || drops.get(ExportFailed) != 3 || c.requests != 2 {
		t.Fatalf("stats %+v, %d requests", st, c.requests)
	}
}

func TestPartialRejected(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		n    int
		want bool
	}{
		{"traces export: OTLP partial success: attribute too long (3 spans rejected)", 3, true},
		{"OTLP partial success: empty message (0 spans rejected)", 0, true},
		{"traces export: failed to send: 400 Bad Request", 0, false},
		{"OTLP partial success: x (-1 spans rejected)", 0, false},
		{"OTLP partial success: x (many spans rejected)", 0, false},
		{"OTLP partial success: x spans rejected)", 0, false},
	} {
		n, ok := partialRejected(errors.New(tc.msg))
		if n != tc.n || ok != tc.want {
			t.Errorf("%q: %d, %v", tc.msg, n, ok)
		}
	}
}
