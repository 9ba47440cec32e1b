package trace

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/recording"
	"github.com/agenttrace/agenttrace/span"
)

// ErrInvalidScore is wrapped by the error of Score and Trace.Feedback for
// an argument they refuse: an invalid trace id, an empty name or a value
// that is not a finite number.
var ErrInvalidScore = errors.New("agenttrace: invalid score")

// Score records a score (feedback, a rating, an evaluation) for the trace
// traceID (32 hex digits, as Trace.ID returns) at any time, from any
// process: the trace may have ended hours ago, or may not have arrived yet.
// It is sent as a span of that trace (agenttrace.span.type=score) carrying
// agenttrace.score.name, .value and .comment, so it travels as plain OTLP
// through a Collector, and the server adds it to the trace's summary
// (scores). The span's parent is a span id derived from the trace id, as
// the root's id is not known here. The comment passes through the mask and
// the size limit. Like any span, it is exported in the background: Flush or
// Shutdown the client to be sure it is sent.
//
// A value that is not finite (NaN, ±Inf), an empty name or an invalid
// trace id is refused with an error wrapping ErrInvalidScore. A nil or
// disabled client records nothing and returns nil.
func (c *Client) Score(ctx context.Context, traceID, name string, value float64, comment string) error {
	if err := checkScore(name, value); err != nil {
		return err
	}
	tid, err := oteltrace.TraceIDFromHex(strings.ToLower(strings.TrimSpace(traceID)))
	if err != nil {
		return fmt.Errorf("%w: trace id %q: want 32 hex digits, not all zero", ErrInvalidScore, traceID)
	}
	if c.Disabled() {
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	var sid oteltrace.SpanID
	copy(sid[:], tid[8:])
	if !sid.IsValid() {
		copy(sid[:], tid[:8])
	}
	parent := oteltrace.NewSpanContext(oteltrace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: oteltrace.FlagsSampled, Remote: true,
	})
	node := &recording.Node{
		Context: oteltrace.ContextWithRemoteSpanContext(ctx, parent),
		State:   &recording.TraceState{Settings: c.settings},
	}
	recordScore(node, c.settings, name, value, comment)
	return nil
}

// Feedback records feedback on the trace (a rating, a thumbs up, a score)
// as a score of the trace: a short child span of the root, as Client.Score
// records it, so the server adds it to the trace's summary. It may be
// called after End (use Client.Score from another process). The comment
// passes through the mask and the size limit. A non-finite value or an
// empty name is refused with an error wrapping ErrInvalidScore; a nil trace
// records nothing and returns nil.
func (t *Trace) Feedback(name string, value float64, comment string) error {
	if err := checkScore(name, value); err != nil {
		return err
	}
	if t == nil || !t.root.SpanContext().IsSampled() {
		return nil
	}
	recordScore(t.ctx, t.state.Settings, name, value, comment)
	return nil
}

func checkScore(name string, value float64) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidScore)
	}
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return fmt.Errorf("%w: %q: value %v is not a finite number", ErrInvalidScore, name, value)
	}
	return nil
}

// recordScore starts and ends the score span under ctx.
func recordScore(ctx context.Context, st *recording.Settings, name string, value float64, comment string) {
	_, s := span.Start(ctx, span.Kind(attr.TypeScore), "score "+name, span.WithAttributes(
		attr.ScoreName.String(name),
		attr.ScoreValue.Float64(value),
		attr.ScoreComment.String(st.Finish(attr.ScoreComment, comment)),
	))
	s.End()
}
