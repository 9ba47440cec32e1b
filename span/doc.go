// Package span records one unit of work inside an agenttrace trace: a model
// call, a tool call, a task, a retrieval step or any custom kind.
//
// A *Span wraps an OpenTelemetry span. Its methods encode what they are given
// (strings verbatim, other values as JSON), pass it through the client's mask
// function, truncate it at the client's limit with a visible marker (JSON
// stays valid JSON: gen_ai.input.messages cut to fit still decodes as a
// message list), and set the attribute keys of the OpenTelemetry GenAI
// semantic conventions (see DESIGN.md section 3). Recorded text is valid
// UTF-8: invalid bytes become U+FFFD.
//
// Spans are started with the trace package's Trace.Span, Trace.LLM and
// Trace.Tool; this package's Start and StartLLM are the building block under
// them, for code that holds only a context (instrumentation libraries). Spans
// nest through context.Context: each starts a child of the span the context
// carries, in that span's trace, and returns a context carrying the new span.
// Start and StartLLM outside an agenttrace trace (and all of them with a
// disabled client) return the context unchanged and a nil *Span. Every method of a nil or ended *Span is a no-op, so callers never
// need to check.
//
// Use defer s.End(): if a panic passes through it, End marks the span failed,
// records the panic as an "exception" event with its stack, ends the span and
// re-panics with the same value. The recovery only works when End itself is
// the deferred call (defer s.End(), not defer func() { s.End() }()).
package span
