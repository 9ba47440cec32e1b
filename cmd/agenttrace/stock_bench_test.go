package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/sdkload"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/sqlite"
	"github.com/agenttrace/agenttrace/usage"
)

// jaegerBin is a Jaeger v2 binary (cmd/jaeger of v1.76.0) for
// BenchmarkStockOTel's recv=jaeger; without it that receiver is left out.
var jaegerBin = flag.String("jaeger.bin", "", "BenchmarkStockOTel: path of a jaeger binary (v2, memory storage) to compare with")

// pdataReceiverEnv makes the test binary, when set, run the decode-only
// OTLP receiver of BenchmarkStockOTel instead of the tests (see TestMain).
const pdataReceiverEnv = "AGENTTRACE_BENCH_PDATA_RECEIVER"

// stockSpansPerTrace is the shape of BenchmarkStockOTel's traces: a root
// and four chat spans.
const stockSpansPerTrace = 5

// BenchmarkStockOTel is issue 14's ingest measurement, as a new user sees
// it: the stock OpenTelemetry Go SDK in this process (one TracerProvider;
// BatchSpanProcessor with batches of 512, blocking when its queue is full
// so the producers lose nothing; otlptracehttp, protobuf and gzip, so one
// export in flight) with four goroutines recording traces flat out, each a
// root and four `chat` spans with GenAI attributes, against a receiver in
// its own process on 127.0.0.1:
//
//   - recv=pdata: a decode-only OTLP/HTTP receiver (gunzip, pdata
//     unmarshal, count, answer), the client's ceiling: this test binary
//     re-executed with AGENTTRACE_BENCH_PDATA_RECEIVER set;
//   - recv=serve: the agenttrace binary's "serve" with a SQLite file;
//   - recv=jaeger: Jaeger v2 with memory storage, no batch processor and
//     no exporter queue (so its 200 means stored), when -jaeger.bin is set.
//
// spans/s is the spans the receiver holds over the time from the first
// span to the moment they are all there: for serve, until the client's
// flush returned and a tenant usage query over HTTP counts every span
// (so work done after the 200 is inside the window). server-cpu-µs/span is
// the receiver process's CPU time (user + system, start to exit) per span
// stored, client-cpu-µs/span this process's. lost is offered minus stored,
// counted by the receiver: serve's SQLite file opened after it exits,
// the pdata receiver's own count, Jaeger's exporter metric.
//
// Run it as a fixed span count, in separate processes so the receivers
// alternate in time (see BENCHMARKS.md):
//
//	go test -c -o stock.test ./cmd/agenttrace
//	for i in 1 2 3 4 5; do ./stock.test -test.run '^$' -test.bench StockOTel -test.benchtime 200000x; done
func BenchmarkStockOTel(b *testing.B) {
	bin := binary(b)
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	recvs := []string{"pdata", "serve"}
	if *jaegerBin != "" {
		recvs = append(recvs, "jaeger")
	}
	for _, recv := range recvs {
		b.Run("recv="+recv, func(b *testing.B) {
			var r *receiver
			switch recv {
			case "pdata":
				r = startPdataReceiver(b, self)
			case "serve":
				r = startServe(b, bin)
			case "jaeger":
				r = startJaeger(b, *jaegerBin)
			}
			runStockOTel(b, r)
		})
	}
}

// receiver is a receiver process under load.
type receiver struct {
	cmd    *exec.Cmd
	url    string // OTLP/HTTP base URL
	waited chan error
	stderr *syncBuffer
	// caughtUp blocks until the receiver holds n spans (nil: it does once
	// the client's flush returns).
	caughtUp func(n int64) error
	// stored reports the spans held, after the process exited.
	stored func(stdout string) (int64, error)
	stdout *syncBuffer
}

// start starts cmd and reads the URL from its first stdout line.
func (r *receiver) start(b *testing.B, urlFrom func(line string) string) {
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	r.stderr, r.stdout, r.waited = &syncBuffer{}, &syncBuffer{}, make(chan error, 1)
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { r.waited <- r.cmd.Wait() }()
	b.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.waited
	})
	br := bufio.NewReader(stdout)
	line, err := br.ReadString('\n')
	if err != nil {
		b.Fatalf("%s: %v; stderr: %s", r.cmd.Path, err, r.stderr.String())
	}
	r.url = urlFrom(line)
	go io.Copy(r.stdout, br)
}

