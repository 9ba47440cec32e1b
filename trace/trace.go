package trace

import (
	"context"
	"errors"
	"maps"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/budget"
	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/jsonenc"
	"github.com/agenttrace/agenttrace/internal/recording"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/span"
)

// DefaultName is the name of a trace started with an empty name.
const DefaultName = "trace"

// Trace is one agent run: a root span (agenttrace.span.type=trace,
// gen_ai.operation.name=invoke_agent) that the trace's spans nest under, and
// that carries its signals as span events. Messages and feedback are short
// child spans of the root, exported as they are recorded (see Message and
// Feedback). End it with
// defer tr.End(). A nil *Trace (from a disabled client) is valid: every
// method is a no-op and span-starting methods return a nil *span.Span.
type Trace struct {
	root   *span.Span
	ctx    context.Context // the root span's context
	state  *recording.TraceState
	budget *budget.Tracker // WithBudget's; nil without
	client *Client
}

// Start starts a trace named name (DefaultName when empty) and returns a
// context carrying it. The trace's root span is a child of the span ctx
// carries, if any, so that a trace started while handling a traced request
// joins that request's trace. Trace-level fields from opts (user, session,
// tenant, conversation, external id, tags, environment, WithContext fields)
// are set on every span started inside the trace; WithAttributes only on the
// root span. A nil ctx is treated as context.Background().
//
// A nil or disabled client returns ctx unchanged and a nil *Trace.
func (c *Client) Start(ctx context.Context, name string, opts ...StartOption) (context.Context, *Trace) {
	if ctx == nil {
		ctx = context.Background()
	}
	if c.Disabled() {
		return ctx, nil
	}
	var sc startConfig
	sc.apply(opts)
	if name == "" {
		name = DefaultName
	}
	tr := &Trace{state: &recording.TraceState{Settings: c.settings, Stamp: sc.stamp()}, client: c}
	tr.state.Owner = tr
	pre := &recording.Node{Context: ctx, State: tr.state}
	tr.ctx, tr.root = span.Start(pre, span.Root, name, span.WithAttributes(sc.attrs...))
	if sc.budget != nil || c.sessions != nil || c.tenants != nil {
		tr.budget = budget.NewTracker(sc.budget, budget.ScopeTrace, tr.ID())
		tr.state.Budgets = budget.NewSet(tr.budget, c.sessions.get(sc.session), c.tenants.get(sc.tenant))
	}
	return tr.ctx, tr
}

// FromContext returns the trace ctx belongs to, or nil.
func FromContext(ctx context.Context) *Trace {
	if ctx == nil {
		return nil
	}
	n := recording.NodeFrom(ctx)
	if n == nil {
		return nil
	}
	t, _ := n.State.Owner.(*Trace)
	return t
}

// ID returns the trace id in hex ("" for a nil trace).
func (t *Trace) ID() string {
	if t == nil {
		return ""
	}
	return t.root.SpanContext().TraceID().String()
}

// SpanContext returns the root span's OpenTelemetry span context.
func (t *Trace) SpanContext() oteltrace.SpanContext {
	if t == nil {
		return oteltrace.SpanContext{}
	}
	return t.root.SpanContext()
}

// Root returns the trace's root span, to record the run's input and output
// or set attributes on it (nil for a nil trace).
func (t *Trace) Root() *span.Span {
	if t == nil {
		return nil
	}
	return t.root
}

// Context returns the context carrying the trace's root span.
func (t *Trace) Context() context.Context {
	if t == nil {
		return context.Background()
	}
	return t.ctx
}

// RecordInput records the run's input on the root span (see
// span.Span.RecordInput).
func (t *Trace) RecordInput(v any) { t.Root().RecordInput(v) }

// RecordOutput records the run's output on the root span.
func (t *Trace) RecordOutput(v any) { t.Root().RecordOutput(v) }

// Fail marks the trace failed with err (see span.Span.Fail).
func (t *Trace) Fail(err error) { t.Root().Fail(err) }

// End ends the trace's root span. It is idempotent. Called as defer tr.End()
// while a panic unwinds, it records the panic on the root span, ends it and
// panics again with the same value. Spans of the trace that are still open
// are not ended; end them first.
func (t *Trace) End() {
	if t == nil {
		return
	}
	if r := recover(); r != nil {
		t.root.RecordPanic(r)
		t.root.End()
		panic(r)
	}
	t.root.End()
}

