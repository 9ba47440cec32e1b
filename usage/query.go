package usage

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agenttrace/agenttrace/internal/wire"
)

// Direction is the way a page goes from its cursor.
type Direction string

// Page directions. Down (the default) continues in the sort order after the
// cursor, or starts at the beginning without one; Up returns the page just
// before the cursor, or the last page without one. A page's items are in the
// sort order either way.
const (
	Down Direction = "down"
	Up   Direction = "up"
)

// SortField is a field traces are sorted by.
type SortField string

// Sort fields of TraceQuery; SortStartTime is the default.
const (
	SortStartTime   SortField = "start_time"
	SortDuration    SortField = "duration_ms"
	SortTotalTokens SortField = "total_tokens"
	SortTotalCost   SortField = "total_cost"
	SortName        SortField = "name"
)

// SortOrder is the order of a sort field.
type SortOrder string

// Sort orders; OrderDesc is the default.
const (
	OrderAsc  SortOrder = "asc"
	OrderDesc SortOrder = "desc"
)

// Status is the outcome of a trace (its root span's) or of a span.
type Status string

// Statuses. A span whose status was never set counts as StatusOK.
const (
	StatusOK    Status = "ok"
	StatusError Status = "error"
)

// TraceQuery selects a page of traces (GET /v1/traces). Start and End are
// required; every other field is optional and filters only when set.
type TraceQuery struct {
	// Start (inclusive) and End (exclusive) bound the traces' start time.
	Start time.Time
	End   time.Time

	TenantID    string
	UserID      string
	SessionID   string
	Environment string
	// Name is the root span's name.
	Name string
	// Status is StatusOK (ok or unset) or StatusError.
	Status Status
	// Tags must all be present on the trace. A tag may not be empty or
	// hold a comma.
	Tags []string

	// Limit is the page size, 1 to MaxLimit; 0 means the server's
	// default (DefaultLimit).
	Limit int
	// Cursor is NextCursor (with the same Direction) or PrevCursor (with
	// the opposite one) of a page listed with the same filters and sort.
	Cursor    string
	Direction Direction
	SortField SortField
	SortOrder SortOrder
	// Offset skips that many traces after the cursor.
	Offset int
	// IncludeTotal asks for TracesPage.TotalCount.
	IncludeTotal bool
}

// SpanQuery selects a page of spans. ListSpans (GET /v1/spans) takes every
// field, all optional. ListSpansByTraceID takes only Name, Limit, Cursor and
// Direction; another field set there is an error.
type SpanQuery struct {
	// Start (inclusive) and End (exclusive) bound the spans' start time;
	// a zero value leaves that side open.
	Start time.Time
	End   time.Time

	// Status is StatusOK (ok or unset) or StatusError.
	Status Status
	// Type is the agenttrace span type: llm, tool, task, retrieval, ...
	Type string
	// Model matches the request or the response model.
	Model      string
	PromptSlug string
	TenantID   string
	UserID     string
	SessionID  string
	// Name is the span's name.
	Name string
	// Tags must all be present on the span.
	Tags []string

	// Limit, Cursor and Direction page as in TraceQuery.
	Limit     int
	Cursor    string
	Direction Direction
}

// Times the server can store: [1970, 2262).
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// checkID rejects an empty or blank path id, and "." and "..", which no
// URL path can carry as a segment.
func checkID(field, id string) error {
	switch {
	case strings.TrimSpace(id) == "":
		return invalid(field, "empty")
	case id == "." || id == "..":
		return invalid(field, "%q cannot be queried (not a usable URL path segment)", id)
	}
	return nil
}

// checkTraceID accepts 32 hex digits and returns them in lower case.
func checkTraceID(id string) (string, error) {
	if len(id) != 32 {
		return "", invalid("trace_id", "%q is not 32 hex digits", id)
	}
	b := []byte(id)
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			b[i] = c + ('a' - 'A')
		default:
			return "", invalid("trace_id", "%q is not 32 hex digits", id)
		}
	}
	if string(b) == "00000000000000000000000000000000" {
		return "", invalid("trace_id", "the all-zero trace id is invalid")
	}
	return string(b), nil
}

// setWindow checks a time window and adds it to v. A required window
// needs both times; an optional one may leave either side zero. End must
// be after start.
func setWindow(v url.Values, start, end time.Time, required bool) error {
	for _, p := range []struct {
		name string
		t    time.Time
	}{{wire.ParamStartTime, start}, {wire.ParamEndTime, end}} {
		if p.t.IsZero() {
			if required {
				return invalid(p.name, "required (a non-zero time)")
			}
			continue
		}
		if p.t.Before(minTime) || !p.t.Before(maxTime) {
			return invalid(p.name, "%s is outside 1970 to 2261", formatTime(p.t))
		}
		v.Set(p.name, formatTime(p.t))
	}
	if !start.IsZero() && !end.IsZero() && !end.After(start) {
		return invalid(wire.ParamEndTime, "%s is not after start_time %s", formatTime(end), formatTime(start))
	}
	return nil
}

func setString(v url.Values, name, s string) {
	if s != "" {
		v.Set(name, s)
	}
}

