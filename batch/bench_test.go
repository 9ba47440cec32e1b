package batch

// Benchmarks against the OpenTelemetry SDK's BatchSpanProcessor, side by side
// in the same run and with identical settings (queue 16384 spans, batch 512,
// interval 1s, export timeout 30s: this package's defaults; ours also has its
// default 8 exports in flight and 64 MiB byte bound, which the OTel processor
// has no setting for). "otel-defaults"
// is the OTel processor with its own defaults (queue 2048, delay 5s), for
// reference.
//
//	go test -run '^$' -bench . -benchmem -count 6 ./batch

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// countingExporter counts exported spans, optionally after sleeping per call.
type countingExporter struct {
	sleep time.Duration
	n     atomic.Int64
}

func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.sleep > 0 {
		t := time.NewTimer(e.sleep)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	e.n.Add(int64(len(spans)))
	return nil
}

func (*countingExporter) Shutdown(context.Context) error { return nil }

// ConcurrentExports opts in to concurrent exports, as agenttrace's OTLP
// exporter does: countingExporter stands for it in these benchmarks.
func (*countingExporter) ConcurrentExports() bool { return true }

// serialExporter hides countingExporter's opt-in: it stands for a user's
// exporter, which the Processor calls one batch at a time.
type serialExporter struct{ *countingExporter }

func (serialExporter) ConcurrentExports() bool { return false }

type impl struct {
	name string
	mk   func(sdktrace.SpanExporter) sdktrace.SpanProcessor
}

var impls = []impl{
	{"batch", func(e sdktrace.SpanExporter) sdktrace.SpanProcessor {
		p, err := New(e, WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			panic(err)
		}
		return p
	}},
	{"otel", func(e sdktrace.SpanExporter) sdktrace.SpanProcessor {
		return sdktrace.NewBatchSpanProcessor(e,
			sdktrace.WithMaxQueueSize(DefaultMaxQueueSpans),
			sdktrace.WithMaxExportBatchSize(DefaultMaxBatchSpans),
			sdktrace.WithBatchTimeout(DefaultInterval),
			sdktrace.WithExportTimeout(DefaultExportTimeout))
	}},
}

// batchSerial is batch at its defaults with a user's exporter, which does
// not opt in to concurrent exports and so is called one batch at a time.
var batchSerial = impl{"batch-serial", func(e sdktrace.SpanExporter) sdktrace.SpanProcessor {
	p, err := New(serialExporter{e.(*countingExporter)}, WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	return p
}}

var otelDefaults = impl{"otel-defaults", func(e sdktrace.SpanExporter) sdktrace.SpanProcessor {
	return sdktrace.NewBatchSpanProcessor(e)
}}

// llmSpans returns n ended LLM call spans (with distinct random IDs) of the
// shape agenttrace records: eleven attributes, one a 2 KB message, one a
// string slice.
func llmSpans(n int) []sdktrace.ReadOnlySpan {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	for range n {
		llmCall(tp.Tracer("github.com/agenttrace/agenttrace"))
	}
	return rec.Ended()
}

func llmCall(tr trace.Tracer) {
	_, s := tr.Start(context.Background(), "chat gpt-4o", trace.WithSpanKind(trace.SpanKindClient))
	s.SetAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.provider.name", "openai"),
		attribute.String("gen_ai.request.model", "gpt-4o"),
		attribute.String("gen_ai.response.model", "gpt-4o-2024-08-06"),
		attribute.Int64("gen_ai.usage.input_tokens", 1250),
		attribute.Int64("gen_ai.usage.output_tokens", 310),
		attribute.Float64("agenttrace.cost.usd", 0.00623),
		attribute.String("agenttrace.session.id", "sess-42"),
		attribute.String("agenttrace.tenant.id", "acme"),
		attribute.String("gen_ai.input.messages", strings.Repeat("m", 2000)),
		attribute.StringSlice("gen_ai.response.finish_reasons", []string{"stop"}),
	)
	s.SetStatus(codes.Ok, "")
	s.End()
}

// BenchmarkOnEnd measures the cost of OnEnd (the hot path, run by the code
// that ends the span) with an instant exporter.
func BenchmarkOnEnd(b *testing.B) {
	spans := llmSpans(1024)
	for _, im := range impls {
		for _, g := range []int{1, 16} {
			b.Run(fmt.Sprintf("impl=%s/goroutines=%d", im.name, g), func(b *testing.B) {
				exp := &countingExporter{}
				p := im.mk(exp)
				b.ReportAllocs()
				if g == 1 {
					i := 0
					for b.Loop() {
						p.OnEnd(spans[i&1023])
						i++
					}
				} else {
					b.SetParallelism(max(1, g/runtime.GOMAXPROCS(0)))
					var seed atomic.Int64
					b.RunParallel(func(pb *testing.PB) {
						i := int(seed.Add(97))
						for pb.Next() {
							p.OnEnd(spans[i&1023])
							i++
						}
					})
				}
				b.StopTimer()
				if err := p.Shutdown(context.Background()); err != nil {
					b.Fatal(err)
				}
				delivered := exp.n.Load()
				b.ReportMetric(float64(int64(b.N)-delivered)/float64(b.N), "dropped/op")
				// A processor that drops a span when its queue is full
				// returns sooner: the time per span delivered to the
				// exporter compares what each one actually carries.
				if delivered > 0 {
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(delivered), "ns/delivered")
				}
			})
		}
	}
}

