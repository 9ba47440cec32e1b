package batch

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidOption is wrapped by the error [New] returns when an option has a
// value it cannot use (a zero or negative size, for example).
var ErrInvalidOption = errors.New("batch: invalid option")

// ErrNilExporter is returned by [New] when the exporter is nil.
var ErrNilExporter = errors.New("batch: nil exporter")

// UndeliveredError reports spans that [Processor.ForceFlush] or
// [Processor.Shutdown] could not deliver. Use errors.As to get it; when the
// context ran out it wraps the context's error, so
// errors.Is(err, context.DeadlineExceeded) works.
type UndeliveredError struct {
	// Op is "flush" or "shutdown".
	Op string
	// Dropped counts, per reason, the spans that were queued or in flight when
	// Shutdown began and were dropped instead of exported (Shutdown only):
	// export_failed for failed or cancelled exports, too_large, and
	// after_shutdown for spans still queued when the context ran out.
	Dropped DropCounts
	// Queued is, for ForceFlush, the number of spans still queued when the
	// context ran out. (For Shutdown those spans are in Dropped.AfterShutdown.)
	Queued int
	// InFlight is the number of spans whose export was still running when the
	// call returned. After Shutdown their exports have been cancelled; Stats
	// counts them as exported or export_failed once the exporter returns.
	InFlight int
	// Err is the context's error when the context ran out, else nil.
	Err error
}

// NotDelivered is the number of spans the error is about.
func (e *UndeliveredError) NotDelivered() int {
	return int(e.Dropped.Total()) + e.Queued + e.InFlight
}

// Error implements error, e.g. "batch: shutdown: 1200 spans not delivered
// (dropped: export_failed=200 after_shutdown=1000): context deadline exceeded".
func (e *UndeliveredError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "batch: %s: %d spans not delivered (", e.Op, e.NotDelivered())
	var parts []string
	if e.Dropped.Total() > 0 {
		parts = append(parts, "dropped: "+e.Dropped.String())
	}
	if e.Queued > 0 {
		parts = append(parts, fmt.Sprintf("still queued: %d", e.Queued))
	}
	if e.InFlight > 0 {
		parts = append(parts, fmt.Sprintf("export in flight: %d", e.InFlight))
	}
	if len(parts) == 0 {
		parts = append(parts, "none pending")
	}
	b.WriteString(strings.Join(parts, ", "))
	b.WriteByte(')')
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the context's error, if the context ran out.
func (e *UndeliveredError) Unwrap() error { return e.Err }
