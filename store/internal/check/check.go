// Package check validates what a store is given, the same way in every
// store: span ids, usage windows, page directions and limits.
package check

import (
	"fmt"
	"slices"

	"github.com/agenttrace/agenttrace/store"
)

// Span returns a store.ErrInvalidSpan error when sp's trace, span or
// parent id is malformed.
func Span(sp *store.Span) error {
	if !IsHex(sp.TraceID, 32) {
		return fmt.Errorf("%w: trace id %q is not 32 lowercase hex digits", store.ErrInvalidSpan, sp.TraceID)
	}
	if !IsHex(sp.SpanID, 16) {
		return fmt.Errorf("%w: span id %q is not 16 lowercase hex digits", store.ErrInvalidSpan, sp.SpanID)
	}
	if sp.ParentID != "" && !IsHex(sp.ParentID, 16) {
		return fmt.Errorf("%w: parent id %q is not 16 lowercase hex digits", store.ErrInvalidSpan, sp.ParentID)
	}
	return nil
}

// IsHex reports whether s is n lowercase hex digits, not all zero.
func IsHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	zero := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '0':
		case c >= '1' && c <= '9', c >= 'a' && c <= 'f':
			zero = false
		default:
			return false
		}
	}
	return !zero
}

// UsageWindow returns a store.ErrInvalidQuery error when q's window is
// empty.
func UsageWindow(q store.UsageQuery) error {
	if q.Start.IsZero() || q.End.IsZero() || !q.Start.Before(q.End) {
		return fmt.Errorf("%w: usage window [%v, %v) is empty", store.ErrInvalidQuery, q.Start, q.End)
	}
	return nil
}

// Page returns the direction (Down when empty) and the page size (see
// store.NormalLimit) of a listing, or a store.ErrInvalidQuery error.
func Page(dir store.Direction, limit int) (store.Direction, int, error) {
	if dir == "" {
		dir = store.Down
	}
	if dir != store.Down && dir != store.Up {
		return "", 0, fmt.Errorf("%w: direction %q", store.ErrInvalidQuery, dir)
	}
	n, ok := store.NormalLimit(limit)
	if !ok {
		return "", 0, fmt.Errorf("%w: limit %d not in [1, %d]", store.ErrInvalidQuery, limit, store.MaxLimit)
	}
	return dir, n, nil
}

// Tags returns tags sorted, without repeats.
func Tags(tags []string) []string {
	out := slices.Clone(tags)
	slices.Sort(out)
	return slices.Compact(out)
}
