package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestNewRejectsBadInput(t *testing.T) {
	exp := newRecExporter()
	if _, err := New(nil); !errors.Is(err, ErrNilExporter) {
		t.Fatalf("New(nil) = %v, want ErrNilExporter", err)
	}
	bad := map[string]Option{
		"WithMaxQueueSpans(0)":       WithMaxQueueSpans(0),
		"WithMaxQueueSpans(-1)":      WithMaxQueueSpans(-1),
		"WithMaxQueueBytes(0)":       WithMaxQueueBytes(0),
		"WithMaxBatchSpans(-5)":      WithMaxBatchSpans(-5),
		"WithMaxBatchBytes(0)":       WithMaxBatchBytes(0),
		"WithInterval(0)":            WithInterval(0),
		"WithExportTimeout(-1s)":     WithExportTimeout(-time.Second),
		"WithMaxInFlight(0)":         WithMaxInFlight(0),
		"WithBlocking(0)":            WithBlocking(0),
		"WithBlocking(-1ms)":         WithBlocking(-time.Millisecond),
		"WithMaxQueueBytes(-1 << 3)": WithMaxQueueBytes(-1 << 3),
	}
	for name, opt := range bad {
		p, err := New(exp, opt)
		if !errors.Is(err, ErrInvalidOption) || p != nil {
			t.Errorf("%s: New = %v, %v; want ErrInvalidOption", name, p, err)
		}
	}
	// Zero export timeout means no timeout; a batch larger than the queue is
	// lowered to it; a nil option is ignored.
	p, err := New(exp, WithExportTimeout(0), WithMaxQueueSpans(10), WithMaxBatchSpans(100),
		WithMaxQueueBytes(1000), WithMaxBatchBytes(5000), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	if p.cfg.exportTimeout != 0 || p.cfg.maxBatchSpans != 10 || p.cfg.maxBatchBytes != 1000 {
		t.Fatalf("cfg = %+v", p.cfg)
	}
}

func TestDefaults(t *testing.T) {
	p := mustNew(t, newRecExporter())
	defer p.Shutdown(context.Background())
	c := p.cfg
	if c.maxQueueSpans != DefaultMaxQueueSpans || c.maxQueueBytes != DefaultMaxQueueBytes ||
		c.maxBatchSpans != DefaultMaxBatchSpans || c.maxBatchBytes != DefaultMaxBatchBytes ||
		c.interval != DefaultInterval || c.exportTimeout != DefaultExportTimeout ||
		c.maxInFlight != DefaultMaxInFlight || c.blocking {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestEnvironment(t *testing.T) {
	t.Setenv(EnvMaxQueueSize, "100")
	t.Setenv(EnvMaxExportBatchSize, "10")
	t.Setenv(EnvScheduleDelay, "250")
	t.Setenv(EnvExportTimeout, "0")
	p := mustNew(t, newRecExporter())
	c := p.cfg
	p.Shutdown(context.Background())
	if c.maxQueueSpans != 100 || c.maxBatchSpans != 10 || c.interval != 250*time.Millisecond || c.exportTimeout != 0 {
		t.Fatalf("env not applied: %+v", c)
	}

	// Explicit options win over the environment.
	p = mustNew(t, newRecExporter(), WithMaxQueueSpans(7), WithMaxBatchSpans(3), WithInterval(time.Minute), WithExportTimeout(time.Second))
	c = p.cfg
	p.Shutdown(context.Background())
	if c.maxQueueSpans != 7 || c.maxBatchSpans != 3 || c.interval != time.Minute || c.exportTimeout != time.Second {
		t.Fatalf("options did not win: %+v", c)
	}

	// Invalid values are ignored with a warning.
	t.Setenv(EnvMaxQueueSize, "lots")
	t.Setenv(EnvScheduleDelay, "-5")
	var buf bytes.Buffer
	p = mustNew(t, newRecExporter(), WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	c = p.cfg
	p.Shutdown(context.Background())
	if c.maxQueueSpans != DefaultMaxQueueSpans || c.interval != DefaultInterval {
		t.Fatalf("invalid env not ignored: %+v", c)
	}
	if !strings.Contains(buf.String(), EnvMaxQueueSize) || !strings.Contains(buf.String(), EnvScheduleDelay) {
		t.Fatalf("no warning for invalid env: %q", buf.String())
	}
}

// TestNoSpanLostOnShutdown ends 100,000 spans through a real TracerProvider
// from 16 goroutines; a clean Shutdown must deliver every one.
func TestNoSpanLostOnShutdown(t *testing.T) {
	const goroutines, perG = 16, 6250
	exp := newRecExporter()
	p := mustNew(t, exp, WithBlocking(time.Minute))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p))
	tr := tp.Tracer("test")
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				_, s := tr.Start(context.Background(), fmt.Sprintf("s-%d-%d", g, i))
				s.End()
			}
		})
	}
	wg.Wait()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(exp.names) != goroutines*perG || exp.count() != goroutines*perG {
		t.Fatalf("exported %d distinct spans (%d in all), want %d", len(exp.names), exp.count(), goroutines*perG)
	}
	st := p.Stats()
	checkInvariant(t, st)
	if st.Enqueued != goroutines*perG || st.Exported != goroutines*perG || st.Dropped.Total() != 0 || st.Queued != 0 || st.InFlight != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

