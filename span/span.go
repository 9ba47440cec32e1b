package span

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/budget"
	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/recording"
	"github.com/agenttrace/agenttrace/llm"
)

// Span is one recorded unit of work. Create it with the trace package's
// Trace.Span, Trace.LLM or Trace.Tool (or Start and StartLLM); the zero Span is not usable, a nil *Span is (every method
// is a no-op). A Span is safe for concurrent use.
type Span struct {
	// node is the context.Context returned with the span. It lives inside
	// the Span so that it costs no allocation of its own.
	node     recording.Node
	otel     oteltrace.Span
	settings *recording.Settings
	kind     Kind
	// recording is false for spans a sampler dropped: methods then skip the
	// encoding work.
	recording bool
	ended     atomic.Bool

	mu            sync.Mutex
	requestModel  string
	responseModel string
	usage         llm.Usage
	hasUsage      bool
	// adm is the budget admission of the model call this LLM span records
	// (set by the provider middleware); nil for a span made by hand, whose
	// cost is charged to the trace's budgets directly.
	adm *budget.Admission
}

// Start is the building block under the trace package's Trace.Span,
// Trace.LLM and Trace.Tool, which are the way to start spans in application
// code; Start is for code that holds only a context, such as
// instrumentation libraries (agenttrace's provider middleware uses
// StartLLM).
//
// It starts a span of the given kind as a child of the span ctx carries, in
// the trace ctx carries, using the tracer and settings of that trace's
// client, and returns a context carrying the new span. An empty kind means
// Generic; an empty name means the kind's default name: "execute_tool" for
// Tool spans, the kind itself otherwise. A nil ctx is treated as
// context.Background().
//
// Outside an agenttrace trace, or in a trace of a disabled client, Start
// returns ctx unchanged and a nil *Span, whose methods do nothing.
func Start(ctx context.Context, kind Kind, name string, opts ...Option) (context.Context, *Span) {
	if ctx == nil {
		ctx = context.Background()
	}
	n := recording.NodeFrom(ctx)
	if n == nil {
		return ctx, nil
	}
	var c config
	c.apply(opts)
	if kind == "" {
		kind = Generic
	}
	if name == "" {
		if kind == LLM {
			name = llm.NewSpanConfig().SpanName()
		} else {
			name = kind.defaultName()
		}
	}
	return start(ctx, n.State, kind, name, &c, nil)
}

// StartLLM starts an LLM span (a model call) as Start does (it too is the
// building block under Trace.LLM), configured by
// llm options: llm.Model, llm.Provider, llm.Prompt, llm.Operation and
// llm.Attributes. An empty name becomes "{operation} {model}", for example
// "chat gpt-4.1-mini".
func StartLLM(ctx context.Context, name string, opts ...llm.Option) (context.Context, *Span) {
	if ctx == nil {
		ctx = context.Background()
	}
	n := recording.NodeFrom(ctx)
	if n == nil {
		return ctx, nil
	}
	lc := llm.NewSpanConfig(opts...)
	if name == "" {
		name = lc.SpanName()
	}
	return start(ctx, n.State, LLM, name, nil, &lc)
}

// FromContext returns the agenttrace span ctx carries (the innermost one
// started through this package or package trace), or nil.
func FromContext(ctx context.Context) *Span {
	if ctx == nil {
		return nil
	}
	n := recording.NodeFrom(ctx)
	if n == nil {
		return nil
	}
	s, _ := n.Owner.(*Span)
	return s
}

