package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agenttrace/agenttrace/store/internal/check"
	"github.com/agenttrace/agenttrace/store/internal/rollup"
	"github.com/agenttrace/agenttrace/store/internal/summary"

	"github.com/jackc/pgx/v5"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/store"
)

// args numbers query arguments ($1, $2, ...).
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// Sums are taken in numeric (SUM of bigint is numeric in PostgreSQL, so it
// cannot overflow) and pinned at 2^63-1 at the end: exact whenever the
// total fits in an int64, never an error.
const maxBig = "9223372036854775807"

func clamp(expr string) string {
	return "least(coalesce(" + expr + ", 0), " + maxBig + ")::bigint"
}

const (
	usageCols       = `i, o, cr, cc, r, q, c, n, u`
	rollupSumSelect = `SELECT SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_creation_tokens),
		SUM(reasoning_tokens), SUM(requests), SUM(cost_nano), SUM(spans), SUM(unknown_usage) FROM `
	rawSumSelect = `SELECT SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_creation_tokens),
		SUM(reasoning_tokens), SUM((llm <> 0)::int), SUM(cost_nano), COUNT(*)::numeric, SUM((llm = 2)::int) FROM spans WHERE `
)

func totalSelect() string {
	parts := make([]string, 0, 9)
	for _, c := range strings.Split(usageCols, ", ") {
		parts = append(parts, clamp("SUM("+c+")"))
	}
	return "SELECT " + strings.Join(parts, ", ")
}

// usageSQL builds the one statement (one snapshot) summing a usage window:
// cond(a) returns the condition on the key columns, shared by the rollup
// table and the spans.
func usageSQL(w rollup.Window, a *args, rollupTable string, rollupCond, rawCond func(*args) string) string {
	var parts []string
	if w.H0 < w.H1 {
		parts = append(parts, rollupSumSelect+rollupTable+" WHERE "+rollupCond(a)+" AND hour >= "+a.add(w.H0)+" AND hour < "+a.add(w.H1))
	}
	for _, e := range w.Edges {
		parts = append(parts, rawSumSelect+rawCond(a)+" AND start_ns >= "+a.add(e[0])+" AND start_ns < "+a.add(e[1]))
	}
	return totalSelect() + " FROM (" + strings.Join(parts, " UNION ALL ") + ") AS p(" + usageCols + ")"
}

func usageDest(u *store.Usage) []any {
	return []any{&u.InputTokens, &u.OutputTokens, &u.CacheReadTokens, &u.CacheCreationTokens,
		&u.ReasoningTokens, &u.Requests, &u.CostNanoUSD, &u.Spans, &u.UnknownUsage}
}

// sessionConds returns the conditions selecting a session's rollups and
// spans (of one tenant when tenant is set).
func sessionConds(session, tenant string) (rollup, raw func(*args) string) {
	rollup = func(a *args) string {
		c := "session_id = " + a.add(session)
		if tenant != "" {
			c += " AND tenant_id = " + a.add(tenant)
		}
		return c
	}
	raw = func(a *args) string {
		c := "session_id = " + a.add(session) + " AND session_id <> ''"
		if tenant != "" {
			c += " AND tenant_id = " + a.add(tenant)
		}
		return c
	}
	return rollup, raw
}

func tenantConds(tenant string) (rollup, raw func(*args) string) {
	return func(a *args) string { return "tenant_id = " + a.add(tenant) },
		func(a *args) string { return "tenant_id = " + a.add(tenant) + " AND tenant_id <> ''" }
}

