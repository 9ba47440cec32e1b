package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/agenttrace/agenttrace/store"
)

// ceilDiv and floorDiv are integer divisions rounding up and down.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// window splits [start, end) into the whole hours [h0, h1) served by the
// rollups and the raw edges before and after them.
type window struct {
	start, end int64
	h0, h1     int64 // whole hours; h0 >= h1 means none
	edges      [][2]int64
}

func splitWindow(start, end int64) window {
	w := window{start: start, end: end, h0: ceilDiv(start, hourNS), h1: floorDiv(end, hourNS)}
	if w.h0 >= w.h1 {
		w.h0, w.h1 = 0, 0
		w.edges = append(w.edges, [2]int64{start, end})
		return w
	}
	if a, b := start, w.h0*hourNS; a < b {
		w.edges = append(w.edges, [2]int64{a, b})
	}
	if a, b := w.h1*hourNS, end; a < b {
		w.edges = append(w.edges, [2]int64{a, b})
	}
	return w
}

func checkUsage(q store.UsageQuery) error {
	if q.Start.IsZero() || q.End.IsZero() || !q.Start.Before(q.End) {
		return fmt.Errorf("%w: usage window [%v, %v) is empty", store.ErrInvalidQuery, q.Start, q.End)
	}
	return nil
}

const usageSums = `COALESCE(SUM(input_tokens),0), COALESCE(SUM(output_tokens),0), COALESCE(SUM(cache_read_tokens),0),
	COALESCE(SUM(cache_creation_tokens),0), COALESCE(SUM(reasoning_tokens),0)`

func scanUsage(row *sql.Row, u *store.Usage) error {
	var d store.Usage
	if err := row.Scan(&d.InputTokens, &d.OutputTokens, &d.CacheReadTokens, &d.CacheCreationTokens,
		&d.ReasoningTokens, &d.Requests, &d.CostNanoUSD, &d.Spans); err != nil {
		return err
	}
	u.Tokens.Add(d.Tokens)
	u.Requests += d.Requests
	u.CostNanoUSD += d.CostNanoUSD
	u.Spans += d.Spans
	return nil
}

// SessionUsage implements store.Store.
func (s *Store) SessionUsage(ctx context.Context, q store.UsageQuery) (store.Usage, error) {
	if err := checkUsage(q); err != nil {
		return store.Usage{}, err
	}
	if q.SessionID == "" {
		return store.Usage{}, nil
	}
	w := splitWindow(q.Start.UnixNano(), q.End.UnixNano())
	var tenant string
	args := []any{q.SessionID}
	if q.TenantID != "" {
		tenant = ` AND tenant_id = ?`
	}
	var u store.Usage
	err := s.read(ctx, func(tx *sql.Tx) error {
		if w.h0 < w.h1 {
			a := append(slices.Clone(args), w.h0, w.h1)
			if tenant != "" {
				a = append(a, q.TenantID)
			}
			row := tx.QueryRowContext(ctx, `SELECT `+usageSums+`, COALESCE(SUM(requests),0), COALESCE(SUM(cost_nano),0), COALESCE(SUM(spans),0)
				FROM usage_session_hour WHERE session_id = ? AND hour >= ? AND hour < ?`+tenant, a...)
			if err := scanUsage(row, &u); err != nil {
				return err
			}
		}
		for _, e := range w.edges {
			a := append(slices.Clone(args), e[0], e[1])
			if tenant != "" {
				a = append(a, q.TenantID)
			}
			row := tx.QueryRowContext(ctx, `SELECT `+usageSums+`, COALESCE(SUM(llm),0), COALESCE(SUM(cost_nano),0), COUNT(*)
				FROM spans WHERE session_id = ? AND session_id != '' AND start_ns >= ? AND start_ns < ?`+tenant, a...)
			if err := scanUsage(row, &u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.Usage{}, fmt.Errorf("sqlite: session usage: %w", err)
	}
	return u, nil
}

// TenantUsage implements store.Store.
func (s *Store) TenantUsage(ctx context.Context, q store.UsageQuery) (store.Usage, error) {
	if err := checkUsage(q); err != nil {
		return store.Usage{}, err
	}
	if q.TenantID == "" {
		return store.Usage{}, nil
	}
	w := splitWindow(q.Start.UnixNano(), q.End.UnixNano())
	var u store.Usage
	err := s.read(ctx, func(tx *sql.Tx) error {
		var parts []string
		var sargs []any
		if w.h0 < w.h1 {
			row := tx.QueryRowContext(ctx, `SELECT `+usageSums+`, COALESCE(SUM(requests),0), COALESCE(SUM(cost_nano),0), COALESCE(SUM(spans),0)
				FROM usage_tenant_hour WHERE tenant_id = ? AND hour >= ? AND hour < ?`, q.TenantID, w.h0, w.h1)
			if err := scanUsage(row, &u); err != nil {
				return err
			}
			parts = append(parts, `SELECT session_id FROM tenant_session_hour WHERE tenant_id = ? AND hour >= ? AND hour < ?`)
			sargs = append(sargs, q.TenantID, w.h0, w.h1)
		}
		for _, e := range w.edges {
			row := tx.QueryRowContext(ctx, `SELECT `+usageSums+`, COALESCE(SUM(llm),0), COALESCE(SUM(cost_nano),0), COUNT(*)
				FROM spans WHERE tenant_id = ? AND tenant_id != '' AND start_ns >= ? AND start_ns < ?`, q.TenantID, e[0], e[1])
			if err := scanUsage(row, &u); err != nil {
				return err
			}
			parts = append(parts, `SELECT session_id FROM spans WHERE tenant_id = ? AND tenant_id != '' AND start_ns >= ? AND start_ns < ? AND session_id != ''`)
			sargs = append(sargs, q.TenantID, e[0], e[1])
		}
		return tx.QueryRowContext(ctx, `SELECT COUNT(DISTINCT session_id) FROM (`+strings.Join(parts, " UNION ALL ")+`)`, sargs...).Scan(&u.Sessions)
	})
	if err != nil {
		return store.Usage{}, fmt.Errorf("sqlite: tenant usage: %w", err)
	}
	return u, nil
}

// read runs fn in a read-only transaction, so multi-statement queries see
// one snapshot.
func (s *Store) read(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return s.mapErr(err)
	}
	defer tx.Rollback()
	return fn(tx)
}

func (s *Store) mapErr(err error) error {
	if errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), "sql: database is closed") {
		return store.ErrClosed
	}
	return err
}

