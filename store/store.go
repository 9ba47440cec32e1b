// Package store defines where the agenttrace server keeps spans: the Store
// interface, the span and query types it speaks, and the errors it returns.
//
// A Store keeps spans as immutable rows with their session, user and tenant
// denormalised onto each row, and maintains two kinds of rollups at ingest:
// one summary per trace and per-hour usage totals per session and per
// tenant. Usage queries read the hourly rollups for the whole hours of a
// window and raw spans only for the partial hours at its edges. Costs are
// integers in nano-USD so that sums are exact.
//
// The embedded default is store/sqlite; store/storetest holds the
// conformance suite every Store must pass.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors returned by stores. Use errors.Is to test for them.
var (
	// ErrNotFound means the trace asked for is not stored.
	ErrNotFound = errors.New("store: not found")
	// ErrInvalidQuery means a query is malformed (unknown sort field,
	// empty window, bad limit). Callers validate first; this is a backstop.
	ErrInvalidQuery = errors.New("store: invalid query")
	// ErrInvalidSpan means a span cannot be stored (missing or malformed
	// trace or span id).
	ErrInvalidSpan = errors.New("store: invalid span")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrNotReady is returned by Ping when the store cannot take writes
	// (a full disk, a failing database).
	ErrNotReady = errors.New("store: not ready")
	// ErrMixedTenants is returned, wrapped in a *MixedTenantsError, by
	// SessionUsage and GroupUsage asked for a session without a tenant
	// when that session id is used by more than one tenant in the window:
	// a session belongs to one tenant, and its usage never mixes tenants.
	ErrMixedTenants = errors.New("store: session id used by more than one tenant")
)

// MixedTenantsError says which tenants use one session id. Its Unwrap is
// ErrMixedTenants.
type MixedTenantsError struct {
	SessionID string
	// Tenants are the tenants with spans of the session in the window,
	// sorted ("" for spans of no tenant).
	Tenants []string
}

// Error implements error.
func (e *MixedTenantsError) Error() string {
	return fmt.Sprintf("session %q is used by %d tenants (%q): name one", e.SessionID, len(e.Tenants), e.Tenants)
}

// Unwrap returns ErrMixedTenants.
func (e *MixedTenantsError) Unwrap() error { return ErrMixedTenants }

// Store is where spans are written and queried. Implementations are safe
// for concurrent use. Every method that blocks takes a context first.
type Store interface {
	// WriteSpans stores spans atomically: when it returns nil every span
	// is durably committed, and when it returns an error none is. A span
	// whose (TraceID, SpanID) is already stored is ignored (rows are
	// immutable but for their attribution), and it is not counted again in
	// any rollup, so a retried batch is harmless.
	//
	// Late attribution: a span without a session, user, tenant or
	// environment takes its trace's, whenever the span that carries them
	// arrives (before, in the same call, or in a later one); stored spans
	// and every rollup are brought up to date in the same transaction. The
	// trace's value is its root span's, else the first one stored (the
	// tenant: the first stored, never changed once set); a span
	// carrying its own keeps it (counted in WriteResult.Conflicts when it
	// differs), and a span of another tenant than the trace's inherits
	// nothing. See store/ATTRIBUTION.md.
	WriteSpans(ctx context.Context, spans []Span) (WriteResult, error)
	// SessionUsage sums the usage of the spans of one session that started
	// in [q.Start, q.End). A session belongs to a tenant: with q.TenantID
	// set only that tenant's spans count; without it, the session's spans
	// in the window must all be of one tenant (else a *MixedTenantsError).
	SessionUsage(ctx context.Context, q UsageQuery) (Usage, error)
	// TenantUsage sums the usage of the spans of one tenant (q.TenantID)
	// that started in [q.Start, q.End), and counts their distinct sessions.
	TenantUsage(ctx context.Context, q UsageQuery) (Usage, error)
	// GroupUsage sums what SessionUsage (when q.SessionID is set) or
	// TenantUsage (otherwise) sums, and splits the sum by q.GroupBy, both
	// from one snapshot: the groups add up exactly to the total. Groups
	// are ordered and folded past q.GroupLimit as FinishGroups does.
	GroupUsage(ctx context.Context, q UsageQuery) (GroupedUsage, error)
	// GetTrace returns the summary of one trace, or ErrNotFound. Tenants
	// are walls: summaries are kept per tenant and trace, so with tenantID
	// set it is the summary of that tenant's spans of the trace alone
	// (ErrNotFound when the tenant has none, even if another tenant has
	// spans under that trace id). With tenantID "" (an unscoped reader) it
	// is the summary of every span of the trace, whatever its tenant: its
	// TenantID is the trace's tenant and Tenants lists every tenant with
	// spans in it.
	GetTrace(ctx context.Context, traceID, tenantID string) (TraceSummary, error)
	// ListTraces returns one page of trace summaries: one per tenant and
	// trace, so a trace id shared by two tenants is listed once for each
	// when no tenant is filtered on.
	ListTraces(ctx context.Context, q TraceQuery) (TracePage, error)
	// ListSpansByTrace returns one page of the spans of one trace, in start
	// time order.
	ListSpansByTrace(ctx context.Context, q TraceSpansQuery) (SpanPage, error)
	// ListSpans returns one page of spans across traces, newest first.
	ListSpans(ctx context.Context, q SpanQuery) (SpanPage, error)
	// Ping reports whether the store can take writes now: it fails when
	// the database is unreachable or closed, when the disk it writes to is
	// full, or when the last write failed for a reason other than its
	// spans (until a write succeeds again). It is cheap: GET /readyz
	// calls it.
	Ping(ctx context.Context) error
	// Close releases the store. Writes that returned nil stay durable.
	Close() error
}

