// Package wire holds what the agenttrace server and the usage client share
// on the wire besides the response types (which are usage's): the API's
// paths, query parameter names, error codes and error body. It is not for
// users: package usage is the client's manual.
package wire

// Paths of the server's HTTP API. Paths with an {id} take it as the last
// (or, for spans of a trace, the middle) path segment, path-escaped.
const (
	// PathTraces is POST for OTLP/HTTP ingest and GET to list traces.
	PathTraces = "/v1/traces"
	// PathTrace is the prefix of GET /v1/traces/{trace_id} and of
	// GET /v1/traces/{trace_id}/spans.
	PathTrace = "/v1/traces/"
	// PathSpans lists spans across traces.
	PathSpans = "/v1/spans"
	// PathSessionUsage is the prefix of GET /v1/usage/sessions/{session_id}.
	PathSessionUsage = "/v1/usage/sessions/"
	// PathTenantUsage is the prefix of GET /v1/usage/tenants/{tenant_id}.
	PathTenantUsage = "/v1/usage/tenants/"
	// PathHealth answers 200 {"status":"ok"} without authentication.
	PathHealth = "/healthz"
)

// Query parameter names.
const (
	// ParamStartTime and ParamEndTime bound a window: RFC 3339 times,
	// start inclusive, end exclusive. Required on usage and trace lists,
	// optional on span lists.
	ParamStartTime = "start_time"
	ParamEndTime   = "end_time"
	ParamTenantID  = "tenant_id"
	ParamUserID    = "user_id"
	ParamSessionID = "session_id"
	// ParamEnvironment filters on deployment.environment.name.
	ParamEnvironment = "environment"
	// ParamName filters traces by root span name and spans by span name.
	ParamName = "name"
	// ParamStatus is "ok" (ok or unset) or "error".
	ParamStatus = "status"
	// ParamTags is a comma-separated list; every tag must be present.
	ParamTags = "tags"
	// ParamLimit is the page size, 1 to usage.MaxLimit, default usage.DefaultLimit.
	// On the usage endpoints with ParamGroupBy it bounds the groups
	// listed, default usage.MaxLimit.
	ParamLimit = "limit"
	// ParamCursor is an opaque cursor from a previous page. It is bound to
	// the filters and sort it was made with; reusing it with others is a
	// 400.
	ParamCursor = "cursor"
	// ParamDirection is "down" (default) or "up".
	ParamDirection = "direction"
	// ParamSortField is a usage.SortField; default start_time.
	ParamSortField = "sort_field"
	// ParamSortOrder is "asc" or "desc"; default "desc".
	ParamSortOrder = "sort_order"
	// ParamOffset skips that many traces (after the cursor, if any).
	ParamOffset = "offset"
	// ParamIncludeTotal=true adds total_count to a traces page.
	ParamIncludeTotal = "include_total"
	// ParamSpanName filters the spans of one trace by name.
	ParamSpanName = "span_name"
	// ParamType filters spans by agenttrace span type (llm, tool, ...).
	ParamType = "type"
	// ParamModel matches a span's request or response model.
	ParamModel = "model"
	// ParamPromptSlug filters spans by agenttrace.prompt.slug.
	ParamPromptSlug = "prompt_slug"
	// ParamGroupBy splits a usage answer into groups: a usage.Grouping.
	ParamGroupBy = "group_by"
)

// ErrorBody is the body of every error answer:
// {"error":{"code":"invalid_argument","message":"..."}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of an ErrorBody. Param names the offending
// query parameter of a 400, when there is one.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
}

// Error codes and their HTTP statuses.
const (
	CodeInvalidArgument   = "invalid_argument"   // 400
	CodeUnauthenticated   = "unauthenticated"    // 401
	CodePermissionDenied  = "permission_denied"  // 403
	CodeNotFound          = "not_found"          // 404
	CodeMethodNotAllowed  = "method_not_allowed" // 405
	CodeTooLarge          = "payload_too_large"  // 413
	CodeUnsupportedMedia  = "unsupported_media"  // 415
	CodeResourceExhausted = "resource_exhausted" // 429: busy, retry after Retry-After
	CodeUnavailable       = "unavailable"        // 503
	CodeDeadlineExceeded  = "deadline_exceeded"  // 503: the request ran past the server's query timeout
	CodeInternal          = "internal"           // 500
)