// TestDefaultSettingsAccountForEverySpan floods a processor at default
// settings (non-blocking) from 16 goroutines: whatever is not exported must be
// a queue_full drop, and the exporter must have seen exactly Exported spans.
func TestDefaultSettingsAccountForEverySpan(t *testing.T) {
	const goroutines, perG = 16, 6250
	exp := newRecExporter()
	var drops dropTally
	p := mustNew(t, exp, WithOnDrop(drops.onDrop), WithLogger(slog.New(slog.DiscardHandler)))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p))
	tr := tp.Tracer("test")
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				_, s := tr.Start(context.Background(), fmt.Sprintf("s-%d-%d", g, i))
				s.End()
			}
		})
	}
	wg.Wait()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	checkInvariant(t, st)
	if st.Enqueued != goroutines*perG || st.Queued != 0 || st.InFlight != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if st.Dropped.Total() != st.Dropped.QueueFull || uint64(exp.count()) != st.Exported {
		t.Fatalf("stats %+v, exporter saw %d", st, exp.count())
	}
	if drops.get(QueueFull) != st.Dropped.QueueFull {
		t.Fatalf("OnDrop saw %d queue_full, stats %d", drops.get(QueueFull), st.Dropped.QueueFull)
	}
}

// TestInvariantUnderConcurrency checks the accounting identity on every Stats
// call while producers, failing exports and drops run concurrently.
func TestInvariantUnderConcurrency(t *testing.T) {
	exp := newRecExporter()
	exp.fail = func(call int) bool { return call%3 == 0 }
	var drops dropTally
	p := mustNew(t, exp, WithMaxQueueSpans(256), WithMaxBatchSpans(64), WithMaxInFlight(2),
		WithInterval(time.Millisecond), WithOnDrop(drops.onDrop), WithLogger(slog.New(slog.DiscardHandler)))

	stop := make(chan struct{})
	var checks int
	checker := make(chan struct{})
	go func() {
		defer close(checker)
		for {
			select {
			case <-stop:
				return
			default:
			}
			checkInvariant(t, p.Stats())
			checks++
		}
	}()
	const producers, perP = 8, 5000
	var wg sync.WaitGroup
	for g := range producers {
		wg.Go(func() {
			for i := range perP {
				p.OnEnd(mkSpan(fmt.Sprintf("p%d-%d", g, i)))
			}
		})
	}
	wg.Wait()
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-checker
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown after flush = %v", err)
	}
	st := p.Stats()
	checkInvariant(t, st)
	if st.Enqueued != producers*perP || st.Queued != 0 || st.InFlight != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if st.Dropped.ExportFailed == 0 || uint64(exp.count()) != st.Exported {
		t.Fatalf("stats %+v, exporter saw %d", st, exp.count())
	}
	for _, r := range reasons {
		if drops.get(r) != st.Dropped.Get(r) {
			t.Fatalf("OnDrop %s = %d, stats %d", r, drops.get(r), st.Dropped.Get(r))
		}
	}
	if checks == 0 {
		t.Fatal("checker never ran")
	}
}

