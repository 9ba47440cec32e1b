package llmcall

import (
	"context"
	"encoding/json"
	"iter"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/span"
)

// This file is the provider-independent part of the hand-written
// instrumentation (StartSpan, RecordRequest, RecordResponse, WrapStream of
// llm/openai and llm/anthropic).

// StartSpan starts an LLM span with model and provider (opts may add to or
// override them) and, when it records, the messages input returns.
func StartSpan(ctx context.Context, model, provider string, input func() []llm.Message, opts []llm.Option) (context.Context, *span.Span) {
	all := make([]llm.Option, 0, 2+len(opts))
	all = append(all, llm.Model(model), llm.Provider(provider))
	ctx, s := span.StartLLM(ctx, "", append(all, opts...)...)
	if s.IsRecording() {
		s.RecordInputMessages(input())
	}
	return ctx, s
}

// RecordRequest records a request's model and the messages input returns
// on s.
func RecordRequest(s *span.Span, model string, input func() []llm.Message) {
	if !s.IsRecording() {
		return
	}
	s.SetRequestModel(model)
	s.RecordInputMessages(input())
}

// DecodeResult decodes a typed SDK result v with acc, through raw, the JSON
// the SDK decoded v from, or, when raw is empty (v built in code), v's
// encoding. The usage is the one given (read from v's typed fields); it
// counts as present when usageValid (the SDK saw a usage field) or it is
// not zero.
func DecodeResult(acc Accumulator, raw string, v any, usage llm.Usage, usageValid bool) Result {
	data := []byte(raw)
	if raw == "" {
		var err error
		if data, err = json.Marshal(v); err != nil {
			return Result{}
		}
	}
	acc.Body(data)
	res := acc.Result()
	res.Usage, res.HasUsage = usage, usageValid || usage != (llm.Usage{})
	return res
}

// Event is an element of an SDK stream.
type Event interface{ RawJSON() string }

// SDKStream is the method set shared by both SDKs' ssestream.Stream.
type SDKStream[T Event] interface {
	Next() bool
	Current() T
	Err() error
	Close() error
}

// Stream follows an SDK stream for the span of its request: each event goes
// to an Accumulator, the first one sets the time to first chunk, and when
// the stream ends, fails or is closed the span gets what the accumulator
// learned and is ended, once.
type Stream[T Event] struct {
	st    SDKStream[T] // nil: over at once
	span  *span.Span
	acc   Accumulator
	start time.Time
	first bool
	once  sync.Once
}

// NewStream returns a Stream following st (nil: a stream over at once) for
// s. The time to first chunk is measured from s's start.
func NewStream[T Event](s *span.Span, st SDKStream[T], acc Accumulator) *Stream[T] {
	w := &Stream[T]{st: st, span: s, acc: acc, start: time.Now()}
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

// All returns an iterator over the remaining events.
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
