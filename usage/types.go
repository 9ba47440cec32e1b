package usage

import (
	"encoding/json"
	"time"
)

// Page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Tokens is a token breakdown. Cache tokens are included in InputTokens,
// reasoning tokens in OutputTokens.
type Tokens struct {
	InputTokens         int64 `json:"input_tokens"`
	OutputTokens        int64 `json:"output_tokens"`
	CacheReadTokens     int64 `json:"cache_read_tokens"`
	CacheCreationTokens int64 `json:"cache_creation_tokens"`
	ReasoningTokens     int64 `json:"reasoning_tokens"`
}

// SessionUsage answers GET /v1/usage/sessions/{session_id}.
type SessionUsage struct {
	SessionID string    `json:"session_id"`
	StartTime time.Time `json:"start_time"`
	EndTime   time.Time `json:"end_time"`
	// TokenCount is input + output tokens.
	TokenCount int64 `json:"token_count"`
	// RequestCount counts LLM calls.
	RequestCount int64 `json:"request_count"`
	// UnknownUsageCount counts the LLM calls among RequestCount whose
	// usage is unknown (agenttrace.usage.unknown, or a foreign model call
	// without token counts): their tokens and cost are not in the totals.
	UnknownUsageCount int64 `json:"unknown_usage_count"`
	// TotalCost is in US dollars; TotalCostNanoUSD is the exact integer
	// it comes from.
	TotalCost        float64 `json:"total_cost"`
	TotalCostNanoUSD int64   `json:"total_cost_nano_usd"`
	Tokens
	// GroupBy and Groups are present when the request had group_by.
	GroupBy Grouping     `json:"group_by,omitempty"`
	Groups  []UsageGroup `json:"groups,omitempty"`
}

// TenantUsage answers GET /v1/usage/tenants/{tenant_id}.
type TenantUsage struct {
	TenantID       string    `json:"tenant_id"`
	OrganisationID string    `json:"organisation_id"`
	StartTime      time.Time `json:"start_time"`
	EndTime        time.Time `json:"end_time"`
	TokenCount     int64     `json:"token_count"`
	RequestCount   int64     `json:"request_count"`
	// UnknownUsageCount counts the LLM calls among RequestCount whose
	// usage is unknown (see SessionUsage).
	UnknownUsageCount int64 `json:"unknown_usage_count"`
	// SessionCount counts distinct sessions with spans in the window.
	SessionCount     int64   `json:"session_count"`
	TotalCost        float64 `json:"total_cost"`
	TotalCostNanoUSD int64   `json:"total_cost_nano_usd"`
	Tokens
	// GroupBy and Groups are present when the request had group_by.
	GroupBy Grouping     `json:"group_by,omitempty"`
	Groups  []UsageGroup `json:"groups,omitempty"`
}

// Grouping is how a usage answer is split into groups (GroupBy).
type Grouping string

// The groupings of the usage endpoints.
const (
	// ByModel groups by model (response model, else request model).
	ByModel Grouping = "model"
	// ByUser and BySession group by user and session id.
	ByUser    Grouping = "user"
	BySession Grouping = "session"
	// ByHour and ByDay group by the UTC hour or day spans started in.
	ByHour Grouping = "hour"
	ByDay  Grouping = "day"
)

// Groupings lists every Grouping.
var Groupings = []Grouping{ByModel, ByUser, BySession, ByHour, ByDay}

// UsageGroup is one group of a grouped usage answer. The groups' token
// counts, request counts, costs and span counts add up exactly to the
// answer's totals.
//
// Time groups are listed in time order; the others by cost, most
// expensive first. At most limit groups are listed (default and most
// MaxLimit): the last one then has Other set and sums every group not
// listed.
type UsageGroup struct {
	// Key is the model, user id or session id ("" for spans without
	// one), or the start of the hour or day in RFC 3339 (UTC); "" for the
	// Other group.
	Key string `json:"key"`
	// Other marks the group folding the groups past the limit.
	Other        bool  `json:"other,omitempty"`
	TokenCount   int64 `json:"token_count"`
	RequestCount int64 `json:"request_count"`
	// UnknownUsageCount counts the LLM calls among RequestCount whose
	// usage is unknown, as in the totals.
	UnknownUsageCount int64 `json:"unknown_usage_count"`
	// SessionCount counts the group's distinct sessions (tenant usage
	// only; for the Other group an upper bound unless grouped by session).
	SessionCount     int64   `json:"session_count"`
	SpanCount        int64   `json:"span_count"`
	TotalCost        float64 `json:"total_cost"`
	TotalCostNanoUSD int64   `json:"total_cost_nano_usd"`
	Tokens
}

