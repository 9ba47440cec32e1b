package trace_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/exporter"
	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/jsonenc"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/span"
	"github.com/agenttrace/agenttrace/trace"
)

// TestStructure checks parent/child structure through ctx, kinds, operation
// names and default names.
func TestStructure(t *testing.T) {
	r := newRecorder(t)
	ctx, tr := r.client.Start(context.Background(), "support_agent")
	require.NotNil(t, tr)
	err := trace.Task(ctx, "resolve_ticket", func(ctx context.Context, s *span.Span) error {
		require.NotNil(t, s)
		assert.Same(t, s, span.FromContext(ctx))
		assert.Same(t, tr, trace.FromContext(ctx))
		lctx, g := tr.LLM(ctx, "", llm.Model("gpt-4.1-mini"), llm.Provider("openai"))
		_, call := tr.Tool(lctx, "issue_refund")
		call.End()
		g.End()
		_, ret := tr.Span(ctx, span.Retrieval, "search_docs")
		ret.End()
		_, custom := tr.Span(ctx, "rerank", "")
		custom.End()
		_, generic := tr.Span(ctx, "", "")
		generic.End()
		return nil
	})
	require.NoError(t, err)
	tr.End()

	spans := r.spans()
	require.Len(t, spans, 7)
	root, task, llmSpan := spans["support_agent"], spans["resolve_ticket"], spans["chat gpt-4.1-mini"]
	tool, ret, custom, generic := spans["issue_refund"], spans["search_docs"], spans["rerank"], spans["span"]

	assert.False(t, root.Parent.IsValid(), "root has no parent")
	assert.Equal(t, root.SpanContext.SpanID(), task.Parent.SpanID())
	assert.Equal(t, task.SpanContext.SpanID(), llmSpan.Parent.SpanID())
	assert.Equal(t, llmSpan.SpanContext.SpanID(), tool.Parent.SpanID(), "tool started from the LLM span's ctx")
	for _, s := range []tracetest.SpanStub{ret, custom, generic} {
		assert.Equal(t, task.SpanContext.SpanID(), s.Parent.SpanID(), s.Name)
	}
	for _, s := range spans {
		assert.Equal(t, root.SpanContext.TraceID(), s.SpanContext.TraceID(), s.Name)
		assert.Equal(t, tr.ID(), s.SpanContext.TraceID().String())
	}

	for name, want := range map[string][2]string{
		"support_agent":     {"trace", "invoke_agent"},
		"resolve_ticket":    {"task", "invoke_workflow"},
		"chat gpt-4.1-mini": {"llm", "chat"},
		"issue_refund":      {"tool", "execute_tool"},
		"search_docs":       {"retrieval", "retrieval"},
	} {
		a := attrs(spans[name].Attributes)
		assert.Equal(t, want[0], a[attr.SpanType].AsString(), name)
		assert.Equal(t, want[1], a[attr.OperationName].AsString(), name)
	}
	assert.Equal(t, "rerank", attrs(custom.Attributes)[attr.SpanType].AsString())
	assert.NotContains(t, attrs(custom.Attributes), attr.OperationName)
	assert.Equal(t, "span", attrs(generic.Attributes)[attr.SpanType].AsString())
	assert.Equal(t, "issue_refund", attrs(tool.Attributes)[attr.ToolName].AsString())
}

// TestDefaultNames covers empty trace, LLM and tool names and a nil ctx.
func TestDefaultNames(t *testing.T) {
	r := newRecorder(t)
	ctx, tr := r.client.Start(nil, "") //lint:ignore SA1012 nil ctx is part of the contract
	_, a := tr.LLM(ctx, "")
	a.End()
	_, b := tr.LLM(ctx, "", llm.Model("claude-sonnet-4-5"), llm.Operation("text_completion"))
	b.End()
	_, c := tr.Tool(nil, "") //lint:ignore SA1012 nil ctx is part of the contract
	c.End()
	_, d := span.Start(ctx, span.Task, "")
	d.End()
	tr.End()

	spans := r.spans()
	require.Contains(t, spans, trace.DefaultName)
	require.Contains(t, spans, "chat")
	require.Contains(t, spans, "text_completion claude-sonnet-4-5")
	require.Contains(t, spans, "execute_tool")
	require.Contains(t, spans, "task")
	assert.Equal(t, spans[trace.DefaultName].SpanContext.SpanID(), spans["execute_tool"].Parent.SpanID(),
		"a nil ctx starts under the root")
	assert.Equal(t, "text_completion", attrs(spans["text_completion claude-sonnet-4-5"].Attributes)[attr.OperationName].AsString())
}

// TestGoroutines starts spans from goroutines that received the ctx.
func TestGoroutines(t *testing.T) {
	r := newRecorder(t)
	ctx, tr := r.client.Start(context.Background(), "fanout", trace.WithSessionID("s-1"))
	ctx, parent := tr.Span(ctx, span.Task, "parallel")
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, s := tr.LLM(ctx, fmt.Sprintf("call-%d", i), llm.Model("gpt-4.1-mini"))
			s.SetUsage(llm.Usage{InputTokens: 10, OutputTokens: 5})
			_, inner := span.Start(ctx, span.Tool, fmt.Sprintf("tool-%d", i))
			inner.RecordOutput(i)
			inner.End()
			tr.Message(llm.Assistant, fmt.Sprintf("answer %d", i)) // concurrent events on the root
			s.End()
		})
	}
	wg.Wait()
	parent.End()
	tr.End()

	spans := r.spans()
	require.Len(t, spans, 2+2*n)
	for i := range n {
		call, tool := spans[fmt.Sprintf("call-%d", i)], spans[fmt.Sprintf("tool-%d", i)]
		assert.Equal(t, spans["parallel"].SpanContext.SpanID(), call.Parent.SpanID())
		assert.Equal(t, call.SpanContext.SpanID(), tool.Parent.SpanID())
		assert.Equal(t, "s-1", attrs(tool.Attributes)[attr.SessionID].AsString())
		assert.Equal(t, fmt.Sprint(i), attrs(tool.Attributes)[attr.Output].AsString())
	}
	msgs := r.ofType(attr.TypeMessage)
	assert.Len(t, msgs, n)
	for _, m := range msgs {
		assert.Equal(t, spans["fanout"].SpanContext.SpanID(), m.Parent.SpanID(), "a message is a child of the root")
		assert.Equal(t, "s-1", attrs(m.Attributes)[attr.SessionID].AsString(), "and carries the trace's fields")
	}
}

