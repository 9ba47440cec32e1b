package batch_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agenttrace/agenttrace/batch"
	"github.com/agenttrace/agenttrace/span"
	"github.com/agenttrace/agenttrace/trace"
)

// overlapExporter is a user's exporter written to OpenTelemetry's
// SpanExporter contract (ExportSpans is called synchronously): it is not
// safe for concurrent calls, and it records any overlap it sees.
type overlapExporter struct {
	active   atomic.Int32
	overlaps atomic.Int32
	calls    atomic.Int32
	spans    atomic.Int64
	// second, if set, makes a call wait (at most a second) for another call
	// to start: proof that overlapping calls would be seen.
	second chan struct{}
	names  map[string]int // unguarded on purpose: -race flags concurrent calls
}

func (e *overlapExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.active.Add(1) > 1 {
		e.overlaps.Add(1)
	}
	defer e.active.Add(-1)
	n := e.calls.Add(1)
	if e.second != nil {
		if n == 2 {
			close(e.second)
		}
		select {
		case <-e.second:
		case <-time.After(time.Second):
		}
	} else {
		time.Sleep(2 * time.Millisecond)
	}
	if e.second == nil { // the serial cases: an unsafe map, for -race to check
		if e.names == nil {
			e.names = map[string]int{}
		}
		for _, s := range spans {
			e.names[s.Name()]++
		}
	}
	e.spans.Add(int64(len(spans)))
	return nil
}

func (*overlapExporter) Shutdown(context.Context) error { return nil }

// optIn is a wrapper that opts a safe exporter in to concurrent exports.
type optIn struct{ *overlapExporter }

func (optIn) ConcurrentExports() bool { return true }

// TestUserExporterCalledSerially: a user's exporter, passed to batch.New or
// trace.WithExporter, never sees two ExportSpans calls at once, even with
// many batches due together and WithMaxInFlight asking for more; an exporter
// that opts in (batch.ConcurrentExporter) is called concurrently.
func TestUserExporterCalledSerially(t *testing.T) {
	const spans = 4000

	t.Run("batch.New", func(t *testing.T) {
		exp := &overlapExporter{}
		p, err := batch.New(exp, batch.WithMaxBatchSpans(50), batch.WithMaxInFlight(8), batch.WithInterval(time.Hour))
		require.NoError(t, err)
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p))
		tr := tp.Tracer("t")
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range spans / 4 {
					_, s := tr.Start(context.Background(), "s")
					s.End()
				}
			})
		}
		wg.Wait()
		require.NoError(t, tp.Shutdown(context.Background()))
		assert.EqualValues(t, spans, exp.spans.Load())
		assert.Equal(t, spans, exp.names["s"])
		assert.Greater(t, exp.calls.Load(), int32(spans/50-1), "many batches")
		assert.Zero(t, exp.overlaps.Load(), "overlapping ExportSpans calls")
	})

	t.Run("trace.WithExporter", func(t *testing.T) {
		exp := &overlapExporter{}
		client, err := trace.NewClient(context.Background(), trace.WithExporter(exp), trace.WithServiceName("svc"),
			trace.WithBatchOptions(batch.WithMaxBatchSpans(20), batch.WithInterval(time.Hour)))
		require.NoError(t, err)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 100 {
					ctx, tr := client.Start(context.Background(), "agent")
					_, s := tr.Span(ctx, span.Task, "step")
					s.End()
					tr.End()
				}
			})
		}
		wg.Wait()
		require.NoError(t, client.Shutdown(context.Background()))
		assert.EqualValues(t, 800, exp.spans.Load())
		assert.Zero(t, exp.overlaps.Load(), "overlapping ExportSpans calls")
	})

	t.Run("opted in", func(t *testing.T) {
		exp := &overlapExporter{second: make(chan struct{})}
		p, err := batch.New(optIn{exp}, batch.WithMaxBatchSpans(10), batch.WithMaxInFlight(4), batch.WithInterval(time.Hour))
		require.NoError(t, err)
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p))
		for range 40 {
			_, s := tp.Tracer("t").Start(context.Background(), "s")
			s.End()
		}
		require.NoError(t, tp.Shutdown(context.Background()))
		assert.EqualValues(t, 40, exp.spans.Load())
		assert.Positive(t, exp.overlaps.Load(), "an exporter that opts in is called concurrently")
	})
}
