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
	return walk[TraceSummary](q.Direction, q.Cursor, func(cursor string, first bool) (*TracesPage, error) {
		pq := q
		pq.Cursor = cursor
		if !first {
			pq.Offset, pq.IncludeTotal = 0, false
		}
		return c.ListTraces(ctx, pq)
	})
}

// IterSpansByTraceID walks every page of the spans of one trace, as
// ListSpansByTraceID selects them, and yields each span: in start time order
// for Down, the reverse for Up. Breaking, stopping and errors work as in
// IterTraces.
func (c *Client) IterSpansByTraceID(ctx context.Context, traceID string, q SpanQuery) iter.Seq2[Span, error] {
	return walk[Span](q.Direction, q.Cursor, func(cursor string, _ bool) (*SpansPage, error) {
		pq := q
		pq.Cursor = cursor
		return c.ListSpansByTraceID(ctx, traceID, pq)
	})
}

// IterSpans walks every page of the spans across traces that q selects and
// yields each span: newest first for Down, oldest first for Up. Breaking,
// stopping and errors work as in IterTraces.
func (c *Client) IterSpans(ctx context.Context, q SpanQuery) iter.Seq2[Span, error] {
	return walk[Span](q.Direction, q.Cursor, func(cursor string, _ bool) (*SpansPage, error) {
		pq := q
		pq.Cursor = cursor
		return c.ListSpans(ctx, pq)
	})
}

// page is a listing page: its items, whether more pages follow and the
// cursor to them.
type page[T any] interface {
	contents() (items []T, more bool, next string)
}

func (p *TracesPage) contents() ([]TraceSummary, bool, string) {
	return p.Traces, p.HasNextPage, p.NextCursor
}

func (p *SpansPage) contents() ([]Span, bool, string) { return p.Spans, p.HasNextPage, p.NextCursor }

// walk yields the items of the pages fetch returns, following next cursors
// from start. Pages are listed in the sort order whatever the direction,
// so going Up each page is yielded backwards. Each iteration starts again
// from start.
func walk[T any, P page[T]](dir Direction, start string, fetch func(cursor string, first bool) (P, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		cursor := start
		for first := true; ; first = false {
			p, err := fetch(cursor, first)
			if err != nil {
				yield(zero, err)
				return
			}
			items, more, next := p.contents()
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