// TestTraceFieldsOnEverySpan checks the trace-level fields on our spans and
// on a span started by a plain OpenTelemetry tracer inside the trace.
func TestTraceFieldsOnEverySpan(t *testing.T) {
	r := newRecorder(t)
	ctx, tr := r.client.Start(context.Background(), "support_agent",
		trace.WithUserID("cus_123"), trace.WithSessionID("s-9"), trace.WithTenantID("AceTech"),
		trace.WithConversationID("thread_123"), trace.WithExternalID("order-4421"),
		trace.WithTags("beta", "refunds", "", "beta"), trace.WithTags("vip"), trace.WithEnvironment("production"),
		trace.WithAttributes(attribute.String("plan", "pro")),
		trace.WithContext(map[string]any{"region": "eu", "shard": 7, "ratio": 0.5, "flag": true,
			"list": []string{"a", "b"}, "obj": map[string]int{"x": 1}}),
		trace.WithContext(map[string]any{"region": "us"}))
	ctx, g := tr.LLM(ctx, "llm", llm.Model("gpt-4.1-mini"))
	// Other instrumentation using the client's provider, inside the LLM span.
	pctx, plain := r.client.TracerProvider().Tracer("otelhttp").Start(ctx, "HTTP POST")
	_, grandchild := span.Start(pctx, span.Generic, "after_plain")
	grandchild.End()
	plain.End()
	g.End()
	tr.End()

	spans := r.spans()
	require.Len(t, spans, 4)
	assert.Equal(t, spans["llm"].SpanContext.SpanID(), spans["HTTP POST"].Parent.SpanID())
	assert.Equal(t, spans["HTTP POST"].SpanContext.SpanID(), spans["after_plain"].Parent.SpanID(),
		"an agenttrace span nests under a plain span in ctx")
	for name, s := range spans {
		a := attrs(s.Attributes)
		assert.Equal(t, "cus_123", a[attr.UserID].AsString(), name)
		assert.Equal(t, "s-9", a[attr.SessionID].AsString(), name)
		assert.Equal(t, "AceTech", a[attr.TenantID].AsString(), name)
		assert.Equal(t, "thread_123", a[attr.ConversationID].AsString(), name)
		assert.Equal(t, "order-4421", a[attr.ExternalTraceID].AsString(), name)
		assert.Equal(t, []string{"beta", "refunds", "vip"}, a[attr.Tags].AsStringSlice(), name)
		assert.Equal(t, "production", a[attr.Environment].AsString(), name)
		assert.Equal(t, "us", a[attr.ContextPrefix+"region"].AsString(), name)
		assert.Equal(t, int64(7), a[attr.ContextPrefix+"shard"].AsInt64(), name)
		assert.Equal(t, 0.5, a[attr.ContextPrefix+"ratio"].AsFloat64(), name)
		assert.True(t, a[attr.ContextPrefix+"flag"].AsBool(), name)
		assert.Equal(t, []string{"a", "b"}, a[attr.ContextPrefix+"list"].AsStringSlice(), name)
		assert.Equal(t, `{"x":1}`, a[attr.ContextPrefix+"obj"].AsString(), name)
		if name == "support_agent" {
			assert.Equal(t, "pro", a["plan"].AsString())
		} else {
			assert.NotContains(t, a, attribute.Key("plan"), "WithAttributes is for the root only")
		}
	}
}

// TestNestedTraceAndForeignContext covers a trace started inside another,
// a span started with a ctx of another trace (it joins that trace) and one
// started with a ctx that belongs to no trace (under the root).
func TestNestedTraceAndForeignContext(t *testing.T) {
	r := newRecorder(t)
	outerCtx, outer := r.client.Start(context.Background(), "outer", trace.WithUserID("u-outer"))
	innerCtx, inner := r.client.Start(outerCtx, "inner", trace.WithUserID("u-inner"))
	assert.Same(t, inner, trace.FromContext(innerCtx))
	assert.Same(t, outer, trace.FromContext(outerCtx))
	_, s := inner.Span(innerCtx, span.Task, "inner_task")
	s.End()
	// A ctx of another trace: the span joins that trace, as span.Start's
	// would. A ctx of none: under this trace's root.
	_, s2 := outer.Span(innerCtx, span.Task, "joins_inner")
	s2.End()
	_, s2b := outer.LLM(innerCtx, "joins_inner_llm")
	s2b.End()
	type key struct{}
	vctx := context.WithValue(context.Background(), key{}, "v")
	fctx, s3 := outer.Tool(vctx, "foreign_tool")
	assert.Equal(t, "v", fctx.Value(key{}), "ctx values are kept")
	s3.End()
	inner.End()
	outer.End()

	spans := r.spans()
	assert.Equal(t, spans["outer"].SpanContext.SpanID(), spans["inner"].Parent.SpanID())
	assert.Equal(t, "u-inner", attrs(spans["inner"].Attributes)[attr.UserID].AsString())
	assert.Equal(t, "u-inner", attrs(spans["inner_task"].Attributes)[attr.UserID].AsString())
	for _, name := range []string{"joins_inner", "joins_inner_llm"} {
		assert.Equal(t, spans["inner"].SpanContext.SpanID(), spans[name].Parent.SpanID(), name)
		assert.Equal(t, "u-inner", attrs(spans[name].Attributes)[attr.UserID].AsString(), name)
	}
	assert.Equal(t, spans["outer"].SpanContext.SpanID(), spans["foreign_tool"].Parent.SpanID())
	assert.Equal(t, "u-outer", attrs(spans["foreign_tool"].Attributes)[attr.UserID].AsString())
}