// SessionUsage implements store.Store.
func (s *Store) SessionUsage(ctx context.Context, q store.UsageQuery) (store.Usage, error) {
	if err := check.UsageWindow(q); err != nil {
		return store.Usage{}, err
	}
	if q.SessionID == "" {
		return store.Usage{}, nil
	}
	w := rollup.SplitWindow(q.Start.UnixNano(), q.End.UnixNano())
	var a args
	hours, raw := sessionConds(q.SessionID, q.TenantID)
	query := usageSQL(w, &a, "usage_session_hour", hours, raw)
	var u store.Usage
	dest := usageDest(&u)
	var tenants []string
	if q.TenantID == "" {
		// The session's tenants in the window, in the same statement
		// (one round trip, one snapshot).
		query = `SELECT * FROM (` + query + `) AS u, (SELECT array(` + tenantsSQL(q.SessionID, w, &a) + `)) AS t`
		dest = append(dest, &tenants)
	}
	if err := s.pool.QueryRow(ctx, query, a...).Scan(dest...); err != nil {
		return store.Usage{}, fmt.Errorf("postgres: session usage: %w", s.mapErr(err))
	}
	if len(tenants) > 1 {
		return store.Usage{}, &store.MixedTenantsError{SessionID: q.SessionID, Tenants: tenants}
	}
	return u, nil
}

// tenantsSQL selects the distinct tenants of a session's spans in a
// window, sorted (rollup cells a repair emptied count no spans, and no
// tenant).
func tenantsSQL(session string, w rollup.Window, a *args) string {
	var parts []string
	if w.H0 < w.H1 {
		parts = append(parts, `SELECT tenant_id FROM usage_session_hour WHERE session_id = `+a.add(session)+
			` AND hour >= `+a.add(w.H0)+` AND hour < `+a.add(w.H1)+` AND spans > 0`)
	}
	for _, e := range w.Edges {
		parts = append(parts, `SELECT tenant_id FROM spans WHERE session_id = `+a.add(session)+
			` AND session_id <> '' AND start_ns >= `+a.add(e[0])+` AND start_ns < `+a.add(e[1]))
	}
	return `SELECT DISTINCT tenant_id FROM (` + strings.Join(parts, " UNION ALL ") + `) AS x ORDER BY tenant_id LIMIT 100`
}

// oneTenant checks that a session usage sum without a tenant covers one
// tenant's spans, else it returns a *store.MixedTenantsError.
func (s *Store) oneTenant(ctx context.Context, q store.UsageQuery) error {
	if q.TenantID != "" {
		return nil
	}
	var a args
	rows, err := s.pool.Query(ctx, tenantsSQL(q.SessionID, rollup.SplitWindow(q.Start.UnixNano(), q.End.UnixNano()), &a), a...)
	if err != nil {
		return fmt.Errorf("postgres: session tenants: %w", s.mapErr(err))
	}
	tenants, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("postgres: session tenants: %w", s.mapErr(err))
	}
	if len(tenants) > 1 {
		return &store.MixedTenantsError{SessionID: q.SessionID, Tenants: tenants}
	}
	return nil
}

// TenantUsage implements store.Store.
func (s *Store) TenantUsage(ctx context.Context, q store.UsageQuery) (store.Usage, error) {
	if err := check.UsageWindow(q); err != nil {
		return store.Usage{}, err
	}
	if q.TenantID == "" {
		return store.Usage{}, nil
	}
	w := rollup.SplitWindow(q.Start.UnixNano(), q.End.UnixNano())
	var a args
	rollup, raw := tenantConds(q.TenantID)
	sums := usageSQL(w, &a, "usage_tenant_hour", rollup, raw)
	var parts []string
	if w.H0 < w.H1 {
		parts = append(parts, `SELECT session_id FROM tenant_session_hour WHERE tenant_id = `+a.add(q.TenantID)+
			` AND hour >= `+a.add(w.H0)+` AND hour < `+a.add(w.H1))
	}
	for _, e := range w.Edges {
		parts = append(parts, `SELECT session_id FROM spans WHERE tenant_id = `+a.add(q.TenantID)+` AND tenant_id <> '' AND start_ns >= `+
			a.add(e[0])+` AND start_ns < `+a.add(e[1])+` AND session_id <> ''`)
	}
	query := `SELECT * FROM (` + sums + `) AS t, (SELECT COUNT(DISTINCT session_id) FROM (` + strings.Join(parts, " UNION ALL ") + `) AS x) AS d`
	var u store.Usage
	if err := s.pool.QueryRow(ctx, query, a...).Scan(append(usageDest(&u), &u.Sessions)...); err != nil {
		return store.Usage{}, fmt.Errorf("postgres: tenant usage: %w", s.mapErr(err))
	}
	return u, nil
}

