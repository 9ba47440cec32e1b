// Package recording holds the state the trace and span packages share
// through a context.Context: the client's settings (tracer, mask, value
// limit, price table), the per-trace fields stamped on every span, the
// context node that carries them, and the span processor that stamps them.
//
// A Node is itself a context.Context: package span embeds one in every Span
// and returns it as the span's context, so starting a span costs no extra
// allocation for the context that carries it.
package recording

import (
	"context"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/budget"
	"github.com/agenttrace/agenttrace/internal/jsonenc"
	"github.com/agenttrace/agenttrace/llm"
)

// MaskFunc rewrites a value before it is recorded. key is the attribute key
// the value is recorded under ("agenttrace.input", "gen_ai.tool.call.result",
// "content" for a message event, ...) and value its text form.
type MaskFunc func(key, value string) string

// Settings are a client's recording settings, shared by all its traces.
type Settings struct {
	Tracer        oteltrace.Tracer
	Mask          MaskFunc
	MaxValueBytes int // > 0
	Prices        *llm.PriceTable
	// AttributesAtStart passes a span's attributes to the tracer's Start,
	// so that a sampler sees them; otherwise they are set just after.
	AttributesAtStart bool
}

// Value returns the text of v to record under key: encoded (see
// jsonenc.Text), masked, then truncated (see Finish).
func (s *Settings) Value(key attribute.Key, v any) string {
	return s.Finish(key, jsonenc.Text(v))
}

// JSONValue is Value for values recorded as JSON in a fixed schema (GenAI
// messages): v is JSON-encoded and finished with FinishJSON.
func (s *Settings) JSONValue(key attribute.Key, v any) string {
	return s.FinishJSON(key, jsonenc.JSON(v))
}

// Finish masks and truncates text about to be recorded under key. Invalid
// UTF-8 becomes U+FFFD, before the mask sees the text and after (one
// invalid string makes an OTLP exporter fail its whole batch). Text longer
// than the limit is cut with a marker, by jsonenc.TruncateValue: JSON stays
// valid JSON.
func (s *Settings) Finish(key attribute.Key, text string) string {
	return jsonenc.TruncateValue(s.clean(key, text), s.MaxValueBytes)
}

// FinishJSON is Finish for text that must be JSON: cut, it is valid JSON
// even if the mask made it invalid (jsonenc.TruncateJSON).
func (s *Settings) FinishJSON(key attribute.Key, text string) string {
	return jsonenc.TruncateJSON(s.clean(key, text), s.MaxValueBytes)
}

func (s *Settings) clean(key attribute.Key, text string) string {
	text = ValidUTF8(text)
	if s.Mask != nil {
		text = ValidUTF8(s.Mask(string(key), text))
	}
	return text
}

// ValidUTF8 returns s with each run of invalid UTF-8 bytes replaced by
// U+FFFD; s itself, without copying, when it is valid.
func ValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// TraceState is one trace's state, shared by all its spans.
type TraceState struct {
	Settings *Settings
	// Stamp holds the trace-level attributes set on every span started
	// inside the trace (session, user, tenant, ...).
	Stamp []attribute.KeyValue
	// Owner is the *trace.Trace this state belongs to.
	Owner any
	// Budgets are the budgets the trace's model calls are checked against
	// and charged to; nil when none applies.
	Budgets *budget.Set
}

type admissionKey struct{}

// WithAdmission returns ctx carrying a, the budget admission of the model
// call whose LLM span is about to start from ctx: the span settles it when
// it ends, with its cost.
func WithAdmission(ctx context.Context, a *budget.Admission) context.Context {
	return context.WithValue(ctx, admissionKey{}, a)
}

// AdmissionFrom returns the admission WithAdmission put in ctx, or nil.
func AdmissionFrom(ctx context.Context) *budget.Admission {
	a, _ := ctx.Value(admissionKey{}).(*budget.Admission)
	return a
}

type nodeKey struct{}

// Node is a context.Context carrying a TraceState and, for a span's
// context, the *span.Span (Owner). A Node with a nil Owner marks the context
// a trace's root span is started from.
type Node struct {
	context.Context
	State *TraceState
	Owner any
}

// Value returns n for the node key and defers to the parent otherwise.
func (n *Node) Value(key any) any {
	if _, ok := key.(nodeKey); ok {
		return n
	}
	return n.Context.Value(key)
}

// String describes the node for debugging.
func (n *Node) String() string { return "agenttrace.recording.Node" }

// NodeFrom returns the innermost Node in ctx, or nil. ctx must not be nil.
func NodeFrom(ctx context.Context) *Node {
	n, _ := ctx.Value(nodeKey{}).(*Node)
	return n
}

// Stamper is the span processor that copies a trace's Stamp attributes onto
// every span started inside it, whichever tracer of the provider starts it.
// Each client registers its own (use NewStamper), so that unregistering one
// client's stamper leaves another's in place.
type Stamper struct{ _ byte }

var _ sdktrace.SpanProcessor = (*Stamper)(nil)

// NewStamper returns a new stamping processor.
func NewStamper() *Stamper { return &Stamper{} }

// OnStart stamps s with the trace-level attributes found in parent.
func (*Stamper) OnStart(parent context.Context, s sdktrace.ReadWriteSpan) {
	if parent == nil {
		return
	}
	n := NodeFrom(parent)
	if n == nil || len(n.State.Stamp) == 0 {
		return
	}
	s.SetAttributes(n.State.Stamp...)
}

// OnEnd does nothing.
func (*Stamper) OnEnd(sdktrace.ReadOnlySpan) {}

// Shutdown does nothing.
func (*Stamper) Shutdown(context.Context) error { return nil }

// ForceFlush does nothing.
func (*Stamper) ForceFlush(context.Context) error { return nil }