// start starts the span. c or lc may be nil.
func start(ctx context.Context, st *recording.TraceState, kind Kind, name string, c *config, lc *llm.SpanConfig) (context.Context, *Span) {
	op := kind.operation()
	n := 1 // agenttrace.span.type
	if lc != nil {
		op = lc.Operation
		n += nonEmpty(lc.Model, lc.Provider, lc.PromptSlug, lc.PromptVersion) + len(lc.Attributes)
	}
	if op != "" {
		n++
	}
	if c != nil {
		n += len(c.attrs) + nonEmpty(c.toolCallID)
	}
	if kind == Tool {
		n++ // gen_ai.tool.name
	}
	kv := make([]attribute.KeyValue, 0, n)
	kv = append(kv, attr.SpanType.String(string(kind)))
	if op != "" {
		kv = append(kv, attr.OperationName.String(op))
	}
	if kind == Tool {
		kv = append(kv, attr.ToolName.String(name))
	}
	if lc != nil {
		kv = appendNonEmpty(kv, attr.RequestModel, lc.Model)
		kv = appendNonEmpty(kv, attr.ProviderName, lc.Provider)
		kv = appendNonEmpty(kv, attr.PromptSlug, lc.PromptSlug)
		kv = appendNonEmpty(kv, attr.PromptVersion, lc.PromptVersion)
		kv = append(kv, lc.Attributes...)
	}
	if c != nil {
		kv = appendNonEmpty(kv, attr.ToolCallID, c.toolCallID)
		kv = append(kv, c.attrs...)
	}

	var sctx context.Context
	var os oteltrace.Span
	if st.Settings.AttributesAtStart {
		sctx, os = st.Settings.Tracer.Start(ctx, name, oteltrace.WithAttributes(kv...))
	} else {
		// Without a sampler that may read them, setting the attributes right
		// after the start saves the two allocations of the start option.
		sctx, os = st.Settings.Tracer.Start(ctx, name)
		os.SetAttributes(kv...)
	}
	// A span the SDK records is a ReadWriteSpan; a sampled-out one is not.
	// (Cheaper than IsRecording, which takes the span's lock.)
	_, rec := os.(sdktrace.ReadWriteSpan)
	s := &Span{otel: os, settings: st.Settings, kind: kind, recording: rec && os.SpanContext().IsValid()}
	s.node = recording.Node{Context: sctx, State: st, Owner: s}
	if lc != nil {
		s.requestModel = lc.Model
		if st.Budgets != nil {
			s.adm = recording.AdmissionFrom(ctx)
		}
	}
	if c != nil && c.hasInput {
		s.RecordInput(c.input)
	}
	return &s.node, s
}

func nonEmpty(ss ...string) int {
	n := 0
	for _, s := range ss {
		if s != "" {
			n++
		}
	}
	return n
}

func appendNonEmpty(kv []attribute.KeyValue, k attribute.Key, v string) []attribute.KeyValue {
	if v == "" {
		return kv
	}
	return append(kv, k.String(v))
}

// active reports whether s records: it is not nil, sampled and not ended.
func (s *Span) active() bool {
	return s != nil && s.recording && !s.ended.Load()
}

// Kind returns the span's kind ("" for a nil span).
func (s *Span) Kind() Kind {
	if s == nil {
		return ""
	}
	return s.kind
}

// SpanContext returns the OpenTelemetry span context (trace and span id) of
// s; the zero SpanContext for a nil span.
func (s *Span) SpanContext() oteltrace.SpanContext {
	if s == nil {
		return oteltrace.SpanContext{}
	}
	return s.otel.SpanContext()
}

// OTelSpan returns the underlying OpenTelemetry span, for APIs this package
// does not wrap. For a nil span it returns a non-recording span.
func (s *Span) OTelSpan() oteltrace.Span {
	if s == nil {
		return oteltrace.SpanFromContext(context.Background())
	}
	return s.otel
}

// IsRecording reports whether the span records: false for a nil span, a span
// a sampler dropped, or an ended span.
func (s *Span) IsRecording() bool { return s.active() }

// SetAttributes sets attributes on the span as given (no mask, no limit).
func (s *Span) SetAttributes(kv ...attribute.KeyValue) {
	if !s.active() {
		return
	}
	s.otel.SetAttributes(kv...)
}

// AddEvent adds a named event with attributes to the span.
func (s *Span) AddEvent(name string, kv ...attribute.KeyValue) {
	if !s.active() {
		return
	}
	s.otel.AddEvent(name, oteltrace.WithAttributes(kv...))
}

// Fail marks the span failed: its status becomes Error with err's message, an
// "exception" event records err's Go type and message (masked and truncated
// like other values) and error.type is set as the semantic conventions ask:
// a meaningful, low-cardinality name (the first exported error type or
// well-known sentinel in err's tree, such as "net/url.Error" or
// "context.DeadlineExceeded"), else "_OTHER". A nil err does nothing.
func (s *Span) Fail(err error) {
	if err == nil || !s.active() {
		return
	}
	msg := s.settings.Finish(semconv.ExceptionMessageKey, errorText(err))
	s.otel.AddEvent(semconv.ExceptionEventName, oteltrace.WithAttributes(
		semconv.ExceptionTypeKey.String(fmt.Sprintf("%T", err)),
		semconv.ExceptionMessageKey.String(msg),
	))
	s.otel.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
	s.otel.SetStatus(codes.Error, msg)
}

