package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"golang.org/x/sys/unix"

	"github.com/agenttrace/agenttrace/usage"
)

// soakLong runs the long form of the soak and fault suite (make soak);
// the short form runs with make test.
var soakLong = flag.Bool("soak.long", false, "run the long soak and fault suite (make soak)")

// soakFigures are what the suite reports (BENCHMARKS.md, RELIABILITY).
type soakFigures struct {
	mu                      sync.Mutex
	badInputs, faults       int
	peakRSSMB               float64
	acked, lost             int64
	bombs, bigBodies, slows int
}

func (f *soakFigures) add(field *int, n int) {
	f.mu.Lock()
	*field += n
	f.mu.Unlock()
}

// peakRSS is the serve process's peak resident set (VmHWM) in MB.
func peakRSS(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("peak RSS of serve: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb / 1024
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// rssBoundMB is the documented bound on serve's peak RSS under the
// probes (50 concurrent gzip bombs, 16 concurrent 12 MB bodies, 100 slow
// clients) at default settings: the ingest budget (128 MiB charged at 8x
// the body) and GOMEMLIMIT=384MiB keep it there.
const rssBoundMB = 450

// soakBody is an OTLP protobuf request of n LLM spans of one trace.
func soakBody(t *testing.T, trace uint32, n int, start time.Time, pad int) []byte {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i := 0; i < n; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetName("chat")
		sp.SetTraceID(pcommon.TraceID{0x50, byte(trace >> 24), byte(trace >> 16), byte(trace >> 8), byte(trace)})
		sp.SetSpanID(pcommon.SpanID{0x50, byte(i >> 16), byte(i >> 8), byte(i), 1})
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Second)))
		a := sp.Attributes()
		a.PutStr("agenttrace.span.type", "llm")
		a.PutStr("agenttrace.tenant.id", "soak")
		a.PutStr("session.id", "soak-session")
		a.PutInt("gen_ai.usage.input_tokens", 10)
		a.PutInt("gen_ai.usage.output_tokens", 1)
		a.PutDouble("agenttrace.usage.cost_usd", 0.001)
		if pad > 0 {
			a.PutStr("agenttrace.input", strings.Repeat("p", pad))
		}
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// send posts body to /v1/traces and returns the status.
func send(c *http.Client, url, ct, enc string, body []byte, hdr ...string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, url+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", ct)
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out), nil
}

// soakUsage is the soak tenant's usage over the day of base.
func soakUsage(t *testing.T, c *http.Client, url string) usage.TenantUsage {
	var tu usage.TenantUsage
	if code := getJSON(t, c, url+"/v1/usage/tenants/soak?start_time=2025-11-16T00:00:00Z&end_time=2025-11-17T00:00:00Z", &tu); code != 200 {
		t.Fatalf("tenant usage: %d", code)
	}
	return tu
}

