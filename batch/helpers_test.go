package batch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var spanSeq atomic.Uint64

// mkSpan returns a sampled, ended span snapshot with a unique span ID.
func mkSpan(name string, attrs ...attribute.KeyValue) sdktrace.ReadOnlySpan {
	var tid trace.TraceID
	var sid trace.SpanID
	n := spanSeq.Add(1)
	binary.BigEndian.PutUint64(tid[8:], n)
	binary.BigEndian.PutUint64(sid[:], n)
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	now := time.Now()
	return tracetest.SpanStub{
		Name:        name,
		SpanContext: sc,
		StartTime:   now,
		EndTime:     now.Add(time.Millisecond),
		Attributes:  attrs,
	}.Snapshot()
}

// recExporter is an in-process sdktrace.SpanExporter for tests: it records
// the names it exported, can fail or block, and counts ForceFlush calls.
type recExporter struct {
	mu      sync.Mutex
	names   map[string]int
	batches []int
	calls   int
	flushes int
	shut    int

	// fail, if set, decides per call (1-based) whether ExportSpans fails.
	fail func(call int) bool
	// block, if set, makes ExportSpans wait for it to be closed or ctx done.
	block chan struct{}
	// started receives one value per ExportSpans call, if set (buffered).
	started chan int
	delay   time.Duration
}

func newRecExporter() *recExporter { return &recExporter{names: map[string]int{}} }

var errExport = errors.New("test export failure")

func (e *recExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	e.calls++
	call := e.calls
	e.mu.Unlock()
	if e.started != nil {
		e.started <- len(spans)
	}
	if e.block != nil {
		select {
		case <-e.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if e.delay > 0 {
		t := time.NewTimer(e.delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	if e.fail != nil && e.fail(call) {
		return fmt.Errorf("call %d: %w", call, errExport)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.batches = append(e.batches, len(spans))
	for _, s := range spans {
		e.names[s.Name()]++
	}
	return nil
}

// ConcurrentExports opts recExporter in to concurrent exports: it locks
// what it shares.
func (e *recExporter) ConcurrentExports() bool { return true }

func (e *recExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.shut++
	return nil
}

func (e *recExporter) ForceFlush(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.flushes++
	return nil
}

func (e *recExporter) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.names {
		n += c
	}
	return n
}

func (e *recExporter) has(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.names[name]
}

// dropTally records OnDrop callbacks.
type dropTally struct {
	mu sync.Mutex
	n  map[DropReason]uint64
}

func (d *dropTally) onDrop(r DropReason, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == nil {
		d.n = map[DropReason]uint64{}
	}
	d.n[r] += uint64(n)
}

func (d *dropTally) get(r DropReason) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n[r]
}

// checkInvariant fails the test if the accounting does not add up.
func checkInvariant(t testing.TB, s Stats) {
	t.Helper()
	if got := s.Exported + s.Dropped.Total() + uint64(s.Queued) + uint64(s.InFlight); got != s.Enqueued {
		t.Fatalf("accounting: enqueued %d != exported %d + dropped %d (%s) + queued %d + in flight %d",
			s.Enqueued, s.Exported, s.Dropped.Total(), s.Dropped, s.Queued, s.InFlight)
	}
}

// waitFor polls cond every 5ms for at most 10s (a liveness bound, not a
// timing assertion).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func mustNew(t testing.TB, exp sdktrace.SpanExporter, opts ...Option) *Processor {
	t.Helper()
	p, err := New(exp, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// estimate is the size estimate the flusher cuts batches with (exact for
// slice attributes too).
func estimate(s sdktrace.ReadOnlySpan) int {
	n, _ := spanSize(s, s.SpanContext(), true)
	return n
}