// errorText returns err.Error(), surviving an Error method that panics.
func errorText(err error) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprintf("%T (Error method panicked: %v)", err, r)
		}
	}()
	return err.Error()
}

// End ends the span. It is idempotent and a no-op on a nil span. Called as
// defer s.End() while a panic unwinds, it marks the span failed, records the
// panic value and stack as an "exception" event, ends the span and panics
// again with the same value.
func (s *Span) End() {
	if s == nil || !s.ended.CompareAndSwap(false, true) {
		return
	}
	if r := recover(); r != nil {
		s.recordPanic(r)
		s.finish()
		s.otel.End()
		panic(r)
	}
	s.finish()
	s.otel.End()
}

// EndAt ends the span as End does (without End's panic handling), with t as
// its end time: for work whose end is known only after the fact. It is
// idempotent with End and a no-op on a nil span.
func (s *Span) EndAt(t time.Time) {
	if s == nil || !s.ended.CompareAndSwap(false, true) {
		return
	}
	s.finish()
	s.otel.End(oteltrace.WithTimestamp(t))
}

// recordPanic records a recovered panic value on the span.
func (s *Span) recordPanic(r any) {
	if !s.recording {
		return
	}
	msg := s.settings.Finish(semconv.ExceptionMessageKey, fmt.Sprint(r))
	typ := errorTypeOther
	if err, ok := r.(error); ok {
		typ = errorType(err)
	}
	s.otel.AddEvent(semconv.ExceptionEventName, oteltrace.WithAttributes(
		semconv.ExceptionTypeKey.String(fmt.Sprintf("%T", r)),
		semconv.ExceptionMessageKey.String(msg),
		semconv.ExceptionStacktraceKey.String(s.settings.Finish(semconv.ExceptionStacktraceKey, string(debug.Stack()))),
	))
	s.otel.SetAttributes(semconv.ErrorTypeKey.String(typ))
	s.otel.SetStatus(codes.Error, "panic: "+msg)
}

// RecordInput records the span's input as agenttrace.input: a string as is,
// anything else as JSON (structs through encoding/json). On an LLM span a
// []llm.Message or llm.Message is also recorded as gen_ai.input.messages; on
// a tool span the input is also gen_ai.tool.call.arguments.
func (s *Span) RecordInput(v any) {
	if !s.active() {
		return
	}
	switch s.kind {
	case LLM:
		if msgs, ok := asMessages(v); ok {
			s.RecordInputMessages(msgs)
			return
		}
	case Tool:
		text := s.settings.Value(attr.ToolCallArguments, v)
		s.otel.SetAttributes(attr.Input.String(text), attr.ToolCallArguments.String(text))
		return
	}
	s.otel.SetAttributes(attr.Input.String(s.settings.Value(attr.Input, v)))
}

// RecordOutput records the span's output as agenttrace.output, encoded as
// RecordInput does. On an LLM span a []llm.Message or llm.Message is also
// recorded as gen_ai.output.messages; on a tool span the output is also
// gen_ai.tool.call.result.
func (s *Span) RecordOutput(v any) {
	if !s.active() {
		return
	}
	switch s.kind {
	case LLM:
		if msgs, ok := asMessages(v); ok {
			s.RecordOutputMessages(msgs)
			return
		}
	case Tool:
		text := s.settings.Value(attr.ToolCallResult, v)
		s.otel.SetAttributes(attr.Output.String(text), attr.ToolCallResult.String(text))
		return
	}
	s.otel.SetAttributes(attr.Output.String(s.settings.Value(attr.Output, v)))
}

// RecordInputMessages records the messages sent to a model as
// gen_ai.input.messages (the GenAI JSON message schema) and agenttrace.input.
func (s *Span) RecordInputMessages(msgs []llm.Message) {
	if !s.active() {
		return
	}
	text := s.settings.JSONValue(attr.InputMessages, messagesJSON(msgs))
	s.otel.SetAttributes(attr.Input.String(text), attr.InputMessages.String(text))
}

// RecordOutputMessages records the messages a model produced as
// gen_ai.output.messages and agenttrace.output.
func (s *Span) RecordOutputMessages(msgs []llm.Message) {
	if !s.active() {
		return
	}
	text := s.settings.JSONValue(attr.OutputMessages, messagesJSON(msgs))
	s.otel.SetAttributes(attr.Output.String(text), attr.OutputMessages.String(text))
}