// TestAttributes checks every key of DESIGN section 3 the SDK writes.
func TestAttributes(t *testing.T) {
	r := newRecorder(t)
	ctx, tr := r.client.Start(context.Background(), "support_agent")
	tr.Message(llm.User, "Where is my order?")
	tr.Message(llm.Tool, `{"status":"shipped"}`, llm.ToolCallID("call_1"))
	tr.Message(llm.Assistant, []llm.Part{llm.Text("scratch"), llm.ToolCallPart(llm.ToolCall{ID: "call_2", Name: "lookup", Arguments: json.RawMessage(`{"id":1}`)})}, llm.Internal())
	tr.Feedback("helpful", 1, "resolved in one turn")
	tr.Signal("escalated", attribute.String("to", "tier2"))
	tr.RecordInput(map[string]any{"ticket": "T-42"})
	tr.RecordOutput("done")

	ctx2, g := tr.LLM(ctx, "openai.responses", llm.Model("gpt-4.1-mini"), llm.Provider("openai"),
		llm.Prompt("welcome-email", "v3"), llm.Attributes(attribute.Int("attempt", 1)))
	in := []llm.Message{llm.TextMessage(llm.System, "be brief"), llm.TextMessage(llm.User, "Where is my order?")}
	g.RecordInput(in)
	out := llm.Message{Role: llm.Assistant, Parts: []llm.Part{llm.Text("It shipped.")}, FinishReason: llm.FinishStop}
	g.RecordOutput(out)
	g.SetResponseModel("gpt-4.1-mini-2025-04-14")
	g.SetResponseID("resp_1")
	g.SetFinishReasons(llm.FinishStop)
	g.SetTimeToFirstChunk(250 * time.Millisecond)
	usage := llm.Usage{InputTokens: 1200, OutputTokens: 300, CacheReadTokens: 1000, CacheCreationTokens: 100,
		ReasoningTokens: 50, ContextWindowTokens: 1047576, ContextUsedTokens: 1500}
	g.SetUsage(usage)
	_, tool := tr.Tool(ctx2, "issue_refund", span.Arguments(map[string]any{"order": "4421"}), span.ToolCallID("call_1"))
	tool.RecordOutput(map[string]any{"refunded": true})
	tool.End()
	g.End()
	_, task := tr.Span(ctx, span.Task, "task", span.Input("in"), span.WithAttributes(attribute.Bool("k", true)))
	task.RecordOutput(struct {
		Hits int    `json:"hits"`
		Top  string `json:"top"`
	}{3, "<refunds>"})
	task.End()
	tr.End()

	spans := r.spans()
	root := spans["support_agent"]
	ra := attrs(root.Attributes)
	assert.Equal(t, `{"ticket":"T-42"}`, ra[attr.Input].AsString())
	assert.Equal(t, "done", ra[attr.Output].AsString())

	assert.Empty(t, events(root, attr.EventMessage), "messages are not on the root")
	msgs := r.messages()
	require.Len(t, msgs, 3)
	m0, m1, m2 := attrs(msgs[0].Attributes), attrs(msgs[1].Attributes), attrs(msgs[2].Attributes)
	assert.Equal(t, "user", m0[attr.EventRole].AsString())
	assert.JSONEq(t, `[{"type":"text","content":"Where is my order?"}]`, m0[attr.EventContent].AsString())
	assert.False(t, m0[attr.EventInternal].AsBool())
	assert.NotContains(t, m0, attr.EventToolCallID)
	assert.Equal(t, "tool", m1[attr.EventRole].AsString())
	assert.Equal(t, "call_1", m1[attr.EventToolCallID].AsString())
	assert.JSONEq(t, `[{"type":"text","content":"{\"status\":\"shipped\"}"}]`, m1[attr.EventContent].AsString())
	assert.True(t, m2[attr.EventInternal].AsBool())
	assert.JSONEq(t, `[{"type":"text","content":"scratch"},{"type":"tool_call","id":"call_2","name":"lookup","arguments":{"id":1}}]`,
		m2[attr.EventContent].AsString())

	scores := r.ofType(attr.TypeScore)
	require.Len(t, scores, 1)
	assert.Equal(t, root.SpanContext.SpanID(), scores[0].Parent.SpanID())
	assert.Equal(t, "score helpful", scores[0].Name)
	fb := attrs(scores[0].Attributes)
	assert.Equal(t, "helpful", fb[attr.ScoreName].AsString())
	assert.Equal(t, 1.0, fb[attr.ScoreValue].AsFloat64())
	assert.Equal(t, "resolved in one turn", fb[attr.ScoreComment].AsString())
	sig := attrs(event(t, root, attr.EventSignal).Attributes)
	assert.Equal(t, "escalated", sig[attr.EventName].AsString())
	assert.Equal(t, "tier2", sig["to"].AsString())

	ga := attrs(spans["openai.responses"].Attributes)
	assert.Equal(t, "gpt-4.1-mini", ga[attr.RequestModel].AsString())
	assert.Equal(t, "gpt-4.1-mini-2025-04-14", ga[attr.ResponseModel].AsString())
	assert.Equal(t, "openai", ga[attr.ProviderName].AsString())
	assert.Equal(t, "welcome-email", ga[attr.PromptSlug].AsString())
	assert.Equal(t, "v3", ga[attr.PromptVersion].AsString())
	assert.Equal(t, int64(1), ga["attempt"].AsInt64())
	assert.Equal(t, "resp_1", ga[attr.ResponseID].AsString())
	assert.Equal(t, []string{"stop"}, ga[attr.FinishReasons].AsStringSlice())
	assert.InDelta(t, 0.25, ga[attr.TimeToFirstChunk].AsFloat64(), 1e-9)
	assert.Equal(t, int64(1200), ga[attr.InputTokens].AsInt64())
	assert.Equal(t, int64(300), ga[attr.OutputTokens].AsInt64())
	assert.Equal(t, int64(1000), ga[attr.CacheReadTokens].AsInt64())
	assert.Equal(t, int64(100), ga[attr.CacheCreationTokens].AsInt64())
	assert.Equal(t, int64(50), ga[attr.ReasoningTokens].AsInt64())
	assert.Equal(t, int64(1500), ga[attr.TotalTokens].AsInt64())
	assert.Equal(t, int64(1047576), ga[attr.ContextWindowTokens].AsInt64())
	assert.Equal(t, int64(1500), ga[attr.ContextUsedTokens].AsInt64())
	wantCost, ok := llm.DefaultPrices().Cost("gpt-4.1-mini", usage)
	require.True(t, ok, "the default price table knows gpt-4.1-mini")
	assert.InDelta(t, wantCost, ga[attr.CostUSD].AsFloat64(), 1e-12)
	assert.Equal(t, "computed", ga[attr.CostSource].AsString())
	assert.Equal(t, llm.DefaultPrices().Version(), ga[attr.PriceTableVersion].AsString())
	assert.JSONEq(t, `[{"role":"system","parts":[{"type":"text","content":"be brief"}]},{"role":"user","parts":[{"type":"text","content":"Where is my order?"}]}]`,
		ga[attr.InputMessages].AsString())
	assert.Equal(t, ga[attr.InputMessages].AsString(), ga[attr.Input].AsString())
	assert.JSONEq(t, `[{"role":"assistant","parts":[{"type":"text","content":"It shipped."}],"finish_reason":"stop"}]`,
		ga[attr.OutputMessages].AsString())
	assert.Equal(t, ga[attr.OutputMessages].AsString(), ga[attr.Output].AsString())

	ta := attrs(spans["issue_refund"].Attributes)
	assert.Equal(t, "issue_refund", ta[attr.ToolName].AsString())
	assert.Equal(t, "call_1", ta[attr.ToolCallID].AsString())
	assert.Equal(t, `{"order":"4421"}`, ta[attr.ToolCallArguments].AsString())
	assert.Equal(t, `{"order":"4421"}`, ta[attr.Input].AsString())
	assert.Equal(t, `{"refunded":true}`, ta[attr.ToolCallResult].AsString())
	assert.Equal(t, `{"refunded":true}`, ta[attr.Output].AsString())

	ka := attrs(spans["task"].Attributes)
	assert.Equal(t, "in", ka[attr.Input].AsString())
	assert.Equal(t, `{"hits":3,"top":"<refunds>"}`, ka[attr.Output].AsString(), "structs as JSON, HTML not escaped")
	assert.True(t, ka["k"].AsBool())
}

