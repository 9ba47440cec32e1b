package anthropic

import (
	"iter"
	"sync"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/packages/ssestream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

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
type Stream[T StreamEvent] struct {
	st    *ssestream.Stream[T]
	span  *span.Span
	acc   *messageAccumulator
	start time.Time
	first bool
	once  sync.Once
}

// WrapStream takes over s, a span started for the request (StartSpan), and
// returns st wrapped. The time to first chunk is measured from the span's
// start. A nil st gives a stream that is over at once, its span ended.
func WrapStream[T StreamEvent](s *span.Span, st *ssestream.Stream[T]) *Stream[T] {
	w := &Stream[T]{st: st, span: s, acc: &messageAccumulator{}, start: time.Now()}
	if ro, ok := s.OTelSpan().(sdktrace.ReadOnlySpan); ok && !ro.StartTime().IsZero() {
		w.start = ro.StartTime()
	}
	return w
}

// Next advances to the next event, as ssestream.Stream.Next does.
func (w *Stream[T]) Next() bool {
	if w.st == nil {
		w.finish(nil)
		return false
	}
	if !w.st.Next() {
		w.finish(w.st.Err())
		return false
	}
	if !w.first {
		w.first = true
		w.span.SetTimeToFirstChunk(time.Since(w.start))
	}
	if raw := w.st.Current().RawJSON(); raw != "" {
		w.acc.Event("", []byte(raw))
	}
	return true
}

// Current returns the current event.
func (w *Stream[T]) Current() T {
	if w.st == nil {
		var zero T
		return zero
	}
	return w.st.Current()
}

// Err returns the stream's error. A non-nil error ends the span, failed.
func (w *Stream[T]) Err() error {
	if w.st == nil {
		return nil
	}
	err := w.st.Err()
	if err != nil {
		w.finish(err)
	}
	return err
}

// Close closes the stream and ends the span with what arrived so far.
func (w *Stream[T]) Close() error {
	var err error
	if w.st != nil {
		err = w.st.Close()
	}
	w.finish(nil)
	return err
}

// All returns an iterator over the remaining events, as
// ssestream.Stream.All does.
func (w *Stream[T]) All() iter.Seq[T] {
	return func(yield func(T) bool) {
		for w.Next() {
			if !yield(w.Current()) {
				break
			}
		}
	}
}

func (w *Stream[T]) finish(err error) {
	w.once.Do(func() {
		res := w.acc.Result()
		res.Record(w.span, true)
		w.span.Fail(err)
		w.span.End()
	})
}
