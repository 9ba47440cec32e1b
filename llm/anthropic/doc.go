// Package anthropic records calls made with the official Anthropic Go SDK
// (github.com/anthropics/anthropic-sdk-go) as agenttrace LLM spans.
//
// There are two ways in:
//
//   - Automatic: add Middleware to the client
//     (option.WithMiddleware(anthropic.Middleware()), or ClientOptions()).
//     Every Messages call (client.Messages and client.Beta.Messages, streamed
//     or not) made with a context that carries an agenttrace trace gets an
//     LLM span with the request model, input and output messages, usage with
//     cache reads and 5-minute and 1-hour cache writes, cost, finish
//     reasons, the HTTP status and any error; one span per logical call
//     however often the SDK retries; streams are observed as the application
//     reads them, never buffered.
//   - By hand: start a span yourself and use UsageFrom, InputMessages,
//     OutputMessages, RecordRequest, RecordResponse and WrapStream.
//
// # The SDK's own OpenTelemetry spans
//
// The Anthropic SDK starts its own span for every API call
// ("anthropic.messages.create", instrumentation scope
// "com.anthropic.sdk.go", with GenAI attributes), through the global
// OpenTelemetry tracer provider unless told otherwise, and sends trace
// context headers. agenttrace never sets the global provider, so by default
// those spans record nothing and only carry the trace context through. If
// an application does install a global provider, or passes agenttrace's
// provider to option.WithTracerProvider, each call is recorded twice: once
// by the SDK and once by this package; a backend that counts GenAI chat
// spans would count the call twice. The middleware therefore:
//
//   - always records its own span, the one with agenttrace's cost,
//     normalised usage and messages;
//   - parents that span to the enclosing agenttrace span, never to the SDK's
//     span, so the agenttrace tree stays whole wherever the SDK's span goes;
//   - is offered together with option.WithOpenTelemetryTraces(false) by
//     ClientOptions, for applications whose global provider would otherwise
//     export the SDK's duplicate spans.
//
// This package is named anthropic like the SDK's; import one of them under
// another name, for example
//
//	import (
//		"github.com/anthropics/anthropic-sdk-go"
//		agentanthropic "github.com/agenttrace/agenttrace/llm/anthropic"
//	)
package anthropic
