package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/agenttrace/agenttrace/store/internal/check"
	"github.com/agenttrace/agenttrace/store/internal/rollup"
	"github.com/agenttrace/agenttrace/store/internal/summary"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/store"
)

// Parts of a usage sum: each selects one row of sums, from the hourly
// rollups (whole hours) or from raw spans (partial hours at the edges).
//
// SQLite's SUM fails with "integer overflow" past 2^63-1, so every column
// is summed in two halves, its high and low 32 bits, whose sums cannot
// overflow (each half is below 2^32, and a table has fewer than 2^31
// rows per part); joinSum puts them together in Go, saturating. The totals
// are exact whenever they fit in an int64, and never an error.
var (
	rollupSums = sumsSelect("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
		"reasoning_tokens", "requests", "cost_nano", "spans", "unknown_usage") + ` FROM `
	rawSums = sumsSelect("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
		"reasoning_tokens", "llm != 0", "cost_nano", "1", "llm = 2") + ` FROM spans WHERE `
	totalSums = totalsSelect(usageSums) + ` FROM (`
)

// usageSums is the number of summed usage columns.
const usageSums = 9

func sumsSelect(exprs ...string) string {
	parts := make([]string, 0, 2*len(exprs))
	for i, e := range exprs {
		parts = append(parts, fmt.Sprintf("SUM((%s) >> 32) h%d, SUM((%s) & 4294967295) l%d", e, i, e, i))
	}
	return "SELECT " + strings.Join(parts, ", ")
}

func totalsSelect(n int) string {
	parts := make([]string, 0, 2*n)
	for i := 0; i < n; i++ {
		parts = append(parts, fmt.Sprintf("COALESCE(SUM(h%d),0), COALESCE(SUM(l%d),0)", i, i))
	}
	return "SELECT " + strings.Join(parts, ", ")
}

// joinSum returns hi*2^32 + lo, saturating at math.MaxInt64.
func joinSum(hi, lo int64) int64 {
	if hi < 0 || lo < 0 || hi >= 1<<31 {
		return math.MaxInt64
	}
	return store.SatAdd(hi<<32, lo)
}

// usageSQL builds the one statement (hence one snapshot) summing a usage
// window: rollup is the WHERE of the rollup table for whole hours, raw
// that of spans for an edge, both ending in hour or time bounds.
func usageSQL(w rollup.Window, rollupTable, rollup, raw string, key []any) (string, []any) {
	var parts []string
	var args []any
	if w.H0 < w.H1 {
		parts = append(parts, rollupSums+rollupTable+" WHERE "+rollup+" AND hour >= ? AND hour < ?")
		args = append(append(args, key...), w.H0, w.H1)
	}
	for _, e := range w.Edges {
		parts = append(parts, rawSums+raw+" AND start_ns >= ? AND start_ns < ?")
		args = append(append(args, key...), e[0], e[1])
	}
	return totalSums + strings.Join(parts, " UNION ALL ") + ")", args
}

func scanUsage(row *sql.Row, u *store.Usage, more ...any) error {
	var halves [2 * usageSums]int64
	dest := make([]any, 0, len(halves)+len(more))
	for i := range halves {
		dest = append(dest, &halves[i])
	}
	if err := row.Scan(append(dest, more...)...); err != nil {
		return err
	}
	for i, p := range []*int64{&u.InputTokens, &u.OutputTokens, &u.CacheReadTokens, &u.CacheCreationTokens,
		&u.ReasoningTokens, &u.Requests, &u.CostNanoUSD, &u.Spans, &u.UnknownUsage} {
		*p = joinSum(halves[2*i], halves[2*i+1])
	}
	return nil
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
	if err := s.oneTenant(ctx, q, w); err != nil {
		return store.Usage{}, err
	}
	rollup, raw := "session_id = ?", "session_id = ? AND session_id != ''"
	key := []any{q.SessionID}
	if q.TenantID != "" {
		rollup += " AND tenant_id = ?"
		raw += " AND tenant_id = ?"
		key = append(key, q.TenantID)
	}
	query, args := usageSQL(w, "usage_session_hour", rollup, raw, key)
	var u store.Usage
	if err := scanUsage(s.queryRow(ctx, query, args...), &u); err != nil {
		return store.Usage{}, fmt.Errorf("sqlite: session usage: %w", s.mapErr(err))
	}
	return u, nil
}