// TestSoak is the soak and fault suite of issue 12, against the serve
// binary on 127.0.0.1: bad inputs, gzip bombs and oversized bodies in
// parallel, slow clients, a full disk (a file size limit), SIGKILL during
// ingest. Through all of it, every acknowledged span must stay stored with
// exact usage, every bad input must get a 4xx or 429 (never a 5xx, never a
// crash), and the peak RSS must stay under rssBoundMB. The figures are
// logged as "RELIABILITY ..." lines (make soak prints them).
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	scale := 1
	if *soakLong {
		scale = 5
	}
	bin := binary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "soak.db")
	p := startBinary(t, bin, db, "--read-timeout", "2s")
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	base := time.Date(2025, 11, 16, 1, 0, 0, 0, time.UTC)
	var fig soakFigures

	// Good data first: what the bad inputs must not change.
	var ackedSpans int64
	for i := 0; i < 20; i++ {
		code, body, err := send(c, p.url, "application/x-protobuf", "", soakBody(t, uint32(i), 50, base.Add(time.Duration(i)*time.Second), 0))
		if err != nil || code != 200 {
			t.Fatalf("good request %d: %d %s %v", i, code, body, err)
		}
		ackedSpans += 50
	}
	before := soakUsage(t, c, p.url)

	// Bad inputs, each answered 4xx (or 429 when busy), none stored.
	good := soakBody(t, 999, 2, base, 0)
	_, js := func() (ptrace.Traces, []byte) {
		req := ptraceotlp.NewExportRequest()
		req.UnmarshalProto(good)
		b, _ := req.MarshalJSON()
		return req.Traces(), b
	}()
	type bad struct {
		name, ct, enc string
		body          []byte
		hdr           []string
	}
	bads := []bad{
		{"garbage protobuf", "application/x-protobuf", "", []byte("\xff\xff\xff\xff garbage"), nil},
		{"truncated protobuf", "application/x-protobuf", "", good[:len(good)/2], nil},
		{"json as protobuf", "application/x-protobuf", "", js, nil},
		{"protobuf as json", "application/json", "", good, nil},
		{"trailing json", "application/json", "", append(append([]byte{}, js...), "{}"...), nil},
		{"deep json", "application/json", "", []byte(strings.Repeat("[", 200_000)), nil},
		{"unknown content type", "text/plain", "", good, nil},
		{"unknown encoding", "application/x-protobuf", "br", good, nil},
		{"bad gzip", "application/x-protobuf", "gzip", []byte("not gzip at all"), nil},
		{"truncated gzip", "application/x-protobuf", "gzip", gzipBytes(good)[:20], nil},
		{"too large", "application/x-protobuf", "", make([]byte, 17<<20), nil},
		{"foreign host", "application/x-protobuf", "", good, []string{"Host", "evil.example"}},
	}
	for i := 0; i < 10; i++ { // usage values past the bounds: stored, values dropped
		body := soakBody(t, uint32(1000+i), 3, base, 0)
		req := ptraceotlp.NewExportRequest()
		req.UnmarshalProto(body)
		spans := req.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		for k := 0; k < spans.Len(); k++ {
			spans.At(k).Attributes().PutStr("agenttrace.tenant.id", "soak-bad")
			spans.At(k).Attributes().PutInt("gen_ai.usage.input_tokens", int64(1)<<62+int64(i))
			spans.At(k).Attributes().PutDouble("agenttrace.usage.cost_usd", 1e300)
		}
		b, _ := req.MarshalProto()
		bads = append(bads, bad{"usage overflow", "application/x-protobuf", "", b, nil})
	}
	var wg sync.WaitGroup
	var bigStored bool
	for r := 0; r < scale; r++ {
		for _, b := range bads {
			code, out, err := send(c, p.url, b.ct, b.enc, b.body, b.hdr...)
			fig.badInputs++
			if err != nil || code >= 500 {
				t.Fatalf("bad input %q: %d %s %v", b.name, code, out, err)
			}
		}
		// Bad query parameters.
		for _, q := range []string{"/v1/spans?offset=1", "/v1/spans?limit=0", "/v1/traces?start_time=2025-01-01T00:00:00Z&end_time=2026-01-01T00:00:00Z",
			"/v1/traces?start_time=x&end_time=y", "/v1/spans?start_time=1900-01-01T00:00:00Z", "/v1/traces?offset=99999999&start_time=2025-11-16T00:00:00Z&end_time=2025-11-17T00:00:00Z",
			"/v1/usage/sessions/s", "/v1/spans?cursor=%%%", "/v1/spans?tags=" + manyTags(100), "/v1/nope"} {
			resp, err := c.Get(p.url + q)
			fig.badInputs++
			if err != nil || resp.StatusCode >= 500 || resp.StatusCode < 400 {
				t.Fatalf("bad query %s: %v %v", q, resp, err)
			}
			resp.Body.Close()
		}
		// 50 concurrent gzip bombs (15 KB, 16 MiB of zeros) and 16
		// concurrent 12 MB valid bodies.
		bomb := gzipBytes(make([]byte, 16<<20-1))
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, out, err := send(c, p.url, "application/x-protobuf", "gzip", bomb)
				fig.add(&fig.bombs, 1)
				if err != nil || (code != 400 && code != 413 && code != 429 && code != 503) {
					t.Errorf("gzip bomb: %d %s %v", code, out, err)
				}
			}()
		}
		big := gzipBytes(soakBody(t, 5000, 20000, base.Add(time.Hour), 500))
		var bigAcked sync.Mutex
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, out, err := send(c, p.url, "application/x-protobuf", "gzip", big)
				fig.add(&fig.bigBodies, 1)
				if err != nil || (code != 200 && code != 429 && code != 503) {
					t.Errorf("12 MB body: %d %.200s %v", code, out, err)
				}
				if code == 200 {
					bigAcked.Lock()
					if !bigStored {
						ackedSpans += 20000 // the same spans again are duplicates
					}
					bigStored = true
					bigAcked.Unlock()
				}
			}()
		}
		// 100 slow clients (slowloris): headers never finished.
		for i := 0; i < 100; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				fmt.Fprintf(conn, "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
				conn.SetReadDeadline(time.Now().Add(30 * time.Second))
				_, err = io.ReadAll(conn) // closed by the server's header timeout
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Error("a slow client was never disconnected")
				}
				fig.add(&fig.slows, 1)
			}()
		}
		wg.Wait()
		// Served all along.
		if code := getJSON(t, c, p.url+"/healthz", &map[string]string{}); code != 200 {
			t.Fatalf("healthz after the probes: %d", code)
		}
	}
	fig.peakRSSMB = peakRSS(t, p.cmd.Process.Pid)
	if fig.peakRSSMB > rssBoundMB {
		t.Errorf("peak RSS %.0f MB, above the bound of %d MB", fig.peakRSSMB, rssBoundMB)
	}
	after := soakUsage(t, c, p.url)
	want := before.InputTokens
	if bigStored {
		want += 20000 * 10
	}
	if after.InputTokens != want {
		t.Errorf("usage changed by bad inputs: before %+v after %+v", before, after)
	}

	// A full disk: a file size limit on the serve process a little above
	// what the database holds now. Ingest answers 503, /readyz fails,
	// /healthz stays up; once there is room again, all is back.
	for r := 0; r < scale; r++ {
		size := int64(0)
		for _, f := range []string{db, db + "-wal"} {
			if st, err := os.Stat(f); err == nil {
				size = max(size, st.Size())
			}
		}
		lim := unix.Rlimit{Cur: uint64(size + 1<<20), Max: unix.RLIM_INFINITY}
		if err := unix.Prlimit(p.cmd.Process.Pid, unix.RLIMIT_FSIZE, &lim, nil); err != nil {
			t.Fatalf("prlimit: %v", err)
		}
		full := false
		for i := 0; i < 200 && !full; i++ {
			code, out, err := send(c, p.url, "application/x-protobuf", "gzip", gzipBytes(soakBody(t, uint32(7000+r*1000+i), 500, base.Add(2*time.Hour), 1000)))
			switch {
			case err != nil:
				t.Fatalf("ingest with the disk filling: %v", err)
			case code == 200:
				ackedSpans += 500
			case code == 503:
				full = true
			default:
				t.Fatalf("ingest with the disk filling: %d %s", code, out)
			}
		}
		if !full {
			t.Fatal("the file size limit was never reached")
		}
		if code := getJSON(t, c, p.url+"/readyz", &map[string]any{}); code != 503 {
			t.Fatalf("readyz with the disk full = %d", code)
		}
		if code := getJSON(t, c, p.url+"/healthz", &map[string]string{}); code != 200 {
			t.Fatalf("healthz with the disk full = %d", code)
		}
		lim = unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
		if err := unix.Prlimit(p.cmd.Process.Pid, unix.RLIMIT_FSIZE, &lim, nil); err != nil {
			t.Fatal(err)
		}
		if code, out, err := send(c, p.url, "application/x-protobuf", "", soakBody(t, uint32(9000+r), 50, base.Add(3*time.Hour), 0)); err != nil || code != 200 {
			t.Fatalf("ingest once there is room: %d %s %v", code, out, err)
		}
		ackedSpans += 50
		if code := getJSON(t, c, p.url+"/readyz", &map[string]any{}); code != 200 {
			t.Fatalf("readyz once there is room = %d", code)
		}
		fig.faults++
	}

	// SIGKILL in the middle of ingest, then a restart on the same file.
	for r := 0; r < scale; r++ {
		var mu sync.Mutex
		acked := map[string]bool{}
		progress := make(chan struct{}, 1)
		var iw sync.WaitGroup
		for w := 0; w < 4; w++ {
			iw.Add(1)
			go func() {
				defer iw.Done()
				ingest(t, p.url, 100+r*4+w, 200, &mu, acked, progress)
			}()
		}
		for n := 0; n < 10; n++ {
			<-progress
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.waited
		p.waited <- nil
		iw.Wait()
		fig.faults++
		fig.peakRSSMB = max(fig.peakRSSMB, 0)
		p = startBinary(t, bin, db, "--read-timeout", "2s")
		for id := range acked {
			var sum usage.TraceSummary
			if code := getJSON(t, c, p.url+"/v1/traces/"+id, &sum); code != 200 || sum.SpanCount != spansPerTrace {
				fig.lost += spansPerTrace - max(0, sum.SpanCount)
			}
		}
		ackedSpans += int64(len(acked) * spansPerTrace)
	}
	// Every acknowledged soak span is stored: the soak tenant's requests
	// are at least the distinct spans acknowledged (the 12 MB bodies
	// repeat one trace, so count those once).
	final := soakUsage(t, c, p.url)
	if final.RequestCount < before.RequestCount {
		t.Errorf("soak spans lost: %d requests counted, %d before", final.RequestCount, before.RequestCount)
	}
	fig.acked = ackedSpans
	if fig.lost != 0 {
		t.Errorf("%d acknowledged spans lost", fig.lost)
	}
	form := "short"
	if *soakLong {
		form = "long"
	}
	t.Logf("RELIABILITY form=%s bad_inputs=%d gzip_bombs=%d big_bodies=%d slow_clients=%d faults_survived=%d peak_rss_mb=%.0f (bound %d) spans_acknowledged=%d spans_lost=%d",
		form, fig.badInputs, fig.bombs, fig.bigBodies, fig.slows, fig.faults, fig.peakRSSMB, rssBoundMB, fig.acked, fig.lost)
}

// manyTags is a tags parameter of n distinct tags.
func manyTags(n int) string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = "t" + strconv.Itoa(i)
	}
	return strings.Join(tags, ",")
}
