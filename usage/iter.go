package usage

import (
	"context"
	"fmt"
	"iter"
)

// IterTraces walks every page of the traces q selects, starting at
// q.Cursor (or at the beginning for Down, the end for Up), and yields each
// trace in the order it walks: the sort order for Down, the reverse for Up.
// q.Limit is the page size; q.Offset and q.IncludeTotal apply to the first
// page only.
//
// It fetches a page only when the loop asks for its first trace, so a loop
// that breaks early sends no further request. It stops after the last page.
// An error (invalid q, a server error, a page that cannot be followed) is
// yielded once, with a zero TraceSummary, and ends the iteration.
func (c *Client) IterTraces(ctx context.Context, q TraceQuery) iter.Seq2[TraceSummary, error] {
	return walk(q.Direction, q.Cursor, func(cursor string, first bool) ([]TraceSummary, bool, string, error) {
		pq := q
		pq.Cursor = cursor
		if !first {
			pq.Offset, pq.IncludeTotal = 0, false
		}
		p, err := c.ListTraces(ctx, pq)
		if err != nil {
			return nil, false, "", err
		}
		return p.Traces, p.HasNextPage, p.NextCursor, nil
	})
}

// IterSpansByTraceID walks every page of the spans of one trace, as
// ListSpansByTraceID selects them, and yields each span: in start time order
// for Down, the reverse for Up. Breaking, stopping and errors work as in
// IterTraces.
func (c *Client) IterSpansByTraceID(ctx context.Context, traceID string, q SpanQuery) iter.Seq2[Span, error] {
	return walk(q.Direction, q.Cursor, func(cursor string, _ bool) ([]Span, bool, string, error) {
		pq := q
		pq.Cursor = cursor
		p, err := c.ListSpansByTraceID(ctx, traceID, pq)
		if err != nil {
			return nil, false, "", err
		}
		return p.Spans, p.HasNextPage, p.NextCursor, nil
	})
}

// IterSpans walks every page of the spans across traces that q selects and
// yields each span: newest first for Down, oldest first for Up. Breaking,
// stopping and errors work as in IterTraces.
func (c *Client) IterSpans(ctx context.Context, q SpanQuery) iter.Seq2[Span, error] {
	return walk(q.Direction, q.Cursor, func(cursor string, _ bool) ([]Span, bool, string, error) {
		pq := q
		pq.Cursor = cursor
		p, err := c.ListSpans(ctx, pq)
		if err != nil {
			return nil, false, "", err
		}
		return p.Spans, p.HasNextPage, p.NextCursor, nil
	})
}

// walk yields the items of the pages fetch returns, following next cursors
// from cursor. Pages are listed in the sort order whatever the direction,
// so going Up each page is yielded backwards.
func walk[T any](dir Direction, cursor string,
	fetch func(cursor string, first bool) (items []T, more bool, next string, err error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		for first := true; ; first = false {
			items, more, next, err := fetch(cursor, first)
			if err != nil {
				yield(zero, err)
				return
			}
			if dir == Up {
				for i := len(items) - 1; i >= 0; i-- {
					if !yield(items[i], nil) {
						return
					}
				}
			} else {
				for i := range items {
					if !yield(items[i], nil) {
						return
					}
				}
			}
			if !more {
				return
			}
			switch {
			case len(items) == 0:
				yield(zero, fmt.Errorf("%w: an empty page says more pages follow", ErrBadResponse))
				return
			case next == "" || next == cursor:
				yield(zero, fmt.Errorf("%w: a page says more pages follow but gives no new cursor", ErrBadResponse))
				return
			}
			cursor = next
		}
	}
}
