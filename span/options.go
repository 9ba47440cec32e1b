package span

import "go.opentelemetry.io/otel/attribute"

// Option configures a span when it starts: WithAttributes, Arguments,
// ToolCallID, Input. Options are small values rather than closures so that
// passing them costs no allocation; the zero Option does nothing.
type Option struct {
	kind  optionKind
	s     string
	v     any
	attrs []attribute.KeyValue
}

type optionKind uint8

const (
	optNone optionKind = iota
	optAttributes
	optArguments
	optToolCallID
	optInput
)

// WithAttributes sets attributes on the span when it starts.
func WithAttributes(kv ...attribute.KeyValue) Option {
	return Option{kind: optAttributes, attrs: kv}
}

// Arguments records a tool call's arguments (any value; strings verbatim,
// others as JSON) as gen_ai.tool.call.arguments and agenttrace.input. On a
// span that is not a tool span it records the input only.
func Arguments(v any) Option { return Option{kind: optArguments, v: v} }

// ToolCallID records the provider's id of the tool call the span executes,
// as gen_ai.tool.call.id.
func ToolCallID(id string) Option { return Option{kind: optToolCallID, s: id} }

// Input records the span's input when it starts, as RecordInput does.
func Input(v any) Option { return Option{kind: optInput, v: v} }

// config is the result of applying Options.
type config struct {
	attrs      []attribute.KeyValue
	input      any
	hasInput   bool
	toolCallID string
}

func (c *config) apply(opts []Option) {
	for _, o := range opts {
		switch o.kind {
		case optAttributes:
			if c.attrs == nil {
				c.attrs = o.attrs
			} else {
				c.attrs = append(c.attrs[:len(c.attrs):len(c.attrs)], o.attrs...)
			}
		case optArguments, optInput:
			c.input, c.hasInput = o.v, true
		case optToolCallID:
			c.toolCallID = o.s
		}
	}
}
