package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/agenttrace/agenttrace/store/internal/check"
	"github.com/agenttrace/agenttrace/store/internal/rollup"

	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/internal/summary"
)

// spanColumns is the number of columns insertSQL binds per span: the row
// id and spanCols.
const spanColumns = 1 + 24

// insertSQL inserts n spans with the row ids the writer gives them; spans
// already stored are ignored (their ids stay unused).
func insertSQL(n int) string {
	row := "(" + placeholders(spanColumns) + ")"
	return `INSERT OR IGNORE INTO spans (id, ` + spanCols + `) VALUES ` +
		strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}

// traceKey is a trace summary's key: summaries are per tenant and trace.
type traceKey struct {
	trace, tenant string
}

// batch accumulates the rollup deltas of the new spans of one write.
type batch struct {
	traces map[traceKey][]*store.Span
	order  []traceKey // in first-seen order, for determinism
	rollup.Deltas
	inserted int
	// attrs are the resolved attributions of the write's traces.
	attrs map[string]attribution
	// repairs are the traces whose stored spans attribution must bring up
	// to date; attrArgs the trace_attrs rows to write.
	repairs  []string
	attrArgs []any
	// absorbs are the traces whose tenant was none and now is one: their
	// summary of no tenant joins that tenant's (attribute sets it).
	absorbs []string
}

func jsonOrEmpty(b json.RawMessage, empty string) string {
	if len(b) == 0 {
		return empty
	}
	// The driver copies the text when it binds it, and a span's JSON is
	// not changed during WriteSpans: no need for a copy of our own.
	return unsafe.String(&b[0], len(b))
}

func tagsJSON(tags []string) string {
	if len(tags) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(tags) // []string cannot fail
	return string(b)
}

// writeReq is one WriteSpans call handed to the writer goroutine.
type writeReq struct {
	spans []store.Span
	// state is reqPending until the writer takes the call (reqTaken) or
	// the caller gives up on it first (reqAbandoned).
	state atomic.Int32
	res   store.WriteResult
	err   error
	done  chan struct{} // closed once res and err are final
}

const (
	reqPending int32 = iota
	reqTaken
	reqAbandoned
)

// maxGroupSpans bounds the spans of one group commit.
const maxGroupSpans = 16384

// WriteSpans implements store.Store. The spans are written by the writer
// goroutine, possibly in one transaction with other calls' spans; the call
// returns once that transaction has committed (or failed). A ctx done
// before the writer takes the call returns ctx.Err() and writes nothing;
// once taken, the call waits for the commit and reports its outcome.
func (s *Store) WriteSpans(ctx context.Context, spans []store.Span) (store.WriteResult, error) {
	for i := range spans {
		if err := check.Span(&spans[i]); err != nil {
			return store.WriteResult{}, err
		}
	}
	if len(spans) == 0 {
		return store.WriteResult{}, nil
	}
	if err := ctx.Err(); err != nil {
		return store.WriteResult{}, err
	}
	r := &writeReq{spans: spans, done: make(chan struct{})}
	s.qmu.RLock()
	if s.closed {
		s.qmu.RUnlock()
		return store.WriteResult{}, store.ErrClosed
	}
	select {
	case s.reqs <- r:
		s.qmu.RUnlock()
	case <-ctx.Done():
		s.qmu.RUnlock()
		return store.WriteResult{}, ctx.Err()
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqPending, reqAbandoned) {
			return store.WriteResult{}, ctx.Err()
		}
		<-r.done // taken: its transaction decides
	}
	return r.res, r.err
}

// writeLoop is the writer goroutine: it takes a call, adds every call
// already waiting (up to maxGroupSpans spans), writes them in one
// transaction and answers them all; until reqs is closed.
func (s *Store) writeLoop() {
	defer close(s.wdone)
	var group []*writeReq
	for r := range s.reqs {
		group = append(group[:0], r)
		n := len(r.spans)
	more:
		for n < maxGroupSpans {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break more
				}
				group = append(group, r)
				n += len(r.spans)
			default:
				break more
			}
		}
		s.commitGroup(group)
		clear(group)
	}
}