// GetTrace implements store.Store.
func (s *Store) GetTrace(ctx context.Context, traceID, tenantID string) (store.TraceSummary, error) {
	var rows pgx.Rows
	var err error
	if tenantID != "" {
		rows, err = s.pool.Query(ctx, `SELECT `+traceCols+`, '' FROM traces WHERE trace_id = $1 AND tenant_id = $2`, traceID, tenantID)
	} else {
		// Every tenant's summary, and the trace's tenant, in one snapshot.
		rows, err = s.pool.Query(ctx, `SELECT `+traceCols+`, coalesce((SELECT tenant_id FROM trace_attrs WHERE trace_id = $1), '')
			FROM traces WHERE trace_id = $1 ORDER BY tenant_id`, traceID)
	}
	if err != nil {
		return store.TraceSummary{}, fmt.Errorf("postgres: get trace: %w", s.mapErr(err))
	}
	var parts []*summary.Row
	var tenant string
	err = func() error {
		defer rows.Close()
		for rows.Next() {
			r := &traceRow{}
			if err := r.scanWith(rows, &tenant); err != nil {
				return err
			}
			parts = append(parts, &r.Row)
		}
		return rows.Err()
	}()
	if err != nil {
		return store.TraceSummary{}, fmt.Errorf("postgres: get trace: %w", s.mapErr(err))
	}
	if len(parts) == 0 {
		return store.TraceSummary{}, fmt.Errorf("trace %s: %w", traceID, store.ErrNotFound)
	}
	row := parts[0]
	if tenantID == "" {
		row = summary.Fold(parts, tenant)
	}
	if row.Scores, err = s.traceScores(ctx, traceID, tenantID); err != nil {
		return store.TraceSummary{}, fmt.Errorf("postgres: get trace scores: %w", s.mapErr(err))
	}
	return row.TraceSummary, nil
}

// traceScoresSQL reads the name and value of a trace's score spans (a
// non-finite value is stored as a string and left out), of one tenant or
// (with ” for the tenant) of all.
var traceScoresSQL = `SELECT n ->> 0, (v ->> 0)::float8, start_ns FROM (SELECT
		jsonb_build_array(attributes::jsonb -> '` + string(attr.ScoreName) + `') AS n,
		jsonb_build_array(attributes::jsonb -> '` + string(attr.ScoreValue) + `') AS v, start_ns
	FROM spans WHERE trace_id = $1 AND type = '` + attr.TypeScore + `' AND ($2 = '' OR tenant_id = $2)) AS x
	WHERE jsonb_typeof(n -> 0) = 'string' AND jsonb_typeof(v -> 0) = 'number'`

