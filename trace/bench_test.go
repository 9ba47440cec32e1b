package trace_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/batch"
	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/trace"
)

// nopExporter drops every span: the benchmarks measure recording, not
// export. It counts what it is handed, to report the processors' drops.
type nopExporter struct{ n atomic.Int64 }

func (e *nopExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.n.Add(int64(len(spans)))
	return nil
}
func (*nopExporter) Shutdown(context.Context) error { return nil }

// otelBatcher is the OpenTelemetry SDK's BatchSpanProcessor with the batch
// package's default settings, the ones a client's batch.Processor runs with.
func otelBatcher(exp sdktrace.SpanExporter) sdktrace.SpanProcessor {
	return sdktrace.NewBatchSpanProcessor(exp,
		sdktrace.WithMaxQueueSize(batch.DefaultMaxQueueSpans),
		sdktrace.WithMaxExportBatchSize(batch.DefaultMaxBatchSpans),
		sdktrace.WithBatchTimeout(batch.DefaultInterval),
		sdktrace.WithExportTimeout(batch.DefaultExportTimeout))
}

// reportDropped reports the share of the b.N spans the processor dropped,
// once shutdown (which exports what is queued) has run; exported counts the
// spans exported, besides the root span.
func reportDropped(b *testing.B, exported int64) {
	b.ReportMetric(float64(int64(b.N)-exported)/float64(b.N), "dropped/op")
}

var benchUsage = llm.Usage{InputTokens: 1200, OutputTokens: 300, CacheReadTokens: 1000}

// benchGoroutines are the goroutine counts of the LLM span benchmarks.
var benchGoroutines = []int{1, 16}

// run runs body b.N times over g goroutines.
func run(b *testing.B, g int, body func()) {
	b.ReportAllocs()
	if g == 1 {
		for b.Loop() {
			body()
		}
		return
	}
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((g + procs - 1) / procs)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body()
		}
	})
}

// BenchmarkLLMSpan compares an LLM span with model, provider and usage
// recorded through agenttrace (its client exports through batch.Processor)
// against the same attributes written with the raw OpenTelemetry SDK and
// its BatchSpanProcessor with the same settings. Both export to a no-op
// exporter and run inside a root span. dropped/op is the share of spans the
// processor dropped (its queue full) instead of exporting.
func BenchmarkLLMSpan(b *testing.B) {
	for _, g := range benchGoroutines {
		b.Run(fmt.Sprintf("impl=otel/goroutines=%d", g), func(b *testing.B) {
			exp := &nopExporter{}
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(otelBatcher(exp)))
			tracer := tp.Tracer("bench")
			ctx, root := tracer.Start(context.Background(), "bench",
				oteltrace.WithAttributes(attr.SpanType.String(attr.TypeTrace), attr.OperationName.String(attr.OpInvokeAgent)))
			cost, _ := llm.DefaultPrices().Cost("gpt-4.1-mini", benchUsage)
			version := llm.DefaultPrices().Version()
			run(b, g, func() {
				_, s := tracer.Start(ctx, "openai.responses", oteltrace.WithAttributes(
					attr.SpanType.String(attr.TypeLLM),
					attr.OperationName.String(attr.OpChat),
					attr.RequestModel.String("gpt-4.1-mini"),
					attr.ProviderName.String("openai"),
				))
				s.SetAttributes(
					attr.InputTokens.Int64(benchUsage.InputTokens),
					attr.OutputTokens.Int64(benchUsage.OutputTokens),
					attr.TotalTokens.Int64(benchUsage.Total()),
					attr.CacheReadTokens.Int64(benchUsage.CacheReadTokens),
					attr.CostUSD.Float64(cost),
					attr.CostSource.String(attr.CostSourceComputed),
					attr.PriceTableVersion.String(version),
				)
				s.End()
			})
			b.StopTimer()
			root.End()
			if err := tp.Shutdown(context.Background()); err != nil {
				b.Fatal(err)
			}
			reportDropped(b, exp.n.Load()-1)
		})
		// The same, setting the start attributes just after Start as
		// agenttrace does by default (no start option to allocate).
		b.Run(fmt.Sprintf("impl=otel-late/goroutines=%d", g), func(b *testing.B) {
			exp := &nopExporter{}
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(otelBatcher(exp)))
			tracer := tp.Tracer("bench")
			ctx, root := tracer.Start(context.Background(), "bench")
			cost, _ := llm.DefaultPrices().Cost("gpt-4.1-mini", benchUsage)
			version := llm.DefaultPrices().Version()
			run(b, g, func() {
				_, s := tracer.Start(ctx, "openai.responses")
				s.SetAttributes(
					attr.SpanType.String(attr.TypeLLM),
					attr.OperationName.String(attr.OpChat),
					attr.RequestModel.String("gpt-4.1-mini"),
					attr.ProviderName.String("openai"),
				)
				s.SetAttributes(
					attr.InputTokens.Int64(benchUsage.InputTokens),
					attr.OutputTokens.Int64(benchUsage.OutputTokens),
					attr.TotalTokens.Int64(benchUsage.Total()),
					attr.CacheReadTokens.Int64(benchUsage.CacheReadTokens),
					attr.CostUSD.Float64(cost),
					attr.CostSource.String(attr.CostSourceComputed),
					attr.PriceTableVersion.String(version),
				)
				s.End()
			})
			b.StopTimer()
			root.End()
			if err := tp.Shutdown(context.Background()); err != nil {
				b.Fatal(err)
			}
			reportDropped(b, exp.n.Load()-1)
		})
		b.Run(fmt.Sprintf("impl=agenttrace/goroutines=%d", g), func(b *testing.B) {
			exp := &nopExporter{}
			client, err := trace.NewClient(context.Background(), trace.WithExporter(exp),
				trace.WithBatchOptions(batch.WithLogger(slog.New(slog.DiscardHandler))))
			if err != nil {
				b.Fatal(err)
			}
			ctx, tr := client.Start(context.Background(), "bench")
			run(b, g, func() {
				_, s := tr.LLM(ctx, "openai.responses", llm.Model("gpt-4.1-mini"), llm.Provider("openai"))
				s.SetUsage(benchUsage)
				s.End()
			})
			b.StopTimer()
			tr.End()
			if err := client.Shutdown(context.Background()); err != nil {
				b.Fatal(err)
			}
			st := client.Stats()
			if st.Exported != uint64(exp.n.Load()) {
				b.Fatalf("stats %+v, exporter got %d", st, exp.n.Load())
			}
			reportDropped(b, exp.n.Load()-1)
		})
	}
}

// BenchmarkDisabled is the hot path of a disabled client: starting a trace
// with fields, an LLM span with usage, and ending both. It must not
// allocate.
func BenchmarkDisabled(b *testing.B) {
	client, err := trace.NewClient(context.Background(), trace.WithDisabled())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		disabledPath(ctx, client)
	}
}

func disabledPath(ctx context.Context, client *trace.Client) {
	ctx, tr := client.Start(ctx, "support_agent", trace.WithUserID("cus_123"), trace.WithSessionID("s-9"),
		trace.WithTenantID("AceTech"), trace.WithEnvironment("production"))
	tr.Message(llm.User, "Where is my order?")
	_, s := tr.LLM(ctx, "", llm.Model("gpt-4.1-mini"), llm.Provider("openai"))
	s.SetUsage(benchUsage)
	s.RecordOutput("shipped")
	s.End()
	tr.End()
}
