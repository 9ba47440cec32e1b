package usage

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/agenttrace/agenttrace/internal/wire"
)

// GetSessionUsage returns the usage of the session's spans that started in
// [start, end): tokens (input + output, with the breakdown), LLM requests and
// cost. Both times are required and end must be after start. A session
// with no spans in the window has zero usage, not an error. With GroupBy
// the answer also has Groups.
func (c *Client) GetSessionUsage(ctx context.Context, sessionID string, start, end time.Time, opts ...UsageOption) (*SessionUsage, error) {
	v, err := usageValues(wire.ParamSessionID, sessionID, start, end, opts)
	if err != nil {
		return nil, err
	}
	return getChecked(ctx, c, wire.PathSessionUsage+url.PathEscape(sessionID), v, "session_id",
		func(u *SessionUsage) bool { return u.SessionID != "" })
}

// GetTenantUsage returns the usage of the tenant's spans that started in
// [start, end), with the number of distinct sessions and the server's
// organisation id. Both times are required and end must be after start.
// With GroupBy the answer also has Groups.
func (c *Client) GetTenantUsage(ctx context.Context, tenantID string, start, end time.Time, opts ...UsageOption) (*TenantUsage, error) {
	v, err := usageValues(wire.ParamTenantID, tenantID, start, end, opts)
	if err != nil {
		return nil, err
	}
	return getChecked(ctx, c, wire.PathTenantUsage+url.PathEscape(tenantID), v, "tenant_id",
		func(u *TenantUsage) bool { return u.TenantID != "" })
}

// usageValues checks the id (its parameter name param), the window and
// the options of a usage request and returns its query parameters.
func usageValues(param, id string, start, end time.Time, opts []UsageOption) (url.Values, error) {
	if err := checkID(param, id); err != nil {
		return nil, err
	}
	v := url.Values{}
	if err := setWindow(v, start, end, true); err != nil {
		return nil, err
	}
	var uo usageOptions
	for _, o := range opts {
		if o != nil {
			o(&uo)
		}
	}
	if uo.err != nil {
		return nil, uo.err
	}
	if uo.tenant != "" {
		if param == wire.ParamTenantID {
			return nil, invalid(wire.ParamTenantID, "Tenant is an option of session usage; tenant usage names its tenant")
		}
		v.Set(wire.ParamTenantID, uo.tenant)
	}
	if uo.groupBy != "" {
		v.Set(wire.ParamGroupBy, string(uo.groupBy))
	}
	if uo.limit != 0 {
		if uo.groupBy == "" {
			return nil, invalid(wire.ParamLimit, "GroupLimit needs GroupBy")
		}
		v.Set(wire.ParamLimit, strconv.Itoa(uo.limit))
	}
	return v, nil
}

// UsageOption refines a usage request: GroupBy, GroupLimit.
type UsageOption func(*usageOptions)

type usageOptions struct {
	groupBy Grouping
	limit   int
	tenant  string
	err     error
}

// Tenant restricts a session's usage to one tenant's spans. A session
// belongs to one tenant: with a tenant-scoped key the server applies the
// key's; with an unscoped key, a session id used by several tenants needs
// Tenant (else the server answers ErrInvalidArgument naming them). Tenant
// usage takes its tenant from its argument, not from this option.
func Tenant(tenantID string) UsageOption {
	return func(o *usageOptions) {
		if tenantID == "" {
			o.err = invalid(wire.ParamTenantID, "empty tenant id")
			return
		}
		o.tenant = tenantID
	}
}

// GroupBy splits the usage into groups (the answer's Groups) by model,
// user, session, hour or day.
func GroupBy(g Grouping) UsageOption {
	return func(o *usageOptions) {
		if !slices.Contains(Groupings, g) {
			o.err = invalid(wire.ParamGroupBy, "%q is not one of %v", g, Groupings)
			return
		}
		o.groupBy = g
	}
}

// GroupLimit lists at most n groups, 1 to MaxLimit (default MaxLimit); the
// last then sums the groups not listed (UsageGroup.Other).
func GroupLimit(n int) UsageOption {
	return func(o *usageOptions) {
		if n < 1 || n > MaxLimit {
			o.err = invalid(wire.ParamLimit, "group limit %d not in [1, %d]", n, MaxLimit)
			return
		}
		o.limit = n
	}
}

// ListTraces returns one page of the traces that q selects. Follow
// NextCursor for the next one while HasNextPage, or use IterTraces.
func (c *Client) ListTraces(ctx context.Context, q TraceQuery) (*TracesPage, error) {
	v, err := q.values()
	if err != nil {
		return nil, err
	}
	return getChecked(ctx, c, wire.PathTraces, v, "traces", func(p *TracesPage) bool { return p.Traces != nil })
}

// GetTrace returns the summary of one trace; ErrNotFound if the server does
// not have it. traceID is 32 hex digits. Tenants are walls: with a
// tenant-scoped key it is the summary of that tenant's spans of the trace
// alone (ErrNotFound if it has none); with an unscoped key, of every span,
// unless tenantID names one tenant (at most one may be given).
func (c *Client) GetTrace(ctx context.Context, traceID string, tenantID ...string) (*TraceSummary, error) {
	id, err := checkTraceID(traceID)
	if err != nil {
		return nil, err
	}
	var v url.Values
	switch {
	case len(tenantID) > 1:
		return nil, invalid(wire.ParamTenantID, "at most one tenant, got %d", len(tenantID))
	case len(tenantID) == 1:
		if tenantID[0] == "" {
			return nil, invalid(wire.ParamTenantID, "empty tenant id")
		}
		v = url.Values{wire.ParamTenantID: tenantID}
	}
	return getChecked(ctx, c, wire.PathTrace+id, v, "id", func(t *TraceSummary) bool { return t.ID != "" })
}

// ListSpansByTraceID returns one page of the spans of one trace in start
// time order. Of q it uses Name (the span name filter), TenantID (one
// tenant's spans; a tenant-scoped key sees its own alone), Limit, Cursor
// and Direction; any other field set is an error. An unknown trace is
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
	return getChecked(ctx, c, wire.PathTrace+id+"/spans", v, "spans", hasSpans)
}

// ListSpans returns one page of spans across traces, newest first, that q
// selects.
func (c *Client) ListSpans(ctx context.Context, q SpanQuery) (*SpansPage, error) {
	v, err := q.values()
	if err != nil {
		return nil, err
	}
	return getChecked(ctx, c, wire.PathSpans, v, "spans", hasSpans)
}

func hasSpans(p *SpansPage) bool { return p.Spans != nil }

// getChecked GETs path with the query v into a new T and checks that the
// answer has field, which every answer of that kind has (has reports it).
func getChecked[T any](ctx context.Context, c *Client, path string, v url.Values, field string, has func(*T) bool) (*T, error) {
	out := new(T)
	if err := c.get(ctx, path, v, out); err != nil {
		return nil, err
	}
	if !has(out) {
		return nil, missing(path, field)
	}
	return out, nil
}

// missing is the error of a 2xx answer without a field every answer of
// that kind has: the URL points at something other than an agenttrace
// server, most likely.
func missing(path, field string) error {
	return fmt.Errorf("%w: GET %s: the answer has no %q (is the URL an agenttrace server's?)", ErrBadResponse, path, field)
}