func TestForceFlushExportsEverythingEndedBefore(t *testing.T) {
	exp := newRecExporter()
	p := mustNew(t, exp, WithInterval(time.Hour))
	defer p.Shutdown(context.Background())
	for i := range 10 {
		p.OnEnd(mkSpan(fmt.Sprint("f", i)))
	}
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if exp.count() != 10 || exp.flushes != 1 {
		t.Fatalf("after ForceFlush: exported %d, exporter flushes %d", exp.count(), exp.flushes)
	}
	// Nothing pending: returns at once, still flushes the exporter.
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if exp.flushes != 2 {
		t.Fatalf("exporter flushes = %d", exp.flushes)
	}
	if err := p.ForceFlush(canceledCtx()); !errors.Is(err, context.Canceled) {
		t.Fatalf("ForceFlush(canceled) = %v", err)
	}
}

func canceledCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestForceFlushWaitsForInFlight: ForceFlush must not return while an export
// holding earlier spans is still running.
func TestForceFlushWaitsForInFlight(t *testing.T) {
	exp := newRecExporter()
	exp.block = make(chan struct{})
	exp.started = make(chan int, 10)
	p := mustNew(t, exp, WithMaxBatchSpans(2), WithInterval(time.Hour))
	defer p.Shutdown(context.Background())
	p.OnEnd(mkSpan("a"))
	p.OnEnd(mkSpan("b")) // full batch: goes out and blocks
	<-exp.started
	p.OnEnd(mkSpan("c"))
	done := make(chan error, 1)
	go func() { done <- p.ForceFlush(context.Background()) }()
	<-exp.started // "c" is in flight too
	select {
	case err := <-done:
		t.Fatalf("ForceFlush returned %v while exports were blocked", err)
	default:
	}
	close(exp.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if exp.count() != 3 {
		t.Fatalf("exported %d", exp.count())
	}
}

func TestForceFlushContextExpires(t *testing.T) {
	exp := newRecExporter()
	exp.block = make(chan struct{})
	p := mustNew(t, exp, WithInterval(time.Hour), WithMaxInFlight(1), WithMaxBatchSpans(4))
	defer p.Shutdown(context.Background())
	defer close(exp.block)
	for i := range 6 {
		p.OnEnd(mkSpan(fmt.Sprint(i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := p.ForceFlush(ctx)
	var ue *UndeliveredError
	if !errors.As(err, &ue) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ForceFlush = %v", err)
	}
	if ue.Op != "flush" || ue.InFlight != 4 || ue.Queued != 2 || ue.NotDelivered() != 6 {
		t.Fatalf("error = %+v (%v)", ue, ue)
	}
}

// TestShutdownContextExpires: an exporter that never finishes; Shutdown must
// return on time with a typed error naming what was not delivered.
func TestShutdownContextExpires(t *testing.T) {
	exp := newRecExporter()
	exp.block = make(chan struct{}) // never closed: exports end only on cancel
	exp.started = make(chan int, 10)
	var drops dropTally
	p := mustNew(t, exp, WithInterval(time.Hour), WithMaxInFlight(1), WithMaxBatchSpans(10),
		WithOnDrop(drops.onDrop), WithLogger(slog.New(slog.DiscardHandler)))
	for i := range 100 {
		p.OnEnd(mkSpan(fmt.Sprint(i)))
	}
	<-exp.started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := p.Shutdown(ctx)
	var ue *UndeliveredError
	if !errors.As(err, &ue) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v", err)
	}
	if ue.Op != "shutdown" || ue.Dropped.AfterShutdown != 90 || ue.Dropped.ExportFailed+uint64(ue.InFlight) != 10 || ue.NotDelivered() != 100 {
		t.Fatalf("error = %+v (%v)", ue, ue)
	}
	if !strings.Contains(err.Error(), "100 spans not delivered") {
		t.Fatalf("message %q", err)
	}
	// The cancelled export returns and is counted as export_failed.
	waitFor(t, "cancelled export to return", func() bool { return p.Stats().InFlight == 0 })
	st := p.Stats()
	checkInvariant(t, st)
	if st.Dropped.AfterShutdown != 90 || st.Dropped.ExportFailed != 10 || st.Exported != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if drops.get(AfterShutdown) != 90 {
		t.Fatalf("OnDrop after_shutdown = %d", drops.get(AfterShutdown))
	}
	// A second Shutdown returns the first result.
	if err2 := p.Shutdown(context.Background()); err2 != err {
		t.Fatalf("second Shutdown = %v", err2)
	}
}

func TestAfterShutdown(t *testing.T) {
	exp := newRecExporter()
	var drops dropTally
	p := mustNew(t, exp, WithOnDrop(drops.onDrop), WithLogger(slog.New(slog.DiscardHandler)))
	p.OnEnd(mkSpan("before"))
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if exp.has("before") != 1 || exp.shut != 1 {
		t.Fatalf("before Shutdown: exported %d, exporter shut down %d times", exp.has("before"), exp.shut)
	}
	p.OnEnd(mkSpan("after"))
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown = %v", err)
	}
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatalf("ForceFlush after Shutdown = %v", err)
	}
	st := p.Stats()
	checkInvariant(t, st)
	if st.Dropped.AfterShutdown != 1 || drops.get(AfterShutdown) != 1 || exp.has("after") != 0 || exp.shut != 1 {
		t.Fatalf("stats %+v, exporter shut down %d times", st, exp.shut)
	}
}

func TestShutdownReportsFailedExports(t *testing.T) {
	exp := newRecExporter()
	exp.fail = func(int) bool { return true }
	p := mustNew(t, exp, WithLogger(slog.New(slog.DiscardHandler)))
	for i := range 5 {
		p.OnEnd(mkSpan(fmt.Sprint(i)))
	}
	err := p.Shutdown(context.Background())
	var ue *UndeliveredError
	if !errors.As(err, &ue) || ue.Err != nil || ue.Dropped.ExportFailed != 5 || ue.NotDelivered() != 5 {
		t.Fatalf("Shutdown = %v", err)
	}
}

func TestNotSampledIsIgnored(t *testing.T) {
	exp := newRecExporter()
	p := mustNew(t, exp)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p), sdktrace.WithSampler(sdktrace.NeverSample()))
	_, s := tp.Tracer("t").Start(context.Background(), "x")
	s.End()
	p.OnEnd(nil)
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Enqueued != 0 || exp.count() != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTooLargeIsDroppedNotSent(t *testing.T) {
	exp := newRecExporter()
	var drops dropTally
	p := mustNew(t, exp, WithMaxBatchBytes(2000), WithOnDrop(drops.onDrop), WithLogger(slog.New(slog.DiscardHandler)))
	p.OnEnd(mkSpan("small", attribute.String("k", "v")))
	p.OnEnd(mkSpan("huge", attribute.String("prompt", strings.Repeat("x", 5000))))
	// Fits alone as a span, but not with its resource and scope: dropped by
	// the flusher.
	n := 1000
	for estimate(mkSpan("edge", attribute.String("prompt", strings.Repeat("y", n+1)))) <= 2000 {
		n++
	}
	p.OnEnd(mkSpan("edge", attribute.String("prompt", strings.Repeat("y", n))))
	// Shutdown may or may not report the drop: the flusher can drop "edge"
	// before Shutdown begins.
	_ = p.Shutdown(context.Background())
	st := p.Stats()
	checkInvariant(t, st)
	if exp.has("small") != 1 || exp.has("huge") != 0 || exp.has("edge") != 0 || st.Dropped.TooLarge != 2 || drops.get(TooLarge) != 2 {
		t.Fatalf("stats %+v, exported %v", st, exp.names)
	}
}

