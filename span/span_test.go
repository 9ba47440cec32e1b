package span_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/span"
	"github.com/agenttrace/agenttrace/trace"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newTrace(t *testing.T, opts ...trace.Option) (context.Context, *trace.Trace, func() map[string]tracetest.SpanStub) {
	t.Helper()
	mem := tracetest.NewInMemoryExporter()
	client, err := trace.NewClient(context.Background(), append([]trace.Option{trace.WithExporter(mem)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, client.Shutdown(context.Background())) })
	ctx, tr := client.Start(context.Background(), "root")
	return ctx, tr, func() map[string]tracetest.SpanStub {
		require.NoError(t, client.Flush(context.Background()))
		out := map[string]tracetest.SpanStub{}
		for _, s := range mem.GetSpans() {
			out[s.Name] = s
		}
		return out
	}
}

func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// TestContextSemantics: the context Start returns keeps the parent's values,
// deadline and cancellation.
func TestContextSemantics(t *testing.T) {
	ctx, tr, _ := newTrace(t)
	defer tr.End()
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(ctx, key{}, "v"))
	deadline := time.Now().Add(time.Hour)
	parent, cancel2 := context.WithDeadline(parent, deadline)
	defer cancel2()
	sctx, s := span.Start(parent, span.Task, "child")
	defer s.End()
	assert.Equal(t, "v", sctx.Value(key{}))
	d, ok := sctx.Deadline()
	assert.True(t, ok)
	assert.Equal(t, deadline, d)
	assert.NoError(t, sctx.Err())
	derived, cancel3 := context.WithCancel(sctx)
	defer cancel3()
	cancel()
	<-sctx.Done()
	<-derived.Done()
	assert.ErrorIs(t, sctx.Err(), context.Canceled)
	assert.Same(t, s, span.FromContext(derived))
	assert.NotEmpty(t, sctx.(interface{ String() string }).String())
}

// callModel is what a provider adapter does: it can only see ctx.
func callModel(ctx context.Context) {
	ctx, s := span.StartLLM(ctx, "", llm.Model("gpt-4.1-mini"), llm.Provider("openai"))
	defer s.End()
	_ = ctx
	s.RecordInput([]llm.Message{llm.TextMessage(llm.User, "hi")})
	s.SetResponseModel("gpt-4.1-mini-2025-04-14")
	s.SetUsage(llm.Usage{InputTokens: 100, OutputTokens: 10})
	s.RecordOutput(&llm.Message{Role: llm.Assistant, Parts: []llm.Part{llm.Text("hello")}})
}

func TestAdapterStyle(t *testing.T) {
	ctx, tr, spans := newTrace(t)
	tctx, task := span.Start(ctx, span.Task, "task")
	callModel(tctx)
	task.End()
	tr.End()

	got := spans()
	g := got["chat gpt-4.1-mini"]
	assert.Equal(t, got["task"].SpanContext.SpanID(), g.Parent.SpanID())
	a := attrs(g.Attributes)
	assert.Equal(t, "llm", a[attr.SpanType].AsString())
	assert.Equal(t, "gpt-4.1-mini-2025-04-14", a[attr.ResponseModel].AsString())
	assert.JSONEq(t, `[{"role":"user","parts":[{"type":"text","content":"hi"}]}]`, a[attr.InputMessages].AsString())
	assert.JSONEq(t, `[{"role":"assistant","parts":[{"type":"text","content":"hello"}]}]`, a[attr.OutputMessages].AsString())
	// The dated response model is priced if the table knows it, else the
	// request model is: either way a cost is computed.
	assert.Equal(t, "computed", a[attr.CostSource].AsString())
	assert.Positive(t, a[attr.CostUSD].AsFloat64())
}

// TestSetRequestModel: a model learnt after the start is recorded and priced.
func TestSetRequestModel(t *testing.T) {
	ctx, tr, spans := newTrace(t)
	_, s := span.StartLLM(ctx, "call")
	s.SetRequestModel("gpt-4.1-mini")
	s.SetProvider("openai")
	s.SetUsage(llm.Usage{InputTokens: 1000, OutputTokens: 100})
	s.End()
	tr.End()
	a := attrs(spans()["call"].Attributes)
	assert.Equal(t, "gpt-4.1-mini", a[attr.RequestModel].AsString())
	assert.Equal(t, "openai", a[attr.ProviderName].AsString())
	want, ok := llm.DefaultPrices().Cost("gpt-4.1-mini", llm.Usage{InputTokens: 1000, OutputTokens: 100})
	require.True(t, ok)
	assert.InDelta(t, want, a[attr.CostUSD].AsFloat64(), 1e-12)
}

// TestConcurrentUse: a span's methods may be called from many goroutines.
func TestConcurrentUse(t *testing.T) {
	ctx, tr, spans := newTrace(t)
	_, s := span.StartLLM(ctx, "shared", llm.Model("gpt-4.1-mini"))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			s.SetUsage(llm.Usage{InputTokens: int64(i + 1), OutputTokens: 1})
			s.SetResponseModel("gpt-4.1-mini")
			s.RecordOutput(i)
			s.AddEvent("tick", attribute.Int("i", i))
			if i == 7 {
				s.End()
			}
		})
	}
	wg.Wait()
	s.End()
	tr.End()
	a := attrs(spans()["shared"].Attributes)
	assert.Positive(t, a[attr.InputTokens].AsInt64())
}