// commitGroup writes the calls of group that are still wanted and answers
// them.
func (s *Store) commitGroup(group []*writeReq) {
	live := make([]*writeReq, 0, len(group))
	for _, r := range group {
		if r.state.CompareAndSwap(reqPending, reqTaken) {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	defer func() {
		// A bug must not leave the callers waiting forever, nor kill
		// the process: the transaction was rolled back by writeTx.
		if v := recover(); v != nil {
			for _, r := range live {
				r.res, r.err = store.WriteResult{}, fmt.Errorf("sqlite: writer panic: %v", v)
			}
		}
		for _, r := range live {
			close(r.done)
		}
	}()
	s.writeGroup(live)
}

// writeGroup writes the calls' spans in one transaction and sets each
// call's result. If that transaction fails, each call is written again in
// a transaction of its own, so that a call whose spans cannot be written
// fails alone. (Failures are rare: savepoints per call would make every
// write pay for them, copying pages to the statement journal.)
func (s *Store) writeGroup(reqs []*writeReq) {
	err := s.writeTx(reqs)
	if err != nil && len(reqs) > 1 {
		for _, r := range reqs {
			r.err = s.writeTx([]*writeReq{r})
			s.noteWrite(r.err)
		}
		return
	}
	s.noteWrite(err)
	for _, r := range reqs {
		r.err = err
	}
}

// noteWrite keeps the outcome of the last write transaction for Ping.
func (s *Store) noteWrite(err error) {
	if err == nil {
		if s.writeErr.Load() != nil {
			s.writeErr.Store(nil)
		}
		return
	}
	s.writeErr.Store(&err)
}

// writeTx writes the calls' spans in one transaction and, once it has
// committed, sets each call's result.
func (s *Store) writeTx(reqs []*writeReq) error {
	ctx := context.Background() // shared by the calls: none may cancel it
	if s.wst == nil {
		// Prepared once, outside any transaction (which would hold the
		// only writer connection).
		if err := s.prepareWriter(ctx); err != nil {
			return err
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	w := &writer{ctx: ctx, tx: tx, st: s.wst, hook: s.insertHook}
	// Row ids are given by the writer from the largest stored one, read
	// under the write lock (another process may share the file).
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) + 1 FROM spans`).Scan(&w.nextID); err != nil {
		return fmt.Errorf("sqlite: next span id: %w", err)
	}
	b := newBatch()
	// The calls' spans are copied: attribution fills them in, and a call
	// retried alone must start from what its caller passed.
	copies := make([][]store.Span, len(reqs))
	var all []*store.Span
	for i, r := range reqs {
		copies[i] = slices.Clone(r.spans)
		for j := range copies[i] {
			all = append(all, &copies[i][j])
		}
	}
	conflicts, err := w.attribute(all, b)
	if err != nil {
		return err
	}
	inserted := make([]int, len(reqs))
	for i := range reqs {
		news, err := w.insertSpans(copies[i])
		if err != nil {
			return err
		}
		inserted[i] = len(news)
		for _, sp := range news {
			b.add(sp)
		}
	}
	if err := w.storeAttribution(b); err != nil {
		return err
	}
	if err := w.apply(b); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	s.writes.Add(1)
	k := 0
	for i, r := range reqs {
		r.res = store.WriteResult{Inserted: inserted[i], Duplicates: len(r.spans) - inserted[i]}
		for range r.spans {
			r.res.Conflicts += conflicts[k]
			k++
		}
	}
	return nil
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
	// late attribution (attribution.go)
	selectAttrs, upsertAttrs map[int]*sql.Stmt
	updateAttrs              map[int]*sql.Stmt
	selectTraceSpans         *sql.Stmt
}

func (s *Store) prepareWriter(ctx context.Context) error {
	ws := &writerStmts{insert: map[int]*sql.Stmt{}, selectTraces: map[int]*sql.Stmt{}, upsertTraces: map[int]*sql.Stmt{},
		selectAttrs: map[int]*sql.Stmt{}, upsertAttrs: map[int]*sql.Stmt{}, updateAttrs: map[int]*sql.Stmt{}}
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
		if ws.selectAttrs[n], err = prep(selectAttrsSQL(n)); err != nil {
			return err
		}
		if ws.upsertAttrs[n], err = prep(upsertAttrsSQL(n)); err != nil {
			return err
		}
		if ws.updateAttrs[n], err = prep(updateAttrsSQL(n)); err != nil {
			return err
		}
	}
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{
		{&ws.spanTag, `INSERT OR IGNORE INTO span_tags (tag, span) VALUES (?, ?)`},
		{&ws.traceTag, `INSERT OR IGNORE INTO trace_tags (tag, trace_id, tenant_id) VALUES (?, ?, ?)`},
		{&ws.sess, upsertSessSQL},
		{&ws.ten, upsertTenSQL},
		{&ws.tenSess, `INSERT OR IGNORE INTO tenant_session_hour (tenant_id, hour, session_id) VALUES (?,?,?)`},
		{&ws.selectTraceSpans, selectTraceSpansSQL},
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
	// nextID is the row id of the next span inserted.
	nextID int64
	args   []any
	detail []byte
	ends   []int
	// hook is the Store's insertHook.
	hook func(spans []store.Span) error
}

func (w *writer) exec(st *sql.Stmt, args ...any) error {
	_, err := w.tx.StmtContext(w.ctx, st).ExecContext(w.ctx, args...)
	return err
}

// Values of the spans table's llm column (schema version 5): 0 for a span
// that is not a model call, 1 for a model call, 2 for a model call whose
// usage is unknown (version 4 and before stored 0 or 1).
const (
	llmNone    = 0
	llmCall    = 1
	llmUnknown = 2
)

func llmCode(sp *store.Span) int64 {
	switch {
	case !sp.LLMRequest:
		return llmNone
	case sp.UsageUnknown:
		return llmUnknown
	}
	return llmCall
}

func appendSpanArgs(args []any, sp *store.Span, detail string) []any {
	return append(args,
		sp.TraceID, sp.SpanID, sp.Name, sp.Type, int64(sp.Status), sp.Start.UnixNano(),
		sp.RequestModel, sp.ResponseModel, sp.PromptSlug,
		sp.InputTokens, sp.OutputTokens, sp.CacheReadTokens, sp.CacheCreationTokens, sp.ReasoningTokens, sp.CostNanoUSD, llmCode(sp),
		sp.SessionID, sp.UserID, sp.TenantID, detail,
		jsonOrEmpty(sp.Attributes, "{}"), jsonOrEmpty(sp.Resource, "{}"), jsonOrEmpty(sp.Events, "[]"), int64(sp.Inherited))
}

// insertSpans inserts the spans in multi-row chunks and their tags, and
// returns those that were new (not already stored).
func (w *writer) insertSpans(spans []store.Span) ([]*store.Span, error) {
	if w.hook != nil {
		if err := w.hook(spans); err != nil {
			return nil, err
		}
	}
	news := make([]*store.Span, 0, len(spans))
	var idx []int
	for len(spans) > 0 {
		chunk := spans[:nextChunk(len(spans))]
		spans = spans[len(chunk):]
		first := w.nextID
		w.nextID += int64(len(chunk))
		// The chunk's detail arrays in one string: one allocation.
		w.detail = w.detail[:0]
		ends := w.ends[:0]
		for i := range chunk {
			w.detail = appendDetail(w.detail, &chunk[i])
			ends = append(ends, len(w.detail))
		}
		w.ends = ends
		details := string(w.detail)
		args := w.args[:0]
		from := 0
		for i := range chunk {
			args = append(args, first+int64(i))
			args = appendSpanArgs(args, &chunk[i], details[from:ends[i]])
			from = ends[i]
		}
		w.args = args
		res, err := w.tx.StmtContext(w.ctx, w.st.insert[len(chunk)]).ExecContext(w.ctx, args...)
		clear(args) // do not pin the spans' strings
		if err != nil {
			return nil, fmt.Errorf("sqlite: insert spans: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("sqlite: insert spans: %w", err)
		}
		idx = idx[:0]
		if n == int64(len(chunk)) {
			for i := range chunk {
				idx = append(idx, i)
			}
		} else if idx, err = w.inserted(idx, first, len(chunk)); err != nil {
			return nil, err
		}
		for _, i := range idx {
			sp := &chunk[i]
			news = append(news, sp)
			for _, tag := range sp.Tags {
				if err := w.exec(w.st.spanTag, tag, first+int64(i)); err != nil {
					return nil, fmt.Errorf("sqlite: insert tags: %w", err)
				}
			}
		}
	}
	return news, nil
}

// inserted appends to idx the indexes in a chunk of n spans, given row ids
// from first on, of those the insert stored: some were already stored and
// ignored, and their ids are not in the table.
func (w *writer) inserted(idx []int, first int64, n int) ([]int, error) {
	rows, err := w.tx.QueryContext(w.ctx, `SELECT id FROM spans WHERE id >= ? AND id < ? ORDER BY id`, first, first+int64(n))
	if err != nil {
		return nil, fmt.Errorf("sqlite: insert spans: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: insert spans: %w", err)
		}
		idx = append(idx, int(id-first))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: insert spans: %w", err)
	}
	return idx, nil
}

// newBatch returns an empty batch.
func newBatch() *batch {
	return &batch{
		traces: map[traceKey][]*store.Span{},
		Deltas: rollup.NewDeltas(),
		attrs:  map[string]attribution{},
	}
}

func (b *batch) add(sp *store.Span) {
	b.inserted++
	k := traceKey{sp.TraceID, sp.TenantID}
	if _, ok := b.traces[k]; !ok {
		b.order = append(b.order, k)
	}
	b.traces[k] = append(b.traces[k], sp)
	b.Count(sp, 1)
}

// satSet is the SET clause adding excluded's values to a rollup row's,
// saturating at 2^63-1 (store.SatAdd): SQLite would turn an overflowing
// integer sum into a REAL.
func satSet(cols ...string) string {
	sets := make([]string, len(cols))
	for i, c := range cols {
		sets[i] = fmt.Sprintf("%[1]s = CASE WHEN %[1]s > %[2]d - excluded.%[1]s THEN %[2]d ELSE %[1]s + excluded.%[1]s END",
			c, int64(math.MaxInt64))
	}
	return strings.Join(sets, ",\n\t")
}

var rollupSumCols = []string{"input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
	"reasoning_tokens", "requests", "cost_nano", "spans", "unknown_usage"}

var upsertSessSQL = `INSERT INTO usage_session_hour (session_id, hour, tenant_id,
	input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens, requests, cost_nano, spans, unknown_usage)
	VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
	ON CONFLICT (session_id, hour, tenant_id) DO UPDATE SET
	` + satSet(rollupSumCols...)

var upsertTenSQL = `INSERT INTO usage_tenant_hour (tenant_id, hour,
	input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens, requests, cost_nano, spans, unknown_usage)
	VALUES (?,?,?,?,?,?,?,?,?,?,?)
	ON CONFLICT (tenant_id, hour) DO UPDATE SET
	` + satSet(rollupSumCols...)

// upsertTracesSQL writes n trace summaries, replacing stored ones.
func upsertTracesSQL(n int) string {
	row := "(" + placeholders(traceNCols) + ")"
	return `INSERT INTO traces (` + traceCols + `) VALUES ` + strings.TrimSuffix(strings.Repeat(row+",", n), ",") + upsertTraceSet
}

const upsertTraceSet = `
	ON CONFLICT (trace_id, tenant_id) DO UPDATE SET
	name = excluded.name, status = excluded.status, has_root = excluded.has_root,
	start_ns = excluded.start_ns, end_ns = excluded.end_ns, duration_ns = excluded.duration_ns,
	min_start_ns = excluded.min_start_ns, max_end_ns = excluded.max_end_ns,
	span_count = excluded.span_count, error_count = excluded.error_count,
	input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
	cache_read_tokens = excluded.cache_read_tokens, cache_creation_tokens = excluded.cache_creation_tokens,
	reasoning_tokens = excluded.reasoning_tokens, total_tokens = excluded.total_tokens,
	requests = excluded.requests, cost_nano = excluded.cost_nano, models = excluded.models,
	input = excluded.input, output = excluded.output, session_id = excluded.session_id,
	user_id = excluded.user_id, environment = excluded.environment,
	tags = excluded.tags`

func (w *writer) apply(b *batch) error {
	if b.inserted == 0 && len(b.Session) == 0 && len(b.Tenant) == 0 {
		return nil
	}
	if err := w.applyTraces(b); err != nil {
		return err
	}
	for k, a := range b.Session {
		if err := w.exec(w.st.sess, k.Session, k.Hour, k.Tenant, a.InputTokens, a.OutputTokens,
			a.CacheReadTokens, a.CacheCreationTokens, a.ReasoningTokens, a.Requests, a.Cost, a.Spans, a.Unknown); err != nil {
			return fmt.Errorf("sqlite: session rollup: %w", err)
		}
	}
	for k, a := range b.Tenant {
		if err := w.exec(w.st.ten, k.Tenant, k.Hour, a.InputTokens, a.OutputTokens,
			a.CacheReadTokens, a.CacheCreationTokens, a.ReasoningTokens, a.Requests, a.Cost, a.Spans, a.Unknown); err != nil {
			return fmt.Errorf("sqlite: tenant rollup: %w", err)
		}
	}
	for k := range b.TenantSessions {
		if err := w.exec(w.st.tenSess, k.Tenant, k.Hour, k.Session); err != nil {
			return fmt.Errorf("sqlite: tenant sessions: %w", err)
		}
	}
	return w.pruneTenantSessions(b)
}

// applyTraces merges the new spans into their summaries (one per tenant
// and trace): the stored summaries of the write's traces are read in
// chunks, merged in Go, and written back with multi-row upserts. A trace
// that took a tenant (b.absorbs) first folds its summary of no tenant
// into that tenant's.
func (w *writer) applyTraces(b *batch) error {
	var ids []string
	byTrace := map[string][]traceKey{}
	for _, k := range b.order {
		if _, ok := byTrace[k.trace]; !ok {
			ids = append(ids, k.trace)
		}
		byTrace[k.trace] = append(byTrace[k.trace], k)
	}
	for _, id := range b.absorbs {
		if _, ok := byTrace[id]; !ok {
			ids = append(ids, id)
			byTrace[id] = nil
		}
	}
	absorbs := make(map[string]bool, len(b.absorbs))
	for _, id := range b.absorbs {
		absorbs[id] = true
	}
	for len(ids) > 0 {
		chunk := ids[:nextChunk(len(ids))]
		ids = ids[len(chunk):]
		stored, err := w.storedTraces(chunk)
		if err != nil {
			return err
		}
		// rows are the summaries to write, with the tags each had.
		type out struct {
			row     *traceRow
			oldTags []string
		}
		var rows []out
		index := map[traceKey]int{}
		get := func(k traceKey) *traceRow {
			if i, ok := index[k]; ok {
				return rows[i].row
			}
			r, ok := stored[k]
			if !ok {
				r = &traceRow{summary.Row{TraceSummary: store.TraceSummary{TraceID: k.trace, TenantID: k.tenant}}}
			}
			index[k] = len(rows)
			rows = append(rows, out{r, slices.Clone(r.Tags)})
			return r
		}
		for _, id := range chunk {
			a := b.attrs[id]
			if from, ok := stored[traceKey{id, ""}]; ok && absorbs[id] && a.Vals[fTenant] != "" {
				get(traceKey{id, a.Vals[fTenant]}).Absorb(&from.Row)
				if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM traces WHERE trace_id = ? AND tenant_id = ''`, id); err != nil {
					return fmt.Errorf("sqlite: trace rollup: %w", err)
				}
				if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM trace_tags WHERE trace_id = ? AND tenant_id = ''`, id); err != nil {
					return fmt.Errorf("sqlite: trace tags: %w", err)
				}
			}
			for _, k := range byTrace[id] {
				row := get(k)
				for _, sp := range b.traces[k] {
					row.Merge(sp, row.SpanCount == 0)
				}
			}
			if i, ok := index[traceKey{id, a.Vals[fTenant]}]; ok {
				// The summary of the trace's tenant has its attribution.
				r := rows[i].row
				r.SessionID, r.UserID, r.Environment = a.Vals[fSession], a.Vals[fUser], a.Vals[fEnv]
			}
		}
		up := make([]any, 0, len(rows)*traceNCols)
		for _, o := range rows {
			up = append(up, o.row.args()...)
			for _, tag := range o.row.Tags {
				if slices.Contains(o.oldTags, tag) {
					continue
				}
				if err := w.exec(w.st.traceTag, tag, o.row.TraceID, o.row.TenantID); err != nil {
					return fmt.Errorf("sqlite: trace tags: %w", err)
				}
			}
		}
		for len(up) > 0 {
			n := nextChunk(len(up) / traceNCols)
			if err := w.exec(w.st.upsertTraces[n], up[:n*traceNCols]...); err != nil {
				return fmt.Errorf("sqlite: trace rollup: %w", err)
			}
			up = up[n*traceNCols:]
		}
	}
	return nil
}

// storedTraces reads the stored summaries of the traces ids (every
// tenant's).
func (w *writer) storedTraces(ids []string) (map[traceKey]*traceRow, error) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	stored := make(map[traceKey]*traceRow, len(ids))
	rows, err := w.tx.StmtContext(w.ctx, w.st.selectTraces[len(ids)]).QueryContext(w.ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: trace rollup: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r := &traceRow{}
		if err := r.scan(rows); err != nil {
			return nil, fmt.Errorf("sqlite: trace rollup: %w", err)
		}
		stored[traceKey{r.TraceID, r.TenantID}] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: trace rollup: %w", err)
	}
	return stored, nil
}
