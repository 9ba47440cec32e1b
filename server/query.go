package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agenttrace/agenttrace/internal/wire"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/usage"
)

// scopeTenant applies a tenant-scoped key to a tenant filter: empty becomes
// the key's tenant, another tenant is a 403.
func scopeTenant(p principal, given string) (string, error) {
	if p.tenant == "" {
		return given, nil
	}
	if given != "" && given != p.tenant {
		return "", errorf(http.StatusForbidden, wire.CodePermissionDenied,
			"the API key is scoped to tenant %q and cannot read tenant %q", p.tenant, given)
	}
	return p.tenant, nil
}

// storeErr maps a store error on a read to an API error.
func storeErr(err error) error {
	var mixed *store.MixedTenantsError
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, wire.CodeNotFound, "%v", err)
	case errors.Is(err, store.ErrInvalidQuery):
		return errorf(http.StatusBadRequest, wire.CodeInvalidArgument, "%v", err)
	case errors.Is(err, store.ErrClosed):
		return errorf(http.StatusServiceUnavailable, wire.CodeUnavailable, "the store is closed")
	case errors.As(err, &mixed):
		return badParam(wire.ParamTenantID, "session %q is used by %d tenants (%s): a session's usage never mixes tenants, name one with %s",
			mixed.SessionID, len(mixed.Tenants), strings.Join(quoteAll(mixed.Tenants), ", "), wire.ParamTenantID)
	}
	return err
}

func usd(nano int64) float64 { return float64(nano) / 1e9 }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func wireTokens(t store.Tokens) usage.Tokens {
	return usage.Tokens{InputTokens: t.InputTokens, OutputTokens: t.OutputTokens, CacheReadTokens: t.CacheReadTokens,
		CacheCreationTokens: t.CacheCreationTokens, ReasoningTokens: t.ReasoningTokens}
}

func wireStatus(s store.Status) usage.Status {
	if s == store.StatusError {
		return usage.StatusError
	}
	return usage.StatusOK
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func wireTrace(t *store.TraceSummary) usage.TraceSummary {
	return usage.TraceSummary{
		ID: t.TraceID, Name: t.Name, StartTime: t.Start, EndTime: t.End, DurationMS: ms(t.Duration),
		Status: wireStatus(t.Status), HasRoot: t.HasRoot, SpanCount: t.SpanCount, ErrorCount: t.ErrorCount,
		Models: nonNil(t.Models), Input: t.Input, Output: t.Output, TotalTokens: t.TotalTokens,
		RequestCount: t.Requests, Tokens: wireTokens(t.Tokens), TotalCost: usd(t.CostNanoUSD),
		TotalCostNanoUSD: t.CostNanoUSD, SessionID: t.SessionID, UserID: t.UserID, TenantID: t.TenantID,
		Environment: t.Environment, Tags: nonNil(t.Tags), Scores: wireScores(t.Scores), Tenants: t.Tenants,
	}
}

func wireScores(sc []store.Score) []usage.Score {
	if len(sc) == 0 {
		return nil
	}
	out := make([]usage.Score, len(sc))
	for i, s := range sc {
		out[i] = usage.Score{Name: s.Name, Count: s.Count, Mean: s.Mean, Min: s.Min, Max: s.Max, Last: s.Last}
	}
	return out
}

func rawOr(b json.RawMessage, empty string) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage(empty)
	}
	return b
}

func wireSpan(sp *store.Span) (usage.Span, error) {
	events := []usage.Event{}
	if len(sp.Events) > 0 {
		if err := json.Unmarshal(sp.Events, &events); err != nil {
			return usage.Span{}, err
		}
	}
	return usage.Span{
		ID: sp.SpanID, ParentID: sp.ParentID, TraceID: sp.TraceID, Name: sp.Name, Type: sp.Type, Kind: sp.Kind,
		StartTime: sp.Start, EndTime: sp.End, LatencyMS: ms(max(0, sp.End.Sub(sp.Start))),
		Status: wireStatus(sp.Status), StatusMessage: sp.StatusMessage, Model: sp.Model(), RequestModel: sp.RequestModel,
		Provider: sp.Provider, Operation: sp.Operation, PromptSlug: sp.PromptSlug, PromptVersion: sp.PromptVersion,
		TotalTokens: sp.TotalTokens, Tokens: wireTokens(sp.Tokens), Cost: usd(sp.CostNanoUSD), CostNanoUSD: sp.CostNanoUSD,
		CostSource: sp.CostSource, PriceTableVersion: sp.PriceTableVersion, SessionID: sp.SessionID, UserID: sp.UserID, TenantID: sp.TenantID,
		ConversationID: sp.ConversationID, Environment: sp.Environment, ServiceName: sp.ServiceName,
		Tags: nonNil(sp.Tags), Attributes: rawOr(sp.Attributes, "{}"), ResourceAttributes: rawOr(sp.Resource, "{}"),
		Events: events,
	}, nil
}