// parent returns the context to start a span of t from: ctx itself when it
// carries a span of an agenttrace trace (the new span joins that trace, see
// Span); otherwise ctx's values with t's root span as parent.
func (t *Trace) parent(ctx context.Context) context.Context {
	if ctx == nil {
		return t.ctx
	}
	if recording.NodeFrom(ctx) != nil {
		return ctx
	}
	return &recording.Node{
		Context: oteltrace.ContextWithSpan(ctx, t.root.OTelSpan()),
		State:   t.state,
		Owner:   t.root,
	}
}

// Span starts a span of the given kind and returns a context carrying it.
// Span, LLM and Tool are the way to start spans; package span's Start and
// StartLLM are the building block under them, for code that holds only a
// context.
//
// Nesting follows ctx. When ctx carries a span of an agenttrace trace, the
// new span is that span's child and belongs to that span's trace: usually t
// (ctx came from t), but a ctx from another trace, such as one started
// inside t, puts the span in that trace, with its fields. When ctx carries
// no agenttrace span (nil, context.Background(), a context of other code,
// even one carrying another instrumentation's span), the new span is a child
// of t's root span, and the returned context keeps ctx's values.
//
// Custom kinds are free strings: tr.Span(ctx, "rerank", "rerank_docs"). See
// span.Start for default names. A nil t returns ctx (context.Background()
// for a nil ctx) and a nil *span.Span.
func (t *Trace) Span(ctx context.Context, kind span.Kind, name string, opts ...span.Option) (context.Context, *span.Span) {
	if t == nil {
		return orBackground(ctx), nil
	}
	return span.Start(t.parent(ctx), kind, name, opts...)
}

// LLM starts an LLM span (a model call), nested as Span nests, configured
// by llm.Model, llm.Provider, llm.Prompt, llm.Operation and llm.Attributes.
// An empty name becomes "{operation} {model}", such as "chat gpt-4.1-mini".
func (t *Trace) LLM(ctx context.Context, name string, opts ...llm.Option) (context.Context, *span.Span) {
	if t == nil {
		return orBackground(ctx), nil
	}
	return span.StartLLM(t.parent(ctx), name, opts...)
}

// Tool starts a tool span, nested as Span nests, named after the tool
// (gen_ai.tool.name, gen_ai.operation.name=execute_tool); pass
// span.Arguments to record the call's arguments and span.ToolCallID for the
// model's call id. Record the result with RecordOutput.
func (t *Trace) Tool(ctx context.Context, name string, opts ...span.Option) (context.Context, *span.Span) {
	if t == nil {
		return orBackground(ctx), nil
	}
	return span.Start(t.parent(ctx), span.Tool, name, opts...)
}

func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

// Message records a conversation message on the trace as a short child
// span of the root (agenttrace.span.type=message, named "message {role}")
// carrying one "agenttrace.message" event with attributes role, content
// (the message's parts as GenAI JSON parts), internal and, when set,
// tool_call_id. content is a string (one text part), an llm.Part, a
// []llm.Part, an llm.Message (its parts), or any other value (one text part
// holding its JSON). Content passes through the mask and the size limit.
// Options: llm.ToolCallID and llm.Internal.
//
// Each message is exported on its own as soon as it is recorded, so a
// conversation of any length neither grows the root span nor waits in
// memory for the trace's end, and the root span's size does not depend on
// it. Messages may be recorded after End. While the export queue is over
// half full and exports make progress, Message waits for room rather than
// let the queue drop messages (or the trace's other spans); when exports
// stall (the endpoint is down) it stops waiting after a second, once per
// stall.
func (t *Trace) Message(role llm.Role, content any, opts ...llm.MessageOption) {
	if t == nil || !t.root.SpanContext().IsSampled() {
		return
	}
	mc := llm.NewMessageConfig(opts...)
	text := t.state.Settings.FinishJSON(attr.EventContent, jsonenc.JSON(messageParts(content)))
	kv := make([]attribute.KeyValue, 0, 4)
	kv = append(kv,
		attr.EventRole.String(string(role)),
		attr.EventContent.String(text),
		attr.EventInternal.Bool(mc.Internal),
	)
	if mc.ToolCallID != "" {
		kv = append(kv, attr.EventToolCallID.String(mc.ToolCallID))
	}
	t.client.awaitRoom()
	_, s := span.Start(t.ctx, span.Kind(attr.TypeMessage), "message "+string(role))
	s.AddEvent(attr.EventMessage, kv...)
	s.End()
}

func messageParts(content any) []llm.Part {
	switch c := content.(type) {
	case nil:
		return []llm.Part{}
	case string:
		return []llm.Part{llm.Text(c)}
	case llm.Part:
		return []llm.Part{c}
	case []llm.Part:
		if c == nil {
			return []llm.Part{}
		}
		return c
	case llm.Message:
		if c.Parts == nil {
			return []llm.Part{}
		}
		return c.Parts
	}
	return []llm.Part{llm.Text(jsonenc.Text(content))}
}