// TestCost covers the cost rules of SetUsage.
func TestCost(t *testing.T) {
	custom := llm.DefaultPrices()
	cases := []struct {
		name       string
		opts       []trace.Option
		model      string
		respModel  string
		priceModel string // the model a computed cost is priced by (default model)
		usage      llm.Usage
		wantCost   float64
		wantSource string // "" means no cost attribute
	}{
		{name: "computed", model: "gpt-4.1-mini", usage: llm.Usage{InputTokens: 1000, OutputTokens: 100}, wantSource: "computed"},
		{name: "unknown model", model: "my-local-llama", usage: llm.Usage{InputTokens: 1000, OutputTokens: 100}},
		{name: "no model", usage: llm.Usage{InputTokens: 1000, OutputTokens: 100}},
		// Never a wrong cost: an unknown snapshot is not priced as its alias.
		{name: "response model unknown, request known", model: "gpt-4.1-mini", respModel: "gpt-4.1-mini-2099-01-01",
			usage: llm.Usage{InputTokens: 1000, OutputTokens: 100}},
		{name: "response model wins", model: "gpt-4.1", respModel: "gpt-4.1-mini", priceModel: "gpt-4.1-mini",
			usage: llm.Usage{InputTokens: 1000, OutputTokens: 100}, wantSource: "computed"},
		{name: "response model only", respModel: "gpt-4.1-mini", priceModel: "gpt-4.1-mini",
			usage: llm.Usage{InputTokens: 1000, OutputTokens: 100}, wantSource: "computed"},
		{name: "response model known, request unknown", model: "my-router", respModel: "gpt-4.1-mini", priceModel: "gpt-4.1-mini",
			usage: llm.Usage{InputTokens: 1000, OutputTokens: 100}, wantSource: "computed"},
		{name: "user cost", model: "gpt-4.1-mini", usage: llm.Usage{InputTokens: 1, CostUSD: 0.5}, wantCost: 0.5, wantSource: "user"},
		{name: "provider cost", model: "gpt-4.1-mini", usage: llm.Usage{InputTokens: 1, CostUSD: 0.25, CostSource: llm.CostProvider},
			wantCost: 0.25, wantSource: "provider"},
		{name: "zero provider cost", model: "gpt-4.1-mini", usage: llm.Usage{InputTokens: 1, CostSource: llm.CostProvider},
			wantCost: 0, wantSource: "provider"},
		{name: "no price table", opts: []trace.Option{trace.WithPriceTable(nil)}, model: "gpt-4.1-mini",
			usage: llm.Usage{InputTokens: 1000, OutputTokens: 100}},
		{name: "custom table", opts: []trace.Option{trace.WithPriceTable(custom)}, model: "gpt-4.1-mini",
			usage: llm.Usage{InputTokens: 1000, OutputTokens: 100}, wantSource: "computed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRecorder(t, c.opts...)
			ctx, tr := r.client.Start(context.Background(), "t")
			_, g := tr.LLM(ctx, "call", llm.Model(c.model))
			g.SetUsage(c.usage)
			g.SetResponseModel(c.respModel) // after SetUsage: the order does not matter
			g.End()
			tr.End()
			a := attrs(r.spans()["call"].Attributes)
			assert.Equal(t, c.usage.InputTokens, a[attr.InputTokens].AsInt64())
			if c.wantSource == "" {
				assert.NotContains(t, a, attr.CostUSD)
				assert.NotContains(t, a, attr.CostSource)
				return
			}
			assert.Equal(t, c.wantSource, a[attr.CostSource].AsString())
			want := c.wantCost
			if c.wantSource == "computed" {
				priceModel := c.priceModel
				if priceModel == "" {
					priceModel = c.model
				}
				var ok bool
				want, ok = llm.DefaultPrices().Cost(priceModel, c.usage)
				require.True(t, ok)
				require.Positive(t, want)
				assert.Equal(t, llm.DefaultPrices().Version(), a[attr.PriceTableVersion].AsString())
			} else {
				assert.NotContains(t, a, attr.PriceTableVersion)
			}
			assert.InDelta(t, want, a[attr.CostUSD].AsFloat64(), 1e-12)
		})
	}
}