// messagesJSON makes a nil slice encode as [] rather than null.
func messagesJSON(msgs []llm.Message) any {
	if msgs == nil {
		return []llm.Message{}
	}
	return msgs
}

func asMessages(v any) ([]llm.Message, bool) {
	switch m := v.(type) {
	case []llm.Message:
		return m, true
	case llm.Message:
		return []llm.Message{m}, true
	case *llm.Message:
		if m == nil {
			return nil, false
		}
		return []llm.Message{*m}, true
	}
	return nil, false
}

// SetRequestModel sets the requested model (gen_ai.request.model), for
// adapters that learn it after the span started.
func (s *Span) SetRequestModel(model string) {
	if !s.active() || model == "" {
		return
	}
	s.mu.Lock()
	s.requestModel = model
	s.mu.Unlock()
	s.otel.SetAttributes(attr.RequestModel.String(model))
}

// SetProvider sets gen_ai.provider.name.
func (s *Span) SetProvider(name string) {
	if !s.active() || name == "" {
		return
	}
	s.otel.SetAttributes(attr.ProviderName.String(name))
}

// SetResponseModel sets the model that answered (gen_ai.response.model).
// When set, it is the model a computed cost is priced by (see SetUsage).
func (s *Span) SetResponseModel(model string) {
	if !s.active() || model == "" {
		return
	}
	s.mu.Lock()
	s.responseModel = model
	s.mu.Unlock()
	s.otel.SetAttributes(attr.ResponseModel.String(model))
}

// SetResponseID sets the provider's id of the response (gen_ai.response.id).
func (s *Span) SetResponseID(id string) {
	if !s.active() || id == "" {
		return
	}
	s.otel.SetAttributes(attr.ResponseID.String(id))
}

// SetFinishReasons sets gen_ai.response.finish_reasons (see the llm.Finish*
// constants).
func (s *Span) SetFinishReasons(reasons ...string) {
	if !s.active() || len(reasons) == 0 {
		return
	}
	s.otel.SetAttributes(attr.FinishReasons.StringSlice(reasons))
}

// SetTimeToFirstChunk records how long a streaming response took to deliver
// its first chunk, as gen_ai.response.time_to_first_chunk in seconds.
func (s *Span) SetTimeToFirstChunk(d time.Duration) {
	if !s.active() || d < 0 {
		return
	}
	s.otel.SetAttributes(attr.TimeToFirstChunk.Float64(d.Seconds()))
}

// SetUsage records the token usage and cost of a model call. The attributes
// are written when the span ends, so the call order of SetUsage and
// SetResponseModel does not matter; a later SetUsage replaces an earlier one.
//
// Only LLM spans' usage counts toward session, tenant and trace totals: on
// any other span (a trace root or a task summing the calls under it) it is
// recorded and shown in the trace view but adds nothing, so that no call is
// counted twice.
//
// Tokens go to gen_ai.usage.input_tokens, gen_ai.usage.output_tokens,
// agenttrace.usage.total_tokens and, when nonzero,
// gen_ai.usage.cache_read.input_tokens,
// gen_ai.usage.cache_creation.input_tokens,
// gen_ai.usage.reasoning.output_tokens and the context window attributes.
//
// A usage that carries a cost (u.HasCost) is recorded as given, with its
// source ("user" when none is set). Otherwise, if the client has a price
// table, the cost is computed from the response model (SetResponseModel),
// or from the request model when no response model is set, and recorded
// with agenttrace.usage.cost_source=computed and
// agenttrace.usage.price_table_version. A model the table does not know
// records tokens only: a response model the table does not list is not
// priced as the request model it may be a snapshot of, since snapshots are
// sometimes priced differently (never a wrong cost).
func (s *Span) SetUsage(u llm.Usage) {
	// A sampled-out LLM span records nothing, but its usage still counts
	// against the trace's budgets.
	if s == nil || s.ended.Load() || (!s.recording && (s.kind != LLM || s.node.State.Budgets == nil)) {
		return
	}
	s.mu.Lock()
	s.usage, s.hasUsage = u, true
	s.mu.Unlock()
}

