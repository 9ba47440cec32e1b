package store

import (
	"context"
	"time"
)

// Retainer is implemented by stores that can expire old data (serve
// --retention). Both stores of this module implement it.
type Retainer interface {
	// DeleteBefore removes the spans that started before cutoff, the
	// summaries of the traces that started before it, and the hourly
	// rollups of the hours before it. The store first rounds cutoff down
	// to its granularity (a whole hour, or a whole day for a store that
	// drops day partitions) so that no rollup hour is cut in two: usage
	// over what remains stays exact. It works in small steps that each
	// hold locks briefly, so ingest and queries go on meanwhile; a call
	// ended by ctx leaves the store consistent, and the next call goes
	// on. It returns what it removed.
	DeleteBefore(ctx context.Context, cutoff time.Time) (Expired, error)
}

// Expired says what one DeleteBefore call removed.
type Expired struct {
	// Cutoff is the rounded cutoff: everything before it is gone.
	Cutoff time.Time
	// Spans and Traces count the span rows and trace summaries removed
	// (a store that drops partitions counts their rows before dropping).
	Spans, Traces int64
	// Partitions counts the span partitions dropped (PostgreSQL).
	Partitions int
	// FreedBytes is the space given back to the file system (SQLite).
	FreedBytes int64
}

// MinRetention is the shortest retention window serve accepts: below an
// hour, expiry would cut into the hour being written.
const MinRetention = time.Hour
