package trace_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agenttrace/agenttrace/batch"
	"github.com/agenttrace/agenttrace/span"
	"github.com/agenttrace/agenttrace/trace"
)

// countingExporter counts the spans it is handed and fails every export
// while fail is set.
type countingExporter struct {
	mu       sync.Mutex
	names    map[string]int
	fail     bool
	shutdown bool
}

func newCountingExporter() *countingExporter { return &countingExporter{names: map[string]int{}} }

func (e *countingExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail {
		return errors.New("collector said no")
	}
	for _, s := range spans {
		e.names[s.Name()]++
	}
	return nil
}

func (e *countingExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.shutdown = true
	return nil
}

func (e *countingExporter) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.names {
		n += c
	}
	return n
}

func checkInvariant(t *testing.T, st batch.Stats) {
	t.Helper()
	assert.Equal(t, st.Enqueued, st.Exported+st.Dropped.Total()+uint64(st.Queued)+uint64(st.InFlight), "stats %+v", st)
}

// TestStatsAfterShutdownCountEverySpan: spans ended from several goroutines
// all go through the batch processor and Stats accounts for each.
func TestStatsAfterShutdownCountEverySpan(t *testing.T) {
	for _, attached := range []bool{false, true} {
		t.Run(fmt.Sprintf("attached=%v", attached), func(t *testing.T) {
			exp := newCountingExporter()
			opts := []trace.Option{trace.WithExporter(exp),
				// A small batch and a long interval: the batches are cut by
				// size, the rest by Shutdown.
				trace.WithBatchOptions(batch.WithMaxBatchSpans(7), batch.WithInterval(time.Hour))}
			if attached {
				tp := sdktrace.NewTracerProvider()
				t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })
				opts = append(opts, trace.WithTracerProvider(tp))
			}
			client, err := trace.NewClient(context.Background(), opts...)
			require.NoError(t, err)
			ctx, tr := client.Start(context.Background(), "t")
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					for i := range 25 {
						_, s := tr.Span(ctx, span.Task, fmt.Sprintf("s-%d-%d", g, i))
						s.End()
					}
				})
			}
			wg.Wait()
			tr.End()
			require.NoError(t, client.Shutdown(context.Background()))

			st := client.Stats()
			checkInvariant(t, st)
			assert.Equal(t, batch.Stats{Enqueued: 101, Exported: 101}, st)
			assert.Equal(t, 101, exp.count())
			assert.True(t, exp.shutdown, "Shutdown shuts the exporter down")
		})
	}
}

// TestStatsShowDrops: spans the exporter refuses and spans too large for a
// request are counted as dropped, with their reason, and reach WithOnDrop.
func TestStatsShowDrops(t *testing.T) {
	exp := newCountingExporter()
	exp.fail = true
	var mu sync.Mutex
	drops := map[batch.DropReason]int{}
	client, err := trace.NewClient(context.Background(), trace.WithExporter(exp),
		trace.WithBatchOptions(
			batch.WithMaxBatchBytes(4<<10),
			batch.WithLogger(slog.New(slog.DiscardHandler)),
			batch.WithOnDrop(func(r batch.DropReason, n int) {
				mu.Lock()
				drops[r] += n
				mu.Unlock()
			})))
	require.NoError(t, err)

	ctx, tr := client.Start(context.Background(), "t")
	_, big := tr.Span(ctx, span.Retrieval, "big")
	big.RecordOutput(strings.Repeat("x", 8<<10)) // alone larger than a request
	big.End()
	for i := range 9 {
		_, s := tr.Span(ctx, span.Task, fmt.Sprint("s", i))
		s.End()
	}
	tr.End()
	require.NoError(t, client.Flush(context.Background()), "Flush returns once every span is exported or dropped")

	st := client.Stats()
	checkInvariant(t, st)
	assert.Equal(t, uint64(11), st.Enqueued)
	assert.Equal(t, uint64(0), st.Exported)
	assert.Equal(t, batch.DropCounts{TooLarge: 1, ExportFailed: 10}, st.Dropped)
	mu.Lock()
	assert.Equal(t, map[batch.DropReason]int{batch.TooLarge: 1, batch.ExportFailed: 10}, drops)
	mu.Unlock()
	require.NoError(t, client.Shutdown(context.Background()), "nothing was pending")
}

// hangingExporter blocks every export until its context is done.
type hangingExporter struct{}

