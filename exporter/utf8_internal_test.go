package exporter

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestValidSpansNoCopy: a batch of valid spans is passed on as is.
func TestValidSpansNoCopy(t *testing.T) {
	mem := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(mem))
	for _, name := range []string{"a", "b\xff", "c"} {
		_, s := tp.Tracer("t").Start(context.Background(), name)
		s.End()
	}
	spans := mem.GetSpans().Snapshots() // before Shutdown, which empties mem
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	valid := []sdktrace.ReadOnlySpan{spans[0], spans[2]}
	if got := validSpans(valid); &got[0] != &valid[0] {
		t.Fatal("valid spans were copied")
	}
	got := validSpans(spans)
	if &got[0] == &spans[0] || got[0].Name() != "a" || got[2].Name() != "c" {
		t.Fatal("want a new slice with the valid spans unchanged")
	}
	if got[1].Name() != "b\uFFFD" || spans[1].Name() != "b\xff" {
		t.Fatalf("fixed %q, original %q", got[1].Name(), spans[1].Name())
	}
}