// finish writes the usage attributes of an LLM span (or, when its usage
// is unknown, agenttrace.usage.unknown=true) and charges its cost to the
// trace's budgets.
func (s *Span) finish() {
	if s.kind != LLM {
		if s.recording && s.hasUsageSet() {
			s.writeUsage()
		}
		return
	}
	budgets := s.node.State.Budgets
	if !s.hasUsageSet() {
		if s.recording {
			s.otel.SetAttributes(attr.UsageUnknown.Bool(true))
		}
		s.charge(budgets, 0, false, "the call's usage is unknown")
		return
	}
	if !s.recording {
		// A sampled-out call records no attributes, but is charged like
		// any other: sampling must not let an agent spend for free.
		s.mu.Lock()
		u, req, resp := s.usage, s.requestModel, s.responseModel
		s.mu.Unlock()
		_, cost, known := usageAttributes(nil, u, req, resp, s.settings.Prices)
		s.charge(budgets, budget.FromUSD(cost), known, "the price table does not list the call's model")
		return
	}
	cost, known := s.writeUsage()
	s.charge(budgets, budget.FromUSD(cost), known, "the price table does not list the call's model")
}

func (s *Span) hasUsageSet() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hasUsage
}

// charge settles the call's admission, or charges the trace's budgets for
// a span made by hand.
func (s *Span) charge(budgets *budget.Set, cost budget.NanoUSD, known bool, why string) {
	if s.adm != nil {
		s.adm.Settle(cost, known, why)
		return
	}
	budgets.Charge(cost, known, why)
}

// writeUsage writes the usage attributes and returns the cost recorded.
func (s *Span) writeUsage() (costUSD float64, known bool) {
	s.mu.Lock()
	u, req, resp := s.usage, s.requestModel, s.responseModel
	s.mu.Unlock()

	n := 3 + positive(u.CacheReadTokens, u.CacheCreationTokens, u.ReasoningTokens, u.ContextWindowTokens, u.ContextUsedTokens)
	if u.HasCost() || s.settings.Prices != nil {
		n += 3
	}
	kv, costUSD, known := usageAttributes(make([]attribute.KeyValue, 0, n), u, req, resp, s.settings.Prices)
	s.otel.SetAttributes(kv...)
	return costUSD, known
}

func positive(vs ...int64) int {
	n := 0
	for _, v := range vs {
		if v > 0 {
			n++
		}
	}
	return n
}

// usageAttributes appends the attributes of u to kv and returns the cost
// recorded, if any.
func usageAttributes(kv []attribute.KeyValue, u llm.Usage, requestModel, responseModel string, prices *llm.PriceTable) ([]attribute.KeyValue, float64, bool) {
	kv = append(kv,
		attr.InputTokens.Int64(u.InputTokens),
		attr.OutputTokens.Int64(u.OutputTokens),
		attr.TotalTokens.Int64(u.Total()),
	)
	kv = appendPositive(kv, attr.CacheReadTokens, u.CacheReadTokens)
	kv = appendPositive(kv, attr.CacheCreationTokens, u.CacheCreationTokens)
	kv = appendPositive(kv, attr.ReasoningTokens, u.ReasoningTokens)
	kv = appendPositive(kv, attr.ContextWindowTokens, u.ContextWindowTokens)
	kv = appendPositive(kv, attr.ContextUsedTokens, u.ContextUsedTokens)
	if u.HasCost() {
		src := u.CostSource
		if src == llm.CostUnknown {
			src = llm.CostUser
		}
		return append(kv, attr.CostUSD.Float64(u.CostUSD), attr.CostSource.String(string(src))), u.CostUSD, true
	}
	if prices == nil {
		return kv, 0, false
	}
	// The model that answered is the one billed. The requested one stands
	// in only when the response named none: a response model the table
	// does not know (a new dated snapshot, say) may be priced differently
	// from the alias that was requested, and no cost beats a wrong one.
	model := responseModel
	if model == "" {
		model = requestModel
	}
	if model == "" {
		return kv, 0, false
	}
	cost, ok := prices.Cost(model, u)
	if !ok {
		return kv, 0, false
	}
	return append(kv,
		attr.CostUSD.Float64(cost),
		attr.CostSource.String(attr.CostSourceComputed),
		attr.PriceTableVersion.String(prices.Version()),
	), cost, true
}

func appendPositive(kv []attribute.KeyValue, k attribute.Key, v int64) []attribute.KeyValue {
	if v <= 0 {
		return kv
	}
	return append(kv, k.Int64(v))
}

// RecordPanic records a recovered panic value on the span as End does when a
// panic passes through defer s.End(): status Error, an "exception" event
// with the value, its type and the current stack. It does not end the span
// or re-panic; use it in your own recover handlers.
func (s *Span) RecordPanic(r any) {
	if !s.active() {
		return
	}
	s.recordPanic(r)
}