// GetTrace implements store.Store.
func (s *Store) GetTrace(ctx context.Context, traceID string) (store.TraceSummary, error) {
	var row traceRow
	err := row.scan(s.r.QueryRowContext(ctx, selectTraceRowSQL, traceID))
	if errors.Is(err, sql.ErrNoRows) {
		return store.TraceSummary{}, fmt.Errorf("trace %s: %w", traceID, store.ErrNotFound)
	}
	if err != nil {
		return store.TraceSummary{}, fmt.Errorf("sqlite: get trace: %w", s.mapErr(err))
	}
	return row.TraceSummary, nil
}

// sortColumn maps sort fields to traces columns.
var sortColumn = map[store.SortField]string{
	store.SortStartTime:   "start_ns",
	store.SortDuration:    "duration_ns",
	store.SortTotalTokens: "total_tokens",
	store.SortTotalCost:   "cost_nano",
	store.SortName:        "name",
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

func normal(dir store.Direction, limit int) (store.Direction, int, error) {
	if dir == "" {
		dir = store.Down
	}
	if dir != store.Down && dir != store.Up {
		return "", 0, fmt.Errorf("%w: direction %q", store.ErrInvalidQuery, dir)
	}
	n, ok := store.NormalLimit(limit)
	if !ok {
		return "", 0, fmt.Errorf("%w: limit %d not in [1, %d]", store.ErrInvalidQuery, limit, store.MaxLimit)
	}
	return dir, n, nil
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
	for _, t := range uniq(f.Tags) {
		w.add("trace_id IN (SELECT trace_id FROM trace_tags WHERE tag = ?)", t)
	}
	return w
}

func uniq(tags []string) []string {
	out := slices.Clone(tags)
	slices.Sort(out)
	return slices.Compact(out)
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
	dir, limit, err := normal(q.Direction, q.Limit)
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
	pw := *w
	pw.conds, pw.args = slices.Clone(w.conds), slices.Clone(w.args)
	if c := q.Cursor; c != nil {
		var key any = c.Num
		if q.SortField == store.SortName {
			key = c.Str
		}
		pw.add("("+col+", trace_id) "+op+" (?, ?)", key, c.TraceID)
	}
	query := `SELECT ` + traceCols + ` FROM traces` + pw.String() +
		` ORDER BY ` + col + ` ` + ord + `, trace_id ` + ord + ` LIMIT ? OFFSET ?`
	args := append(pw.args, limit+1, q.Offset)
	err = s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, query, args...)
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
			return tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM traces`+w.String(), w.args...).Scan(&page.Total)
		}
		return nil
	})
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
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, query, args...)
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
	})
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
	dir, limit, err := normal(q.Direction, q.Limit)
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
	dir, limit, err := normal(q.Direction, q.Limit)
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
	for _, t := range uniq(q.Tags) {
		w.add("id IN (SELECT span FROM span_tags WHERE tag = ?)", t)
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
