// Package llmtest holds the test fixtures that the llm/openai and
// llm/anthropic tests share: a Recorder (an agenttrace client exporting into
// the OTel SDK's in-memory exporter), a scripted provider Server on
// 127.0.0.1, and the benchmark of a client with and without the middleware.
package llmtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/trace"
)

// Recorder is an agenttrace client exporting into the OTel SDK's in-memory
// exporter.
type Recorder struct {
	t      testing.TB
	Client *trace.Client
	Mem    *tracetest.InMemoryExporter
}

// NewRecorder returns a Recorder shut down with the test.
func NewRecorder(t testing.TB, opts ...trace.Option) *Recorder {
	t.Helper()
	mem := tracetest.NewInMemoryExporter()
	client, err := trace.NewClient(context.Background(), append([]trace.Option{trace.WithExporter(mem)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, client.Shutdown(context.Background())) })
	return &Recorder{t: t, Client: client, Mem: mem}
}

// Start starts a trace and returns its context; the trace ends with the
// test.
func (r *Recorder) Start() context.Context {
	ctx, tr := r.Client.Start(context.Background(), "agent")
	r.t.Cleanup(tr.End)
	return ctx
}

// Spans flushes and returns every exported span.
func (r *Recorder) Spans() tracetest.SpanStubs {
	r.t.Helper()
	require.NoError(r.t, r.Client.Flush(context.Background()))
	return r.Mem.GetSpans()
}

// LLMSpans flushes and returns the exported LLM spans.
func (r *Recorder) LLMSpans() []tracetest.SpanStub {
	r.t.Helper()
	var out []tracetest.SpanStub
	for _, s := range r.Spans() {
		if Attrs(s)[attr.SpanType].AsString() == attr.TypeLLM {
			out = append(out, s)
		}
	}
	return out
}

// One returns the only LLM span and its attributes.
func (r *Recorder) One() (tracetest.SpanStub, map[attribute.Key]attribute.Value) {
	r.t.Helper()
	spans := r.LLMSpans()
	require.Len(r.t, spans, 1, "want exactly one LLM span")
	return spans[0], Attrs(spans[0])
}

// Attrs returns a span's attributes by key.
func Attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(s.Attributes))
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// BudgetSignals returns the attributes of the budget_exceeded signals on
// spans, by key.
func BudgetSignals(spans tracetest.SpanStubs) []map[string]any {
	var out []map[string]any
	for _, s := range spans {
		for _, e := range s.Events {
			if e.Name != attr.EventSignal {
				continue
			}
			m := map[string]any{}
			for _, kv := range e.Attributes {
				m[string(kv.Key)] = kv.Value.AsInterface()
			}
			if m[string(attr.EventName)] == attr.SignalBudgetExceeded {
				out = append(out, m)
			}
		}
	}
	return out
}

// Messages decodes a gen_ai.*.messages attribute.
func Messages(t testing.TB, v attribute.Value) []llm.Message {
	t.Helper()
	var out []llm.Message
	text := v.AsString()
	require.NoError(t, json.Unmarshal([]byte(text), &out), "messages JSON: %.300s", text)
	return out
}

// Server is a scripted provider API: each request gets the next handler
// (the last one repeats).
type Server struct {
	*httptest.Server
	// Calls counts the requests.
	Calls atomic.Int32
	// Bodies receives the first 16 request bodies.
	Bodies   chan []byte
	handlers []http.HandlerFunc
}

// NewServer starts a Server closed with the test.
func NewServer(t testing.TB, handlers ...http.HandlerFunc) *Server {
	t.Helper()
	s := &Server{handlers: handlers, Bodies: make(chan []byte, 16)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.Calls.Add(1)) - 1
		body, _ := io.ReadAll(r.Body)
		select {
		case s.Bodies <- body:
		default:
		}
		s.handlers[min(n, len(s.handlers)-1)](w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// JSONHandler answers with status and a JSON body.
func JSONHandler(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

// SSEHandler writes events as a text/event-stream, flushing each.
func SSEHandler(events ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		f := w.(http.Flusher)
		for _, e := range events {
			fmt.Fprint(w, e)
			if !strings.HasSuffix(e, "\n\n") {
				fmt.Fprint(w, "\n\n")
			}
			f.Flush()
		}
	}
}

// BenchmarkClients measures call with each client side by side: bare (the
// SDK alone), mw (with the middleware) outside a trace and inside one (its
// spans exported to a no-op exporter through the real batch pipeline), and
// noContent (the middleware WithoutContent) inside a trace.
func BenchmarkClients[C any](b *testing.B, bare, mw, noContent C, call func(context.Context, C) error) {
	tc, err := trace.NewClient(context.Background(), trace.WithExporter(tracetest.NewNoopExporter()))
	require.NoError(b, err)
	defer tc.Shutdown(context.Background())
	traced, tr := tc.Start(context.Background(), "bench")
	defer tr.End()
	for _, bc := range []struct {
		name   string
		client C
		ctx    context.Context
	}{
		{"client=bare", bare, context.Background()},
		{"client=middleware_no_trace", mw, context.Background()},
		{"client=middleware", mw, traced},
		{"client=middleware_no_content", noContent, traced},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := call(bc.ctx, bc.client); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BackoffDeadline runs the case of a call whose context ends while the SDK
// waits out its backoff after an error answer it closed unread (a 429 with
// Retry-After: 5): call makes one model call with ctx through a client with
// the middleware, whose MaxRetryWait is longer than the test's patience.
// The LLM span must end when the call does, with the context's error, not
// at MaxRetryWait with the HTTP error; the server sees one attempt.
func BackoffDeadline(t *testing.T, rec *Recorder, srv *Server, call func(context.Context) error) {
	t.Helper()
	const timeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(rec.Start(), timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	start := time.Now()
	err := call(ctx)
	returned := time.Now()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.EqualValues(t, 1, srv.Calls.Load(), "no retry was sent")

	// The span is exported once it ended: poll, boundedly, for it (it ends
	// at the moment the context did, once no retry followed within a
	// second).
	var spans []tracetest.SpanStub
	for range 250 {
		if spans = rec.LLMSpans(); len(spans) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Len(t, spans, 1, "the span ended with the call, not after MaxRetryWait")
	s := spans[0]
	a := Attrs(s)
	assert.Equal(t, codes.Error, s.Status.Code)
	assert.Equal(t, context.DeadlineExceeded.Error(), s.Status.Description)
	assert.Equal(t, "context.DeadlineExceeded", a[semconv.ErrorTypeKey].AsString())
	assert.EqualValues(t, http.StatusTooManyRequests, a[semconv.HTTPResponseStatusCodeKey].AsInt64())
	assert.False(t, s.EndTime.Before(deadline), "the span ends when the context does")
	assert.False(t, s.EndTime.After(returned), "the span ends no later than the call")
	assert.False(t, s.StartTime.Before(start))
	t.Logf("call %v, span %v", returned.Sub(start), s.EndTime.Sub(s.StartTime))
}

// RetryAfter429 answers 429 with Retry-After: 5 and a provider error body.
func RetryAfter429(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "5")
		JSONHandler(http.StatusTooManyRequests, body)(w, nil)
	}
}