// quoteAll quotes each string.
func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// usageQuery parses the window and grouping of a usage endpoint, and the
// tenant (extra, for session usage).
func usageQuery(rawQuery string, extra ...string) (store.UsageQuery, params, error) {
	p, err := parseParams(rawQuery, append([]string{wire.ParamStartTime, wire.ParamEndTime, wire.ParamGroupBy, wire.ParamLimit}, extra...)...)
	if err != nil {
		return store.UsageQuery{}, p, err
	}
	q, err := usageWindow(p)
	return q, p, err
}

func usageWindow(p params) (store.UsageQuery, error) {
	var q store.UsageQuery
	var err error
	if q.Start, q.End, err = p.window(true); err != nil {
		return q, err
	}
	q.GroupBy, q.GroupLimit, err = groupParams(p)
	return q, err
}

func (s *Server) handleSessionUsage(w http.ResponseWriter, r *http.Request, p principal) error {
	id, err := pathString(r, "session_id")
	if err != nil {
		return err
	}
	q, ps, err := usageQuery(r.URL.RawQuery, wire.ParamTenantID)
	if err != nil {
		return err
	}
	// A session belongs to a tenant: a tenant key sees only its own
	// tenant's spans of the session; an unscoped key names the tenant
	// when the session id is used by several (else a 400 names them).
	q.SessionID = id
	if q.TenantID, err = scopeTenant(p, ps.str(wire.ParamTenantID)); err != nil {
		return err
	}
	u, groups, err := s.sumUsage(r.Context(), q, s.st.SessionUsage)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, usage.SessionUsage{
		SessionID: id, StartTime: q.Start, EndTime: q.End, TokenCount: u.TokenCount(), RequestCount: u.Requests, UnknownUsageCount: u.UnknownUsage,
		TotalCost: usd(u.CostNanoUSD), TotalCostNanoUSD: u.CostNanoUSD, Tokens: wireTokens(u.Tokens),
		GroupBy: usage.Grouping(q.GroupBy), Groups: groups,
	})
	return nil
}

func (s *Server) handleTenantUsage(w http.ResponseWriter, r *http.Request, p principal) error {
	id, err := pathString(r, "tenant_id")
	if err != nil {
		return err
	}
	if _, err := scopeTenant(p, id); err != nil {
		return err
	}
	q, _, err := usageQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	q.TenantID = id
	u, groups, err := s.sumUsage(r.Context(), q, s.st.TenantUsage)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, usage.TenantUsage{
		TenantID: id, OrganisationID: s.org, StartTime: q.Start, EndTime: q.End, TokenCount: u.TokenCount(),
		RequestCount: u.Requests, UnknownUsageCount: u.UnknownUsage, SessionCount: u.Sessions, TotalCost: usd(u.CostNanoUSD),
		TotalCostNanoUSD: u.CostNanoUSD, Tokens: wireTokens(u.Tokens),
		GroupBy: usage.Grouping(q.GroupBy), Groups: groups,
	})
	return nil
}

