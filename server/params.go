package server

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agenttrace/agenttrace/internal/wire"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/usage"
)

// Limits on query parameters.
const (
	maxParamLen  = 1024
	maxCursorLen = 2048
	maxQueryTags = 32
	maxOffset    = 10_000
)

// Times outside this range cannot be stored as int64 nanoseconds.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// params is a parsed query string checked against the parameters an
// endpoint accepts.
type params struct {
	v url.Values
}

// parseParams parses rawQuery, rejecting unknown and repeated parameters.
func parseParams(rawQuery string, allowed ...string) (params, error) {
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return params{}, &apiError{status: http.StatusBadRequest, code: wire.CodeInvalidArgument,
			message: "malformed query string: " + err.Error()}
	}
	for k, vals := range v {
		if !slices.Contains(allowed, k) {
			return params{}, badParam(k, "unknown parameter (accepted: %s)", strings.Join(allowed, ", "))
		}
		if len(vals) > 1 {
			return params{}, badParam(k, "given %d times", len(vals))
		}
		if len(vals[0]) > maxParamLen && k != wire.ParamCursor {
			return params{}, badParam(k, "longer than %d bytes", maxParamLen)
		}
	}
	return params{v: v}, nil
}

func (p params) str(name string) string { return strings.TrimSpace(p.v.Get(name)) }

// time parses an RFC 3339 time; required ones must be present.
func (p params) time(name string, required bool) (time.Time, error) {
	s := p.str(name)
	if s == "" {
		if required {
			return time.Time{}, badParam(name, "required (an RFC 3339 time such as 2025-11-16T00:00:00Z)")
		}
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badParam(name, "%q is not an RFC 3339 time such as 2025-11-16T00:00:00Z", s)
	}
	t = t.UTC()
	if t.Before(minTime) || !t.Before(maxTime) {
		return time.Time{}, badParam(name, "%q is outside 1970 to 2261", s)
	}
	return t, nil
}

// window parses start_time and end_time, end after start.
func (p params) window(required bool) (time.Time, time.Time, error) {
	start, err := p.time(wire.ParamStartTime, required)
	if err != nil {
		return start, start, err
	}
	end, err := p.time(wire.ParamEndTime, required)
	if err != nil {
		return start, end, err
	}
	if !start.IsZero() && !end.IsZero() && !end.After(start) {
		return start, end, badParam(wire.ParamEndTime, "must be after start_time")
	}
	return start, end, nil
}

func (p params) limit() (int, error) {
	s := p.str(wire.ParamLimit)
	if s == "" {
		return store.DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > store.MaxLimit {
		return 0, badParam(wire.ParamLimit, "%q is not an integer from 1 to %d", s, store.MaxLimit)
	}
	return n, nil
}

func (p params) offset() (int, error) {
	s := p.str(wire.ParamOffset)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > maxOffset {
		return 0, badParam(wire.ParamOffset, "%q is not an integer from 0 to %d", s, maxOffset)
	}
	return n, nil
}

func (p params) boolean(name string) (bool, error) {
	s := p.str(name)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badParam(name, "%q is not true or false", s)
	}
	return b, nil
}

func (p params) direction() (store.Direction, error) {
	switch s := usage.Direction(p.str(wire.ParamDirection)); s {
	case "", usage.Down:
		return store.Down, nil
	case usage.Up:
		return store.Up, nil
	default:
		return "", badParam(wire.ParamDirection, "%q is not down or up", s)
	}
}

func (p params) sort() (store.SortField, store.SortOrder, error) {
	f := store.SortField(p.str(wire.ParamSortField))
	if f == "" {
		f = store.SortStartTime
	}
	if !f.Valid() {
		names := make([]string, len(store.SortFields))
		for i, v := range store.SortFields {
			names[i] = string(v)
		}
		return "", "", badParam(wire.ParamSortField, "%q is not one of %s", f, strings.Join(names, ", "))
	}
	switch o := usage.SortOrder(p.str(wire.ParamSortOrder)); o {
	case "", usage.OrderDesc:
		return f, store.Desc, nil
	case usage.OrderAsc:
		return f, store.Asc, nil
	default:
		return "", "", badParam(wire.ParamSortOrder, "%q is not asc or desc", o)
	}
}