func TestBatchesAreSplitByBytes(t *testing.T) {
	exp := newRecExporter()
	p := mustNew(t, exp, WithMaxBatchBytes(4500), WithInterval(time.Hour))
	big := strings.Repeat("z", 1000)
	for i := range 20 {
		p.OnEnd(mkSpan(fmt.Sprint(i), attribute.String("prompt", big)))
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if exp.count() != 20 {
		t.Fatalf("exported %d", exp.count())
	}
	for _, n := range exp.batches {
		if n > 4 || n == 0 {
			t.Fatalf("batch sizes %v: a batch of ~1 KiB spans must hold 1..4 under 4500 bytes", exp.batches)
		}
	}
}

func TestBatchTriggersOnCountAndInterval(t *testing.T) {
	exp := newRecExporter()
	exp.started = make(chan int, 10)
	p := mustNew(t, exp, WithMaxBatchSpans(5), WithInterval(time.Hour))
	defer p.Shutdown(context.Background())
	for i := range 5 {
		p.OnEnd(mkSpan(fmt.Sprint(i)))
	}
	if n := <-exp.started; n != 5 {
		t.Fatalf("count trigger sent %d spans", n)
	}

	exp2 := newRecExporter()
	exp2.started = make(chan int, 10)
	p2 := mustNew(t, exp2, WithInterval(10*time.Millisecond))
	defer p2.Shutdown(context.Background())
	p2.OnEnd(mkSpan("lonely"))
	if n := <-exp2.started; n != 1 {
		t.Fatalf("interval trigger sent %d spans", n)
	}
}

func TestBlockingWaitsAtMostTimeout(t *testing.T) {
	exp := newRecExporter()
	exp.block = make(chan struct{})
	exp.started = make(chan int, 10)
	p := mustNew(t, exp, WithMaxQueueSpans(4), WithMaxBatchSpans(4), WithMaxInFlight(1),
		WithInterval(time.Hour), WithBlocking(20*time.Millisecond), WithLogger(slog.New(slog.DiscardHandler)))
	for i := range 4 {
		p.OnEnd(mkSpan(fmt.Sprint("a", i)))
	}
	<-exp.started // first batch in flight, blocked
	for i := range 4 {
		p.OnEnd(mkSpan(fmt.Sprint("b", i))) // fills the queue
	}
	p.OnEnd(mkSpan("timeout")) // waits 20ms, then dropped
	if st := p.Stats(); st.Dropped.QueueFull != 1 || st.Queued != 4 || st.InFlight != 4 {
		t.Fatalf("stats %+v", st)
	}
	// This one waits until the exporter frees a slot and the queue drains.
	p.cfg.blockTimeout = time.Minute
	done := make(chan struct{})
	go func() { p.OnEnd(mkSpan("waited")); close(done) }()
	waitFor(t, "OnEnd to block", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.room != nil
	})
	close(exp.block)
	<-done
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	checkInvariant(t, st)
	if exp.has("waited") != 1 || exp.has("timeout") != 0 || st.Exported != 9 || st.Dropped.Total() != 1 {
		t.Fatalf("stats %+v names %v", st, exp.names)
	}
}

