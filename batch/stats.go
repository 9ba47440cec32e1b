package batch

import (
	"fmt"
	"strings"
)

// DropReason says why a span was dropped instead of exported. Its value is the
// snake_case name used in logs and metrics.
type DropReason string

// The reasons a span can be dropped. Every span handed to [Processor.OnEnd]
// ends up exported or dropped with exactly one of these.
const (
	// QueueFull: the queue was at its span or byte bound when the span ended
	// (in blocking mode: and stayed there for the whole blocking timeout).
	QueueFull DropReason = "queue_full"
	// TooLarge: the span alone, with its resource and scope, is estimated to
	// encode larger than the maximum request size, so no request could carry it.
	TooLarge DropReason = "too_large"
	// ExportFailed: the exporter returned an error for the batch holding the
	// span (after the exporter's own retries), its export was cancelled
	// because Shutdown's context ran out, or the collector answered with an
	// OTLP partial success rejecting it (then only the rejected count of the
	// batch is dropped; which spans were rejected is not known).
	ExportFailed DropReason = "export_failed"
	// AfterShutdown: the span ended after Shutdown began, or was still queued
	// when Shutdown's context ran out.
	AfterShutdown DropReason = "after_shutdown"
)

// reasons lists every DropReason in a fixed order (the index used internally).
var reasons = [...]DropReason{QueueFull, TooLarge, ExportFailed, AfterShutdown}

const (
	idxQueueFull = iota
	idxTooLarge
	idxExportFailed
	idxAfterShutdown
	numReasons
)

// DropCounts counts dropped spans per reason.
type DropCounts struct {
	QueueFull     uint64
	TooLarge      uint64
	ExportFailed  uint64
	AfterShutdown uint64
}

func dropCountsOf(a [numReasons]uint64) DropCounts {
	return DropCounts{
		QueueFull:     a[idxQueueFull],
		TooLarge:      a[idxTooLarge],
		ExportFailed:  a[idxExportFailed],
		AfterShutdown: a[idxAfterShutdown],
	}
}

// Total returns the number of dropped spans over all reasons.
func (d DropCounts) Total() uint64 {
	return d.QueueFull + d.TooLarge + d.ExportFailed + d.AfterShutdown
}

// Get returns the count for one reason (0 for an unknown reason).
func (d DropCounts) Get(r DropReason) uint64 {
	switch r {
	case QueueFull:
		return d.QueueFull
	case TooLarge:
		return d.TooLarge
	case ExportFailed:
		return d.ExportFailed
	case AfterShutdown:
		return d.AfterShutdown
	}
	return 0
}

// String lists the non-zero counts, e.g. "export_failed=12 after_shutdown=3",
// or "none".
func (d DropCounts) String() string {
	var b strings.Builder
	for _, r := range reasons {
		if n := d.Get(r); n > 0 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%d", r, n)
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// Stats is a consistent snapshot of a Processor's accounting, taken while
// holding all of the processor's queue locks, so at every call
//
//	Enqueued == Exported + Dropped.Total() + uint64(Queued) + uint64(InFlight)
//
// A span is in exactly one of the four right-hand states: exported, dropped
// (with one reason), waiting in the queue, or part of a batch the exporter is
// working on.
type Stats struct {
	// Enqueued counts every sampled span handed to OnEnd, including the ones
	// dropped on the spot (queue_full, too_large, after_shutdown).
	Enqueued uint64
	// Exported counts spans in batches the exporter accepted (returned nil),
	// less the spans a collector rejected in a partial success.
	Exported uint64
	// Dropped counts spans dropped, per reason.
	Dropped DropCounts
	// Queued is the number of spans waiting in the queue.
	Queued int
	// QueuedBytes is the estimated encoded size of the queued spans.
	QueuedBytes int
	// InFlight is the number of spans in batches handed to the exporter whose
	// ExportSpans call has not returned yet.
	InFlight int
}