// TestPanic checks that defer s.End() records a panic and re-panics.
func TestPanic(t *testing.T) {
	r := newRecorder(t)
	ctx, tr := r.client.Start(context.Background(), "t")

	var recovered any
	func() {
		defer func() { recovered = recover() }()
		_, s := tr.Span(ctx, span.Task, "boom")
		defer s.End()
		panic("boom: disk on fire")
	}()
	assert.Equal(t, "boom: disk on fire", recovered, "the panic reaches the caller unchanged")

	err := errors.New("task failed")
	assert.Same(t, err, trace.Task(ctx, "failing", func(context.Context, *span.Span) error { return err }))
	func() {
		defer func() { recovered = recover() }()
		_ = trace.Task(ctx, "panicking", func(context.Context, *span.Span) error { panic(err) })
	}()
	assert.Same(t, err, recovered)

	// A panic through defer tr.End() marks the root.
	func() {
		defer func() { recovered = recover() }()
		defer tr.End()
		panic(fmt.Errorf("root panic"))
	}()
	require.EqualError(t, recovered.(error), "root panic")
	tr.End() // idempotent

	spans := r.spans()
	boom := spans["boom"]
	assert.Equal(t, codes.Error, boom.Status.Code)
	assert.Contains(t, boom.Status.Description, "boom: disk on fire")
	ex := attrs(event(t, boom, "exception").Attributes)
	assert.Equal(t, "boom: disk on fire", ex["exception.message"].AsString())
	assert.Equal(t, "string", ex["exception.type"].AsString())
	assert.Contains(t, ex["exception.stacktrace"].AsString(), "TestPanic")
	assert.Equal(t, sdktrace.Status{Code: codes.Error, Description: "task failed"}, spans["failing"].Status)
	assert.Equal(t, "task failed", attrs(event(t, spans["failing"], "exception").Attributes)["exception.message"].AsString())
	assert.Equal(t, codes.Error, spans["panicking"].Status.Code)
	assert.Equal(t, codes.Error, spans["t"].Status.Code)
	assert.Contains(t, attrs(event(t, spans["t"], "exception").Attributes)["exception.message"].AsString(), "root panic")
}

// TestEndedAndNilSpans checks that methods after End, and on nil spans and
// traces, are no-ops.
func TestEndedAndNilSpans(t *testing.T) {
	r := newRecorder(t)
	ctx, tr := r.client.Start(context.Background(), "t")
	_, s := tr.Span(ctx, span.Task, "ended")
	s.End()
	s.End()
	s.RecordOutput("late")
	s.SetAttributes(attribute.String("late", "x"))
	s.Fail(errors.New("late"))
	s.SetUsage(llm.Usage{InputTokens: 5})
	assert.False(t, s.IsRecording())
	tr.End()
	tr.Message(llm.User, "late")
	require.NoError(t, tr.Feedback("late", 1, ""))

	var ns *span.Span
	ns.RecordInput("x")
	ns.RecordOutput("x")
	ns.RecordInputMessages(nil)
	ns.RecordOutputMessages(nil)
	ns.SetUsage(llm.Usage{})
	ns.SetAttributes()
	ns.AddEvent("x")
	ns.Fail(errors.New("x"))
	ns.RecordPanic("x")
	ns.SetRequestModel("m")
	ns.SetProvider("p")
	ns.SetResponseModel("m")
	ns.SetResponseID("id")
	ns.SetFinishReasons("stop")
	ns.SetTimeToFirstChunk(time.Second)
	ns.End()
	assert.False(t, ns.IsRecording())
	assert.Equal(t, span.Kind(""), ns.Kind())
	assert.False(t, ns.SpanContext().IsValid())
	assert.NotNil(t, ns.OTelSpan())

	var nt *trace.Trace
	c2, s2 := nt.LLM(context.Background(), "x")
	assert.Nil(t, s2)
	assert.NotNil(t, c2)
	_, s3 := nt.Span(nil, span.Task, "x") //lint:ignore SA1012 nil ctx is part of the contract
	assert.Nil(t, s3)
	nt.Message(llm.User, "x")
	assert.NoError(t, nt.Feedback("x", 1, ""))
	nt.Signal("x")
	nt.RecordInput("x")
	nt.Fail(errors.New("x"))
	nt.End()
	assert.Equal(t, "", nt.ID())
	assert.Nil(t, nt.Root())
	assert.NotNil(t, nt.Context())

	spans := r.spans()
	a := attrs(spans["ended"].Attributes)
	assert.NotContains(t, a, attr.Output)
	assert.NotContains(t, a, attribute.Key("late"))
	assert.NotContains(t, a, attr.InputTokens)
	assert.Equal(t, codes.Unset, spans["ended"].Status.Code)
	// A message or feedback after End is still recorded: each is a span of
	// its own in the trace.
	assert.Len(t, r.messages(), 1)
	assert.Len(t, r.ofType(attr.TypeScore), 1)
}