// oneTenant checks that a session usage sum without a tenant covers one
// tenant's spans: that the session's spans in the window are all of one
// tenant, else it returns a *store.MixedTenantsError. (Rollup cells a
// repair emptied count no spans, and no tenant.)
func (s *Store) oneTenant(ctx context.Context, q store.UsageQuery, w rollup.Window) error {
	if q.TenantID != "" {
		return nil
	}
	var parts []string
	var args []any
	if w.H0 < w.H1 {
		parts = append(parts, `SELECT tenant_id FROM usage_session_hour WHERE session_id = ? AND hour >= ? AND hour < ? AND spans > 0`)
		args = append(args, q.SessionID, w.H0, w.H1)
	}
	for _, e := range w.Edges {
		parts = append(parts, `SELECT tenant_id FROM spans WHERE session_id = ? AND session_id != '' AND start_ns >= ? AND start_ns < ?`)
		args = append(args, q.SessionID, e[0], e[1])
	}
	rows, err := s.query(ctx, `SELECT DISTINCT tenant_id FROM (`+strings.Join(parts, " UNION ALL ")+`) ORDER BY tenant_id LIMIT 100`, args...)
	if err != nil {
		return fmt.Errorf("sqlite: session tenants: %w", s.mapErr(err))
	}
	defer rows.Close()
	var tenants []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return fmt.Errorf("sqlite: session tenants: %w", s.mapErr(err))
		}
		tenants = append(tenants, t)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: session tenants: %w", s.mapErr(err))
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
	key := []any{q.TenantID}
	sums, args := usageSQL(w, "usage_tenant_hour", "tenant_id = ?", "tenant_id = ? AND tenant_id != ''", key)
	// Distinct sessions: from the per-hour session sets and the edges'
	// raw spans.
	var parts []string
	if w.H0 < w.H1 {
		parts = append(parts, `SELECT session_id FROM tenant_session_hour WHERE tenant_id = ? AND hour >= ? AND hour < ?`)
		args = append(args, q.TenantID, w.H0, w.H1)
	}
	for _, e := range w.Edges {
		parts = append(parts, `SELECT session_id FROM spans WHERE tenant_id = ? AND tenant_id != '' AND start_ns >= ? AND start_ns < ? AND session_id != ''`)
		args = append(args, q.TenantID, e[0], e[1])
	}
	query := `SELECT * FROM (` + sums + `), (SELECT COUNT(DISTINCT session_id) FROM (` + strings.Join(parts, " UNION ALL ") + `))`
	var u store.Usage
	if err := scanUsage(s.queryRow(ctx, query, args...), &u, &u.Sessions); err != nil {
		return store.Usage{}, fmt.Errorf("sqlite: tenant usage: %w", s.mapErr(err))
	}
	return u, nil
}

// maxStmts bounds the statement cache; query shapes past it are prepared
// per use.
const maxStmts = 512

// stmt returns the cached prepared statement of a read query, preparing
// it on first use, or nil when the cache is full.
func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.smu.Lock()
	st, ok := s.stmts[query]
	full := len(s.stmts) >= maxStmts
	s.smu.Unlock()
	if ok || full {
		return st, nil
	}
	st, err := s.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.smu.Lock()
	defer s.smu.Unlock()
	if old, ok := s.stmts[query]; ok {
		st.Close()
		return old, nil
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = st
	return st, nil
}

// queryRow runs a one-row read query through the statement cache. Every
// read is one statement, so it sees one snapshot of the database.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.stmt(ctx, query)
	if err != nil || st == nil {
		return s.r.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// query runs a read query through the statement cache.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return s.r.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

func (s *Store) mapErr(err error) error {
	if errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), "sql: database is closed") {
		return store.ErrClosed
	}
	return err
}

// GetTrace implements store.Store.
func (s *Store) GetTrace(ctx context.Context, traceID, tenantID string) (store.TraceSummary, error) {
	var rows *sql.Rows
	var err error
	if tenantID != "" {
		rows, err = s.query(ctx, `SELECT `+traceCols+`, '' FROM traces WHERE trace_id = ? AND tenant_id = ?`, traceID, tenantID)
	} else {
		// Every tenant's summary, and the trace's tenant, in one snapshot.
		rows, err = s.query(ctx, `SELECT `+traceCols+`, coalesce((SELECT tenant_id FROM trace_attrs WHERE trace_id = ?1), '')
			FROM traces WHERE trace_id = ?1 ORDER BY tenant_id`, traceID)
	}
	if err != nil {
		return store.TraceSummary{}, fmt.Errorf("sqlite: get trace: %w", s.mapErr(err))
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
		return store.TraceSummary{}, fmt.Errorf("sqlite: get trace: %w", s.mapErr(err))
	}
	if len(parts) == 0 {
		return store.TraceSummary{}, fmt.Errorf("trace %s: %w", traceID, store.ErrNotFound)
	}
	row := parts[0]
	if tenantID == "" {
		row = summary.Fold(parts, tenant)
	}
	if row.Scores, err = s.traceScores(ctx, traceID, tenantID); err != nil {
		return store.TraceSummary{}, fmt.Errorf("sqlite: get trace scores: %w", s.mapErr(err))
	}
	return row.TraceSummary, nil
}