// Signal records a named event the team wants to count ("escalated",
// "refund_issued") as an "agenttrace.signal" event with attribute name and
// the given attributes.
func (t *Trace) Signal(name string, attrs ...attribute.KeyValue) {
	if t == nil || !t.root.IsRecording() {
		return
	}
	kv := make([]attribute.KeyValue, 0, 1+len(attrs))
	kv = append(kv, attr.EventName.String(name))
	kv = append(kv, attrs...)
	t.root.AddEvent(attr.EventSignal, kv...)
}

// ErrNilFunc is returned by Task when fn is nil.
var ErrNilFunc = errors.New("agenttrace: nil task function")

// Task runs fn inside a task span named name (span.Task kind), a child of
// the span ctx carries, like a @task decorator: fn's error marks the span
// failed and is returned, and a panic in fn marks it failed, is recorded and
// propagates. Outside a trace fn runs with ctx and a nil span.
func Task(ctx context.Context, name string, fn func(ctx context.Context, s *span.Span) error) error {
	if fn == nil {
		return ErrNilFunc
	}
	ctx, s := span.Start(ctx, span.Task, name)
	defer s.End()
	err := fn(ctx, s)
	s.Fail(err)
	return err
}

// startConfig is the result of applying StartOptions.
type startConfig struct {
	user, session, tenant, conversation, external, environment string

	tags   []string
	attrs  []attribute.KeyValue
	ctx    map[string]any
	budget *budget.Limit
}

func (c *startConfig) apply(opts []StartOption) {
	for _, o := range opts {
		switch o.kind {
		case startUser:
			c.user = o.s
		case startSession:
			c.session = o.s
		case startTenant:
			c.tenant = o.s
		case startConversation:
			c.conversation = o.s
		case startExternal:
			c.external = o.s
		case startEnvironment:
			c.environment = o.s
		case startTags:
			for _, tag := range o.ss {
				if tag != "" && !slices.Contains(c.tags, tag) {
					c.tags = append(c.tags, tag)
				}
			}
		case startAttributes:
			c.attrs = append(c.attrs, o.kv...)
		case startBudget:
			c.budget = o.budget
		case startContext:
			if c.ctx == nil {
				c.ctx = make(map[string]any, len(o.m))
			}
			maps.Copy(c.ctx, o.m)
		}
	}
}

// stamp returns the attributes set on every span of the trace.
func (c *startConfig) stamp() []attribute.KeyValue {
	var kv []attribute.KeyValue
	str := func(k attribute.Key, v string) {
		if v != "" {
			kv = append(kv, k.String(v))
		}
	}
	str(attr.SessionID, c.session)
	str(attr.UserID, c.user)
	str(attr.TenantID, c.tenant)
	str(attr.ConversationID, c.conversation)
	str(attr.ExternalTraceID, c.external)
	str(attr.Environment, c.environment)
	if len(c.tags) > 0 {
		kv = append(kv, attr.Tags.StringSlice(c.tags))
	}
	for _, k := range slices.Sorted(maps.Keys(c.ctx)) {
		if k == "" {
			continue
		}
		kv = append(kv, attribute.KeyValue{Key: attribute.Key(attr.ContextPrefix + k), Value: contextValue(c.ctx[k])})
	}
	return kv
}

// contextValue converts a WithContext field to an attribute value.
func contextValue(v any) attribute.Value {
	switch x := v.(type) {
	case string:
		return attribute.StringValue(x)
	case bool:
		return attribute.BoolValue(x)
	case int:
		return attribute.IntValue(x)
	case int8:
		return attribute.Int64Value(int64(x))
	case int16:
		return attribute.Int64Value(int64(x))
	case int32:
		return attribute.Int64Value(int64(x))
	case int64:
		return attribute.Int64Value(x)
	case uint8:
		return attribute.Int64Value(int64(x))
	case uint16:
		return attribute.Int64Value(int64(x))
	case uint32:
		return attribute.Int64Value(int64(x))
	case float32:
		return attribute.Float64Value(float64(x))
	case float64:
		return attribute.Float64Value(x)
	case []string:
		return attribute.StringSliceValue(x)
	case []bool:
		return attribute.BoolSliceValue(x)
	case []int:
		return attribute.IntSliceValue(x)
	case []int64:
		return attribute.Int64SliceValue(x)
	case []float64:
		return attribute.Float64SliceValue(x)
	case attribute.Value:
		if x.Type() != attribute.INVALID {
			return x
		}
	}
	return attribute.StringValue(jsonenc.Text(v))
}