func (hangingExporter) ExportSpans(ctx context.Context, _ []sdktrace.ReadOnlySpan) error {
	<-ctx.Done()
	return ctx.Err()
}
func (hangingExporter) Shutdown(context.Context) error { return nil }

// TestShutdownSaysWhatWasNotDelivered: with an exporter that hangs, Shutdown
// returns when its ctx runs out with a *batch.UndeliveredError counting the
// spans, for a client with its own provider and one attached to a user's.
func TestShutdownSaysWhatWasNotDelivered(t *testing.T) {
	for _, attached := range []bool{false, true} {
		t.Run(fmt.Sprintf("attached=%v", attached), func(t *testing.T) {
			opts := []trace.Option{trace.WithExporter(hangingExporter{}),
				trace.WithBatchOptions(batch.WithLogger(slog.New(slog.DiscardHandler)))}
			if attached {
				tp := sdktrace.NewTracerProvider()
				t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })
				opts = append(opts, trace.WithTracerProvider(tp))
			}
			client, err := trace.NewClient(context.Background(), opts...)
			require.NoError(t, err)
			ctx, tr := client.Start(context.Background(), "t")
			for range 4 {
				_, s := tr.Span(ctx, span.Task, "s")
				s.End()
			}
			tr.End()

			fctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err = client.Flush(fctx)
			var ue *batch.UndeliveredError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, "flush", ue.Op)
			assert.Equal(t, 5, ue.NotDelivered(), "%v", err)
			require.ErrorIs(t, err, context.DeadlineExceeded)

			sctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			err = client.Shutdown(sctx)
			ue = nil
			require.ErrorAs(t, err, &ue, "%v", err)
			assert.Equal(t, "shutdown", ue.Op)
			assert.Equal(t, 5, ue.NotDelivered(), "%v", err)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Contains(t, err.Error(), "5 spans not delivered")

			again := client.Shutdown(context.Background())
			require.ErrorAs(t, again, &ue, "later calls return the first result")
			assert.Equal(t, 5, ue.NotDelivered())
		})
	}
}

// TestShutdownWithDoneContext: the provider's Shutdown gives up before its
// processors when ctx is already done; the client still shuts the batch
// processor down (no goroutine is left: goleak checks in TestMain) and counts
// the queued spans as not delivered.
func TestShutdownWithDoneContext(t *testing.T) {
	exp := newCountingExporter()
	client, err := trace.NewClient(context.Background(), trace.WithExporter(exp),
		trace.WithBatchOptions(batch.WithInterval(time.Hour), batch.WithLogger(slog.New(slog.DiscardHandler))))
	require.NoError(t, err)
	ctx, tr := client.Start(context.Background(), "t")
	for range 3 {
		_, s := tr.Span(ctx, span.Task, "s")
		s.End()
	}
	tr.End()
	done, cancel := context.WithCancel(context.Background())
	cancel()

	err = client.Shutdown(done)
	var ue *batch.UndeliveredError
	require.ErrorAs(t, err, &ue, "%v", err)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 4, ue.NotDelivered(), "%v", err)
	assert.Equal(t, 1, strings.Count(err.Error(), "context canceled"), "one error, not the provider's and the processor's: %v", err)
	st := client.Stats()
	checkInvariant(t, st)
	assert.Equal(t, uint64(4), st.Dropped.Total())
	assert.True(t, exp.shutdown)
}

// TestInvalidBatchOptions: a batch option batch.New rejects makes NewClient
// fail, and the exporter it was given is shut down.
func TestInvalidBatchOptions(t *testing.T) {
	exp := newCountingExporter()
	_, err := trace.NewClient(context.Background(), trace.WithExporter(exp),
		trace.WithBatchOptions(batch.WithMaxQueueSpans(0)))
	require.ErrorIs(t, err, trace.ErrInvalidOption)
	require.ErrorIs(t, err, batch.ErrInvalidOption)
	assert.Contains(t, err.Error(), "WithBatchOptions")
	assert.True(t, exp.shutdown)
}

func TestStatsOfDisabledClient(t *testing.T) {
	client, err := trace.NewClient(context.Background(), trace.WithDisabled())
	require.NoError(t, err)
	assert.Equal(t, batch.Stats{}, client.Stats())
	var nilClient *trace.Client
	assert.Equal(t, batch.Stats{}, nilClient.Stats())
}