func (s *Store) traceScores(ctx context.Context, traceID, tenantID string) ([]store.Score, error) {
	rows, err := s.pool.Query(ctx, traceScoresSQL, traceID, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var vals []store.ScoreValue
	for rows.Next() {
		var v store.ScoreValue
		var ns int64
		if err := rows.Scan(&v.Name, &v.Value, &ns); err != nil {
			return nil, err
		}
		v.Start = timeNS(ns)
		vals = append(vals, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return store.AggregateScores(vals), nil
}

// sortColumn maps sort fields to traces columns.
var sortColumn = map[store.SortField]string{
	store.SortStartTime:   "start_ns",
	store.SortDuration:    "duration_ns",
	store.SortTotalTokens: "total_tokens",
	store.SortTotalCost:   "cost_nano",
	store.SortName:        "name",
}

// custom returns a listing query's arguments to run it through the simple
// protocol, so that it is planned for its values every time. The store's
// connections run with plan_cache_mode=force_generic_plan (see Open), right
// for the fixed-shape key lookups of usage and ingest, whose custom plans
// cost more to plan on a partitioned table than to run; a listing's best
// plan depends on its values (how wide the window, how rare the tag).
func custom(a args) []any {
	return append([]any{pgx.QueryExecModeSimpleProtocol}, a...)
}

// where builds a conjunction of conditions with numbered arguments.
type where struct {
	conds []string
	a     args
}

func (w *where) add(cond string) { w.conds = append(w.conds, cond) }

func (w *where) eq(col, v string) {
	if v != "" {
		w.add(col + " = " + w.a.add(v))
	}
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

func traceWhere(f *store.TraceFilter, w *where) {
	if !f.Start.IsZero() {
		w.add("start_ns >= " + w.a.add(f.Start.UnixNano()))
	}
	if !f.End.IsZero() {
		w.add("start_ns < " + w.a.add(f.End.UnixNano()))
	}
	w.eq("tenant_id", f.TenantID)
	if f.UserID != "" {
		w.add("user_id = " + w.a.add(f.UserID) + " AND user_id <> ''")
	}
	if f.SessionID != "" {
		w.add("session_id = " + w.a.add(f.SessionID) + " AND session_id <> ''")
	}
	w.eq("environment", f.Environment)
	w.eq("name", f.Name)
	switch f.Status {
	case store.StatusError:
		w.add("status = 2")
	case store.StatusOK:
		w.add("status <> 2")
	}
	if tags := check.Tags(f.Tags); len(tags) > 0 {
		w.add("tags @> " + w.a.add(tags) + "::text[]")
	}
}

// spanTTL is how long the stored traces' time span is cached for
// wideWindow.
const spanTTL = 10 * time.Second

// wideWindow reports whether [start, end) covers at least a quarter of
// the time the stored traces span (zero times are open bounds): then
// walking a sort key's index and filtering beats collecting the window's
// traces and sorting them. The span is read at most every spanTTL.
func (s *Store) wideWindow(ctx context.Context, start, end time.Time) (bool, error) {
	s.smu.Lock()
	lo, hi, at := s.spanLo, s.spanHi, s.spanAt
	s.smu.Unlock()
	if time.Since(at) > spanTTL {
		var l, h *int64
		if err := s.pool.QueryRow(ctx, `SELECT min(start_ns), max(start_ns) FROM traces`).Scan(&l, &h); err != nil {
			return false, err
		}
		lo, hi = 0, 0
		if l != nil && h != nil {
			lo, hi = *l, *h
		}
		s.smu.Lock()
		s.spanLo, s.spanHi, s.spanAt = lo, hi, time.Now()
		s.smu.Unlock()
	}
	if hi <= lo {
		return true, nil
	}
	a, b := lo, hi
	if !start.IsZero() {
		a = max(a, start.UnixNano())
	}
	if !end.IsZero() {
		b = min(b, end.UnixNano())
	}
	return b > a && (b-a) >= (hi-lo)/4, nil
}

// ListTraces implements store.Store.
func (s *Store) ListTraces(ctx context.Context, q store.TraceQuery) (store.TracePage, error) {
	if q.SortField == "" {
		q.SortField = store.SortStartTime
	}
	if q.SortOrder == "" {
		q.SortOrder = store.Desc
	}
	col, ok := sortColumn[q.SortField]
	if !ok {
		return store.TracePage{}, fmt.Errorf("%w: sort field %q", store.ErrInvalidQuery, q.SortField)
	}
	if q.SortOrder != store.Asc && q.SortOrder != store.Desc {
		return store.TracePage{}, fmt.Errorf("%w: sort order %q", store.ErrInvalidQuery, q.SortOrder)
	}
	if q.Offset < 0 {
		return store.TracePage{}, fmt.Errorf("%w: negative offset", store.ErrInvalidQuery)
	}
	dir, limit, err := check.Page(q.Direction, q.Limit)
	if err != nil {
		return store.TracePage{}, err
	}
	page := store.TracePage{Total: -1}
	asc := (q.SortOrder == store.Asc) == (dir == store.Down)
	op, ord := ">", "ASC"
	if !asc {
		op, ord = "<", "DESC"
	}
	pw := &where{}
	traceWhere(&q.TraceFilter, pw)
	if c := q.Cursor; c != nil {
		var key any = c.Num
		if q.SortField == store.SortName {
			key = c.Str
		}
		pw.add("(" + col + ", trace_id, tenant_id) " + op + " (" + pw.a.add(key) + ", " + pw.a.add(c.TraceID) + ", " + pw.a.add(c.TenantID) + ")")
	}
	sortKey := col
	if q.SortField != store.SortStartTime {
		wide, err := s.wideWindow(ctx, q.Start, q.End)
		if err != nil {
			return store.TracePage{}, fmt.Errorf("postgres: list traces: %w", s.mapErr(err))
		}
		if !wide {
			// A narrow window: read its traces by the start index and
			// sort them. (Walking the sort key's index and filtering
			// on the window, which the planner may prefer, reads every
			// trace outside the window first when the key correlates
			// with time.) The expression hides the key's index.
			sortKey = "(" + col + " + 0)"
			if q.SortField == store.SortName {
				sortKey = "(" + col + " || '')"
			}
		}
	}
	query := `SELECT ` + traceCols + ` FROM traces` + pw.String() + ` ORDER BY ` + sortKey + ` ` + ord + `, trace_id ` + ord + `, tenant_id ` + ord +
		` LIMIT ` + pw.a.add(limit+1) + ` OFFSET ` + pw.a.add(q.Offset)
	err = func() error {
		rows, err := s.pool.Query(ctx, query, custom(pw.a)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r traceRow
			if err := r.scan(rows); err != nil {
				return err
			}
			page.Traces = append(page.Traces, r.TraceSummary)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if q.IncludeTotal {
			w := &where{}
			traceWhere(&q.TraceFilter, w)
			err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM traces`+w.String()+` LIMIT `+w.a.add(store.MaxTotal+1)+`) AS x`,
				custom(w.a)...).Scan(&page.Total)
			if page.Total > store.MaxTotal {
				page.Total, page.TotalCapped = store.MaxTotal, true
			}
			return err
		}
		return nil
	}()
	if err != nil {
		return store.TracePage{}, fmt.Errorf("postgres: list traces: %w", s.mapErr(err))
	}
	if len(page.Traces) > limit {
		page.Traces, page.HasMore = page.Traces[:limit], true
	}
	if dir == store.Up {
		slices.Reverse(page.Traces)
	}
	return page, nil
}

const spanReadCols = `trace_id, span_id, parent_id, name, kind, type, status, status_message, start_ns, end_ns,
	operation, request_model, response_model, provider, prompt_slug, prompt_version,
	input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens, total_tokens,
	cost_nano, cost_source, price_table_version, llm, session_id, user_id, tenant_id, conversation_id,
	environment, service_name, scope_name, tags, inherited, attributes, resource, events`

func scanSpan(rows pgx.Rows, sp *store.Span) error {
	var status, llm, inh int16
	var st, en int64
	var attrs, res, events string
	err := rows.Scan(&sp.TraceID, &sp.SpanID, &sp.ParentID, &sp.Name, &sp.Kind, &sp.Type, &status, &sp.StatusMessage, &st, &en,
		&sp.Operation, &sp.RequestModel, &sp.ResponseModel, &sp.Provider, &sp.PromptSlug, &sp.PromptVersion,
		&sp.InputTokens, &sp.OutputTokens, &sp.CacheReadTokens, &sp.CacheCreationTokens, &sp.ReasoningTokens, &sp.TotalTokens,
		&sp.CostNanoUSD, &sp.CostSource, &sp.PriceTableVersion, &llm, &sp.SessionID, &sp.UserID, &sp.TenantID, &sp.ConversationID,
		&sp.Environment, &sp.ServiceName, &sp.ScopeName, &sp.Tags, &inh, &attrs, &res, &events)
	if err != nil {
		return err
	}
	if len(sp.Tags) == 0 {
		sp.Tags = nil
	}
	sp.Status = store.Status(status)
	sp.Start, sp.End = timeNS(st), timeNS(en)
	sp.LLMRequest, sp.UsageUnknown = llm != llmNone, llm == llmUnknown
	sp.Inherited = store.Fields(inh)
	sp.Attributes, sp.Resource, sp.Events = []byte(attrs), []byte(res), []byte(events)
	return nil
}

func (s *Store) querySpans(ctx context.Context, query string, a args, limit int, up bool) (store.SpanPage, error) {
	var page store.SpanPage
	err := func() error {
		rows, err := s.pool.Query(ctx, query, custom(a)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var sp store.Span
			if err := scanSpan(rows, &sp); err != nil {
				return err
			}
			page.Spans = append(page.Spans, sp)
		}
		return rows.Err()
	}()
	if err != nil {
		return store.SpanPage{}, s.mapErr(err)
	}
	if len(page.Spans) > limit {
		page.Spans, page.HasMore = page.Spans[:limit], true
	}
	if up {
		slices.Reverse(page.Spans)
	}
	return page, nil
}

// ListSpansByTrace implements store.Store.
func (s *Store) ListSpansByTrace(ctx context.Context, q store.TraceSpansQuery) (store.SpanPage, error) {
	dir, limit, err := check.Page(q.Direction, q.Limit)
	if err != nil {
		return store.SpanPage{}, err
	}
	w := &where{}
	w.eq("trace_id", q.TraceID)
	if q.TraceID == "" {
		w.add("false")
	}
	w.eq("name", q.SpanName)
	w.eq("tenant_id", q.TenantID)
	op, ord := ">", "ASC"
	if dir == store.Up {
		op, ord = "<", "DESC"
	}
	if c := q.Cursor; c != nil {
		w.add("(start_ns, span_id) " + op + " (" + w.a.add(c.Num) + ", " + w.a.add(c.SpanID) + ")")
	}
	query := `SELECT ` + spanReadCols + ` FROM spans` + w.String() +
		` ORDER BY start_ns ` + ord + `, span_id ` + ord + ` LIMIT ` + w.a.add(limit+1)
	page, err := s.querySpans(ctx, query, w.a, limit, dir == store.Up)
	if err != nil {
		return store.SpanPage{}, fmt.Errorf("postgres: list spans of trace: %w", err)
	}
	return page, nil
}

// ListSpans implements store.Store.
func (s *Store) ListSpans(ctx context.Context, q store.SpanQuery) (store.SpanPage, error) {
	dir, limit, err := check.Page(q.Direction, q.Limit)
	if err != nil {
		return store.SpanPage{}, err
	}
	w := &where{}
	if !q.Start.IsZero() {
		w.add("start_ns >= " + w.a.add(q.Start.UnixNano()))
	}
	if !q.End.IsZero() {
		w.add("start_ns < " + w.a.add(q.End.UnixNano()))
	}
	switch q.Status {
	case store.StatusError:
		w.add("status = 2")
	case store.StatusOK:
		w.add("status <> 2")
	}
	w.eq("type", q.Type)
	if q.TenantID != "" {
		w.add("tenant_id = " + w.a.add(q.TenantID) + " AND tenant_id <> ''")
	}
	if q.SessionID != "" {
		w.add("session_id = " + w.a.add(q.SessionID) + " AND session_id <> ''")
	}
	w.eq("user_id", q.UserID)
	if q.Model != "" {
		m := w.a.add(q.Model)
		w.add("(request_model = " + m + " OR response_model = " + m + ")")
	}
	w.eq("prompt_slug", q.PromptSlug)
	w.eq("name", q.Name)
	if tags := check.Tags(q.Tags); len(tags) > 0 {
		w.add("tags @> " + w.a.add(tags) + "::text[]")
	}
	op, ord := "<", "DESC"
	if dir == store.Up {
		op, ord = ">", "ASC"
	}
	if c := q.Cursor; c != nil {
		w.add("(start_ns, trace_id, span_id) " + op + " (" + w.a.add(c.Num) + ", " + w.a.add(c.TraceID) + ", " + w.a.add(c.SpanID) + ")")
	}
	query := `SELECT ` + spanReadCols + ` FROM spans` + w.String() +
		` ORDER BY start_ns ` + ord + `, trace_id ` + ord + `, span_id ` + ord + ` LIMIT ` + w.a.add(limit+1)
	page, err := s.querySpans(ctx, query, w.a, limit, dir == store.Up)
	if err != nil {
		return store.SpanPage{}, fmt.Errorf("postgres: list spans: %w", err)
	}
	return page, nil
}

// GroupUsage implements store.Store.
func (s *Store) GroupUsage(ctx context.Context, q store.UsageQuery) (store.GroupedUsage, error) {
	if err := check.UsageWindow(q); err != nil {
		return store.GroupedUsage{}, err
	}
	if err := store.CheckGroupQuery(q); err != nil {
		return store.GroupedUsage{}, err
	}
	w := rollup.SplitWindow(q.Start.UnixNano(), q.End.UnixNano())
	var a args
	var query string
	switch {
	case q.SessionID != "":
		if err := s.oneTenant(ctx, q); err != nil {
			return store.GroupedUsage{}, err
		}
		rollup, raw := sessionConds(q.SessionID, q.TenantID)
		query = groupSQL(q.GroupBy, w, &a, "usage_session_hour", rollup, raw, "")
	case q.TenantID != "":
		rollup, raw := tenantConds(q.TenantID)
		query = groupSQL(q.GroupBy, w, &a, "usage_tenant_hour", rollup, raw, q.TenantID)
	default:
		return store.GroupedUsage{Groups: []store.UsageGroup{}}, nil
	}
	out, err := s.scanGroups(ctx, q.GroupBy, query, a)
	if err != nil {
		return store.GroupedUsage{}, fmt.Errorf("postgres: grouped usage: %w", s.mapErr(err))
	}
	out.Groups = store.FinishGroups(q.GroupBy, out.Groups, q.GroupLimit)
	return out, nil
}

func rawKey(g store.GroupBy) string {
	switch g {
	case store.GroupModel:
		return `CASE WHEN response_model <> '' THEN response_model ELSE request_model END`
	case store.GroupUser:
		return `user_id`
	case store.GroupSession:
		return `session_id`
	case store.GroupDay:
		return `(start_ns / ` + strconv.FormatInt(dayNS, 10) + `)::text`
	}
	return `(start_ns / ` + strconv.FormatInt(rollup.HourNS, 10) + `)::text`
}

func rollupKey(g store.GroupBy) string {
	if g == store.GroupDay {
		return `(hour / 24)::text`
	}
	return `hour::text`
}

// groupSQL builds the one statement of a grouped usage sum. Its rows are
// tagged: 0 a group's sums, 1 a group's distinct sessions, 2 the total
// with the window's distinct sessions (counted when tenant is set).
func groupSQL(g store.GroupBy, w rollup.Window, a *args, rollupTable string, rollupCond, rawCond func(*args) string, tenant string) string {
	var parts, sess []string
	if g.Temporal() && w.H0 < w.H1 {
		parts = append(parts, `SELECT `+rollupKey(g)+`, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens,
			reasoning_tokens, requests, cost_nano, spans, unknown_usage FROM `+rollupTable+` WHERE `+rollupCond(a)+
			` AND hour >= `+a.add(w.H0)+` AND hour < `+a.add(w.H1))
		if tenant != "" {
			sess = append(sess, `SELECT `+rollupKey(g)+`, session_id FROM tenant_session_hour WHERE tenant_id = `+a.add(tenant)+
				` AND hour >= `+a.add(w.H0)+` AND hour < `+a.add(w.H1))
		}
	}
	edges := w.Edges
	if !g.Temporal() {
		edges = [][2]int64{{w.Start, w.End}}
	}
	for _, e := range edges {
		parts = append(parts, `SELECT `+rawKey(g)+`, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens,
			reasoning_tokens, (llm <> 0)::int, cost_nano, 1, (llm = 2)::int FROM spans WHERE `+rawCond(a)+
			` AND start_ns >= `+a.add(e[0])+` AND start_ns < `+a.add(e[1]))
		if tenant != "" {
			sess = append(sess, `SELECT `+rawKey(g)+`, session_id FROM spans WHERE `+rawCond(a)+
				` AND start_ns >= `+a.add(e[0])+` AND start_ns < `+a.add(e[1])+` AND session_id <> ''`)
		}
	}
	if len(sess) == 0 {
		sess = []string{`SELECT NULL::text, NULL::text WHERE false`}
	}
	sums := make([]string, 0, 9)
	zeros := make([]string, 0, 9)
	for _, c := range strings.Split(usageCols, ", ") {
		sums = append(sums, clamp("SUM("+c+")"))
		zeros = append(zeros, "0::bigint")
	}
	return `WITH p(k, ` + usageCols + `) AS (` + strings.Join(parts, " UNION ALL ") + `),
	ss(k, s) AS (` + strings.Join(sess, " UNION ALL ") + `)
	SELECT 0, k, ` + strings.Join(sums, ", ") + `, 0::bigint FROM p GROUP BY k
	UNION ALL SELECT 1, k, ` + strings.Join(zeros, ", ") + `, COUNT(DISTINCT s) FROM ss GROUP BY k
	UNION ALL SELECT 2, NULL, ` + strings.Join(sums, ", ") + `, (SELECT COUNT(DISTINCT s) FROM ss) FROM p`
}

func (s *Store) scanGroups(ctx context.Context, g store.GroupBy, query string, a args) (store.GroupedUsage, error) {
	out := store.GroupedUsage{Groups: []store.UsageGroup{}}
	rows, err := s.pool.Query(ctx, query, a...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	index := map[string]int{}
	for rows.Next() {
		var (
			tag      int32
			key      *string
			u        store.Usage
			sessions int64
		)
		if err := rows.Scan(append(append([]any{&tag, &key}, usageDest(&u)...), &sessions)...); err != nil {
			return out, err
		}
		if tag == 2 {
			u.Sessions = sessions
			out.Usage = u
			continue
		}
		k := ""
		if key != nil {
			k = *key
		}
		grp, err := groupKey(g, k)
		if err != nil {
			return out, err
		}
		i, ok := index[grp.Key]
		if !ok {
			i = len(out.Groups)
			index[grp.Key] = i
			out.Groups = append(out.Groups, grp)
		}
		if tag == 1 {
			out.Groups[i].Sessions = sessions
		} else {
			sess := out.Groups[i].Sessions
			out.Groups[i].Usage = u
			out.Groups[i].Sessions = sess
		}
	}
	return out, rows.Err()
}

func groupKey(g store.GroupBy, key string) (store.UsageGroup, error) {
	if !g.Temporal() {
		return store.UsageGroup{Key: key}, nil
	}
	n, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		return store.UsageGroup{}, fmt.Errorf("time group key %q: %w", key, err)
	}
	start := time.Unix(0, n*int64(g.Bucket())).UTC()
	return store.UsageGroup{Key: start.Format(time.RFC3339), Start: start}, nil
}