func (p params) status() (store.Status, error) {
	switch s := usage.Status(p.str(wire.ParamStatus)); s {
	case "":
		return store.StatusUnset, nil
	case usage.StatusOK:
		return store.StatusOK, nil
	case usage.StatusError:
		return store.StatusError, nil
	default:
		return 0, badParam(wire.ParamStatus, "%q is not ok or error", s)
	}
}

// tags parses a comma-separated tag list, sorted and deduplicated.
func (p params) tags() ([]string, error) {
	s := p.str(wire.ParamTags)
	if s == "" {
		return nil, nil
	}
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxQueryTags {
		return nil, badParam(wire.ParamTags, "more than %d tags", maxQueryTags)
	}
	return out, nil
}

// pathID reads a path value; trace ids must be 32 hex digits.
func pathTraceID(r *http.Request) (string, error) {
	id := strings.ToLower(r.PathValue("trace_id"))
	if len(id) != 32 {
		return "", badParam("trace_id", "%q is not 32 hex digits", id)
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", badParam("trace_id", "%q is not 32 hex digits", id)
	}
	return id, nil
}

func pathString(r *http.Request, name string) (string, error) {
	v := r.PathValue(name)
	if strings.TrimSpace(v) == "" {
		return "", badParam(name, "empty")
	}
	if len(v) > maxParamLen {
		return "", badParam(name, "longer than %d bytes", maxParamLen)
	}
	return v, nil
}

// filterHash binds a cursor to a listing's filters and sort: a hash of
// the kind of listing and its canonical name=value pairs.
func filterHash(kind string, kv ...string) string {
	h := sha256.New()
	h.Write([]byte(kind))
	for _, s := range kv {
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func timeKey(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

// cursor is the decoded form of an opaque page cursor: a keyset position
// and the hash of the filters it was made with.
type cursor struct {
	V    int    `json:"v"`
	Hash string `json:"h"`
	Num  int64  `json:"n,omitempty"`
	Str  string `json:"s,omitempty"`
	// Trace and Span are the tie-break ids.
	Trace string `json:"t,omitempty"`
	Span  string `json:"p,omitempty"`
	// Tenant is the tie-break of trace summaries of one trace id.
	Tenant string `json:"te,omitempty"`
}

const cursorVersion = 1

// encodeCursor makes the opaque base64url cursor of pos under hash.
func encodeCursor(hash string, pos store.Position) string {
	b, _ := json.Marshal(cursor{V: cursorVersion, Hash: hash, Num: pos.Num, Str: pos.Str, Trace: pos.TraceID, Span: pos.SpanID, Tenant: pos.TenantID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor parses the cursor parameter and checks it was made with
// the same filters (hash). An absent cursor is nil.
func decodeCursor(s, hash string) (*store.Position, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > maxCursorLen {
		return nil, badParam(wire.ParamCursor, "malformed cursor (too long)")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, badParam(wire.ParamCursor, "malformed cursor (not base64url)")
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, badParam(wire.ParamCursor, "malformed cursor")
	}
	if c.V != cursorVersion {
		return nil, badParam(wire.ParamCursor, "unknown cursor version %d", c.V)
	}
	if !isHexID(c.Trace, 32) || (c.Span != "" && !isHexID(c.Span, 16)) || len(c.Str) > maxParamLen || len(c.Tenant) > maxParamLen {
		return nil, badParam(wire.ParamCursor, "malformed cursor position")
	}
	if c.Hash != hash {
		return nil, badParam(wire.ParamCursor, "the cursor was made with other filters or sort; "+
			"reuse a cursor only with the parameters of the page that gave it (limit and direction may change)")
	}
	return &store.Position{Num: c.Num, Str: c.Str, TraceID: c.Trace, SpanID: c.Span, TenantID: c.Tenant}, nil
}

func isHexID(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
