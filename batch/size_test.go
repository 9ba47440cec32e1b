package batch

import (
	"context"
	"math"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// slack is how far above the real encoding the estimate may be for one span
// in its own request: empty fields are counted and the hot path assumes
// longer length prefixes than most attributes need.
func slack(s sdktrace.ReadOnlySpan) int {
	items := len(s.Attributes()) + len(s.Links())
	for _, e := range s.Events() {
		items += 1 + len(e.Attributes)
	}
	return 64 + 8*items
}

// measure sends s alone through the real exporter (no compression) and
// returns the request body size and the estimate for the same request.
func measure(t testing.TB, c *collector, exp interface {
	ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error
}, s sdktrace.ReadOnlySpan) (actual, est int) {
	t.Helper()
	if err := exp.ExportSpans(context.Background(), []sdktrace.ReadOnlySpan{s}); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	actual = c.sizes[len(c.sizes)-1]
	c.mu.Unlock()
	return actual, estimate(s) + resourceOverhead(s.Resource()) + scopeOverhead(s.InstrumentationScope())
}

func TestSizeEstimateBoundsRealEncoding(t *testing.T) {
	c := newCollector(t)
	exp, _ := otlpExporter(t, c.srv.URL, fastRetry, true)
	defer exp.Shutdown(context.Background())

	res, err := resource.New(context.Background(), resource.WithAttributes(
		attribute.String("service.name", "agent"), attribute.String("deployment.environment", "test")),
		resource.WithSchemaURL("https://opentelemetry.io/schemas/1.26.0"))
	if err != nil {
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res))
	tr := tp.Tracer("github.com/agenttrace/agenttrace", trace.WithInstrumentationVersion("v0.1.0"),
		trace.WithInstrumentationAttributes(attribute.Bool("scope.attr", true)))

	ctx, parent := tr.Start(context.Background(), "parent")
	ts, _ := trace.ParseTraceState("vendor=abc,other=xyz")
	link := trace.Link{SpanContext: parent.SpanContext().WithTraceState(ts), Attributes: []attribute.KeyValue{attribute.Int("link.n", 3)}}
	_, s := tr.Start(ctx, "chat gpt-4o", trace.WithSpanKind(trace.SpanKindClient), trace.WithLinks(link))
	s.SetAttributes(
		attribute.String("gen_ai.prompt", strings.Repeat("Tell me a story. ", 300)),
		attribute.Int64("gen_ai.usage.input_tokens", 1234),
		attribute.Int64("negative", -1),
		attribute.Int64("max", math.MaxInt64),
		attribute.Float64("temperature", 0.7),
		attribute.Bool("stream", true),
		attribute.StringSlice("gen_ai.response.finish_reasons", []string{"stop", "length"}),
		attribute.Int64Slice("ints", []int64{1, -2, 300}),
		attribute.Float64Slice("floats", []float64{1.5, 2.5}),
		attribute.BoolSlice("bools", []bool{true, false, true}),
		attribute.String("empty", ""),
	)
	s.AddEvent("agenttrace.message", trace.WithAttributes(attribute.String("role", "user"), attribute.String("content", `[{"type":"text","text":"hi"}]`)))
	s.AddEvent("agenttrace.feedback")
	s.SetStatus(codes.Error, "rate limited by provider")
	s.End()
	parent.End()
	_, bare := tr.Start(context.Background(), "")
	bare.End()

	for _, span := range rec.Ended() {
		actual, est := measure(t, c, exp, span)
		t.Logf("%-12q actual %5d estimate %5d", span.Name(), actual, est)
		if est < actual || est > actual+slack(span) {
			t.Errorf("span %q: estimate %d for a %d-byte request (want within [actual, actual+%d])", span.Name(), est, actual, slack(span))
		}
	}
	_ = tp.Shutdown(context.Background())
}

// FuzzSizeEstimate checks that the estimate never falls below the encoded
// size of a span built from arbitrary names, keys and values.
func FuzzSizeEstimate(f *testing.F) {
	f.Add("chat", "gen_ai.prompt", "hello", int64(42), 1.5, uint8(1), "scope")
	f.Add("", "", "", int64(-1), math.Inf(1), uint8(0), "")
	f.Add(strings.Repeat("n", 300), "k", strings.Repeat("v", 20000), int64(math.MinInt64), math.NaN(), uint8(5), "s\x00\xff")
	c := newCollector(f)
	exp, _ := otlpExporter(f, c.srv.URL, otlptracehttpNoRetry, true)
	f.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	f.Fuzz(func(t *testing.T, name, key, sval string, ival int64, fval float64, events uint8, scope string) {
		// Protobuf strings must be UTF-8 (the exporter refuses to marshal
		// others), so only valid text is measured.
		name, key, sval, scope = validUTF8(name), validUTF8(key), validUTF8(sval), validUTF8(scope)
		attrs := []attribute.KeyValue{
			attribute.String(key, sval),
			attribute.Int64(key+"i", ival),
			attribute.Float64(key+"f", fval),
			attribute.StringSlice(key+"s", []string{sval, name}),
		}
		stub := tracetest.SpanStub{
			Name:                 name,
			SpanContext:          mkSpan("x").SpanContext(),
			Attributes:           attrs,
			InstrumentationScope: instrumentation.Scope{Name: scope, Version: sval},
			Status:               sdktrace.Status{Code: codes.Error, Description: sval},
			DroppedAttributes:    int(events),
		}
		for i := range int(events % 8) {
			stub.Events = append(stub.Events, sdktrace.Event{Name: name, Attributes: attrs[:i%len(attrs)], DroppedAttributeCount: i})
		}
		actual, est := measure(t, c, exp, stub.Snapshot())
		if est < actual {
			t.Fatalf("estimate %d below the real %d bytes", est, actual)
		}
	})
}

func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