// stop sends SIGTERM, waits for the exit and returns the process's CPU time.
func (r *receiver) stop(b *testing.B) time.Duration {
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.Fatal(err)
	}
	err := <-r.waited
	r.waited <- nil // for the cleanup's Kill
	if err != nil {
		b.Fatalf("%s: %v; stderr: %s", r.cmd.Path, err, r.stderr.String())
	}
	return r.cmd.ProcessState.UserTime() + r.cmd.ProcessState.SystemTime()
}

func startServe(b *testing.B, bin string) *receiver {
	db := filepath.Join(b.TempDir(), "serve.db")
	r := &receiver{cmd: exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", db, "--log-level", "warn")}
	r.start(b, func(line string) string {
		_, url, _ := strings.Cut(strings.TrimSpace(line), "listening on ")
		return url
	})
	c := &http.Client{Timeout: time.Minute}
	r.caughtUp = func(n int64) error {
		defer c.CloseIdleConnections()
		var u usage.TenantUsage
		if err := getUsage(c, r.url+"/v1/usage/tenants/"+stockTenant+"?"+stockWindow(), &u); err != nil {
			return err
		}
		// Every trace has a root and up to four chat spans (model calls).
		if want := n - (n+stockSpansPerTrace-1)/stockSpansPerTrace; u.RequestCount != want {
			return fmt.Errorf("serve answered every export 200 but a usage query counts %d of %d model calls", u.RequestCount, want)
		}
		return nil
	}
	r.stored = func(string) (int64, error) { return storedSpans(db) }
	return r
}

func startPdataReceiver(b *testing.B, self string) *receiver {
	r := &receiver{cmd: exec.Command(self)}
	r.cmd.Env = append(os.Environ(), pdataReceiverEnv+"=1")
	r.start(b, strings.TrimSpace)
	r.stored = func(stdout string) (int64, error) {
		return strconv.ParseInt(strings.TrimSpace(stdout), 10, 64)
	}
	return r
}

// runPdataReceiver is the decode-only receiver's main: it prints its URL,
// answers POST /v1/traces after decoding the body with pdata, and on
// SIGTERM prints the number of spans decoded and exits.
func runPdataReceiver() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var spans atomic.Int64
	var zpool sync.Pool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, _ := zpool.Get().(*gzip.Reader)
			var err error
			if zr == nil {
				zr, err = gzip.NewReader(r.Body)
			} else {
				err = zr.Reset(r.Body)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			defer zpool.Put(zr)
			body = zr
		}
		raw, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(raw); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		spans.Add(int64(req.Traces().SpanCount()))
		out, _ := ptraceotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	})
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	fmt.Printf("http://%s\n", ln.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	srv.Close()
	fmt.Println(spans.Load())
	os.Exit(0)
}

// freePort returns a loopback port nothing listens on now.
func freePort(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// jaegerConfig is Jaeger v2 with memory storage and no batch processor;
// the storage exporter has no sending queue, so a 200 means stored.
const jaegerConfig = `
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: []
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %[1]d
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: mem
    http:
      endpoint: 127.0.0.1:%[2]d
    grpc:
      endpoint: 127.0.0.1:%[3]d
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 1000000
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%[4]d
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
`

var sentSpans = regexp.MustCompile(`(?m)^otelcol_exporter_sent_spans(?:_total)?\{[^}]*\} ([0-9.e+]+)$`)

func startJaeger(b *testing.B, bin string) *receiver {
	metrics, otlp := freePort(b), freePort(b)
	cfg := filepath.Join(b.TempDir(), "jaeger.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(jaegerConfig, metrics, freePort(b), freePort(b), otlp)), 0o600); err != nil {
		b.Fatal(err)
	}
	r := &receiver{cmd: exec.Command(bin, "--config", cfg)}
	r.stderr, r.stdout, r.waited = &syncBuffer{}, &syncBuffer{}, make(chan error, 1)
	r.cmd.Stdout, r.cmd.Stderr = r.stdout, r.stderr
	if err := r.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { r.waited <- r.cmd.Wait() }()
	b.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.waited
	})
	r.url = fmt.Sprintf("http://127.0.0.1:%d", otlp)
	murl := fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics)
	var last int64
	count := func() (int64, error) {
		resp, err := http.Get(murl)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, err
		}
		var n float64
		for _, m := range sentSpans.FindAllSubmatch(body, -1) {
			v, _ := strconv.ParseFloat(string(m[1]), 64)
			n += v
		}
		return int64(n), nil
	}
	// Ready when its metrics and OTLP endpoints answer.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err1 := count()
		c, err2 := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", otlp))
		if err1 == nil && err2 == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("jaeger did not start: %v %v; stderr: %s", err1, err2, r.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.caughtUp = func(n int64) error {
		var err error
		last, err = count()
		if err == nil && last != n {
			err = fmt.Errorf("jaeger stored %d of %d spans", last, n)
		}
		return err
	}
	r.stored = func(string) (int64, error) { return last, nil }
	return r
}

