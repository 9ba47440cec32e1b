package llm

import "go.opentelemetry.io/otel/attribute"

// Option configures an LLM span: see Model, Provider, Prompt, Operation and
// Attributes. Options are small values rather than closures so that passing
// them costs no allocation; build them only with the functions of this
// package. The zero Option does nothing.
type Option struct {
	kind  optionKind
	a, b  string
	attrs []attribute.KeyValue
}

type optionKind uint8

const (
	optNone optionKind = iota
	optModel
	optProvider
	optPrompt
	optOperation
	optAttributes
)

// Model names the requested model, recorded as gen_ai.request.model. It is
// also the model the price table is asked about when the span's usage has no
// cost and no response model is set.
func Model(name string) Option { return Option{kind: optModel, a: name} }

// Provider names the model provider, recorded as gen_ai.provider.name
// (for example "openai", "anthropic", "gcp.gemini").
func Provider(name string) Option { return Option{kind: optProvider, a: name} }

// Prompt records the managed prompt the call used: its slug and version
// (agenttrace.prompt.slug, agenttrace.prompt.version), filterable on the
// server. An empty version is left out.
func Prompt(slug, version string) Option { return Option{kind: optPrompt, a: slug, b: version} }

// Operation sets gen_ai.operation.name; the default is "chat". Other values
// of the GenAI conventions are "text_completion", "generate_content" and
// "embeddings".
func Operation(name string) Option { return Option{kind: optOperation, a: name} }

// Attributes adds attributes to the span when it starts.
func Attributes(kv ...attribute.KeyValue) Option { return Option{kind: optAttributes, attrs: kv} }

// DefaultOperation is the gen_ai.operation.name of an LLM span without an
// Operation option.
const DefaultOperation = "chat"

// SpanConfig is the result of applying Options. It is exported for the
// packages that start LLM spans (span, the provider adapters); users pass
// Options instead.
type SpanConfig struct {
	Model         string
	Provider      string
	Operation     string // DefaultOperation when no Operation option is given
	PromptSlug    string
	PromptVersion string
	Attributes    []attribute.KeyValue
}

// NewSpanConfig applies opts in order (later options win) and returns the
// result.
func NewSpanConfig(opts ...Option) SpanConfig {
	c := SpanConfig{Operation: DefaultOperation}
	for _, o := range opts {
		switch o.kind {
		case optModel:
			c.Model = o.a
		case optProvider:
			c.Provider = o.a
		case optPrompt:
			c.PromptSlug, c.PromptVersion = o.a, o.b
		case optOperation:
			if o.a != "" {
				c.Operation = o.a
			}
		case optAttributes:
			if c.Attributes == nil {
				c.Attributes = o.attrs
			} else {
				c.Attributes = append(c.Attributes[:len(c.Attributes):len(c.Attributes)], o.attrs...)
			}
		}
	}
	return c
}

// SpanName returns the default name of an LLM span: "{operation} {model}",
// for example "chat gpt-4.1-mini", or the operation alone without a model.
func (c SpanConfig) SpanName() string {
	op := c.Operation
	if op == "" {
		op = DefaultOperation
	}
	if c.Model == "" {
		return op
	}
	return op + " " + c.Model
}

// MessageOption configures a message recorded on a trace (see
// trace.Trace.Message): ToolCallID and Internal. Like Option it is a small
// value, free to pass.
type MessageOption struct {
	kind messageOptionKind
	s    string
}

type messageOptionKind uint8

const (
	msgNone messageOptionKind = iota
	msgToolCallID
	msgInternal
)

// ToolCallID links a tool message to the tool call it answers (the
// provider's call id), recorded as the message event's tool_call_id.
func ToolCallID(id string) MessageOption { return MessageOption{kind: msgToolCallID, s: id} }

// Internal marks a message the end user never sees, such as a scratchpad or
// a reflection step; recorded as the message event's internal=true.
func Internal() MessageOption { return MessageOption{kind: msgInternal} }

// MessageConfig is the result of applying MessageOptions; exported for the
// recording packages.
type MessageConfig struct {
	ToolCallID string
	Internal   bool
}

// NewMessageConfig applies opts in order and returns the result.
func NewMessageConfig(opts ...MessageOption) MessageConfig {
	var c MessageConfig
	for _, o := range opts {
		switch o.kind {
		case msgToolCallID:
			c.ToolCallID = o.s
		case msgInternal:
			c.Internal = true
		}
	}
	return c
}
