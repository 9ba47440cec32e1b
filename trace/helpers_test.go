package trace_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/trace"
)

// recorder is a client recording into the SDK's in-memory exporter.
type recorder struct {
	t      *testing.T
	client *trace.Client
	mem    *tracetest.InMemoryExporter
}

func newRecorder(t *testing.T, opts ...trace.Option) *recorder {
	t.Helper()
	mem := tracetest.NewInMemoryExporter()
	client, err := trace.NewClient(context.Background(), append([]trace.Option{trace.WithExporter(mem)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, client.Shutdown(context.Background())) })
	return &recorder{t: t, client: client, mem: mem}
}

// spans flushes the client and returns what it exported, by name, but for
// the message and score spans (see messages and scores).
func (r *recorder) spans() map[string]tracetest.SpanStub {
	r.t.Helper()
	require.NoError(r.t, r.client.Flush(context.Background()))
	out := map[string]tracetest.SpanStub{}
	for _, s := range r.mem.GetSpans() {
		if typ := attrs(s.Attributes)[attr.SpanType].AsString(); typ == attr.TypeMessage || typ == attr.TypeScore {
			continue
		}
		_, dup := out[s.Name]
		require.False(r.t, dup, "two spans named %q", s.Name)
		out[s.Name] = s
	}
	return out
}

// ofType returns the exported spans of agenttrace.span.type typ, in start
// order.
func (r *recorder) ofType(typ string) []tracetest.SpanStub {
	r.t.Helper()
	var out []tracetest.SpanStub
	for _, s := range r.all() {
		if attrs(s.Attributes)[attr.SpanType].AsString() == typ {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) })
	return out
}

// messages returns the agenttrace.message events of the message spans, in
// order, checking that each message span holds exactly one.
func (r *recorder) messages() []sdktrace.Event {
	r.t.Helper()
	var out []sdktrace.Event
	for _, s := range r.ofType(attr.TypeMessage) {
		require.Len(r.t, s.Events, 1)
		require.Equal(r.t, attr.EventMessage, s.Events[0].Name)
		out = append(out, s.Events[0])
	}
	return out
}

func (r *recorder) all() tracetest.SpanStubs {
	r.t.Helper()
	require.NoError(r.t, r.client.Flush(context.Background()))
	return r.mem.GetSpans()
}

// attrs returns a span's attributes by key.
func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// event returns the first event of s named name.
func event(t *testing.T, s tracetest.SpanStub, name string) sdktrace.Event {
	t.Helper()
	for _, e := range s.Events {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("span %q has no event %q (events: %v)", s.Name, name, s.Events)
	return sdktrace.Event{}
}

func events(s tracetest.SpanStub, name string) []sdktrace.Event {
	var out []sdktrace.Event
	for _, e := range s.Events {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}