// tracesQuery parses GET /v1/traces parameters for principal p. It returns
// the store query and the filter hash cursors are bound to.
func tracesQuery(rawQuery string, p principal) (store.TraceQuery, string, error) {
	var q store.TraceQuery
	ps, err := parseParams(rawQuery, wire.ParamStartTime, wire.ParamEndTime, wire.ParamTenantID, wire.ParamUserID,
		wire.ParamSessionID, wire.ParamEnvironment, wire.ParamName, wire.ParamStatus, wire.ParamTags,
		wire.ParamLimit, wire.ParamCursor, wire.ParamDirection, wire.ParamSortField, wire.ParamSortOrder,
		wire.ParamOffset, wire.ParamIncludeTotal)
	if err != nil {
		return q, "", err
	}
	if q.Start, q.End, err = ps.window(true); err != nil {
		return q, "", err
	}
	q.UserID, q.SessionID = ps.str(wire.ParamUserID), ps.str(wire.ParamSessionID)
	q.Environment, q.Name = ps.str(wire.ParamEnvironment), ps.str(wire.ParamName)
	if q.Status, err = ps.status(); err != nil {
		return q, "", err
	}
	if q.Tags, err = ps.tags(); err != nil {
		return q, "", err
	}
	if q.Limit, err = ps.limit(); err != nil {
		return q, "", err
	}
	if q.Offset, err = ps.offset(); err != nil {
		return q, "", err
	}
	if q.IncludeTotal, err = ps.boolean(wire.ParamIncludeTotal); err != nil {
		return q, "", err
	}
	if q.Direction, err = ps.direction(); err != nil {
		return q, "", err
	}
	if q.SortField, q.SortOrder, err = ps.sort(); err != nil {
		return q, "", err
	}
	if q.TenantID, err = scopeTenant(p, ps.str(wire.ParamTenantID)); err != nil {
		return q, "", err
	}
	kv := []string{timeKey(q.Start), timeKey(q.End), q.TenantID, q.UserID, q.SessionID, q.Environment, q.Name,
		q.Status.String(), string(q.SortField), string(q.SortOrder)}
	hash := filterHash("traces", append(kv, q.Tags...)...)
	if q.Cursor, err = decodeCursor(ps.str(wire.ParamCursor), hash); err != nil {
		return q, "", err
	}
	return q, hash, nil
}

// pageCursors returns the cursors of a page whose first and last items are
// at first and last: next continues in dir, prev goes back.
func pageCursors(hash string, dir store.Direction, first, last store.Position) (next, prev string) {
	if dir == store.Up {
		first, last = last, first
	}
	return encodeCursor(hash, last), encodeCursor(hash, first)
}