// Status is an OpenTelemetry span status code.
type Status int

// Span status codes, as in OTLP.
const (
	StatusUnset Status = 0
	StatusOK    Status = 1
	StatusError Status = 2
)

// String returns "unset", "ok" or "error".
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusError:
		return "error"
	default:
		return "unset"
	}
}

// Tokens is a token breakdown. Cache tokens are part of InputTokens and
// reasoning tokens part of OutputTokens (the GenAI convention).
type Tokens struct {
	InputTokens         int64
	OutputTokens        int64
	CacheReadTokens     int64
	CacheCreationTokens int64
	ReasoningTokens     int64
}

// Add adds o to t, saturating each count at math.MaxInt64 (see SatAdd).
func (t *Tokens) Add(o Tokens) {
	t.InputTokens = SatAdd(t.InputTokens, o.InputTokens)
	t.OutputTokens = SatAdd(t.OutputTokens, o.OutputTokens)
	t.CacheReadTokens = SatAdd(t.CacheReadTokens, o.CacheReadTokens)
	t.CacheCreationTokens = SatAdd(t.CacheCreationTokens, o.CacheCreationTokens)
	t.ReasoningTokens = SatAdd(t.ReasoningTokens, o.ReasoningTokens)
}

// Per-span bounds. The server never hands a store a span beyond them (it
// drops an offending value and counts it), so that sums of many spans stay
// far from int64 overflow; stores still add with SatAdd, so no sum ever
// wraps or turns into a float.
const (
	// MaxSpanTokens bounds each token count of one span: 2^40
	// (about 1.1e12).
	MaxSpanTokens = 1 << 40
	// MaxSpanCostNanoUSD bounds the cost of one span: $1,000,000.
	MaxSpanCostNanoUSD = 1_000_000_000_000_000
)

