package exporter_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/exporter"
	"github.com/agenttrace/agenttrace/internal/attr"
)

func TestConsoleTree(t *testing.T) {
	var buf bytes.Buffer
	con := exporter.NewConsole(&buf, exporter.HideIDs(), exporter.HideDurations())
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(con))
	tracer := tp.Tracer("test")

	ctx, root := tracer.Start(context.Background(), "support_agent")
	root.SetAttributes(attr.SpanType.String("trace"), attr.SessionID.String("s-9"))
	root.AddEvent(attr.EventMessage, oteltrace.WithAttributes(attr.EventRole.String("user"),
		attr.EventContent.String(`[{"type":"text","content":"Where is my order?"}]`), attr.EventInternal.Bool(false)))
	tctx, task := tracer.Start(ctx, "resolve_ticket")
	task.SetAttributes(attr.SpanType.String("task"))
	_, g := tracer.Start(tctx, "chat gpt-4.1-mini")
	g.SetAttributes(attr.SpanType.String("llm"), attr.RequestModel.String("gpt-4.1-mini"),
		attr.InputTokens.Int64(120), attr.OutputTokens.Int64(40), attr.CostUSD.Float64(0.000112))
	g.End()
	_, tool := tracer.Start(tctx, "lookup_order")
	tool.SetAttributes(attr.SpanType.String("tool"), attr.Output.String(`{"status":"shipped"}`))
	tool.SetStatus(codes.Error, "timeout")
	tool.End()
	task.End()
	assert.Empty(t, buf.String(), "nothing printed before the root ends")
	root.End()
	require.NoError(t, tp.Shutdown(context.Background()))

	want := `trace
└─ support_agent [trace]  session=s-9
   │  · user: Where is my order?
   └─ resolve_ticket [task]
      ├─ chat gpt-4.1-mini [llm]  model=gpt-4.1-mini tokens=120+40 cost=$0.000112
      └─ lookup_order [tool]  output={"status":"shipped"} ERROR=timeout
`
	assert.Equal(t, want, buf.String())
}

func TestConsoleIncompleteOnShutdown(t *testing.T) {
	var buf bytes.Buffer
	con := exporter.NewConsole(&buf)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(con))
	ctx, root := tp.Tracer("t").Start(context.Background(), "never_ends")
	_, child := tp.Tracer("t").Start(ctx, "child")
	child.End()
	require.NoError(t, tp.Shutdown(context.Background()))
	out := buf.String()
	assert.Contains(t, out, "(incomplete)")
	assert.Contains(t, out, "child")
	assert.Contains(t, out, root.SpanContext().TraceID().String())
	require.NoError(t, con.Shutdown(context.Background()), "idempotent")
	require.NoError(t, con.ExportSpans(context.Background(), nil))
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestConsoleWriteError(t *testing.T) {
	con := exporter.NewConsole(failingWriter{})
	rec := &capture{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(rec))
	_, s := tp.Tracer("t").Start(context.Background(), "x")
	s.End()
	require.NoError(t, tp.Shutdown(context.Background()))
	require.EqualError(t, con.ExportSpans(context.Background(), rec.spans), "disk full")
}

// ExampleNewConsole prints each trace as a tree once its root span ends.
func ExampleNewConsole() {
	con := exporter.NewConsole(os.Stdout, exporter.HideIDs(), exporter.HideDurations())
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(con))
	tracer := tp.Tracer("example")

	ctx, root := tracer.Start(context.Background(), "support_agent")
	root.SetAttributes(attr.SpanType.String("trace"))
	_, llmSpan := tracer.Start(ctx, "chat gpt-4.1-mini")
	llmSpan.SetAttributes(attr.SpanType.String("llm"), attr.RequestModel.String("gpt-4.1-mini"),
		attr.InputTokens.Int64(120), attr.OutputTokens.Int64(40))
	llmSpan.End()
	root.End()
	_ = tp.Shutdown(context.Background())
	// Output:
	// trace
	// └─ support_agent [trace]
	//    └─ chat gpt-4.1-mini [llm]  model=gpt-4.1-mini tokens=120+40
}