// TestOutsideTrace: span functions return a nil span without a trace.
func TestOutsideTrace(t *testing.T) {
	ctx := context.Background()
	c, s := span.Start(ctx, span.Task, "x")
	assert.Nil(t, s)
	assert.Equal(t, ctx, c)
	c, s = span.StartLLM(ctx, "x", llm.Model("m"))
	assert.Nil(t, s)
	assert.Equal(t, ctx, c)
	assert.Nil(t, span.FromContext(ctx))
	assert.Nil(t, span.FromContext(nil)) //lint:ignore SA1012 nil ctx is part of the contract
	assert.Nil(t, trace.FromContext(ctx))
	ran := false
	require.NoError(t, trace.Task(ctx, "x", func(ctx context.Context, s *span.Span) error {
		ran = true
		assert.Nil(t, s)
		s.RecordOutput("ignored")
		return nil
	}))
	assert.True(t, ran)
	require.ErrorIs(t, trace.Task(ctx, "x", nil), trace.ErrNilFunc)
}

// TestTruncation checks the size limit and its marker.
func TestTruncation(t *testing.T) {
	r := newRecorder(t, trace.WithMaxValueBytes(100))
	ctx, tr := r.client.Start(context.Background(), "t")
	long := strings.Repeat("é", 1000) // 2000 bytes, 2-byte runes
	_, s := tr.Span(ctx, span.Task, "big")
	s.RecordInput(long)
	s.RecordOutput(map[string]string{"v": long})
	s.End()
	tr.Message(llm.User, long)
	tr.End()

	spans := r.spans()
	a := attrs(spans["big"].Attributes)
	for _, v := range []string{a[attr.Input].AsString(), a[attr.Output].AsString(),
		attrs(r.messages()[0].Attributes)[attr.EventContent].AsString()} {
		assert.LessOrEqual(t, len(v), 100)
		assert.True(t, jsonenc.IsTruncated(v), v)
		assert.Contains(t, v, "…[truncated ")
		assert.Contains(t, v, "éééé")
	}
	assert.Regexp(t, `^(é)+…\[truncated 19\d\d bytes\]$`, a[attr.Input].AsString())

	// Default limit: 32 KiB.
	r2 := newRecorder(t)
	ctx, tr = r2.client.Start(context.Background(), "t")
	_, s = tr.Span(ctx, span.Task, "big")
	s.RecordInput(strings.Repeat("x", 40<<10))
	s.RecordOutput(strings.Repeat("x", 32<<10))
	s.End()
	tr.End()
	a = attrs(r2.spans()["big"].Attributes)
	assert.LessOrEqual(t, len(a[attr.Input].AsString()), 32<<10)
	assert.True(t, jsonenc.IsTruncated(a[attr.Input].AsString()))
	assert.Len(t, a[attr.Output].AsString(), 32<<10, "a value of exactly the limit is kept whole")
}

// TestMask checks that the mask sees every recorded value with its key.
func TestMask(t *testing.T) {
	var mu sync.Mutex
	keys := map[string]bool{}
	mask := func(key, value string) string {
		mu.Lock()
		keys[key] = true
		mu.Unlock()
		return strings.ReplaceAll(value, "sk-secret", "[redacted]")
	}
	r := newRecorder(t, trace.WithMask(mask), trace.WithMaxValueBytes(1000))
	ctx, tr := r.client.Start(context.Background(), "t")
	tr.Message(llm.User, "my key is sk-secret")
	require.NoError(t, tr.Feedback("f", 0, "leaked sk-secret"))
	_, g := tr.LLM(ctx, "llm")
	g.RecordInput([]llm.Message{llm.TextMessage(llm.User, "sk-secret")})
	g.RecordOutput("answer sk-secret")
	g.Fail(errors.New("auth failed for sk-secret"))
	g.End()
	_, tool := tr.Tool(ctx, "tool", span.Arguments(map[string]string{"key": "sk-secret"}))
	tool.RecordOutput("sk-secret")
	tool.End()
	tr.End()

	var all []string
	for _, s := range r.all() {
		for _, kv := range s.Attributes {
			all = append(all, kv.Value.Emit())
		}
		for _, e := range s.Events {
			for _, kv := range e.Attributes {
				all = append(all, kv.Value.Emit())
			}
		}
		all = append(all, s.Status.Description)
	}
	joined := strings.Join(all, "\n")
	assert.NotContains(t, joined, "sk-secret")
	assert.Contains(t, joined, "[redacted]")
	for _, k := range []string{"content", "agenttrace.score.comment", "gen_ai.input.messages", "agenttrace.output",
		"exception.message", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"} {
		assert.True(t, keys[k], "mask called for %s", k)
	}
}

// TestDisabled checks that a disabled client records nothing and costs no
// allocation.
func TestDisabled(t *testing.T) {
	for _, c := range []struct {
		name string
		env  string
		opts []trace.Option
	}{
		{name: "option", opts: []trace.Option{trace.WithDisabled()}},
		{name: "env", env: "true"},
		{name: "env 1", env: "1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(trace.EnvDisabled, c.env)
			mem := tracetest.NewInMemoryExporter()
			client, err := trace.NewClient(context.Background(), append(c.opts, trace.WithExporter(mem))...)
			require.NoError(t, err)
			assert.True(t, client.Disabled())
			ctx, tr := client.Start(context.Background(), "t", trace.WithUserID("u"))
			assert.Nil(t, tr)
			assert.Nil(t, trace.FromContext(ctx))
			disabledPath(ctx, client)
			_, plain := client.TracerProvider().Tracer("x").Start(ctx, "plain")
			assert.False(t, plain.IsRecording())
			plain.End()
			require.NoError(t, client.Flush(context.Background()))
			assert.Empty(t, mem.GetSpans())
			require.NoError(t, client.Shutdown(context.Background()))

			allocs := testing.AllocsPerRun(100, func() { disabledPath(context.Background(), client) })
			assert.Zero(t, allocs, "allocations per disabled trace")
		})
	}
	var nilClient *trace.Client
	ctx, tr := nilClient.Start(nil, "x") //lint:ignore SA1012 nil ctx is part of the contract
	assert.Nil(t, tr)
	assert.NotNil(t, ctx)
	assert.NoError(t, nilClient.Flush(context.Background()))
	assert.NoError(t, nilClient.Shutdown(context.Background()))

	t.Setenv(trace.EnvDisabled, "false")
	r := newRecorder(t)
	assert.False(t, r.client.Disabled())
}