// TraceSummary is one trace in a list, and the answer of
// GET /v1/traces/{trace_id}. Name, status, times and previews come from the
// root span; until it arrives they are provisional (has_root false).
type TraceSummary struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	StartTime  time.Time `json:"start_time"`
	EndTime    time.Time `json:"end_time"`
	DurationMS float64   `json:"duration_ms"`
	// Status is StatusOK or StatusError.
	Status     Status   `json:"status"`
	HasRoot    bool     `json:"has_root"`
	SpanCount  int64    `json:"span_count"`
	ErrorCount int64    `json:"error_count"`
	Models     []string `json:"models"`
	// Input and Output are previews (at most 1 KiB) of the root's input
	// and output.
	Input        string `json:"input"`
	Output       string `json:"output"`
	TotalTokens  int64  `json:"total_tokens"`
	RequestCount int64  `json:"request_count"`
	Tokens
	TotalCost        float64  `json:"total_cost"`
	TotalCostNanoUSD int64    `json:"total_cost_nano_usd"`
	SessionID        string   `json:"session_id"`
	UserID           string   `json:"user_id"`
	TenantID         string   `json:"tenant_id"`
	Environment      string   `json:"environment"`
	Tags             []string `json:"tags"`
	// Scores aggregate the trace's scores (trace.Client.Score,
	// Trace.Feedback) by name, in name order. Only GET /v1/traces/{id}
	// carries them; lists leave them out.
	Scores []Score `json:"scores,omitempty"`
	// Tenants lists the tenants with spans in the trace when more than
	// one has and the summary is of all of them (an unscoped key without
	// a tenant); else it is absent. Each tenant's own summary counts its
	// spans alone.
	Tenants []string `json:"tenants,omitempty"`
}

// Score is the aggregate of the values a trace was scored with under one
// name: how many, their mean, minimum and maximum, and the latest one.
type Score struct {
	Name  string  `json:"name"`
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Last  float64 `json:"last"`
}

// TracesPage answers GET /v1/traces.
//
// Traces are listed in the sort order whatever the direction. NextCursor
// continues in the direction asked for (pass it back with the same
// direction) and HasNextPage tells whether anything lies that way;
// PrevCursor goes the other way (pass it with the opposite direction).
type TracesPage struct {
	Traces      []TraceSummary `json:"traces"`
	HasNextPage bool           `json:"has_next_page"`
	NextCursor  string         `json:"next_cursor,omitempty"`
	PrevCursor  string         `json:"prev_cursor,omitempty"`
	// TotalCount is present with include_total=true.
	TotalCount *int64 `json:"total_count,omitempty"`
	// TotalCountCapped is true when more traces match than the server
	// counts (10,000): TotalCount is then that cap.
	TotalCountCapped bool `json:"total_count_capped,omitempty"`
}

// Span is one span in a page.
type Span struct {
	ID       string `json:"id"`
	ParentID string `json:"parent_id"`
	TraceID  string `json:"trace_id"`
	Name     string `json:"name"`
	// Type is the agenttrace span type (trace, llm, tool, task,
	// retrieval, span or custom); Kind the OTel span kind.
	Type      string    `json:"type"`
	Kind      string    `json:"kind"`
	StartTime time.Time `json:"start_time"`
	EndTime   time.Time `json:"end_time"`
	LatencyMS float64   `json:"latency_ms"`
	// Status is StatusOK (ok or unset) or StatusError.
	Status        Status `json:"status"`
	StatusMessage string `json:"status_message,omitempty"`
	// Model is the response model, else the request model.
	Model         string `json:"model"`
	RequestModel  string `json:"request_model"`
	Provider      string `json:"provider"`
	Operation     string `json:"operation"`
	PromptSlug    string `json:"prompt_slug"`
	PromptVersion string `json:"prompt_version"`
	TotalTokens   int64  `json:"total_tokens"`
	Tokens
	Cost        float64 `json:"cost"`
	CostNanoUSD int64   `json:"cost_nano_usd"`
	CostSource  string  `json:"cost_source"`
	// PriceTableVersion is the price table a computed cost came from.
	PriceTableVersion string   `json:"price_table_version,omitempty"`
	SessionID         string   `json:"session_id"`
	UserID            string   `json:"user_id"`
	TenantID          string   `json:"tenant_id"`
	ConversationID    string   `json:"conversation_id"`
	Environment       string   `json:"environment"`
	ServiceName       string   `json:"service_name"`
	Tags              []string `json:"tags"`
	// Attributes and ResourceAttributes are JSON objects of the span's and
	// its resource's OTLP attributes (arrays and maps nested, bytes as
	// base64).
	Attributes         json.RawMessage `json:"attributes"`
	ResourceAttributes json.RawMessage `json:"resource_attributes"`
	Events             []Event         `json:"events"`
}

// Event is a span event.
type Event struct {
	Name       string          `json:"name"`
	Time       time.Time       `json:"time"`
	Attributes json.RawMessage `json:"attributes"`
}

// SpansPage answers GET /v1/traces/{trace_id}/spans (start time order) and
// GET /v1/spans (newest first). Cursors work as in TracesPage.
type SpansPage struct {
	Spans       []Span `json:"spans"`
	HasNextPage bool   `json:"has_next_page"`
	NextCursor  string `json:"next_cursor,omitempty"`
	PrevCursor  string `json:"prev_cursor,omitempty"`
}
