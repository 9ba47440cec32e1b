package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/agenttrace/agenttrace/store"
)

// hourNS is the width of a usage rollup bucket.
const hourNS = int64(3600e9)

// hourOf returns the Unix hour holding ns (floor division).
func hourOf(ns int64) int64 {
	h := ns / hourNS
	if ns%hourNS < 0 {
		h--
	}
	return h
}

// spanColumns is the number of columns insertSQL binds per span.
const spanColumns = 37

// insertRows is the number of spans per multi-row INSERT.
const insertRows = 64

// insertSQL inserts n spans, returning the row id and ids of those that
// were new (ignored duplicates return nothing).
func insertSQL(n int) string {
	row := "(" + placeholders(spanColumns) + ")"
	return `INSERT OR IGNORE INTO spans (` + spanCols + `) VALUES ` +
		strings.TrimSuffix(strings.Repeat(row+",", n), ",") + ` RETURNING id, trace_id, span_id`
}

// usageAgg is one rollup cell's delta.
type usageAgg struct {
	store.Tokens
	requests, cost, spans int64
}

func (a *usageAgg) add(sp *store.Span) {
	a.Tokens.Add(sp.Tokens)
	if sp.LLMRequest {
		a.requests++
	}
	a.cost += sp.CostNanoUSD
	a.spans++
}

type sessKey struct {
	session, tenant string
	hour            int64
}

type tenKey struct {
	tenant string
	hour   int64
}

type tenSessKey struct {
	tenant, session string
	hour            int64
}

// batch accumulates the rollup deltas of the new spans of one write.
type batch struct {
	traces   map[string][]*store.Span
	order    []string // trace ids in first-seen order, for determinism
	sess     map[sessKey]*usageAgg
	ten      map[tenKey]*usageAgg
	tenSess  map[tenSessKey]struct{}
	inserted int
}

func validate(sp *store.Span) error {
	if !isHex(sp.TraceID, 32) {
		return fmt.Errorf("%w: trace id %q is not 32 lowercase hex digits", store.ErrInvalidSpan, sp.TraceID)
	}
	if !isHex(sp.SpanID, 16) {
		return fmt.Errorf("%w: span id %q is not 16 lowercase hex digits", store.ErrInvalidSpan, sp.SpanID)
	}
	if sp.ParentID != "" && !isHex(sp.ParentID, 16) {
		return fmt.Errorf("%w: parent id %q is not 16 lowercase hex digits", store.ErrInvalidSpan, sp.ParentID)
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	zero := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '0':
		case c >= '1' && c <= '9', c >= 'a' && c <= 'f':
			zero = false
		default:
			return false
		}
	}
	return !zero
}

func jsonOrEmpty(b json.RawMessage, empty string) string {
	if len(b) == 0 {
		return empty
	}
	return string(b)
}

func tagsJSON(tags []string) string {
	if len(tags) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(tags) // []string cannot fail
	return string(b)
}