// TestRecordPanicAndFail covers RecordPanic without End and Fail(nil).
func TestRecordPanicAndFail(t *testing.T) {
	ctx, tr, spans := newTrace(t)
	_, s := span.Start(ctx, "custom-kind", "p")
	s.Fail(nil)
	func() {
		defer func() {
			if r := recover(); r != nil {
				s.RecordPanic(r)
			}
		}()
		panic(errors.New("kaboom"))
	}()
	assert.True(t, s.IsRecording(), "RecordPanic does not end the span")
	s.End()
	tr.End()
	p := spans()["p"]
	assert.Equal(t, codes.Error, p.Status.Code)
	assert.Equal(t, "panic: kaboom", p.Status.Description)
	assert.Equal(t, "custom-kind", attrs(p.Attributes)[attr.SpanType].AsString())
	assert.Equal(t, "_OTHER", attrs(p.Attributes)["error.type"].AsString(), "errors.New has no meaningful type")
}

// TestToolOptions covers Arguments, ToolCallID and WithAttributes on a
// tool span, and Input on a non-tool span.
func TestToolOptions(t *testing.T) {
	ctx, tr, spans := newTrace(t)
	_, s := span.Start(ctx, span.Tool, "search", span.Arguments("q=refunds"), span.ToolCallID("call_9"),
		span.WithAttributes(attribute.String("a", "1")), span.WithAttributes(attribute.String("b", "2")))
	s.RecordOutput([]string{"doc1"})
	s.End()
	_, r := span.Start(ctx, span.Retrieval, "ret", span.Arguments(map[string]int{"k": 3}))
	r.End()
	tr.End()
	got := spans()
	a := attrs(got["search"].Attributes)
	assert.Equal(t, "search", a[attr.ToolName].AsString())
	assert.Equal(t, "call_9", a[attr.ToolCallID].AsString())
	assert.Equal(t, "q=refunds", a[attr.ToolCallArguments].AsString())
	assert.Equal(t, `["doc1"]`, a[attr.ToolCallResult].AsString())
	assert.Equal(t, "1", a["a"].AsString())
	assert.Equal(t, "2", a["b"].AsString())
	ra := attrs(got["ret"].Attributes)
	assert.Equal(t, `{"k":3}`, ra[attr.Input].AsString())
	assert.NotContains(t, ra, attr.ToolCallArguments)
}

// ExampleStartLLM shows what a provider adapter does: it starts an LLM span
// from whatever context it is given, and does nothing outside a trace.
func ExampleStartLLM() {
	complete := func(ctx context.Context, prompt string) string {
		ctx, s := span.StartLLM(ctx, "", llm.Model("gpt-4.1-mini"), llm.Provider("openai"))
		defer s.End()
		_ = ctx // pass ctx on to the HTTP call
		s.RecordInput([]llm.Message{llm.TextMessage(llm.User, prompt)})
		answer := "It shipped yesterday."
		s.RecordOutput(llm.TextMessage(llm.Assistant, answer))
		s.SetUsage(llm.Usage{InputTokens: 12, OutputTokens: 6})
		return answer
	}
	// Outside a trace the span is nil and every call on it is a no-op.
	fmt.Println(complete(context.Background(), "Where is my order?"))
	// Output: It shipped yesterday.
}

// ValidationError is an exported error type, as a user's package has.
type ValidationError struct{ Field string }

func (e *ValidationError) Error() string { return "invalid " + e.Field }

// TestFailErrorType: error.type follows the semantic conventions: a
// meaningful type name (an exported error type found through wrappers, or a
// well-known sentinel), else _OTHER; never the Go wrapper's type such as
// *errors.errorString. exception.type keeps the Go type.
func TestFailErrorType(t *testing.T) {
	_, urlErr := url.Parse("http://[::1")
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New("plain"), "_OTHER"},
		{fmt.Errorf("wrapped: %w", errors.New("plain")), "_OTHER"},
		{errors.Join(errors.New("a"), errors.New("b")), "_OTHER"},
		{context.DeadlineExceeded, "context.DeadlineExceeded"},
		{fmt.Errorf("call: %w", context.Canceled), "context.Canceled"},
		{fmt.Errorf("x: %w", &ValidationError{Field: "q"}), "github.com/agenttrace/agenttrace/span_test.ValidationError"},
		{errors.Join(errors.New("a"), fmt.Errorf("b: %w", io.ErrUnexpectedEOF)), "io.ErrUnexpectedEOF"},
		{urlErr, "net/url.Error"},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			ctx, tr, spans := newTrace(t)
			_, s := span.Start(ctx, span.Task, "f")
			s.Fail(tc.err)
			s.End()
			tr.End()
			p := spans()["f"]
			assert.Equal(t, tc.want, attrs(p.Attributes)["error.type"].AsString())
			require.Len(t, p.Events, 1)
			assert.Equal(t, fmt.Sprintf("%T", tc.err), attrs(p.Events[0].Attributes)["exception.type"].AsString())
		})
	}
}