const stockTenant = "stock"

var stockBase = time.Now().UTC().Truncate(time.Hour)

func stockWindow() string {
	return "start_time=" + stockBase.Add(-time.Hour).Format(time.RFC3339) +
		"&end_time=" + stockBase.Add(48*time.Hour).Format(time.RFC3339)
}

func getUsage(c *http.Client, url string, out any) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// runStockOTel drives r with the stock OTel SDK for b.N spans and reports.
func runStockOTel(b *testing.B, r *receiver) {
	ctx := context.Background()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(r.url+"/v1/traces"),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression),
		otlptracehttp.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		b.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "support-bot"), attribute.String("deployment.environment.name", "bench"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res),
		sdktrace.WithBatcher(exp, sdktrace.WithMaxExportBatchSize(512), sdktrace.WithBlocking()))
	tracer := tp.Tracer("bench")

	traces := (b.N + stockSpansPerTrace - 1) / stockSpansPerTrace
	var next, offered atomic.Int64
	b.ResetTimer()
	cpu0 := sdkload.ProcessCPU()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1)) - 1
				if n >= traces {
					return
				}
				offered.Add(int64(stockTrace(ctx, tracer, n, min(stockSpansPerTrace, b.N-stockSpansPerTrace*n))))
			}
		}()
	}
	wg.Wait()
	if err := tp.Shutdown(ctx); err != nil {
		b.Fatalf("client: %v", err)
	}
	if r.caughtUp != nil {
		if err := r.caughtUp(offered.Load()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	clientCPU := sdkload.ProcessCPU() - cpu0
	serverCPU := r.stop(b)
	stored, err := r.stored(r.stdout.String())
	if err != nil {
		b.Fatalf("counting stored spans: %v (stdout %q)", err, r.stdout.String())
	}
	if stored > offered.Load() || stored == 0 {
		b.Fatalf("offered %d, stored %d", offered.Load(), stored)
	}
	b.ReportMetric(float64(stored)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(serverCPU.Nanoseconds())/1e3/float64(stored), "server-cpu-µs/span")
	b.ReportMetric(float64(clientCPU.Nanoseconds())/1e3/float64(offered.Load()), "client-cpu-µs/span")
	b.ReportMetric(float64(offered.Load()-stored), "lost")
	b.ReportMetric(0, "ns/op")
}

// stockTrace records trace n: a root and up to four chat spans with GenAI
// attributes (model, provider, tokens), session, user and tenant on each;
// it returns the number of spans, at most k.
func stockTrace(ctx context.Context, tracer trace.Tracer, n, k int) int {
	common := []attribute.KeyValue{
		attr.SessionID.String(fmt.Sprintf("sess-%d", n/4)), attr.UserID.String(fmt.Sprintf("user-%d", n%50)),
		attr.TenantID.String(stockTenant),
	}
	start := stockBase.Add(time.Duration(n) * time.Millisecond)
	ctx, root := tracer.Start(ctx, "invoke_agent support", trace.WithTimestamp(start),
		trace.WithAttributes(append(common, attr.OperationName.String("invoke_agent"))...))
	for i := 1; i < k; i++ {
		t := start.Add(time.Duration(i) * time.Microsecond)
		_, s := tracer.Start(ctx, "chat gpt-4.1-mini", trace.WithTimestamp(t), trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(append(common,
				attr.OperationName.String(attr.OpChat),
				attr.ProviderName.String("openai"),
				attr.RequestModel.String("gpt-4.1-mini"),
				attr.ResponseModel.String("gpt-4.1-mini-2025-04-14"),
				attr.InputTokens.Int(1200),
				attr.OutputTokens.Int(300),
				attr.FinishReasons.StringSlice([]string{"stop"}),
			)...))
		s.End(trace.WithTimestamp(t.Add(500 * time.Millisecond)))
	}
	root.End(trace.WithTimestamp(start.Add(2 * time.Second)))
	return k
}

// storedSpans counts the spans of the benchmark's tenant in the SQLite
// file db.
func storedSpans(db string) (int64, error) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	u, err := st.TenantUsage(ctx, store.UsageQuery{TenantID: stockTenant, Start: stockBase.Add(-time.Hour), End: stockBase.Add(48 * time.Hour)})
	return u.Spans, err
}