// WriteSpans implements store.Store.
func (s *Store) WriteSpans(ctx context.Context, spans []store.Span) (store.WriteResult, error) {
	for i := range spans {
		if err := validate(&spans[i]); err != nil {
			return store.WriteResult{}, err
		}
	}
	if len(spans) == 0 {
		return store.WriteResult{}, nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return store.WriteResult{}, store.ErrClosed
	}
	if s.wst == nil {
		// Prepared once, outside any transaction (which would hold the
		// only writer connection).
		if err := s.prepareWriter(ctx); err != nil {
			return store.WriteResult{}, err
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return store.WriteResult{}, fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	w := &writer{ctx: ctx, tx: tx, st: s.wst}
	b, err := w.insertSpans(spans)
	if err != nil {
		return store.WriteResult{}, err
	}
	if err := w.apply(b); err != nil {
		return store.WriteResult{}, err
	}
	if err := tx.Commit(); err != nil {
		return store.WriteResult{}, fmt.Errorf("sqlite: commit: %w", err)
	}
	s.writes.Add(1)
	return store.WriteResult{Inserted: b.inserted, Duplicates: len(spans) - b.inserted}, nil
}

// chunkSizes are the row counts of the prepared multi-row statements; a
// batch is cut greedily into chunks of these sizes.
var chunkSizes = []int{64, 16, 4, 1}

// nextChunk returns the largest chunk size not above n.
func nextChunk(n int) int {
	for _, c := range chunkSizes {
		if c <= n {
			return c
		}
	}
	return 0
}

// writerStmts are the write path's statements, prepared on the writer
// connection once.
type writerStmts struct {
	insert, selectTraces, upsertTraces    map[int]*sql.Stmt // by row count
	spanTag, traceTag, sess, ten, tenSess *sql.Stmt
}

func (s *Store) prepareWriter(ctx context.Context) error {
	ws := &writerStmts{insert: map[int]*sql.Stmt{}, selectTraces: map[int]*sql.Stmt{}, upsertTraces: map[int]*sql.Stmt{}}
	var all []*sql.Stmt
	prep := func(q string) (*sql.Stmt, error) {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			for _, st := range all {
				st.Close()
			}
			return nil, fmt.Errorf("sqlite: prepare: %w", err)
		}
		all = append(all, st)
		return st, nil
	}
	var err error
	for _, n := range chunkSizes {
		if ws.insert[n], err = prep(insertSQL(n)); err != nil {
			return err
		}
		if ws.selectTraces[n], err = prep(`SELECT ` + traceCols + ` FROM traces WHERE trace_id IN (` + placeholders(n) + `)`); err != nil {
			return err
		}
		if ws.upsertTraces[n], err = prep(upsertTracesSQL(n)); err != nil {
			return err
		}
	}
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{
		{&ws.spanTag, `INSERT OR IGNORE INTO span_tags (tag, span) VALUES (?, ?)`},
		{&ws.traceTag, `INSERT OR IGNORE INTO trace_tags (tag, trace_id) VALUES (?, ?)`},
		{&ws.sess, upsertSessSQL},
		{&ws.ten, upsertTenSQL},
		{&ws.tenSess, `INSERT OR IGNORE INTO tenant_session_hour (tenant_id, hour, session_id) VALUES (?,?,?)`},
	} {
		if *p.dst, err = prep(p.q); err != nil {
			return err
		}
	}
	s.wst, s.wall = ws, all
	return nil
}

// writer runs the statements of one write transaction.
type writer struct {
	ctx context.Context
	tx  *sql.Tx
	st  *writerStmts
}

func (w *writer) exec(st *sql.Stmt, args ...any) error {
	_, err := w.tx.StmtContext(w.ctx, st).ExecContext(w.ctx, args...)
	return err
}

func appendSpanArgs(args []any, sp *store.Span) []any {
	return append(args,
		sp.TraceID, sp.SpanID, sp.ParentID, sp.Name, sp.Kind, sp.Type, int64(sp.Status), sp.StatusMessage,
		sp.Start.UnixNano(), sp.End.UnixNano(),
		sp.Operation, sp.RequestModel, sp.ResponseModel, sp.Provider, sp.PromptSlug, sp.PromptVersion,
		sp.InputTokens, sp.OutputTokens, sp.CacheReadTokens, sp.CacheCreationTokens, sp.ReasoningTokens, sp.TotalTokens,
		sp.CostNanoUSD, sp.CostSource, sp.LLMRequest, sp.SessionID, sp.UserID, sp.TenantID, sp.ConversationID, sp.Environment,
		sp.ServiceName, sp.ScopeName, tagsJSON(sp.Tags), jsonOrEmpty(sp.Attributes, "{}"), jsonOrEmpty(sp.Resource, "{}"),
		jsonOrEmpty(sp.Events, "[]"), sp.PriceTableVersion)
}

type spanKey struct{ trace, span string }

// insertSpans inserts the spans in multi-row chunks and collects the
// rollup deltas of those that were new.
func (w *writer) insertSpans(spans []store.Span) (*batch, error) {
	b := &batch{
		traces:  map[string][]*store.Span{},
		sess:    map[sessKey]*usageAgg{},
		ten:     map[tenKey]*usageAgg{},
		tenSess: map[tenSessKey]struct{}{},
	}
	args := make([]any, 0, chunkSizes[0]*spanColumns)
	index := make(map[spanKey]int, chunkSizes[0])
	for len(spans) > 0 {
		chunk := spans[:nextChunk(len(spans))]
		spans = spans[len(chunk):]
		args = args[:0]
		clear(index)
		for i := range chunk {
			args = appendSpanArgs(args, &chunk[i])
			k := spanKey{chunk[i].TraceID, chunk[i].SpanID}
			if _, dup := index[k]; !dup {
				index[k] = i
			}
		}
		type added struct {
			id int64
			sp *store.Span
		}
		var news []added
		rows, err := w.tx.StmtContext(w.ctx, w.st.insert[len(chunk)]).QueryContext(w.ctx, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: insert spans: %w", err)
		}
		for rows.Next() {
			var id int64
			var k spanKey
			if err := rows.Scan(&id, &k.trace, &k.span); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: insert spans: %w", err)
			}
			news = append(news, added{id, &chunk[index[k]]})
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("sqlite: insert spans: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("sqlite: insert spans: %w", err)
		}
		for _, n := range news {
			b.inserted++
			b.add(n.sp)
			for _, tag := range n.sp.Tags {
				if err := w.exec(w.st.spanTag, tag, n.id); err != nil {
					return nil, fmt.Errorf("sqlite: insert tags: %w", err)
				}
			}
		}
	}
	return b, nil
}

func (b *batch) add(sp *store.Span) {
	if _, ok := b.traces[sp.TraceID]; !ok {
		b.order = append(b.order, sp.TraceID)
	}
	b.traces[sp.TraceID] = append(b.traces[sp.TraceID], sp)
	h := hourOf(sp.Start.UnixNano())
	if sp.SessionID != "" {
		k := sessKey{sp.SessionID, sp.TenantID, h}
		a := b.sess[k]
		if a == nil {
			a = &usageAgg{}
			b.sess[k] = a
		}
		a.add(sp)
	}
	if sp.TenantID != "" {
		k := tenKey{sp.TenantID, h}
		a := b.ten[k]
		if a == nil {
			a = &usageAgg{}
			b.ten[k] = a
		}
		a.add(sp)
		if sp.SessionID != "" {
			b.tenSess[tenSessKey{sp.TenantID, sp.SessionID, h}] = struct{}{}
		}
	}
}

const upsertSessSQL = `INSERT INTO usage_session_hour (session_id, hour, tenant_id,
	input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens, requests, cost_nano, spans)
	VALUES (?,?,?,?,?,?,?,?,?,?,?)
	ON CONFLICT (session_id, hour, tenant_id) DO UPDATE SET
	input_tokens = input_tokens + excluded.input_tokens,
	output_tokens = output_tokens + excluded.output_tokens,
	cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
	cache_creation_tokens = cache_creation_tokens + excluded.cache_creation_tokens,
	reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
	requests = requests + excluded.requests,
	cost_nano = cost_nano + excluded.cost_nano,
	spans = spans + excluded.spans`

const upsertTenSQL = `INSERT INTO usage_tenant_hour (tenant_id, hour,
	input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens, requests, cost_nano, spans)
	VALUES (?,?,?,?,?,?,?,?,?,?)
	ON CONFLICT (tenant_id, hour) DO UPDATE SET
	input_tokens = input_tokens + excluded.input_tokens,
	output_tokens = output_tokens + excluded.output_tokens,
	cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
	cache_creation_tokens = cache_creation_tokens + excluded.cache_creation_tokens,
	reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
	requests = requests + excluded.requests,
	cost_nano = cost_nano + excluded.cost_nano,
	spans = spans + excluded.spans`

const selectTraceRowSQL = `SELECT ` + traceCols + ` FROM traces WHERE trace_id = ?`

// upsertTracesSQL writes n trace summaries, replacing stored ones.
func upsertTracesSQL(n int) string {
	row := "(" + placeholders(traceNCols) + ")"
	return `INSERT INTO traces (` + traceCols + `) VALUES ` + strings.TrimSuffix(strings.Repeat(row+",", n), ",") + upsertTraceSet
}

const upsertTraceSet = `
	ON CONFLICT (trace_id) DO UPDATE SET
	name = excluded.name, status = excluded.status, has_root = excluded.has_root,
	start_ns = excluded.start_ns, end_ns = excluded.end_ns, duration_ns = excluded.duration_ns,
	min_start_ns = excluded.min_start_ns, max_end_ns = excluded.max_end_ns,
	span_count = excluded.span_count, error_count = excluded.error_count,
	input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
	cache_read_tokens = excluded.cache_read_tokens, cache_creation_tokens = excluded.cache_creation_tokens,
	reasoning_tokens = excluded.reasoning_tokens, total_tokens = excluded.total_tokens,
	requests = excluded.requests, cost_nano = excluded.cost_nano, models = excluded.models,
	input = excluded.input, output = excluded.output, session_id = excluded.session_id,
	user_id = excluded.user_id, tenant_id = excluded.tenant_id, environment = excluded.environment,
	tags = excluded.tags`

func (w *writer) apply(b *batch) error {
	if b.inserted == 0 {
		return nil
	}
	if err := w.applyTraces(b); err != nil {
		return err
	}
	for k, a := range b.sess {
		if err := w.exec(w.st.sess, k.session, k.hour, k.tenant, a.InputTokens, a.OutputTokens,
			a.CacheReadTokens, a.CacheCreationTokens, a.ReasoningTokens, a.requests, a.cost, a.spans); err != nil {
			return fmt.Errorf("sqlite: session rollup: %w", err)
		}
	}
	for k, a := range b.ten {
		if err := w.exec(w.st.ten, k.tenant, k.hour, a.InputTokens, a.OutputTokens,
			a.CacheReadTokens, a.CacheCreationTokens, a.ReasoningTokens, a.requests, a.cost, a.spans); err != nil {
			return fmt.Errorf("sqlite: tenant rollup: %w", err)
		}
	}
	for k := range b.tenSess {
		if err := w.exec(w.st.tenSess, k.tenant, k.hour, k.session); err != nil {
			return fmt.Errorf("sqlite: tenant sessions: %w", err)
		}
	}
	return nil
}

// applyTraces merges the new spans into their traces' summaries: the
// stored summaries are read in chunks, merged in Go, and written back with
// multi-row upserts.
func (w *writer) applyTraces(b *batch) error {
	ids := b.order
	for len(ids) > 0 {
		chunk := ids[:nextChunk(len(ids))]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		stored := make(map[string]*traceRow, len(chunk))
		rows, err := w.tx.StmtContext(w.ctx, w.st.selectTraces[len(chunk)]).QueryContext(w.ctx, args...)
		if err != nil {
			return fmt.Errorf("sqlite: trace rollup: %w", err)
		}
		for rows.Next() {
			r := &traceRow{}
			if err := r.scan(rows); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: trace rollup: %w", err)
			}
			stored[r.TraceID] = r
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("sqlite: trace rollup: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: trace rollup: %w", err)
		}
		up := make([]any, 0, len(chunk)*traceNCols)
		for _, id := range chunk {
			row, found := stored[id]
			if !found {
				row = &traceRow{TraceSummary: store.TraceSummary{TraceID: id}}
			}
			oldTags := slices.Clone(row.Tags)
			for _, sp := range b.traces[id] {
				row.merge(sp, !found)
				found = true
			}
			up = append(up, row.args()...)
			for _, tag := range row.Tags {
				if slices.Contains(oldTags, tag) {
					continue
				}
				if err := w.exec(w.st.traceTag, tag, id); err != nil {
					return fmt.Errorf("sqlite: trace tags: %w", err)
				}
			}
		}
		if err := w.exec(w.st.upsertTraces[len(chunk)], up...); err != nil {
			return fmt.Errorf("sqlite: trace rollup: %w", err)
		}
	}
	return nil
}
