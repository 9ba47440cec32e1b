package batch_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/agenttrace/agenttrace/batch"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A Processor goes where the OpenTelemetry SDK's BatchSpanProcessor would.
func Example() {
	exp := tracetest.NewInMemoryExporter() // in a program: the OTLP exporter
	p, err := batch.New(exp,
		batch.WithMaxQueueSpans(10_000),
		batch.WithMaxBatchBytes(1<<20),
		batch.WithOnDrop(func(r batch.DropReason, n int) { fmt.Println("dropped", n, r) }),
	)
	if err != nil {
		panic(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p))

	for range 3 {
		_, span := tp.Tracer("example").Start(context.Background(), "llm call")
		span.End()
	}
	if err := tp.ForceFlush(context.Background()); err != nil {
		panic(err)
	}
	fmt.Println("exported:", len(exp.GetSpans()))

	if err := tp.Shutdown(context.Background()); err != nil {
		panic(err)
	}
	_, late := tp.Tracer("example").Start(context.Background(), "too late")
	late.End() // the provider is shut down: the span is not recorded at all

	st := p.Stats()
	fmt.Printf("enqueued %d, exported %d, dropped %d, queued %d\n", st.Enqueued, st.Exported, st.Dropped.Total(), st.Queued)
	// Output:
	// exported: 3
	// enqueued 3, exported 3, dropped 0, queued 0
}

// Shutdown says how many spans it could not deliver, and why, when its
// context runs out.
func ExampleProcessor_Shutdown() {
	p, err := batch.New(stuckExporter{}, batch.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p))
	for range 5 {
		_, span := tp.Tracer("example").Start(context.Background(), "step")
		span.End()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = p.Shutdown(ctx)

	var ue *batch.UndeliveredError
	if errors.As(err, &ue) {
		fmt.Println("not delivered:", ue.NotDelivered())
		fmt.Println("deadline:", errors.Is(err, context.DeadlineExceeded))
	}
	// Output:
	// not delivered: 5
	// deadline: true
}

// stuckExporter never finishes an export until its context is cancelled.
type stuckExporter struct{}

func (stuckExporter) ExportSpans(ctx context.Context, _ []sdktrace.ReadOnlySpan) error {
	<-ctx.Done()
	return ctx.Err()
}

func (stuckExporter) Shutdown(context.Context) error { return nil }
