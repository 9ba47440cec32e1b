package openai

import (
	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/responses"

	"github.com/agenttrace/agenttrace/llm/internal/llmcall"
	"github.com/agenttrace/agenttrace/span"
)

// StreamEvent is an element of a stream this package follows: a Chat
// Completions chunk or a Responses stream event.
type StreamEvent interface {
	oai.ChatCompletionChunk | responses.ResponseStreamEventUnion
	RawJSON() string
}

// Stream wraps an SDK stream so that the caller iterates as before (Next,
// Current, Err, Close) while the span learns the output. When the stream
// ends (Next returns false), fails, or is closed, the span gets the usage
// (for Chat Completions only if the request set
// stream_options.include_usage), the response id and model, the output
// messages, finish reasons and gen_ai.response.time_to_first_chunk, and is
// ended. Closing a stream early (always defer Close) still ends the span
// with what arrived.
type Stream[T StreamEvent] struct{ f *llmcall.Stream[T] }

// WrapStream takes over s, a span started for the request (StartSpan), and
// returns st wrapped. The time to first chunk is measured from the span's
// start. A nil st gives a stream that is over at once, its span ended.
func WrapStream[T StreamEvent](s *span.Span, st *ssestream.Stream[T]) *Stream[T] {
	var acc llmcall.Accumulator
	var zero T
	switch any(zero).(type) {
	case oai.ChatCompletionChunk:
		acc = &chatAccumulator{}
	default:
		acc = &responsesAccumulator{}
	}
	var sst llmcall.SDKStream[T]
	if st != nil {
		sst = st
	}
	return &Stream[T]{llmcall.NewStream(s, sst, acc)}
}

// Next advances to the next event, as ssestream.Stream.Next does.
func (w *Stream[T]) Next() bool { return w.f.Next() }

// Current returns the current event.
func (w *Stream[T]) Current() T { return w.f.Current() }

// Err returns the stream's error. A non-nil error ends the span, failed.
func (w *Stream[T]) Err() error { return w.f.Err() }

// Close closes the stream and ends the span with what arrived so far.
func (w *Stream[T]) Close() error { return w.f.Close() }
