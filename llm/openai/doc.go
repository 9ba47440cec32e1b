// Package openai records calls made with the official OpenAI Go SDK
// (github.com/openai/openai-go/v3) as agenttrace LLM spans.
//
// There are two ways in:
//
//   - Automatic: add Middleware to the client
//     (option.WithMiddleware(openai.Middleware())). Every Chat Completions and
//     Responses call made with a context that carries an agenttrace trace gets
//     an LLM span with the request model, input and output messages, usage,
//     cost, finish reasons, the HTTP status and any error; one span per
//     logical call however often the SDK retries, and streams are observed as
//     the application reads them, never buffered.
//   - By hand: start a span yourself and use UsageFrom, InputMessages,
//     OutputMessages, RecordRequest, RecordResponse and WrapStream.
//
// This package is named openai like the SDK's; import one of them under
// another name, for example
//
//	import (
//		"github.com/openai/openai-go/v3"
//		agentopenai "github.com/agenttrace/agenttrace/llm/openai"
//	)
package openai
