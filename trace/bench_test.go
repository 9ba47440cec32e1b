package trace_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/trace"
)

// nopExporter drops every span: the benchmarks measure recording, not
// export.
type nopExporter struct{}

func (nopExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (nopExporter) Shutdown(context.Context) error                             { return nil }

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
// recorded through agenttrace against the same attributes written with the
// raw OpenTelemetry SDK. Both use a BatchSpanProcessor and a no-op
// exporter, and run inside a root span.
func BenchmarkLLMSpan(b *testing.B) {
	for _, g := range benchGoroutines {
		b.Run(fmt.Sprintf("impl=otel/goroutines=%d", g), func(b *testing.B) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sdktrace.NewBatchSpanProcessor(nopExporter{})))
			defer tp.Shutdown(context.Background())
			tracer := tp.Tracer("bench")
			ctx, root := tracer.Start(context.Background(), "bench",
				oteltrace.WithAttributes(attr.SpanType.String(attr.TypeTrace), attr.OperationName.String(attr.OpInvokeAgent)))
			defer root.End()
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
		})
		// The same, setting the start attributes just after Start as
		// agenttrace does by default (no start option to allocate).
		b.Run(fmt.Sprintf("impl=otel-late/goroutines=%d", g), func(b *testing.B) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sdktrace.NewBatchSpanProcessor(nopExporter{})))
			defer tp.Shutdown(context.Background())
			tracer := tp.Tracer("bench")
			ctx, root := tracer.Start(context.Background(), "bench")
			defer root.End()
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
		})
		b.Run(fmt.Sprintf("impl=agenttrace/goroutines=%d", g), func(b *testing.B) {
			client, err := trace.NewClient(context.Background(), trace.WithExporter(nopExporter{}))
			if err != nil {
				b.Fatal(err)
			}
			defer client.Shutdown(context.Background())
			ctx, tr := client.Start(context.Background(), "bench")
			defer tr.End()
			run(b, g, func() {
				_, s := tr.LLM(ctx, "openai.responses", llm.Model("gpt-4.1-mini"), llm.Provider("openai"))
				s.SetUsage(benchUsage)
				s.End()
			})
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
