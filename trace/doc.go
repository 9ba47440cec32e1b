// Package trace is agenttrace's entry point: a Client that records agent and
// LLM traces on OpenTelemetry and exports them over OTLP/HTTP, and the Trace
// that a Client starts for one agent run.
//
//	client, err := trace.NewClient(ctx, trace.WithServiceName("support-bot"))
//	if err != nil { ... }
//	defer client.Shutdown(context.Background())
//
//	ctx, tr := client.Start(ctx, "support_agent",
//		trace.WithUserID("cus_123"), trace.WithSessionID("s-9"))
//	defer tr.End()
//	tr.Message(llm.User, "Where is my order?")
//	ctx, g := tr.LLM(ctx, "", llm.Model("gpt-4.1-mini"), llm.Provider("openai"))
//	g.SetUsage(llm.Usage{InputTokens: 120, OutputTokens: 40})
//	g.End()
//
// Spans are started with Trace.Span, Trace.LLM and Trace.Tool. Nesting
// follows context.Context: a span started from a context that carries a span
// is its child, in that span's trace, in any goroutine (see Trace.Span for a
// context of another trace or of none). Code deep in the call stack reaches
// the current trace with FromContext: FromContext(ctx).LLM(ctx, ...) is
// safe also outside a trace, where FromContext returns nil. Trace-level fields (user, session, tenant, conversation, external id,
// tags, environment and WithContext fields) are copied onto every span
// started inside the trace, including spans that other OpenTelemetry
// instrumentation starts with the client's TracerProvider: a span processor
// does it in OnStart.
//
// # Export
//
// Every span the client records, and every span other instrumentation ends
// on the client's provider, goes through a batch.Processor (package batch)
// on its way to the exporter: span.End never blocks on the network, the
// queue is bounded by span count and by bytes, several exports run at once,
// and every span is accounted for. Client.Stats returns the counts (enqueued,
// exported, dropped per reason, queued, in flight); dropped spans are also
// logged with log/slog at warn level. Tune the processor with
// WithBatchOptions or the OTEL_BSP_* variables. Client.Flush and
// Client.Shutdown go through it and, when spans could not be delivered,
// return an error holding a *batch.UndeliveredError (use errors.As) that
// says how many and why. Retries of failed requests happen in the exporter
// (package exporter), not in the processor.
//
// The client never touches the global OpenTelemetry tracer provider. A
// disabled client (WithDisabled, or AGENTTRACE_DISABLED=true) records
// nothing and costs no allocation: its Start returns a nil *Trace, and every
// method of a nil *Trace or nil *span.Span is a no-op.
package trace
