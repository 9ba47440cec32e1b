package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
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
const spanColumns = 36

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
	// Prepare before the transaction takes the only writer connection.
	for _, n := range []int{min(insertRows, len(spans)), len(spans) % insertRows} {
		if n > 0 {
			if _, err := s.insertStmt(ctx, n); err != nil {
				return store.WriteResult{}, fmt.Errorf("sqlite: prepare insert: %w", err)
			}
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return store.WriteResult{}, fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	b, err := s.insertSpans(ctx, tx, spans)
	if err != nil {
		return store.WriteResult{}, err
	}
	if err := b.apply(ctx, tx); err != nil {
		return store.WriteResult{}, err
	}
	if err := tx.Commit(); err != nil {
		return store.WriteResult{}, fmt.Errorf("sqlite: commit: %w", err)
	}
	return store.WriteResult{Inserted: b.inserted, Duplicates: len(spans) - b.inserted}, nil
}

// insertStmt returns the writer's prepared insert of n spans. It must be
// called with wmu held and outside a write transaction.
func (s *Store) insertStmt(ctx context.Context, n int) (*sql.Stmt, error) {
	if st := s.ins[n]; st != nil {
		return st, nil
	}
	st, err := s.w.PrepareContext(ctx, insertSQL(n))
	if err != nil {
		return nil, err
	}
	if s.ins == nil {
		s.ins = map[int]*sql.Stmt{}
	}
	s.ins[n] = st
	return st, nil
}

func appendSpanArgs(args []any, sp *store.Span) []any {
	return append(args,
		sp.TraceID, sp.SpanID, sp.ParentID, sp.Name, sp.Kind, sp.Type, int64(sp.Status), sp.StatusMessage,
		sp.Start.UnixNano(), sp.End.UnixNano(),
		sp.Operation, sp.RequestModel, sp.ResponseModel, sp.Provider, sp.PromptSlug, sp.PromptVersion,
		sp.InputTokens, sp.OutputTokens, sp.CacheReadTokens, sp.CacheCreationTokens, sp.ReasoningTokens, sp.TotalTokens,
		sp.CostNanoUSD, sp.CostSource, sp.LLMRequest, sp.SessionID, sp.UserID, sp.TenantID, sp.ConversationID, sp.Environment,
		sp.ServiceName, sp.ScopeName, tagsJSON(sp.Tags), jsonOrEmpty(sp.Attributes, "{}"), jsonOrEmpty(sp.Resource, "{}"),
		jsonOrEmpty(sp.Events, "[]"))
}

type spanKey struct{ trace, span string }

// insertSpans inserts the spans in chunks of insertRows and collects the
// rollup deltas of those that were new.
func (s *Store) insertSpans(ctx context.Context, tx *sql.Tx, spans []store.Span) (*batch, error) {
	b := &batch{
		traces:  map[string][]*store.Span{},
		sess:    map[sessKey]*usageAgg{},
		ten:     map[tenKey]*usageAgg{},
		tenSess: map[tenSessKey]struct{}{},
	}
	var tagStmt *sql.Stmt
	args := make([]any, 0, insertRows*spanColumns)
	index := make(map[spanKey]int, insertRows)
	for len(spans) > 0 {
		chunk := spans[:min(insertRows, len(spans))]
		spans = spans[len(chunk):]
		st := s.ins[len(chunk)] // prepared by WriteSpans
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
		rows, err := tx.StmtContext(ctx, st).QueryContext(ctx, args...)
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
			if len(n.sp.Tags) == 0 {
				continue
			}
			if tagStmt == nil {
				if tagStmt, err = tx.PrepareContext(ctx, `INSERT OR IGNORE INTO span_tags (tag, span) VALUES (?, ?)`); err != nil {
					return nil, fmt.Errorf("sqlite: insert tags: %w", err)
				}
				defer tagStmt.Close()
			}
			for _, tag := range n.sp.Tags {
				if _, err := tagStmt.ExecContext(ctx, tag, n.id); err != nil {
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

var upsertTraceSQL = `INSERT INTO traces (` + traceCols + `) VALUES (` + placeholders(traceNCols) + `)
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

func (b *batch) apply(ctx context.Context, tx *sql.Tx) error {
	if b.inserted == 0 {
		return nil
	}
	if err := b.applyTraces(ctx, tx); err != nil {
		return err
	}
	if len(b.sess) > 0 {
		st, err := tx.PrepareContext(ctx, upsertSessSQL)
		if err != nil {
			return fmt.Errorf("sqlite: session rollup: %w", err)
		}
		defer st.Close()
		for k, a := range b.sess {
			if _, err := st.ExecContext(ctx, k.session, k.hour, k.tenant, a.InputTokens, a.OutputTokens,
				a.CacheReadTokens, a.CacheCreationTokens, a.ReasoningTokens, a.requests, a.cost, a.spans); err != nil {
				return fmt.Errorf("sqlite: session rollup: %w", err)
			}
		}
	}
	if len(b.ten) > 0 {
		st, err := tx.PrepareContext(ctx, upsertTenSQL)
		if err != nil {
			return fmt.Errorf("sqlite: tenant rollup: %w", err)
		}
		defer st.Close()
		for k, a := range b.ten {
			if _, err := st.ExecContext(ctx, k.tenant, k.hour, a.InputTokens, a.OutputTokens,
				a.CacheReadTokens, a.CacheCreationTokens, a.ReasoningTokens, a.requests, a.cost, a.spans); err != nil {
				return fmt.Errorf("sqlite: tenant rollup: %w", err)
			}
		}
	}
	if len(b.tenSess) > 0 {
		st, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO tenant_session_hour (tenant_id, hour, session_id) VALUES (?,?,?)`)
		if err != nil {
			return fmt.Errorf("sqlite: tenant sessions: %w", err)
		}
		defer st.Close()
		for k := range b.tenSess {
			if _, err := st.ExecContext(ctx, k.tenant, k.hour, k.session); err != nil {
				return fmt.Errorf("sqlite: tenant sessions: %w", err)
			}
		}
	}
	return nil
}

func (b *batch) applyTraces(ctx context.Context, tx *sql.Tx) error {
	sel, err := tx.PrepareContext(ctx, selectTraceRowSQL)
	if err != nil {
		return fmt.Errorf("sqlite: trace rollup: %w", err)
	}
	defer sel.Close()
	up, err := tx.PrepareContext(ctx, upsertTraceSQL)
	if err != nil {
		return fmt.Errorf("sqlite: trace rollup: %w", err)
	}
	defer up.Close()
	var tagStmt *sql.Stmt
	for _, id := range b.order {
		var row traceRow
		found := true
		if err := row.scan(sel.QueryRowContext(ctx, id)); errors.Is(err, sql.ErrNoRows) {
			found = false
		} else if err != nil {
			return fmt.Errorf("sqlite: trace rollup: %w", err)
		}
		if !found {
			row = traceRow{TraceSummary: store.TraceSummary{TraceID: id}}
		}
		oldTags := slices.Clone(row.Tags)
		for _, sp := range b.traces[id] {
			row.merge(sp, !found)
			found = true
		}
		if _, err := up.ExecContext(ctx, row.args()...); err != nil {
			return fmt.Errorf("sqlite: trace rollup: %w", err)
		}
		for _, tag := range row.Tags {
			if slices.Contains(oldTags, tag) {
				continue
			}
			if tagStmt == nil {
				if tagStmt, err = tx.PrepareContext(ctx, `INSERT OR IGNORE INTO trace_tags (tag, trace_id) VALUES (?, ?)`); err != nil {
					return fmt.Errorf("sqlite: trace tags: %w", err)
				}
				defer tagStmt.Close()
			}
			if _, err := tagStmt.ExecContext(ctx, tag, id); err != nil {
				return fmt.Errorf("sqlite: trace tags: %w", err)
			}
		}
	}
	return nil
}