// setPage checks a page's size, cursor and direction and adds them to v.
func setPage(v url.Values, limit int, cursor string, d Direction) error {
	if limit < 0 || limit > MaxLimit {
		return invalid(wire.ParamLimit, "%d is not from 1 to %d (0 for the default, %d)", limit, MaxLimit, DefaultLimit)
	}
	if limit > 0 {
		v.Set(wire.ParamLimit, strconv.Itoa(limit))
	}
	if cursor != "" && strings.TrimSpace(cursor) == "" {
		return invalid(wire.ParamCursor, "blank cursor")
	}
	setString(v, wire.ParamCursor, cursor)
	switch d {
	case "":
	case Down, Up:
		v.Set(wire.ParamDirection, string(d))
	default:
		return invalid(wire.ParamDirection, "%q is not %q or %q", d, Down, Up)
	}
	return nil
}

func setStatus(v url.Values, s Status) error {
	switch s {
	case "":
	case StatusOK, StatusError:
		v.Set(wire.ParamStatus, string(s))
	default:
		return invalid(wire.ParamStatus, "%q is not %q or %q", s, StatusOK, StatusError)
	}
	return nil
}

func setTags(v url.Values, tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	for _, t := range tags {
		if strings.TrimSpace(t) == "" {
			return invalid(wire.ParamTags, "empty tag")
		}
		if strings.Contains(t, ",") {
			return invalid(wire.ParamTags, "tag %q holds a comma", t)
		}
	}
	v.Set(wire.ParamTags, strings.Join(tags, ","))
	return nil
}

// sortFields lists the valid SortField values.
var sortFields = []SortField{SortStartTime, SortDuration, SortTotalTokens, SortTotalCost, SortName}

// values checks q and returns its query parameters.
func (q *TraceQuery) values() (url.Values, error) {
	v := url.Values{}
	if err := setWindow(v, q.Start, q.End, true); err != nil {
		return nil, err
	}
	setString(v, wire.ParamTenantID, q.TenantID)
	setString(v, wire.ParamUserID, q.UserID)
	setString(v, wire.ParamSessionID, q.SessionID)
	setString(v, wire.ParamEnvironment, q.Environment)
	setString(v, wire.ParamName, q.Name)
	if err := setStatus(v, q.Status); err != nil {
		return nil, err
	}
	if err := setTags(v, q.Tags); err != nil {
		return nil, err
	}
	if err := setPage(v, q.Limit, q.Cursor, q.Direction); err != nil {
		return nil, err
	}
	if q.SortField != "" {
		if !slices.Contains(sortFields, q.SortField) {
			return nil, invalid(wire.ParamSortField, "%q is not one of %s, %s, %s, %s, %s", q.SortField,
				SortStartTime, SortDuration, SortTotalTokens, SortTotalCost, SortName)
		}
		v.Set(wire.ParamSortField, string(q.SortField))
	}
	switch q.SortOrder {
	case "":
	case OrderAsc, OrderDesc:
		v.Set(wire.ParamSortOrder, string(q.SortOrder))
	default:
		return nil, invalid(wire.ParamSortOrder, "%q is not %q or %q", q.SortOrder, OrderAsc, OrderDesc)
	}
	if q.Offset < 0 {
		return nil, invalid(wire.ParamOffset, "%d is negative", q.Offset)
	}
	if q.Offset > 0 {
		v.Set(wire.ParamOffset, strconv.Itoa(q.Offset))
	}
	if q.IncludeTotal {
		v.Set(wire.ParamIncludeTotal, "true")
	}
	return v, nil
}

// values checks q for GET /v1/spans and returns its query parameters.
func (q *SpanQuery) values() (url.Values, error) {
	v := url.Values{}
	if err := setWindow(v, q.Start, q.End, false); err != nil {
		return nil, err
	}
	if err := setStatus(v, q.Status); err != nil {
		return nil, err
	}
	setString(v, wire.ParamType, q.Type)
	setString(v, wire.ParamModel, q.Model)
	setString(v, wire.ParamPromptSlug, q.PromptSlug)
	setString(v, wire.ParamTenantID, q.TenantID)
	setString(v, wire.ParamUserID, q.UserID)
	setString(v, wire.ParamSessionID, q.SessionID)
	setString(v, wire.ParamName, q.Name)
	if err := setTags(v, q.Tags); err != nil {
		return nil, err
	}
	return v, setPage(v, q.Limit, q.Cursor, q.Direction)
}

// traceValues checks q for GET /v1/traces/{trace_id}/spans, which filters
// only by span name.
func (q *SpanQuery) traceValues() (url.Values, error) {
	for _, f := range []struct {
		name string
		set  bool
	}{
		{wire.ParamStartTime, !q.Start.IsZero()}, {wire.ParamEndTime, !q.End.IsZero()}, {wire.ParamStatus, q.Status != ""},
		{wire.ParamType, q.Type != ""}, {wire.ParamModel, q.Model != ""}, {wire.ParamPromptSlug, q.PromptSlug != ""},
		{wire.ParamUserID, q.UserID != ""}, {wire.ParamSessionID, q.SessionID != ""},
		{wire.ParamTags, len(q.Tags) > 0},
	} {
		if f.set {
			return nil, invalid(f.name, "not a filter of the spans of one trace (only the name and the tenant are; use ListSpans)")
		}
	}
	v := url.Values{}
	setString(v, wire.ParamSpanName, q.Name)
	setString(v, wire.ParamTenantID, q.TenantID)
	return v, setPage(v, q.Limit, q.Cursor, q.Direction)
}