// SatAdd returns a + b for non-negative counts, saturating at
// math.MaxInt64 instead of wrapping. Every usage sum in a store goes
// through it (or its SQL equivalent), so a total is exact or, past 2^63-1,
// pinned there: never negative.
func SatAdd(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

// Span is one stored span. On write the caller fills it from OTLP; on read
// the store returns what was written (Input and Output excepted, see
// there).
type Span struct {
	// TraceID (32) and SpanID (16) are lowercase hex; ParentID is empty
	// for a root span.
	TraceID  string
	SpanID   string
	ParentID string
	Name     string
	// Kind is the OTel span kind: "internal", "server", "client",
	// "producer", "consumer" or "" when unspecified.
	Kind string
	// Type is the agenttrace span type: "trace", "llm", "tool", "task",
	// "retrieval", "span" or a custom value.
	Type          string
	Status        Status
	StatusMessage string
	Start         time.Time
	End           time.Time

	// Operation is gen_ai.operation.name.
	Operation     string
	RequestModel  string
	ResponseModel string
	Provider      string
	PromptSlug    string
	PromptVersion string

	Tokens
	// TotalTokens is agenttrace.usage.total_tokens, or input + output when
	// that is absent.
	TotalTokens int64
	// CostNanoUSD is the cost in billionths of a US dollar.
	CostNanoUSD int64
	// CostSource is agenttrace.usage.cost_source: "provider", "user",
	// "computed" (from a price table, by the SDK or the server) or "".
	CostSource string
	// PriceTableVersion is the version of the price table a computed
	// cost came from (agenttrace.usage.price_table_version), else "".
	PriceTableVersion string
	// LLMRequest marks a model call: it counts toward request_count.
	LLMRequest bool
	// UsageUnknown marks a model call (LLMRequest) whose usage is unknown:
	// it carries no token count and no cost (the SDK marks such a span
	// agenttrace.usage.unknown=true). It counts toward
	// unknown_usage_count, so that a missing usage is never read as zero.
	UsageUnknown bool

	SessionID      string
	UserID         string
	TenantID       string
	ConversationID string
	Environment    string
	ServiceName    string
	ScopeName      string
	Tags           []string

	// Inherited tells which of SessionID, UserID, TenantID and
	// Environment the span took from its trace instead of carrying them.
	// Stores set it on read; writers leave it zero.
	Inherited Fields

	// Input and Output are previews of the span's input and output
	// (agenttrace.input / agenttrace.output, else the GenAI messages),
	// used on write for the trace summary's previews. They are not kept
	// per span (the full values are in Attributes), so reads leave them
	// empty.
	Input  string
	Output string

	// Attributes and Resource are JSON objects of the span's and its
	// resource's attributes; Events is a JSON array of
	// {"name","time","attributes"} objects. Nil means empty.
	Attributes json.RawMessage
	Resource   json.RawMessage
	Events     json.RawMessage
}

// Model returns the response model, else the request model.
func (s *Span) Model() string {
	if s.ResponseModel != "" {
		return s.ResponseModel
	}
	return s.RequestModel
}

// Fields is a set of the trace-level fields spans inherit.
type Fields uint8

// The trace-level fields.
const (
	FieldSession Fields = 1 << iota
	FieldUser
	FieldTenant
	FieldEnvironment
)

// WriteResult says what WriteSpans did.
type WriteResult struct {
	// Inserted spans were new; Duplicates were already stored and ignored.
	Inserted   int
	Duplicates int
	// Conflicts counts the trace-level fields of new spans that differ
	// from their trace's (two sessions in one trace): the span keeps its
	// own, the trace keeps its root's (else the first stored).
	Conflicts int
}

// UsageQuery selects the spans a usage sum covers: those of SessionID
// (session usage) or TenantID (tenant usage) that started in [Start, End).
type UsageQuery struct {
	SessionID string
	// TenantID is the tenant of tenant usage, or an optional restriction
	// of session usage to one tenant's spans.
	TenantID string
	Start    time.Time
	End      time.Time
	// GroupBy is the grouping of GroupUsage; the other methods ignore it.
	GroupBy GroupBy
	// GroupLimit bounds GroupUsage's groups (0: no bound); the rest are
	// folded into one Other group.
	GroupLimit int
}

// Usage is a usage sum.
type Usage struct {
	Tokens
	// Requests counts LLM calls (spans with LLMRequest).
	Requests int64
	// UnknownUsage counts the LLM calls among Requests whose usage is
	// unknown (spans with UsageUnknown).
	UnknownUsage int64
	// Sessions counts distinct non-empty session ids (tenant usage only).
	Sessions    int64
	CostNanoUSD int64
	// Spans counts every span in the sum.
	Spans int64
}

// TokenCount is input + output tokens, the token_count of the wire API
// (saturating, see SatAdd).
func (u Usage) TokenCount() int64 { return SatAdd(u.InputTokens, u.OutputTokens) }

// TraceSummary is the rollup of one tenant's spans of a trace (see
// GetTrace). Name, Status, Start, End and the previews come from the root
// span once it is stored; until then they are provisional (the earliest
// span seen so far, and error if any span failed).
type TraceSummary struct {
	TraceID string
	Name    string
	Status  Status
	// HasRoot tells whether the root span has been stored.
	HasRoot bool
	Start   time.Time
	End     time.Time
	// Duration is End - Start.
	Duration   time.Duration
	SpanCount  int64
	ErrorCount int64
	Tokens
	TotalTokens int64
	Requests    int64
	CostNanoUSD int64
	// Models are the distinct models of the trace's spans, sorted.
	Models      []string
	Input       string
	Output      string
	SessionID   string
	UserID      string
	TenantID    string
	Environment string
	// Tags are the union of the tags of the trace's spans, sorted.
	Tags []string
	// Tenants lists, sorted, the tenants with spans in the trace when
	// more than one has, and GetTrace was asked for every tenant's spans
	// (tenantID ""); else nil.
	Tenants []string
	// Scores aggregate the trace's score spans (type "score", carrying
	// agenttrace.score.name and a finite agenttrace.score.value), by name
	// in name order; nil when there are none. Only GetTrace fills them.
	Scores []Score
}

// Score is the aggregate of the values a trace was scored with under one
// name (feedback, ratings, evaluations).
type Score struct {
	Name  string
	Count int64
	// Mean, Min and Max summarise the values; Last is the value of the
	// score span that started last.
	Mean, Min, Max, Last float64
}

// ScoreValue is one score span's name, value and start, as a store reads
// it before AggregateScores.
type ScoreValue struct {
	Name  string
	Value float64
	Start time.Time
}

// AggregateScores folds score values into Scores by name, in name order
// (nil for none). Values that are not finite are left out.
func AggregateScores(vals []ScoreValue) []Score {
	byName := map[string]*Score{}
	last := map[string]time.Time{}
	for _, v := range vals {
		if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) || v.Name == "" {
			continue
		}
		sc := byName[v.Name]
		if sc == nil {
			sc = &Score{Name: v.Name, Min: v.Value, Max: v.Value, Last: v.Value}
			byName[v.Name] = sc
			last[v.Name] = v.Start
		}
		sc.Count++
		sc.Mean += v.Value // the sum until the end
		sc.Min, sc.Max = min(sc.Min, v.Value), max(sc.Max, v.Value)
		if !v.Start.Before(last[v.Name]) {
			sc.Last, last[v.Name] = v.Value, v.Start
		}
	}
	if len(byName) == 0 {
		return nil
	}
	out := make([]Score, 0, len(byName))
	for _, sc := range byName {
		sc.Mean /= float64(sc.Count)
		out = append(out, *sc)
	}
	slices.SortFunc(out, func(a, b Score) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// SortField is a field traces can be sorted by.
type SortField string

// Sort fields of ListTraces.
const (
	SortStartTime   SortField = "start_time"
	SortDuration    SortField = "duration_ms"
	SortTotalTokens SortField = "total_tokens"
	SortTotalCost   SortField = "total_cost"
	SortName        SortField = "name"
)

// SortFields lists every valid SortField.
var SortFields = []SortField{SortStartTime, SortDuration, SortTotalTokens, SortTotalCost, SortName}

// Valid reports whether f is a known sort field.
func (f SortField) Valid() bool {
	for _, v := range SortFields {
		if f == v {
			return true
		}
	}
	return false
}

// SortOrder is ascending or descending.
type SortOrder string

// Sort orders.
const (
	Asc  SortOrder = "asc"
	Desc SortOrder = "desc"
)

// Direction is the way a page goes from its cursor.
type Direction string

// Page directions. Down continues in the sort order after the cursor; Up
// returns the page just before the cursor (still listed in the sort
// order). Without a cursor, Down starts at the beginning and Up at the end.
const (
	Down Direction = "down"
	Up   Direction = "up"
)

// Position is a keyset position: the sort key of one row and its unique
// tie-break. Which fields are used depends on the listing: Num holds an
// integer sort key (start, duration in ns, tokens, nano-USD), Str a string
// one (name), TraceID and SpanID the tie-break, and TenantID that of trace
// summaries (one per tenant and trace).
type Position struct {
	Num      int64
	Str      string
	TraceID  string
	SpanID   string
	TenantID string
}

// Position returns t's keyset position under field.
func (t *TraceSummary) Position(field SortField) Position {
	p := Position{TraceID: t.TraceID, TenantID: t.TenantID}
	switch field {
	case SortDuration:
		p.Num = int64(t.Duration)
	case SortTotalTokens:
		p.Num = t.TotalTokens
	case SortTotalCost:
		p.Num = t.CostNanoUSD
	case SortName:
		p.Str = t.Name
	default:
		p.Num = t.Start.UnixNano()
	}
	return p
}

// Position returns s's keyset position in span listings (start time, then
// trace and span id).
func (s *Span) Position() Position {
	return Position{Num: s.Start.UnixNano(), TraceID: s.TraceID, SpanID: s.SpanID}
}

// TraceFilter selects traces. Empty fields do not filter; every set one
// must match. The window is on the trace's start time.
type TraceFilter struct {
	Start       time.Time
	End         time.Time
	TenantID    string
	UserID      string
	SessionID   string
	Environment string
	Name        string
	// Status is StatusOK (matches ok and unset) or StatusError; StatusUnset
	// does not filter.
	Status Status
	// Tags must all be present on the trace.
	Tags []string
}

// TraceQuery asks for one page of traces.
type TraceQuery struct {
	TraceFilter
	// SortField defaults to SortStartTime, SortOrder to Desc, Direction to
	// Down.
	SortField SortField
	SortOrder SortOrder
	Direction Direction
	// Cursor is the exclusive keyset position to page from; nil starts at
	// the beginning (Down) or the end (Up).
	Cursor *Position
	// Offset skips that many rows after the cursor.
	Offset int
	// Limit is the page size (1 to 1000); 0 means 50.
	Limit int
	// IncludeTotal asks for the number of traces matching the filter.
	IncludeTotal bool
}

// TracePage is one page of traces, in the sort order.
type TracePage struct {
	Traces []TraceSummary
	// HasMore tells whether more traces lie beyond this page in the
	// query's direction.
	HasMore bool
	// Total is the count of matching traces when asked for, else -1. It
	// counts at most MaxTotal traces: when more match, Total is MaxTotal
	// and TotalCapped is true.
	Total       int64
	TotalCapped bool
}

// MaxTotal bounds the count of TraceQuery.IncludeTotal, so that asking
// for a total costs at most that many index entries.
const MaxTotal = 10_000

// TraceSpansQuery asks for one page of one trace's spans, ordered by start
// time then span id.
type TraceSpansQuery struct {
	TraceID string
	// SpanName keeps only spans with that name.
	SpanName string
	// TenantID keeps only spans of that tenant (tenant-scoped readers).
	TenantID  string
	Direction Direction
	Cursor    *Position
	Limit     int
}

// SpanQuery asks for one page of spans across traces, newest first
// (start time, then trace id, then span id, all descending). Empty fields
// do not filter; every set one must match.
type SpanQuery struct {
	// Start and End bound the span start time; zero values leave that
	// side open.
	Start     time.Time
	End       time.Time
	Status    Status
	Type      string
	TenantID  string
	UserID    string
	SessionID string
	// Model matches the request or the response model.
	Model      string
	PromptSlug string
	Name       string
	Tags       []string
	Direction  Direction
	Cursor     *Position
	Limit      int
}

// SpanPage is one page of spans in the listing's order.
type SpanPage struct {
	Spans   []Span
	HasMore bool
}

// Page size limits shared by stores and the server.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// NormalLimit returns limit, or DefaultLimit when it is zero; it reports
// false when limit is out of range.
func NormalLimit(limit int) (int, bool) {
	if limit == 0 {
		return DefaultLimit, true
	}
	return limit, limit >= 1 && limit <= MaxLimit
}

// PreviewLen is the most bytes a trace's input or output preview holds.
const PreviewLen = 1024

// Preview truncates s to at most PreviewLen bytes at a UTF-8 boundary,
// ending a truncated value with "…". It is idempotent.
func Preview(s string) string {
	if len(s) <= PreviewLen {
		return s
	}
	const marker = "…"
	n := PreviewLen - len(marker)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + marker
}