func TestQueueByteBound(t *testing.T) {
	exp := newRecExporter()
	exp.block = make(chan struct{})
	p := mustNew(t, exp, WithMaxQueueBytes(10_000), WithMaxBatchBytes(10_000), WithMaxBatchSpans(1000),
		WithInterval(time.Hour), WithLogger(slog.New(slog.DiscardHandler)))
	s := mkSpan("x", attribute.String("prompt", strings.Repeat("p", 3000)))
	for range 4 {
		p.OnEnd(s)
	}
	st := p.Stats()
	if st.Queued+st.InFlight != 3 || st.Dropped.QueueFull != 1 || st.QueuedBytes > 10_000 {
		t.Fatalf("stats %+v", st)
	}
	close(exp.block)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestDropWarningIsLogged(t *testing.T) {
	var buf syncBuffer
	exp := newRecExporter()
	exp.fail = func(int) bool { return true }
	p := mustNew(t, exp, WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	p.OnEnd(mkSpan("a"))
	p.OnEnd(mkSpan("b"))
	_ = p.Shutdown(context.Background())
	out := buf.String()
	if strings.Count(out, "spans dropped") != 1 || !strings.Contains(out, "export_failed=2") || !strings.Contains(out, "test export failure") {
		t.Fatalf("log = %q", out)
	}
}

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

func TestDropCounts(t *testing.T) {
	d := DropCounts{QueueFull: 1, ExportFailed: 2}
	if d.Total() != 3 || d.Get(ExportFailed) != 2 || d.Get("nope") != 0 {
		t.Fatal(d)
	}
	if d.String() != "queue_full=1 export_failed=2" || (DropCounts{}).String() != "none" {
		t.Fatal(d.String())
	}
}

var _ = trace.SpanContext{}

// TestQueueBound: producers on several goroutines never get more spans into
// the queue than its bound, and what does not fit is counted as queue_full.
func TestQueueBound(t *testing.T) {
	exp := newRecExporter()
	exp.block = make(chan struct{})
	p := mustNew(t, exp, WithMaxQueueSpans(4096), WithMaxBatchSpans(64), WithMaxInFlight(2),
		WithInterval(time.Hour), WithLogger(slog.New(slog.DiscardHandler)))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2500 {
				p.OnEnd(mkSpan(fmt.Sprint(g, "-", i)))
			}
		})
	}
	wg.Wait()
	st := p.Stats()
	checkInvariant(t, st)
	if st.Queued > 4096 || st.InFlight > 2*64 || st.Dropped.QueueFull == 0 || st.Enqueued != 10000 {
		t.Fatalf("stats %+v", st)
	}
	close(exp.block)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	st = p.Stats()
	checkInvariant(t, st)
	if st.Exported+st.Dropped.QueueFull != 10000 || uint64(exp.count()) != st.Exported {
		t.Fatalf("stats %+v, exporter saw %d", st, exp.count())
	}
}