// traceScoresSQL reads the name and value of a trace's score spans (non-finite
// values are stored as strings and left out here), of one tenant or
// (with ” for the tenant) of all.
var traceScoresSQL = `SELECT n, v, start_ns FROM (SELECT
		json_extract(attributes, '$."` + string(attr.ScoreName) + `"') AS n,
		json_extract(attributes, '$."` + string(attr.ScoreValue) + `"') AS v, start_ns
	FROM spans WHERE trace_id = ? AND type = '` + attr.TypeScore + `' AND (?2 = '' OR tenant_id = ?2))
	WHERE typeof(n) = 'text' AND typeof(v) IN ('integer', 'real')`

// traceScores aggregates the trace's score spans (tenantID's alone, or
// with "" every tenant's).
func (s *Store) traceScores(ctx context.Context, traceID, tenantID string) ([]store.Score, error) {
	rows, err := s.query(ctx, traceScoresSQL, traceID, tenantID)
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
		v.Start = time.Unix(0, ns).UTC()
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

// sortIndex names the index of each sort key but start time (whose index
// also serves the time window).
var sortIndex = map[store.SortField]string{
	store.SortDuration:    "traces_duration",
	store.SortTotalTokens: "traces_tokens",
	store.SortTotalCost:   "traces_cost",
	store.SortName:        "traces_name",
}

// wideWindow reports whether [start, end) covers at least a quarter of
// the time the stored traces span. It is the plan choice SQLite cannot
// make without statistics: for a wide window, walking the sort key's index
// and filtering beats collecting the window's traces and sorting them; for
// a narrow one it is the other way round. Zero times are open bounds.
func (s *Store) wideWindow(ctx context.Context, start, end time.Time) (bool, error) {
	var lo, hi sql.NullInt64
	if err := s.queryRow(ctx, `SELECT (SELECT MIN(start_ns) FROM traces), (SELECT MAX(start_ns) FROM traces)`).Scan(&lo, &hi); err != nil {
		return false, err
	}
	if !lo.Valid || hi.Int64 <= lo.Int64 {
		return false, nil
	}
	a, b := lo.Int64, hi.Int64
	if !start.IsZero() {
		a = max(a, start.UnixNano())
	}
	if !end.IsZero() {
		b = min(b, end.UnixNano())
	}
	return b > a && (b-a) >= (hi.Int64-lo.Int64)/4, nil
}

// where builds a conjunction of conditions with their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) eq(col, v string) {
	if v != "" {
		w.add(col+" = ?", v)
	}
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

func traceWhere(f *store.TraceFilter) *where {
	w := &where{}
	if !f.Start.IsZero() {
		w.add("start_ns >= ?", f.Start.UnixNano())
	}
	if !f.End.IsZero() {
		w.add("start_ns < ?", f.End.UnixNano())
	}
	w.eq("tenant_id", f.TenantID)
	if f.UserID != "" {
		w.add("user_id = ? AND user_id != ''", f.UserID)
	}
	if f.SessionID != "" {
		w.add("session_id = ? AND session_id != ''", f.SessionID)
	}
	w.eq("environment", f.Environment)
	w.eq("name", f.Name)
	switch f.Status {
	case store.StatusError:
		w.add("status = 2")
	case store.StatusOK:
		w.add("status != 2")
	}
	for _, t := range check.Tags(f.Tags) {
		w.add("(trace_id, tenant_id) IN (SELECT trace_id, tenant_id FROM trace_tags WHERE tag = ?)", t)
	}
	return w
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
	w := traceWhere(&q.TraceFilter)
	page := store.TracePage{Total: -1}
	// Scan ascending when (sort order asc) XOR (direction up).
	asc := (q.SortOrder == store.Asc) == (dir == store.Down)
	op, ord := ">", "ASC"
	if !asc {
		op, ord = "<", "DESC"
	}
	// The page's own filter: with a start-time cursor the window shrinks
	// to the cursor, so the index range starts there.
	pf := q.TraceFilter
	if c := q.Cursor; c != nil && q.SortField == store.SortStartTime {
		if asc && (pf.Start.IsZero() || c.Num > pf.Start.UnixNano()) {
			pf.Start = time.Unix(0, c.Num)
		}
		if !asc && (pf.End.IsZero() || c.Num+1 < pf.End.UnixNano()) {
			pf.End = time.Unix(0, c.Num+1)
		}
	}
	pw := traceWhere(&pf)
	if c := q.Cursor; c != nil {
		var key any = c.Num
		if q.SortField == store.SortName {
			key = c.Str
		}
		pw.add("("+col+", trace_id, tenant_id) "+op+" (?, ?, ?)", key, c.TraceID, c.TenantID)
	}
	args := append(pw.args, limit+1, q.Offset)
	err = func() error {
		from := "traces"
		if idx := sortIndex[q.SortField]; idx != "" && q.SessionID == "" && q.UserID == "" {
			wide, err := s.wideWindow(ctx, q.Start, q.End)
			if err != nil {
				return err
			}
			if wide {
				from = "traces INDEXED BY " + idx
			}
		}
		// Sort row ids only, then read the page's rows.
		query := `SELECT ` + traceCols + ` FROM traces WHERE rowid IN (SELECT rowid FROM ` + from + pw.String() +
			` ORDER BY ` + col + ` ` + ord + `, trace_id ` + ord + `, tenant_id ` + ord + ` LIMIT ? OFFSET ?) ORDER BY ` + col + ` ` + ord + `, trace_id ` + ord + `, tenant_id ` + ord
		rows, err := s.query(ctx, query, args...)
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
			err := s.queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM traces`+w.String()+` LIMIT ?)`,
				append(w.args, store.MaxTotal+1)...).Scan(&page.Total)
			if page.Total > store.MaxTotal {
				page.Total, page.TotalCapped = store.MaxTotal, true
			}
			return err
		}
		return nil
	}()
	if err != nil {
		return store.TracePage{}, fmt.Errorf("sqlite: list traces: %w", s.mapErr(err))
	}
	if len(page.Traces) > limit {
		page.Traces, page.HasMore = page.Traces[:limit], true
	}
	if dir == store.Up {
		slices.Reverse(page.Traces)
	}
	return page, nil
}

func (s *Store) querySpans(ctx context.Context, query string, args []any, limit int, up bool) (store.SpanPage, error) {
	var page store.SpanPage
	err := func() error {
		rows, err := s.query(ctx, query, args...)
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
	w.add("trace_id = ?", q.TraceID)
	w.eq("name", q.SpanName)
	w.eq("tenant_id", q.TenantID)
	op, ord := ">", "ASC"
	if dir == store.Up {
		op, ord = "<", "DESC"
	}
	if c := q.Cursor; c != nil {
		w.add("(start_ns, span_id) "+op+" (?, ?)", c.Num, c.SpanID)
	}
	query := `SELECT ` + spanCols + ` FROM spans` + w.String() +
		` ORDER BY start_ns ` + ord + `, span_id ` + ord + ` LIMIT ?`
	page, err := s.querySpans(ctx, query, append(w.args, limit+1), limit, dir == store.Up)
	if err != nil {
		return store.SpanPage{}, fmt.Errorf("sqlite: list spans of trace: %w", err)
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
		w.add("start_ns >= ?", q.Start.UnixNano())
	}
	if !q.End.IsZero() {
		w.add("start_ns < ?", q.End.UnixNano())
	}
	switch q.Status {
	case store.StatusError:
		w.add("status = 2")
	case store.StatusOK:
		w.add("status != 2")
	}
	w.eq("type", q.Type)
	if q.TenantID != "" {
		w.add("tenant_id = ? AND tenant_id != ''", q.TenantID)
	}
	if q.SessionID != "" {
		w.add("session_id = ? AND session_id != ''", q.SessionID)
	}
	w.eq("user_id", q.UserID)
	if q.Model != "" {
		w.add("(request_model = ? OR response_model = ?)", q.Model, q.Model)
	}
	w.eq("prompt_slug", q.PromptSlug)
	w.eq("name", q.Name)
	for _, t := range check.Tags(q.Tags) {
		// A probe of the (tag, span) key per span, so the scan keeps
		// start order and stops at the page: collecting every span of a
		// common tag first, then sorting, took seconds at 1M spans.
		w.add("EXISTS (SELECT 1 FROM span_tags WHERE tag = ? AND span = spans.id)", t)
	}
	// Newest first: down scans descending, up ascending.
	op, ord := "<", "DESC"
	if dir == store.Up {
		op, ord = ">", "ASC"
	}
	if c := q.Cursor; c != nil {
		w.add("(start_ns, trace_id, span_id) "+op+" (?, ?, ?)", c.Num, c.TraceID, c.SpanID)
	}
	query := `SELECT ` + spanCols + ` FROM spans` + w.String() +
		` ORDER BY start_ns ` + ord + `, trace_id ` + ord + `, span_id ` + ord + ` LIMIT ?`
	page, err := s.querySpans(ctx, query, append(w.args, limit+1), limit, dir == store.Up)
	if err != nil {
		return store.SpanPage{}, fmt.Errorf("sqlite: list spans: %w", err)
	}
	return page, nil
}