// BenchmarkSpanEnd measures a whole LLM span's life through a TracerProvider
// (Start, eleven attributes, status, End) with each processor, the cost an
// instrumented program pays per span.
func BenchmarkSpanEnd(b *testing.B) {
	for _, im := range impls {
		for _, g := range []int{1, 16} {
			b.Run(fmt.Sprintf("impl=%s/goroutines=%d", im.name, g), func(b *testing.B) {
				exp := &countingExporter{}
				tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(im.mk(exp)))
				tr := tp.Tracer("github.com/agenttrace/agenttrace")
				b.ReportAllocs()
				if g == 1 {
					for b.Loop() {
						llmCall(tr)
					}
				} else {
					b.SetParallelism(max(1, g/runtime.GOMAXPROCS(0)))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							llmCall(tr)
						}
					})
				}
				b.StopTimer()
				if err := tp.Shutdown(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(int64(b.N)-exp.n.Load())/float64(b.N), "dropped/op")
			})
		}
	}
}

const (
	window   = 2 * time.Second
	exporter = 20 * time.Millisecond
)

// BenchmarkDelivery20ms measures what reaches an exporter that takes 20ms a
// call: "batch" with an exporter that opts in to concurrent exports (as
// agenttrace's OTLP exporter does), "batch-serial" with one that does not
// (a user's exporter, called one batch at a time). offered=50k: 4 goroutines offer 50,000 spans/s in total for 2s.
// flat-out: 4 goroutines end spans as fast as they can for 2s (yielding
// every 256 spans).
// delivered-spans/s counts spans exported within the window; lost-% is the
// share of offered spans never exported, after Shutdown drained the rest.
func BenchmarkDelivery20ms(b *testing.B) {
	spans := llmSpans(1024)
	for _, mode := range []string{"offered=50k", "flat-out"} {
		for _, im := range append(impls[:2:2], batchSerial, otelDefaults) {
			b.Run(fmt.Sprintf("%s/impl=%s", mode, im.name), func(b *testing.B) {
				var delivered, lost, offered float64
				for b.Loop() {
					d, l, o := deliver(b, im, spans, mode == "flat-out")
					delivered += d
					lost += l
					offered += o
				}
				n := float64(b.N)
				b.ReportMetric(delivered/n, "delivered-spans/s")
				b.ReportMetric(offered/n/window.Seconds(), "offered-spans/s")
				b.ReportMetric(100*lost/offered, "lost-%")
			})
		}
	}
}

// deliver runs one window and returns spans/s delivered within it, spans
// lost after the drain, and spans offered.
func deliver(b *testing.B, im impl, spans []sdktrace.ReadOnlySpan, flat bool) (delivered, lost, offered float64) {
	exp := &countingExporter{sleep: exporter}
	p := im.mk(exp)
	const producers, rate = 4, 50_000
	var total atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(window)
	for g := range producers {
		wg.Go(func() {
			sent := 0
			next := func() sdktrace.ReadOnlySpan { return spans[(g*256+sent)&1023] }
			if flat {
				for {
					for range 256 {
						p.OnEnd(next())
						sent++
					}
					// Let the processors' goroutines run: without this, on a
					// 2-core machine four spinning producers leave them only the
					// scheduler's 10ms preemption slots, and the benchmark
					// measures that instead of the processors.
					runtime.Gosched()
					if time.Now().After(end) {
						break
					}
				}
			} else {
				for {
					now := time.Now()
					if now.After(end) {
						break
					}
					due := int(float64(rate/producers) * now.Sub(start).Seconds())
					for ; sent < due; sent++ {
						p.OnEnd(next())
					}
					time.Sleep(time.Millisecond)
				}
			}
			total.Add(int64(sent))
		})
	}
	wg.Wait()
	inWindow := exp.n.Load()
	if err := p.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	if bp, ok := p.(*Processor); ok {
		st := bp.Stats()
		if st.Enqueued != uint64(total.Load()) || st.Exported != uint64(exp.n.Load()) {
			b.Fatalf("stats %+v, offered %d, exported %d", st, total.Load(), exp.n.Load())
		}
	}
	return float64(inWindow) / window.Seconds(), float64(total.Load() - exp.n.Load()), float64(total.Load())
}