// TestDropWarningIsRateLimited: drops are logged promptly, then at most once
// per 10 seconds with the counts since the previous warning; Shutdown logs
// the rest.
func TestDropWarningIsRateLimited(t *testing.T) {
	var buf syncBuffer
	exp := newRecExporter()
	exp.block = make(chan struct{})
	p := mustNew(t, exp, WithMaxQueueSpans(2), WithMaxBatchSpans(2), WithMaxInFlight(1),
		WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	for i := range 5 { // 2 in flight, 2 queued, 1 dropped
		p.OnEnd(mkSpan(fmt.Sprint(i)))
		if i == 1 {
			waitFor(t, "first batch in flight", func() bool { return p.Stats().InFlight == 2 })
		}
	}
	waitFor(t, "first warning", func() bool { return strings.Count(buf.String(), "spans dropped") == 1 })
	for i := range 3 {
		p.OnEnd(mkSpan(fmt.Sprint("more", i)))
	}
	if st := p.Stats(); st.Dropped.QueueFull != 4 {
		t.Fatalf("stats %+v", st)
	}
	if n := strings.Count(buf.String(), "spans dropped"); n != 1 {
		t.Fatalf("%d warnings within 10s: %q", n, buf.String())
	}
	close(exp.block)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Count(out, "spans dropped") != 2 || !strings.Contains(out, "queue_full=1 ") ||
		!strings.Contains(out, "queue_full=3 ") || !strings.Contains(out, "total_dropped=4") {
		t.Fatalf("log = %q", out)
	}
}

// TestForceFlushUnderLoad: while producers keep ending spans, every
// ForceFlush must return only after each span ended before it was exported,
// even though exports finish out of order.
func TestForceFlushUnderLoad(t *testing.T) {
	exp := newRecExporter()
	var calls atomic.Int64
	p := mustNew(t, &delayExporter{recExporter: exp, calls: &calls}, WithMaxBatchSpans(64), WithMaxInFlight(4),
		WithInterval(time.Hour), WithMaxQueueSpans(1<<17), WithBlocking(time.Minute))

	const producers, perP = 4, 3000
	var ended [producers]atomic.Int64 // spans 0..ended-1 of each producer have ended
	var wg sync.WaitGroup
	for g := range producers {
		wg.Go(func() {
			for i := range perP {
				p.OnEnd(mkSpan(fmt.Sprintf("g%d-%d", g, i)))
				ended[g].Store(int64(i + 1))
			}
		})
	}
	var checked [producers]int64
	for range 30 {
		var before [producers]int64
		for g := range producers {
			before[g] = ended[g].Load()
		}
		if err := p.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
		for g := range producers {
			for i := checked[g]; i < before[g]; i++ {
				if exp.has(fmt.Sprintf("g%d-%d", g, i)) != 1 {
					t.Fatalf("span g%d-%d ended before ForceFlush but was not exported when it returned", g, i)
				}
			}
			checked[g] = before[g]
		}
	}
	wg.Wait()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	checkInvariant(t, st)
	if st.Dropped.Total() != 0 || st.Exported != producers*perP || uint64(exp.count()) != st.Exported {
		t.Fatalf("stats %+v", st)
	}
}

// delayExporter delays every other export a little so that exports finish out
// of order.
type delayExporter struct {
	*recExporter
	calls *atomic.Int64
}

func (d *delayExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if d.calls.Add(1)%2 == 0 {
		time.Sleep(300 * time.Microsecond)
	}
	return d.recExporter.ExportSpans(ctx, spans)
}

// TestOnEndDoesNotAllocate: OnEnd allocates nothing, also for spans with
// slice attributes (agenttrace records finish reasons and tags as slices).
func TestOnEndDoesNotAllocate(t *testing.T) {
	exp := newRecExporter()
	// No batch becomes due during the test (by count, bytes or time): the
	// flusher's allocations would count too.
	p := mustNew(t, exp, WithInterval(time.Hour), WithMaxBatchSpans(1<<14), WithMaxQueueSpans(1<<16),
		WithMaxBatchBytes(1<<29), WithMaxQueueBytes(1<<30))
	defer p.Shutdown(context.Background())
	spans := make([]sdktrace.ReadOnlySpan, 64)
	for i := range spans {
		spans[i] = mkSpan("chat", attribute.String("gen_ai.request.model", "gpt-4o"),
			attribute.StringSlice("gen_ai.response.finish_reasons", []string{"stop"}),
			attribute.StringSlice("agenttrace.tags", []string{"a", "b", "c", "d"}),
			attribute.Int64("gen_ai.usage.input_tokens", 12))
	}
	for range 200 { // grow the queue first
		for _, s := range spans {
			p.OnEnd(s)
		}
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() { p.OnEnd(spans[i%len(spans)]); i++ }); n != 0 {
		t.Fatalf("OnEnd allocates %v times per span", n)
	}
}

// TestSliceAttributesMeasuredBeforeSending: OnEnd only guesses the size of
// slice attributes; the flusher measures them, so a span made too large by
// one is dropped with too_large and never sent.
func TestSliceAttributesMeasuredBeforeSending(t *testing.T) {
	exp := newRecExporter()
	p := mustNew(t, exp, WithMaxBatchBytes(4000), WithInterval(time.Hour), WithLogger(slog.New(slog.DiscardHandler)))
	long := make([]string, 100)
	for i := range long {
		long[i] = strings.Repeat("t", 100)
	}
	big := mkSpan("big", attribute.StringSlice("agenttrace.tags", long))
	if n, exact := spanSize(big, big.SpanContext(), false); exact || n > 4000 {
		t.Fatalf("hot-path estimate %d (exact %v): the test needs a guess below the limit", n, exact)
	}
	p.OnEnd(big)
	p.OnEnd(mkSpan("small", attribute.StringSlice("agenttrace.tags", []string{"x"})))
	_ = p.Shutdown(context.Background())
	st := p.Stats()
	checkInvariant(t, st)
	if exp.has("big") != 0 || exp.has("small") != 1 || st.Dropped.TooLarge != 1 {
		t.Fatalf("stats %+v, exported %v", st, exp.names)
	}
}

// sizeExporter records the estimated request size (exact, resource and
// scope included) of every ExportSpans call.
type sizeExporter struct {
	recExporter
	sizes []int
}

func (e *sizeExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	n := resourceOverhead(spans[0].Resource()) + scopeOverhead(spans[0].InstrumentationScope())
	for _, s := range spans {
		n += estimate(s)
	}
	e.mu.Lock()
	e.sizes = append(e.sizes, n)
	e.mu.Unlock()
	return e.recExporter.ExportSpans(ctx, spans)
}

// TestSliceAttributesMeasuredWhenCutting: OnEnd guesses slice attributes
// small (40 spans of ~1.1 KB look like ~200 bytes each); the flusher
// measures them before it cuts a batch, so every request stays within the
// maximum request size, and no span is lost.
func TestSliceAttributesMeasuredWhenCutting(t *testing.T) {
	exp := &sizeExporter{recExporter: *newRecExporter()}
	const limit = 4000
	p := mustNew(t, exp, WithMaxBatchBytes(limit), WithMaxBatchSpans(20), WithInterval(time.Hour))
	tags := make([]string, 10)
	for i := range tags {
		tags[i] = strings.Repeat("t", 100)
	}
	for i := range 40 {
		p.OnEnd(mkSpan(fmt.Sprint(i), attribute.StringSlice("agenttrace.tags", tags)))
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	checkInvariant(t, st)
	if exp.count() != 40 || st.Exported != 40 {
		t.Fatalf("stats %+v, exporter saw %d", st, exp.count())
	}
	if len(exp.sizes) < 8 {
		t.Fatalf("request sizes %v: 40 spans of ~1.1 KB need at least 8 requests under %d bytes", exp.sizes, limit)
	}
	for _, n := range exp.sizes {
		if n > limit {
			t.Fatalf("request sizes %v: one exceeds %d", exp.sizes, limit)
		}
	}
}
