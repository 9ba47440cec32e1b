package usage

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// GetSessionUsage returns the usage of the session's spans that started in
// [start, end): tokens (input + output, with the breakdown), LLM requests and
// cost. Both times are required and end must be after start. A session
// with no spans in the window has zero usage, not an error.
func (c *Client) GetSessionUsage(ctx context.Context, sessionID string, start, end time.Time) (*SessionUsage, error) {
	if err := checkID(ParamSessionID, sessionID); err != nil {
		return nil, err
	}
	v := url.Values{}
	if err := setWindow(v, start, end, true); err != nil {
		return nil, err
	}
	out := new(SessionUsage)
	path := PathSessionUsage + url.PathEscape(sessionID)
	if err := c.get(ctx, path, v, out); err != nil {
		return nil, err
	}
	if out.SessionID == "" {
		return nil, missing(path, "session_id")
	}
	return out, nil
}

// GetTenantUsage returns the usage of the tenant's spans that started in
// [start, end), with the number of distinct sessions and the server's
// organisation id. Both times are required and end must be after start.
func (c *Client) GetTenantUsage(ctx context.Context, tenantID string, start, end time.Time) (*TenantUsage, error) {
	if err := checkID(ParamTenantID, tenantID); err != nil {
		return nil, err
	}
	v := url.Values{}
	if err := setWindow(v, start, end, true); err != nil {
		return nil, err
	}
	out := new(TenantUsage)
	path := PathTenantUsage + url.PathEscape(tenantID)
	if err := c.get(ctx, path, v, out); err != nil {
		return nil, err
	}
	if out.TenantID == "" {
		return nil, missing(path, "tenant_id")
	}
	return out, nil
}

// ListTraces returns one page of the traces that q selects. Follow
// NextCursor for the next one while HasNextPage, or use IterTraces.
func (c *Client) ListTraces(ctx context.Context, q TraceQuery) (*TracesPage, error) {
	v, err := q.values()
	if err != nil {
		return nil, err
	}
	out := new(TracesPage)
	if err := c.get(ctx, PathTraces, v, out); err != nil {
		return nil, err
	}
	if out.Traces == nil {
		return nil, missing(PathTraces, "traces")
	}
	return out, nil
}

// GetTrace returns the summary of one trace; ErrNotFound if the server does
// not have it. traceID is 32 hex digits.
func (c *Client) GetTrace(ctx context.Context, traceID string) (*TraceSummary, error) {
	id, err := checkTraceID(traceID)
	if err != nil {
		return nil, err
	}
	out := new(TraceSummary)
	if err := c.get(ctx, PathTrace+id, nil, out); err != nil {
		return nil, err
	}
	if out.ID == "" {
		return nil, missing(PathTrace+id, "id")
	}
	return out, nil
}

// ListSpansByTraceID returns one page of the spans of one trace in start
// time order. Of q it uses Name (the span name filter), Limit, Cursor and
// Direction; any other field set is an error. An unknown trace is
// ErrNotFound.
func (c *Client) ListSpansByTraceID(ctx context.Context, traceID string, q SpanQuery) (*SpansPage, error) {
	id, err := checkTraceID(traceID)
	if err != nil {
		return nil, err
	}
	v, err := q.traceValues()
	if err != nil {
		return nil, err
	}
	return c.spans(ctx, PathTrace+id+"/spans", v)
}

// ListSpans returns one page of spans across traces, newest first, that q
// selects.
func (c *Client) ListSpans(ctx context.Context, q SpanQuery) (*SpansPage, error) {
	v, err := q.values()
	if err != nil {
		return nil, err
	}
	return c.spans(ctx, PathSpans, v)
}

func (c *Client) spans(ctx context.Context, path string, v url.Values) (*SpansPage, error) {
	out := new(SpansPage)
	if err := c.get(ctx, path, v, out); err != nil {
		return nil, err
	}
	if out.Spans == nil {
		return nil, missing(path, "spans")
	}
	return out, nil
}

// missing is the error of a 2xx answer without a field every answer of
// that kind has: the URL points at something other than an agenttrace
// server, most likely.
func missing(path, field string) error {
	return fmt.Errorf("%w: GET %s: the answer has no %q (is the URL an agenttrace server's?)", ErrBadResponse, path, field)
}