// TestSampler: a sampler that drops everything records nothing, and spans
// still nest and accept calls.
func TestSampler(t *testing.T) {
	r := newRecorder(t, trace.WithSampler(sdktrace.NeverSample()))
	ctx, tr := r.client.Start(context.Background(), "t")
	require.NotNil(t, tr)
	ctx, s := tr.LLM(ctx, "x", llm.Model("gpt-4.1-mini"))
	require.NotNil(t, s)
	assert.False(t, s.IsRecording())
	assert.Same(t, s, span.FromContext(ctx))
	s.RecordInput("x")
	s.SetUsage(llm.Usage{InputTokens: 1})
	s.End()
	tr.Message(llm.User, "x")
	tr.End()
	assert.Empty(t, r.all())
}

// TestInvalidOptions checks NewClient's errors.
func TestInvalidOptions(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	for _, c := range []struct {
		name string
		env  string
		opts []trace.Option
		want error
	}{
		{name: "negative limit", opts: []trace.Option{trace.WithMaxValueBytes(-1)}, want: trace.ErrInvalidOption},
		{name: "negative limit while disabled", opts: []trace.Option{trace.WithMaxValueBytes(-1), trace.WithDisabled()}, want: trace.ErrInvalidOption},
		{name: "no scheme", opts: []trace.Option{trace.WithEndpoint("localhost:4318")}, want: exporter.ErrInvalidEndpoint},
		{name: "bad scheme", opts: []trace.Option{trace.WithEndpoint("ftp://x")}, want: exporter.ErrInvalidEndpoint},
		{name: "no host", opts: []trace.Option{trace.WithEndpoint("http://")}, want: exporter.ErrInvalidEndpoint},
		{name: "unparsable", opts: []trace.Option{trace.WithEndpoint("http://[::1")}, want: exporter.ErrInvalidEndpoint},
		{name: "sampler and provider", opts: []trace.Option{trace.WithTracerProvider(tp), trace.WithSampler(sdktrace.AlwaysSample())}, want: trace.ErrConflictingOptions},
		{name: "nil exporter", opts: []trace.Option{trace.WithExporter(nil)}, want: trace.ErrInvalidOption},
		{name: "nil provider", opts: []trace.Option{trace.WithTracerProvider(nil)}, want: trace.ErrInvalidOption},
		{name: "bad env", env: "banana", want: trace.ErrInvalidOption},
		{name: "empty API key", opts: []trace.Option{trace.WithAPIKey("")}, want: exporter.ErrInvalidOption},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(trace.EnvDisabled, c.env)
			client, err := trace.NewClient(context.Background(), c.opts...)
			require.ErrorIs(t, err, c.want)
			assert.Nil(t, client)
			t.Log(err)
		})
	}
	t.Run("sampler and provider names both", func(t *testing.T) {
		_, err := trace.NewClient(context.Background(), trace.WithTracerProvider(tp), trace.WithSampler(sdktrace.AlwaysSample()))
		require.ErrorIs(t, err, trace.ErrInvalidOption)
		assert.Contains(t, err.Error(), "WithSampler and WithTracerProvider")
	})
	t.Run("malformed env endpoint", func(t *testing.T) {
		t.Setenv(exporter.EnvEndpoint, "collector:4318")
		_, err := trace.NewClient(context.Background())
		require.ErrorIs(t, err, exporter.ErrInvalidEndpoint)
		assert.Contains(t, err.Error(), exporter.EnvEndpoint)
	})
}

// TestExporterOptionsConflictWithExporter: an option that configures the
// exporter the client builds, given with WithExporter (whose exporter is
// used as built), makes NewClient fail naming both options, also for a
// disabled client.
func TestExporterOptionsConflictWithExporter(t *testing.T) {
	mem := tracetest.NewInMemoryExporter()
	for name, opt := range map[string]trace.Option{
		"WithEndpoint":        trace.WithEndpoint("http://127.0.0.1:4318"),
		"WithHeaders":         trace.WithHeaders(map[string]string{"x-team": "a"}),
		"WithAPIKey":          trace.WithAPIKey("key"),
		"WithExporterOptions": trace.WithExporterOptions(exporter.WithCompression(false)),
	} {
		for _, order := range [][]trace.Option{{opt, trace.WithExporter(mem)}, {trace.WithExporter(mem), opt}, {opt, trace.WithExporter(mem), trace.WithDisabled()}} {
			client, err := trace.NewClient(context.Background(), order...)
			require.ErrorIs(t, err, trace.ErrConflictingOptions, name)
			require.ErrorIs(t, err, trace.ErrInvalidOption, name)
			assert.Nil(t, client)
			assert.Contains(t, err.Error(), name+" and WithExporter")
		}
	}
	// Two of them: each named.
	_, err := trace.NewClient(context.Background(), trace.WithEndpoint("http://127.0.0.1:4318"),
		trace.WithAPIKey("key"), trace.WithExporter(mem))
	require.ErrorIs(t, err, trace.ErrConflictingOptions)
	assert.Contains(t, err.Error(), "WithEndpoint and WithExporter")
	assert.Contains(t, err.Error(), "WithAPIKey and WithExporter")
	// Each alone is fine.
	for _, opts := range [][]trace.Option{{trace.WithExporter(mem)}, {trace.WithEndpoint("http://127.0.0.1:4318"), trace.WithAPIKey("key")}} {
		client, err := trace.NewClient(context.Background(), opts...)
		require.NoError(t, err)
		require.NoError(t, client.Shutdown(context.Background()))
	}
}

