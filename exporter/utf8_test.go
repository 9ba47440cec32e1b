package exporter_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/exporter"
)

// TestInvalidUTF8IsReplaced: a span with invalid UTF-8 in its strings
// arrives, with U+FFFD in their place, instead of failing the request and
// with it the valid span sent alongside.
func TestInvalidUTF8IsReplaced(t *testing.T) {
	clearEnv(t)
	col := newCollector(t)
	const bad = "caf\xe9 \xff\xfe!"
	const fixed = "caf\uFFFD \uFFFD!"

	rec := &capture{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(rec),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", bad))))
	tr := tp.Tracer("scope-" + bad)
	_, ok := tr.Start(context.Background(), "valid", oteltrace.WithAttributes(attribute.String("k", "fine é")))
	ok.End()
	_, other := tr.Start(context.Background(), "linked")
	other.End()
	_, s := tr.Start(context.Background(), "span "+bad, oteltrace.WithLinks(oteltrace.Link{
		SpanContext: other.SpanContext(), Attributes: []attribute.KeyValue{attribute.String("l", bad)}}))
	s.SetAttributes(attribute.String("user.id", bad), attribute.StringSlice("tags", []string{"ok", bad}),
		attribute.String("key-"+bad, "v"), attribute.Int("n", 7))
	s.AddEvent("event "+bad, oteltrace.WithAttributes(attribute.String("content", bad)))
	s.SetStatus(codes.Error, "failed: "+bad)
	s.End()
	require.NoError(t, tp.Shutdown(context.Background()))
	require.Len(t, rec.spans, 3)

	exp, err := exporter.New(context.Background(), exporter.WithEndpoint(col.URL))
	require.NoError(t, err)
	require.NoError(t, exp.ExportSpans(context.Background(), rec.spans))
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Empty(t, col.Errors())

	spans := col.SpansByName()
	require.Len(t, spans, 3)
	assert.Equal(t, "fine é", spans["valid"].Attr("k"))
	got, found := spans["span "+fixed]
	require.True(t, found, "names: %v", spans)
	assert.Equal(t, fixed, got.Attr("user.id"))
	assert.Equal(t, "v", got.Attr("key-"+fixed))
	assert.Equal(t, "7", got.Attr("n"))
	tags, _ := got.Attributes().Get("tags")
	assert.Equal(t, []any{"ok", fixed}, tags.Slice().AsRaw())
	require.Equal(t, 1, got.Events().Len())
	assert.Equal(t, "event "+fixed, got.Events().At(0).Name())
	c, _ := got.Events().At(0).Attributes().Get("content")
	assert.Equal(t, fixed, c.Str())
	require.Equal(t, 1, got.Links().Len())
	l, _ := got.Links().At(0).Attributes().Get("l")
	assert.Equal(t, fixed, l.Str())
	assert.Equal(t, "failed: "+fixed, got.Status().Message())
	svc, _ := got.Resource.Attributes().Get("service.name")
	assert.Equal(t, fixed, svc.Str())
	assert.Equal(t, "scope-"+fixed, got.Scope.Name())
}
