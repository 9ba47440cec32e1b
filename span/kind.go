package span

import "github.com/agenttrace/agenttrace/internal/attr"

// Kind is a span's type, recorded as agenttrace.span.type. The constants are
// the kinds agenttrace understands; any other string is a custom kind
// (span.Kind("rerank")), recorded as given.
type Kind string

// Span kinds.
const (
	// LLM is a model call; see StartLLM.
	LLM Kind = attr.TypeLLM
	// Tool is a tool invocation.
	Tool Kind = attr.TypeTool
	// Task is a multi-step unit of work (trace.Task).
	Task Kind = attr.TypeTask
	// Retrieval is a retrieval or RAG step.
	Retrieval Kind = attr.TypeRetrieval
	// Generic is a span for anything else; it is also the kind of a span
	// started with an empty Kind.
	Generic Kind = attr.TypeSpan
	// Root is the kind of a trace's root span, started by package trace.
	Root Kind = attr.TypeTrace
)

// operation returns the gen_ai.operation.name of a span of kind k, or "".
func (k Kind) operation() string {
	switch k {
	case LLM:
		return attr.OpChat
	case Tool:
		return attr.OpExecuteTool
	case Retrieval:
		return attr.OpRetrieval
	case Root:
		return attr.OpInvokeAgent
	case Task:
		return attr.OpInvokeWorkflow
	}
	return ""
}

// defaultName is the name of a span of kind k started with an empty name:
// "trace" for a root span, "execute_tool" for a tool span and the kind itself
// otherwise (LLM spans are named by llm.SpanConfig.SpanName instead).
func (k Kind) defaultName() string {
	switch k {
	case Tool:
		return attr.OpExecuteTool
	case "":
		return string(Generic)
	}
	return string(k)
}