// TestAttachToProvider attaches a client to a user's provider.
func TestAttachToProvider(t *testing.T) {
	userMem := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(userMem))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ourMem := tracetest.NewInMemoryExporter()
	client, err := trace.NewClient(context.Background(), trace.WithTracerProvider(tp), trace.WithExporter(ourMem))
	require.NoError(t, err)
	assert.Same(t, tp, client.TracerProvider())

	ctx, tr := client.Start(context.Background(), "t", trace.WithSessionID("s-1"))
	_, plain := tp.Tracer("user").Start(ctx, "user_span")
	plain.End()
	tr.End()
	require.NoError(t, client.Flush(context.Background()))
	for _, spans := range []tracetest.SpanStubs{userMem.GetSpans(), ourMem.GetSpans()} {
		require.Len(t, spans, 2)
		for _, s := range spans {
			assert.Equal(t, "s-1", attrs(s.Attributes)[attr.SessionID].AsString(), s.Name)
		}
	}

	require.NoError(t, client.Shutdown(context.Background()))
	require.NoError(t, client.Shutdown(context.Background()), "idempotent")
	// The user's provider keeps working, without our processors.
	ctx, _ = client.Start(context.Background(), "after", trace.WithSessionID("s-2"))
	_, after := tp.Tracer("user").Start(ctx, "user_after")
	after.End()
	assert.Len(t, userMem.GetSpans(), 3)
	last := userMem.GetSpans()[2]
	assert.Equal(t, "user_after", last.Name)
	assert.NotContains(t, attrs(last.Attributes), attr.SessionID, "the stamper is unregistered")
}

// blockingExporter blocks every export until its context is done or the
// test releases it.
type blockingExporter struct{ release chan struct{} }

func (e *blockingExporter) ExportSpans(ctx context.Context, _ []sdktrace.ReadOnlySpan) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-e.release:
		return nil
	}
}
func (e *blockingExporter) Shutdown(context.Context) error { return nil }

// TestFlushAndShutdownBoundedByContext: Flush and Shutdown return when their
// ctx is done even if the exporter hangs.
func TestFlushAndShutdownBoundedByContext(t *testing.T) {
	for _, op := range []string{"flush", "shutdown"} {
		t.Run(op, func(t *testing.T) {
			exp := &blockingExporter{release: make(chan struct{})}
			client, err := trace.NewClient(context.Background(), trace.WithExporter(exp))
			require.NoError(t, err)
			ctx, tr := client.Start(context.Background(), "t")
			_, s := tr.Span(ctx, span.Task, "x")
			s.End()
			tr.End()
			tctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if op == "flush" {
				require.ErrorIs(t, client.Flush(tctx), context.DeadlineExceeded)
			} else {
				require.ErrorIs(t, client.Shutdown(tctx), context.DeadlineExceeded)
			}
			close(exp.release)
			err = client.Shutdown(context.Background())
			if op == "shutdown" {
				require.ErrorIs(t, err, context.DeadlineExceeded, "later calls return the first result")
			} else {
				require.NoError(t, err)
			}
		})
	}
}

// TestRecordInputEncodings covers the value encodings.
func TestRecordInputEncodings(t *testing.T) {
	r := newRecorder(t)
	ctx, tr := r.client.Start(context.Background(), "t")
	type cyclic struct {
		Self *cyclic `json:"self"`
	}
	cyc := &cyclic{}
	cyc.Self = cyc
	cases := map[string]any{
		"string":  "plain text",
		"nil":     nil,
		"int":     42,
		"raw":     json.RawMessage(`{"a":1}`),
		"bytes":   []byte("not json"),
		"error":   errors.New("an error"),
		"cyclic":  cyc,
		"channel": make(chan int),
		"panicky": panicky{},
	}
	for name, v := range cases {
		_, s := tr.Span(ctx, span.Task, name)
		s.RecordInput(v)
		s.End()
	}
	tr.End()
	spans := r.spans()
	in := func(name string) string { return attrs(spans[name].Attributes)[attr.Input].AsString() }
	assert.Equal(t, "plain text", in("string"))
	assert.Equal(t, "null", in("nil"))
	assert.Equal(t, "42", in("int"))
	assert.Equal(t, `{"a":1}`, in("raw"))
	assert.Equal(t, `"not json"`, in("bytes"))
	assert.Equal(t, "an error", in("error"))
	for _, name := range []string{"cyclic", "channel", "panicky"} {
		assert.Contains(t, in(name), "agenttrace.unencodable", name)
	}
}

type panicky struct{}

func (panicky) MarshalJSON() ([]byte, error) { panic("no") }

// TestSpanContextIDs checks the trace accessors.
func TestSpanContextIDs(t *testing.T) {
	r := newRecorder(t)
	ctx, tr := r.client.Start(context.Background(), "t")
	assert.True(t, tr.SpanContext().IsValid())
	assert.Equal(t, tr.SpanContext().TraceID().String(), tr.ID())
	assert.Equal(t, tr.SpanContext(), oteltrace.SpanContextFromContext(ctx))
	assert.Equal(t, ctx, tr.Context())
	assert.Equal(t, span.Root, tr.Root().Kind())
	tr.End()
}

// dropRetrieval is a sampler that drops retrieval spans by their attributes.
type dropRetrieval struct{}

func (dropRetrieval) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	for _, kv := range p.Attributes {
		if kv.Key == attr.SpanType && kv.Value.AsString() == attr.TypeRetrieval {
			return sdktrace.SamplingResult{Decision: sdktrace.Drop}
		}
	}
	return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample}
}
func (dropRetrieval) Description() string { return "dropRetrieval" }

// TestSamplerSeesAttributes: a custom sampler can sample on the span type.
func TestSamplerSeesAttributes(t *testing.T) {
	r := newRecorder(t, trace.WithSampler(dropRetrieval{}))
	ctx, tr := r.client.Start(context.Background(), "t")
	_, ret := tr.Span(ctx, span.Retrieval, "search")
	ret.End()
	_, g := tr.LLM(ctx, "call", llm.Model("gpt-4.1-mini"))
	g.End()
	tr.End()
	spans := r.spans()
	assert.NotContains(t, spans, "search")
	require.Contains(t, spans, "call")
	assert.Equal(t, "gpt-4.1-mini", attrs(spans["call"].Attributes)[attr.RequestModel].AsString())
}