func (s *Server) handleListTraces(w http.ResponseWriter, r *http.Request, p principal) error {
	q, hash, err := tracesQuery(r.URL.RawQuery, p)
	if err != nil {
		return err
	}
	if err := s.checkWindow(q.Start, q.End); err != nil {
		return err
	}
	page, err := s.st.ListTraces(r.Context(), q)
	if err != nil {
		return storeErr(err)
	}
	out := usage.TracesPage{Traces: make([]usage.TraceSummary, len(page.Traces)), HasNextPage: page.HasMore}
	for i := range page.Traces {
		out.Traces[i] = wireTrace(&page.Traces[i])
	}
	if n := len(page.Traces); n > 0 {
		out.NextCursor, out.PrevCursor = pageCursors(hash, q.Direction,
			page.Traces[0].Position(q.SortField), page.Traces[n-1].Position(q.SortField))
	}
	if q.IncludeTotal {
		out.TotalCount, out.TotalCountCapped = &page.Total, page.TotalCapped
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// traceFor fetches the summary of a trace as tenant sees it (its own
// spans alone; "" for an unscoped key without tenant_id: every span). A
// trace of which the tenant has no span is not found, exactly like an
// unknown one.
func (s *Server) traceFor(ctx context.Context, id, tenant string) (store.TraceSummary, error) {
	tr, err := s.st.GetTrace(ctx, id, tenant)
	if err != nil {
		return tr, storeErr(err)
	}
	return tr, nil
}

func (s *Server) handleGetTrace(w http.ResponseWriter, r *http.Request, p principal) error {
	id, err := pathTraceID(r)
	if err != nil {
		return err
	}
	ps, err := parseParams(r.URL.RawQuery, wire.ParamTenantID)
	if err != nil {
		return err
	}
	tenant, err := scopeTenant(p, ps.str(wire.ParamTenantID))
	if err != nil {
		return err
	}
	tr, err := s.traceFor(r.Context(), id, tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireTrace(&tr))
	return nil
}

// traceSpansQuery parses GET /v1/traces/{trace_id}/spans parameters.
func traceSpansQuery(traceID, rawQuery string, p principal) (store.TraceSpansQuery, string, error) {
	q := store.TraceSpansQuery{TraceID: traceID}
	ps, err := parseParams(rawQuery, wire.ParamCursor, wire.ParamDirection, wire.ParamLimit, wire.ParamSpanName, wire.ParamTenantID)
	if err != nil {
		return q, "", err
	}
	if q.TenantID, err = scopeTenant(p, ps.str(wire.ParamTenantID)); err != nil {
		return q, "", err
	}
	q.SpanName = ps.str(wire.ParamSpanName)
	if q.Limit, err = ps.limit(); err != nil {
		return q, "", err
	}
	if q.Direction, err = ps.direction(); err != nil {
		return q, "", err
	}
	hash := filterHash("trace_spans", traceID, q.TenantID, q.SpanName)
	if q.Cursor, err = decodeCursor(ps.str(wire.ParamCursor), hash); err != nil {
		return q, "", err
	}
	if q.Cursor != nil && q.Cursor.SpanID == "" {
		return q, "", badParam(wire.ParamCursor, "malformed cursor position")
	}
	return q, hash, nil
}

func (s *Server) writeSpans(w http.ResponseWriter, page store.SpanPage, hash string, dir store.Direction) error {
	out := usage.SpansPage{Spans: make([]usage.Span, len(page.Spans)), HasNextPage: page.HasMore}
	for i := range page.Spans {
		sp, err := wireSpan(&page.Spans[i])
		if err != nil {
			return err
		}
		out.Spans[i] = sp
	}
	if n := len(page.Spans); n > 0 {
		out.NextCursor, out.PrevCursor = pageCursors(hash, dir, page.Spans[0].Position(), page.Spans[n-1].Position())
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleTraceSpans(w http.ResponseWriter, r *http.Request, p principal) error {
	id, err := pathTraceID(r)
	if err != nil {
		return err
	}
	q, hash, err := traceSpansQuery(id, r.URL.RawQuery, p)
	if err != nil {
		return err
	}
	if _, err := s.traceFor(r.Context(), id, q.TenantID); err != nil {
		return err
	}
	page, err := s.st.ListSpansByTrace(r.Context(), q)
	if err != nil {
		return storeErr(err)
	}
	return s.writeSpans(w, page, hash, q.Direction)
}

// spansQuery parses GET /v1/spans parameters.
func spansQuery(rawQuery string, p principal) (store.SpanQuery, string, error) {
	var q store.SpanQuery
	ps, err := parseParams(rawQuery, wire.ParamStartTime, wire.ParamEndTime, wire.ParamStatus, wire.ParamType,
		wire.ParamTenantID, wire.ParamUserID, wire.ParamSessionID, wire.ParamModel, wire.ParamPromptSlug,
		wire.ParamTags, wire.ParamName, wire.ParamLimit, wire.ParamCursor, wire.ParamDirection)
	if err != nil {
		return q, "", err
	}
	if q.Start, q.End, err = ps.window(false); err != nil {
		return q, "", err
	}
	if q.Status, err = ps.status(); err != nil {
		return q, "", err
	}
	if q.Tags, err = ps.tags(); err != nil {
		return q, "", err
	}
	if q.Limit, err = ps.limit(); err != nil {
		return q, "", err
	}
	if q.Direction, err = ps.direction(); err != nil {
		return q, "", err
	}
	if q.TenantID, err = scopeTenant(p, ps.str(wire.ParamTenantID)); err != nil {
		return q, "", err
	}
	q.Type, q.UserID, q.SessionID = ps.str(wire.ParamType), ps.str(wire.ParamUserID), ps.str(wire.ParamSessionID)
	q.Model, q.PromptSlug, q.Name = ps.str(wire.ParamModel), ps.str(wire.ParamPromptSlug), ps.str(wire.ParamName)
	kv := []string{timeKey(q.Start), timeKey(q.End), q.Status.String(), q.Type, q.TenantID, q.UserID, q.SessionID,
		q.Model, q.PromptSlug, q.Name}
	hash := filterHash("spans", append(kv, q.Tags...)...)
	if q.Cursor, err = decodeCursor(ps.str(wire.ParamCursor), hash); err != nil {
		return q, "", err
	}
	if q.Cursor != nil && q.Cursor.SpanID == "" {
		return q, "", badParam(wire.ParamCursor, "malformed cursor position")
	}
	return q, hash, nil
}

func (s *Server) handleListSpans(w http.ResponseWriter, r *http.Request, p principal) error {
	q, hash, err := spansQuery(r.URL.RawQuery, p)
	if err != nil {
		return err
	}
	// The cursor's hash is of the window as given: an absent end moves
	// with the clock.
	if q.Start, q.End, err = s.spansWindow(q.Start, q.End); err != nil {
		return err
	}
	page, err := s.st.ListSpans(r.Context(), q)
	if err != nil {
		return storeErr(err)
	}
	return s.writeSpans(w, page, hash, q.Direction)
}
