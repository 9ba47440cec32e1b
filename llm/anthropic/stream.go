package anthropic

import (
	"iter"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/packages/ssestream"

	"github.com/agenttrace/agenttrace/llm/internal/llmcall"
	"github.com/agenttrace/agenttrace/span"
)

// StreamEvent is an event of a Messages stream (stable or beta API).
type StreamEvent interface {
	sdk.MessageStreamEventUnion | sdk.BetaRawMessageStreamEventUnion
	RawJSON() string
}

// Stream wraps an SDK stream so that the caller iterates as before (Next,
// Current, Err, Close, All) while the span learns the output. When the
// stream ends, fails, or is closed, the span gets the usage (input and cache
// counts from message_start, the cumulative output count from the last
// message_delta), the response id and model, the output message, finish
// reason and gen_ai.response.time_to_first_chunk, and is ended. Closing a
// stream early (always defer Close) still ends the span with what arrived.
type Stream[T StreamEvent] struct{ f *llmcall.Stream[T] }

// WrapStream takes over s, a span started for the request (StartSpan), and
// returns st wrapped. The time to first chunk is measured from the span's
// start. A nil st gives a stream that is over at once, its span ended.
func WrapStream[T StreamEvent](s *span.Span, st *ssestream.Stream[T]) *Stream[T] {
	var sst llmcall.SDKStream[T]
	if st != nil {
		sst = st
	}
	return &Stream[T]{llmcall.NewStream(s, sst, &messageAccumulator{})}
}

// Next advances to the next event, as ssestream.Stream.Next does.
func (w *Stream[T]) Next() bool { return w.f.Next() }

// Current returns the current event.
func (w *Stream[T]) Current() T { return w.f.Current() }

// Err returns the stream's error. A non-nil error ends the span, failed.
func (w *Stream[T]) Err() error { return w.f.Err() }

// Close closes the stream and ends the span with what arrived so far.
func (w *Stream[T]) Close() error { return w.f.Close() }

// All returns an iterator over the remaining events, as
// ssestream.Stream.All does.
func (w *Stream[T]) All() iter.Seq[T] { return w.f.All() }
