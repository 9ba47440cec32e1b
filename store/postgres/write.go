package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agenttrace/agenttrace/store/internal/check"
	"github.com/agenttrace/agenttrace/store/internal/rollup"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/internal/summary"
)

// rollup.HourNS and dayNS are the widths of a usage rollup bucket and of a spans
// partition.
const (
	dayNS = 24 * rollup.HourNS
)

func timeNS(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// Values of the spans table's llm column: 0 not a model call, 1 a model
// call, 2 a model call of unknown usage.
const (
	llmNone    = 0
	llmCall    = 1
	llmUnknown = 2
)

func llmCode(sp *store.Span) int16 {
	switch {
	case !sp.LLMRequest:
		return llmNone
	case sp.UsageUnknown:
		return llmUnknown
	}
	return llmCall
}

// traceKey is a trace summary's key: summaries are per tenant and trace.
type traceKey struct {
	trace, tenant string
}

// batch accumulates what one write changes besides the spans.
type batch struct {
	traces map[traceKey][]*store.Span
	order  []traceKey
	rollup.Deltas
	attrs   map[string]attribution
	repairs []string
	// changed are the traces whose trace_attrs row the write changes.
	changed []string
	// absorbs are the traces whose tenant was none and now is one: their
	// summary of no tenant joins that tenant's.
	absorbs []string
}

func newBatch() *batch {
	return &batch{
		traces: map[traceKey][]*store.Span{},
		Deltas: rollup.NewDeltas(),
		attrs:  map[string]attribution{},
	}
}

func (b *batch) add(sp *store.Span) {
	k := traceKey{sp.TraceID, sp.TenantID}
	if _, ok := b.traces[k]; !ok {
		b.order = append(b.order, k)
	}
	b.traces[k] = append(b.traces[k], sp)
	b.Count(sp, 1)
}

// maxAttempts bounds the retries of a write transaction that failed with
// a deadlock or a serialization failure.
const maxAttempts = 6

// WriteSpans implements store.Store: one transaction, committed before it
// returns nil.
func (s *Store) WriteSpans(ctx context.Context, spans []store.Span) (store.WriteResult, error) {
	for i := range spans {
		if err := check.Span(&spans[i]); err != nil {
			return store.WriteResult{}, err
		}
	}
	if s.closed.Load() {
		return store.WriteResult{}, store.ErrClosed
	}
	if len(spans) == 0 {
		return store.WriteResult{}, nil
	}
	for attempt := 1; ; attempt++ {
		err := s.ensurePartitions(ctx, spans)
		var res store.WriteResult
		if err == nil {
			res, err = s.writeTx(ctx, spans)
		}
		if err == nil {
			return res, nil
		}
		if s.closed.Load() {
			return store.WriteResult{}, fmt.Errorf("postgres: write spans: %w", errors.Join(store.ErrClosed, err))
		}
		var pe *pgconn.PgError
		retry := false
		if errors.As(err, &pe) {
			switch pe.Code {
			case "40P01", "40001": // deadlock, serialization failure
				retry = true
			case "23514": // no partition for a row: dropped since cached
				s.forgetPartitions()
				retry = true
			}
		}
		if !retry || attempt >= maxAttempts || ctx.Err() != nil {
			return store.WriteResult{}, fmt.Errorf("postgres: write spans: %w", err)
		}
		time.Sleep(time.Duration(attempt) * 5 * time.Millisecond)
	}
}

// traceLockKey is the advisory lock key of a trace id.
func traceLockKey(id string) int64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return int64(h.Sum64())
}

// writeTx writes spans in one transaction.
func (s *Store) writeTx(ctx context.Context, in []store.Span) (store.WriteResult, error) {
	// The spans are copied: attribution fills them in, and a retry must
	// start from what the caller passed.
	spans := slices.Clone(in)
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return store.WriteResult{}, err
	}
	defer tx.Rollback(context.Background())

	b := newBatch()
	byTrace := map[string][]*store.Span{}
	var order []string
	for i := range spans {
		sp := &spans[i]
		sp.Inherited = 0 // what a writer passes is what the span carries
		if _, ok := byTrace[sp.TraceID]; !ok {
			order = append(order, sp.TraceID)
		}
		byTrace[sp.TraceID] = append(byTrace[sp.TraceID], sp)
	}
	// Lock the traces in one global order (by key): writers of the same
	// traces on any replica wait for each other, and never deadlock.
	keys := make([]int64, 0, len(order))
	for _, id := range order {
		keys = append(keys, traceLockKey(id))
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k`, keys); err != nil {
		return store.WriteResult{}, fmt.Errorf("lock traces: %w", err)
	}

	conflicts, err := s.attribute(ctx, tx, order, byTrace, b)
	if err != nil {
		return store.WriteResult{}, err
	}
	news, err := insertSpans(ctx, tx, spans)
	if err != nil {
		return store.WriteResult{}, err
	}
	for _, sp := range news {
		b.add(sp)
	}
	for _, id := range b.repairs {
		a := b.attrs[id]
		if err := repair(ctx, tx, id, &a, b); err != nil {
			return store.WriteResult{}, err
		}
	}
	if err := storeAttrs(ctx, tx, b); err != nil {
		return store.WriteResult{}, err
	}
	if err := applyTraces(ctx, tx, b); err != nil {
		return store.WriteResult{}, err
	}
	if err := applyRollups(ctx, tx, b); err != nil {
		return store.WriteResult{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return store.WriteResult{}, fmt.Errorf("commit: %w", err)
	}
	res := store.WriteResult{Inserted: len(news), Duplicates: len(spans) - len(news)}
	for i := range spans {
		res.Conflicts += conflicts[&spans[i]]
	}
	return res, nil
}

// attribute resolves the attribution of the write's traces, fills the
// spans' missing fields, and notes the traces whose stored spans need a
// repair.
func (s *Store) attribute(ctx context.Context, tx pgx.Tx, order []string, byTrace map[string][]*store.Span, b *batch) (map[*store.Span]int, error) {
	stored := map[string]attribution{}
	rows, err := tx.Query(ctx, `SELECT trace_id, session_id, user_id, tenant_id, environment, root FROM trace_attrs WHERE trace_id = ANY($1)`, order)
	if err != nil {
		return nil, fmt.Errorf("trace attribution: %w", err)
	}
	for rows.Next() {
		var id string
		var a attribution
		var root int16
		if err := rows.Scan(&id, &a.Vals[fSession], &a.Vals[fUser], &a.Vals[fTenant], &a.Vals[fEnv], &root); err != nil {
			rows.Close()
			return nil, fmt.Errorf("trace attribution: %w", err)
		}
		a.Root = store.Fields(root)
		stored[id] = a
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("trace attribution: %w", err)
	}
	conflicts := map[*store.Span]int{}
	for _, id := range order {
		a, found := stored[id]
		o := a.Update(byTrace[id], found, conflicts)
		b.attrs[id] = a
		if !o.Write {
			continue
		}
		if o.Repair {
			b.repairs = append(b.repairs, id)
		}
		if o.Absorb {
			b.absorbs = append(b.absorbs, id)
		}
		b.changed = append(b.changed, id)
	}
	return conflicts, nil
}

// pgArray formats a text[] literal.
func pgArray(list []string) string {
	if len(list) == 0 {
		return "{}"
	}
	var sb strings.Builder
	sb.WriteByte('{')
	for i, v := range list {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('"')
		for j := 0; j < len(v); j++ {
			if v[j] == '"' || v[j] == '\\' {
				sb.WriteByte('\\')
			}
			sb.WriteByte(v[j])
		}
		sb.WriteByte('"')
	}
	sb.WriteByte('}')
	return sb.String()
}

func jsonOrEmpty(b json.RawMessage, empty string) string {
	if len(b) == 0 {
		return empty
	}
	return string(b)
}

// insertSpansSQL inserts spans given as one array per column (the tags
// as text[] literals); spans already stored are skipped, and the new ones'
// keys returned.
var insertSpansSQL = func() string {
	types := []string{"text", "text", "text", "text", "text", "text", "smallint", "text", "bigint", "bigint",
		"text", "text", "text", "text", "text", "text",
		"bigint", "bigint", "bigint", "bigint", "bigint", "bigint",
		"bigint", "text", "text", "smallint", "text", "text", "text", "text",
		"text", "text", "text", "text", "smallint", "text", "text", "text"}
	cols := strings.Split(strings.Join(strings.Fields(spanCols), ""), ",")
	if len(cols) != len(types) {
		panic("postgres: span columns and types disagree")
	}
	args := make([]string, len(types))
	sel := make([]string, len(types))
	for i, t := range types {
		args[i] = fmt.Sprintf("$%d::%s[]", i+1, t)
		sel[i] = cols[i]
		if cols[i] == "tags" {
			sel[i] = "tags::text[]"
		}
	}
	return `INSERT INTO spans (` + spanCols + `) SELECT ` + strings.Join(sel, ", ") +
		` FROM unnest(` + strings.Join(args, ", ") + `) AS u(` + strings.Join(cols, ", ") + `)
		ON CONFLICT DO NOTHING RETURNING trace_id, span_id, start_ns`
}()

type spanKey struct {
	trace, span string
	start       int64
}

// insertSpans inserts the spans with one statement and returns those that
// were new (a span repeated within spans counts once).
func insertSpans(ctx context.Context, tx pgx.Tx, spans []store.Span) ([]*store.Span, error) {
	n := len(spans)
	var (
		traceID, spanID, parentID, name, kind, typ, statusMsg           = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		operation, reqModel, respModel, provider, promptSlug, promptVer = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		costSource, priceVer, session, user, tenant, conv, env          = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		service, scope, tags, attrs, resource, events                   = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		status, llm, inherited                                          = make([]int16, n), make([]int16, n), make([]int16, n)
		start, end, in, out, cr, cc, rt, tt, cost                       = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	)
	first := make(map[spanKey]int, n)
	for i := range spans {
		sp := &spans[i]
		traceID[i], spanID[i], parentID[i], name[i], kind[i], typ[i] = sp.TraceID, sp.SpanID, sp.ParentID, sp.Name, sp.Kind, sp.Type
		status[i], statusMsg[i] = int16(sp.Status), sp.StatusMessage
		start[i], end[i] = sp.Start.UnixNano(), sp.End.UnixNano()
		operation[i], reqModel[i], respModel[i], provider[i], promptSlug[i], promptVer[i] = sp.Operation, sp.RequestModel, sp.ResponseModel, sp.Provider, sp.PromptSlug, sp.PromptVersion
		in[i], out[i], cr[i], cc[i], rt[i], tt[i] = sp.InputTokens, sp.OutputTokens, sp.CacheReadTokens, sp.CacheCreationTokens, sp.ReasoningTokens, sp.TotalTokens
		cost[i], costSource[i], priceVer[i], llm[i] = sp.CostNanoUSD, sp.CostSource, sp.PriceTableVersion, llmCode(sp)
		session[i], user[i], tenant[i], conv[i], env[i] = sp.SessionID, sp.UserID, sp.TenantID, sp.ConversationID, sp.Environment
		service[i], scope[i], tags[i], inherited[i] = sp.ServiceName, sp.ScopeName, pgArray(sp.Tags), int16(sp.Inherited)
		attrs[i], resource[i], events[i] = jsonOrEmpty(sp.Attributes, "{}"), jsonOrEmpty(sp.Resource, "{}"), jsonOrEmpty(sp.Events, "[]")
		k := spanKey{sp.TraceID, sp.SpanID, start[i]}
		if _, ok := first[k]; !ok {
			first[k] = i
		}
	}
	rows, err := tx.Query(ctx, insertSpansSQL, traceID, spanID, parentID, name, kind, typ, status, statusMsg, start, end,
		operation, reqModel, respModel, provider, promptSlug, promptVer, in, out, cr, cc, rt, tt,
		cost, costSource, priceVer, llm, session, user, tenant, conv, env, service, scope, tags, inherited, attrs, resource, events)
	if err != nil {
		return nil, fmt.Errorf("insert spans: %w", err)
	}
	var idx []int
	for rows.Next() {
		var k spanKey
		if err := rows.Scan(&k.trace, &k.span, &k.start); err != nil {
			rows.Close()
			return nil, fmt.Errorf("insert spans: %w", err)
		}
		idx = append(idx, first[k])
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("insert spans: %w", err)
	}
	slices.Sort(idx) // request order: the first span stored decides
	news := make([]*store.Span, len(idx))
	for j, i := range idx {
		news[j] = &spans[i]
	}
	return news, nil
}

// repair brings the stored spans of trace id up to date with a: each span
// whose fields change is rewritten, and its usage moved between rollup
// cells (added to b as deltas).
func repair(ctx context.Context, tx pgx.Tx, id string, a *attribution, b *batch) error {
	rows, err := tx.Query(ctx, `SELECT span_id, parent_id, start_ns, input_tokens, output_tokens, cache_read_tokens,
		cache_creation_tokens, reasoning_tokens, cost_nano, llm, session_id, user_id, tenant_id, environment, inherited
		FROM spans WHERE trace_id = $1`, id)
	if err != nil {
		return fmt.Errorf("attribution repair: %w", err)
	}
	var stored []store.Span
	for rows.Next() {
		var sp store.Span
		var st int64
		var llm, inh int16
		if err := rows.Scan(&sp.SpanID, &sp.ParentID, &st, &sp.InputTokens, &sp.OutputTokens, &sp.CacheReadTokens, &sp.CacheCreationTokens,
			&sp.ReasoningTokens, &sp.CostNanoUSD, &llm, &sp.SessionID, &sp.UserID, &sp.TenantID, &sp.Environment, &inh); err != nil {
			rows.Close()
			return fmt.Errorf("attribution repair: %w", err)
		}
		sp.LLMRequest, sp.UsageUnknown = llm != llmNone, llm == llmUnknown
		sp.Inherited = store.Fields(inh)
		sp.TraceID, sp.Start = id, timeNS(st)
		stored = append(stored, sp)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("attribution repair: %w", err)
	}
	type fieldsKey struct {
		vals [nFields]string
		inh  store.Fields
	}
	groups := map[fieldsKey][]string{}
	var order []fieldsKey
	for i := range stored {
		before := stored[i]
		after := &stored[i]
		a.Fill(after)
		k := fieldsKey{[nFields]string{after.SessionID, after.UserID, after.TenantID, after.Environment}, after.Inherited}
		if k == (fieldsKey{[nFields]string{before.SessionID, before.UserID, before.TenantID, before.Environment}, before.Inherited}) {
			continue
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], after.SpanID)
		b.Move(&before, after)
	}
	for _, k := range order {
		if _, err := tx.Exec(ctx, `UPDATE spans SET session_id = $1, user_id = $2, tenant_id = $3, environment = $4, inherited = $5
			WHERE trace_id = $6 AND span_id = ANY($7)`,
			k.vals[fSession], k.vals[fUser], k.vals[fTenant], k.vals[fEnv], int16(k.inh), id, groups[k]); err != nil {
			return fmt.Errorf("attribution repair: %w", err)
		}
	}
	return nil
}

// storeAttrs writes the trace_attrs rows the write changed.
func storeAttrs(ctx context.Context, tx pgx.Tx, b *batch) error {
	if len(b.changed) == 0 {
		return nil
	}
	ids := slices.Clone(b.changed)
	slices.Sort(ids)
	n := len(ids)
	sess, user, ten, env, root := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]int16, n)
	for i, id := range ids {
		a := b.attrs[id]
		sess[i], user[i], ten[i], env[i], root[i] = a.Vals[fSession], a.Vals[fUser], a.Vals[fTenant], a.Vals[fEnv], int16(a.Root)
	}
	_, err := tx.Exec(ctx, `INSERT INTO trace_attrs (trace_id, session_id, user_id, tenant_id, environment, root)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::smallint[])
		ON CONFLICT (trace_id) DO UPDATE SET session_id = excluded.session_id, user_id = excluded.user_id,
		tenant_id = excluded.tenant_id, environment = excluded.environment, root = excluded.root`,
		ids, sess, user, ten, env, root)
	if err != nil {
		return fmt.Errorf("trace attribution: %w", err)
	}
	return nil
}

// upsertTracesSQL writes trace summaries given as one array per column,
// replacing stored ones.
var upsertTracesSQL = func() string {
	types := []string{"text", "text", "text", "smallint", "boolean", "bigint", "bigint", "bigint", "bigint", "bigint",
		"bigint", "bigint", "bigint", "bigint", "bigint", "bigint",
		"bigint", "bigint", "bigint", "bigint", "text", "text", "text", "text", "text",
		"text", "text"}
	cols := strings.Split(strings.Join(strings.Fields(traceCols), ""), ",")
	if len(cols) != len(types) {
		panic("postgres: trace columns and types disagree")
	}
	args := make([]string, len(types))
	sel := make([]string, len(types))
	var set []string
	for i, t := range types {
		args[i] = fmt.Sprintf("$%d::%s[]", i+1, t)
		sel[i] = cols[i]
		if cols[i] == "tags" || cols[i] == "models" {
			sel[i] = cols[i] + "::text[]"
		}
		if i >= 2 {
			set = append(set, cols[i]+" = excluded."+cols[i])
		}
	}
	return `INSERT INTO traces (` + traceCols + `) SELECT ` + strings.Join(sel, ", ") +
		` FROM unnest(` + strings.Join(args, ", ") + `) AS u(` + strings.Join(cols, ", ") + `)
		ON CONFLICT (tenant_id, trace_id) DO UPDATE SET ` + strings.Join(set, ", ")
}()

// scan reads a traces row.
func (r *traceRow) scan(sc pgx.Row) error { return r.scanWith(sc) }

// scanWith reads a row of traceCols followed by more columns.
func (r *traceRow) scanWith(sc pgx.Row, more ...any) error {
	var st, en, dur int64
	var status int16
	err := sc.Scan(append([]any{&r.TenantID, &r.TraceID, &r.Name, &status, &r.HasRoot, &st, &en, &dur, &r.MinStart, &r.MaxEnd,
		&r.SpanCount, &r.ErrorCount, &r.InputTokens, &r.OutputTokens, &r.CacheReadTokens, &r.CacheCreationTokens,
		&r.ReasoningTokens, &r.TotalTokens, &r.Requests, &r.CostNanoUSD, &r.Models, &r.Input, &r.Output,
		&r.SessionID, &r.UserID, &r.Environment, &r.Tags}, more...)...)
	if err != nil {
		return err
	}
	r.Status = store.Status(status)
	r.Start, r.End, r.Duration = timeNS(st), timeNS(en), time.Duration(dur)
	if len(r.Models) == 0 {
		r.Models = nil
	}
	if len(r.Tags) == 0 {
		r.Tags = nil
	}
	return nil
}

// applyTraces merges the new spans into their summaries (one per tenant
// and trace): the stored summaries of the write's traces are read with one
// query, merged in Go (under the traces' locks), and written back with one
// upsert. A trace that took a tenant (b.absorbs) first folds its summary
// of no tenant into that tenant's.
func applyTraces(ctx context.Context, tx pgx.Tx, b *batch) error {
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
	if len(ids) == 0 {
		return nil
	}
	absorbs := make(map[string]bool, len(b.absorbs))
	for _, id := range b.absorbs {
		absorbs[id] = true
	}
	rs, err := tx.Query(ctx, `SELECT `+traceCols+` FROM traces WHERE trace_id = ANY($1)`, ids)
	if err != nil {
		return fmt.Errorf("trace rollup: %w", err)
	}
	stored := map[traceKey]*traceRow{}
	for rs.Next() {
		r := &traceRow{}
		if err := r.scan(rs); err != nil {
			rs.Close()
			return fmt.Errorf("trace rollup: %w", err)
		}
		stored[traceKey{r.TraceID, r.TenantID}] = r
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return fmt.Errorf("trace rollup: %w", err)
	}
	var rows []*traceRow
	index := map[traceKey]int{}
	get := func(k traceKey) *traceRow {
		if i, ok := index[k]; ok {
			return rows[i]
		}
		r, ok := stored[k]
		if !ok {
			r = &traceRow{summary.Row{TraceSummary: store.TraceSummary{TraceID: k.trace, TenantID: k.tenant}}}
		}
		index[k] = len(rows)
		rows = append(rows, r)
		return r
	}
	var absorbed []string
	for _, id := range ids {
		a := b.attrs[id]
		if from, ok := stored[traceKey{id, ""}]; ok && absorbs[id] && a.Vals[fTenant] != "" {
			get(traceKey{id, a.Vals[fTenant]}).Absorb(&from.Row)
			absorbed = append(absorbed, id)
		}
		for _, k := range byTrace[id] {
			row := get(k)
			for _, sp := range b.traces[k] {
				row.Merge(sp, row.SpanCount == 0)
			}
		}
		if i, ok := index[traceKey{id, a.Vals[fTenant]}]; ok {
			// The summary of the trace's tenant has its attribution.
			r := rows[i]
			r.SessionID, r.UserID, r.Environment = a.Vals[fSession], a.Vals[fUser], a.Vals[fEnv]
		}
	}
	if len(absorbed) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM traces WHERE tenant_id = '' AND trace_id = ANY($1)`, absorbed); err != nil {
			return fmt.Errorf("trace rollup: %w", err)
		}
	}
	// Absorbed rows of no tenant may have been merged into too (a
	// tenantless span of this write): they are gone.
	keep := rows[:0]
	for _, r := range rows {
		if r.TenantID == "" && slices.Contains(absorbed, r.TraceID) {
			continue
		}
		keep = append(keep, r)
	}
	rows = keep
	slices.SortFunc(rows, func(x, y *traceRow) int {
		return cmp.Or(strings.Compare(x.TenantID, y.TenantID), strings.Compare(x.TraceID, y.TraceID))
	})
	n := len(rows)
	var (
		tenant, traceID, name, models, input, output, session, user, env, tags = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		status                                                                 = make([]int16, n)
		hasRoot                                                                = make([]bool, n)
		nums                                                                   [15][]int64
	)
	for i := range nums {
		nums[i] = make([]int64, n)
	}
	for i, row := range rows {
		tenant[i], traceID[i], name[i], status[i], hasRoot[i] = row.TenantID, row.TraceID, row.Name, int16(row.Status), row.HasRoot
		for j, v := range []int64{row.Start.UnixNano(), row.End.UnixNano(), int64(row.Duration), row.MinStart, row.MaxEnd,
			row.SpanCount, row.ErrorCount, row.InputTokens, row.OutputTokens, row.CacheReadTokens, row.CacheCreationTokens,
			row.ReasoningTokens, row.TotalTokens, row.Requests, row.CostNanoUSD} {
			nums[j][i] = v
		}
		models[i], input[i], output[i] = pgArray(row.Models), row.Input, row.Output
		session[i], user[i], env[i], tags[i] = row.SessionID, row.UserID, row.Environment, pgArray(row.Tags)
	}
	args := []any{tenant, traceID, name, status, hasRoot}
	for j := range nums {
		args = append(args, nums[j])
	}
	args = append(args, models, input, output, session, user, env, tags)
	if _, err := tx.Exec(ctx, upsertTracesSQL, args...); err != nil {
		return fmt.Errorf("trace rollup: %w", err)
	}
	return nil
}

// satSet is the SET clause adding excluded's values to a rollup row's,
// saturating at the bounds of bigint (store.SatAdd): the sum is computed
// in numeric, which cannot overflow.
func satSet(table string, cols ...string) string {
	sets := make([]string, len(cols))
	for i, c := range cols {
		sets[i] = fmt.Sprintf("%[1]s = greatest(least(%[3]s.%[1]s::numeric + excluded.%[1]s, %[2]d), %[4]d)::bigint",
			c, int64(math.MaxInt64), table, int64(math.MinInt64))
	}
	return strings.Join(sets, ", ")
}

var rollupSumCols = []string{"input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
	"reasoning_tokens", "requests", "cost_nano", "spans", "unknown_usage"}

var upsertSessSQL = `INSERT INTO usage_session_hour AS r (session_id, hour, tenant_id, ` + strings.Join(rollupSumCols, ", ") + `)
	SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
		$8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[])
	ON CONFLICT (session_id, hour, tenant_id) DO UPDATE SET ` + satSet("r", rollupSumCols...)

var upsertTenSQL = `INSERT INTO usage_tenant_hour AS r (tenant_id, hour, ` + strings.Join(rollupSumCols, ", ") + `)
	SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
		$7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[])
	ON CONFLICT (tenant_id, hour) DO UPDATE SET ` + satSet("r", rollupSumCols...)

// sums returns the rollup sums of cells as one array per column.
func sums(cells []*rollup.Delta) []any {
	cols := make([][]int64, len(rollupSumCols))
	for i := range cols {
		cols[i] = make([]int64, len(cells))
	}
	for j, a := range cells {
		for i, v := range []int64{a.InputTokens, a.OutputTokens, a.CacheReadTokens, a.CacheCreationTokens, a.ReasoningTokens,
			a.Requests, a.Cost, a.Spans, a.Unknown} {
			cols[i][j] = v
		}
	}
	out := make([]any, len(cols))
	for i := range cols {
		out[i] = cols[i]
	}
	return out
}

// applyRollups upserts the write's rollup deltas, each table with one
// statement whose rows are in key order (concurrent writers lock rows in
// the same order).
func applyRollups(ctx context.Context, tx pgx.Tx, b *batch) error {
	if len(b.Session) > 0 {
		keys := make([]rollup.SessionKey, 0, len(b.Session))
		for k := range b.Session {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y rollup.SessionKey) int {
			return cmp.Or(strings.Compare(x.Session, y.Session), cmp.Compare(x.Hour, y.Hour), strings.Compare(x.Tenant, y.Tenant))
		})
		sess, ten, hours := make([]string, len(keys)), make([]string, len(keys)), make([]int64, len(keys))
		cells := make([]*rollup.Delta, len(keys))
		for i, k := range keys {
			sess[i], hours[i], ten[i], cells[i] = k.Session, k.Hour, k.Tenant, b.Session[k]
		}
		if _, err := tx.Exec(ctx, upsertSessSQL, append([]any{sess, hours, ten}, sums(cells)...)...); err != nil {
			return fmt.Errorf("session rollup: %w", err)
		}
	}
	if len(b.Tenant) > 0 {
		keys := make([]rollup.TenantKey, 0, len(b.Tenant))
		for k := range b.Tenant {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y rollup.TenantKey) int {
			return cmp.Or(strings.Compare(x.Tenant, y.Tenant), cmp.Compare(x.Hour, y.Hour))
		})
		ten, hours := make([]string, len(keys)), make([]int64, len(keys))
		cells := make([]*rollup.Delta, len(keys))
		for i, k := range keys {
			ten[i], hours[i], cells[i] = k.Tenant, k.Hour, b.Tenant[k]
		}
		if _, err := tx.Exec(ctx, upsertTenSQL, append([]any{ten, hours}, sums(cells)...)...); err != nil {
			return fmt.Errorf("tenant rollup: %w", err)
		}
	}
	if len(b.TenantSessions) > 0 {
		keys := make([]rollup.TenantSessionKey, 0, len(b.TenantSessions))
		for k := range b.TenantSessions {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y rollup.TenantSessionKey) int {
			return cmp.Or(strings.Compare(x.Tenant, y.Tenant), cmp.Compare(x.Hour, y.Hour), strings.Compare(x.Session, y.Session))
		})
		ten, sess, hours := make([]string, len(keys)), make([]string, len(keys)), make([]int64, len(keys))
		for i, k := range keys {
			ten[i], hours[i], sess[i] = k.Tenant, k.Hour, k.Session
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tenant_session_hour (tenant_id, hour, session_id)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[]) ON CONFLICT DO NOTHING`, ten, hours, sess); err != nil {
			return fmt.Errorf("tenant sessions: %w", err)
		}
	}
	// The (tenant, hour, session) entries a repair may have emptied.
	for k := range b.Gone {
		if _, ok := b.TenantSessions[k]; ok {
			continue
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tenant_session_hour WHERE tenant_id = $1 AND hour = $2 AND session_id = $3
			AND NOT EXISTS (SELECT 1 FROM spans WHERE tenant_id = $1 AND session_id = $3 AND start_ns >= $4 AND start_ns < $5)`,
			k.Tenant, k.Hour, k.Session, k.Hour*rollup.HourNS, (k.Hour+1)*rollup.HourNS); err != nil {
			return fmt.Errorf("tenant sessions: %w", err)
		}
	}
	return nil
}

// partitionName is the name of the spans partition of a day (days since
// the Unix epoch).
func partitionName(day int64) string {
	if day < 0 {
		return "spans_dm" + strconv.FormatInt(-day, 10)
	}
	return "spans_d" + strconv.FormatInt(day, 10)
}

// partitionBounds returns the FROM and TO bounds of a day's partition.
func partitionBounds(day int64) (string, string) {
	from := "MINVALUE"
	if day > math.MinInt64/dayNS {
		from = strconv.FormatInt(day*dayNS, 10)
	}
	to := "MAXVALUE"
	if day+1 <= math.MaxInt64/dayNS {
		to = strconv.FormatInt((day+1)*dayNS, 10)
	}
	return from, to
}

func (s *Store) forgetPartitions() {
	s.pmu.Lock()
	clear(s.parts)
	s.pmu.Unlock()
}

// ensurePartitions makes the spans partitions of the days spans start in,
// in a transaction of their own (under an advisory lock: replicas may
// make the same one together).
func (s *Store) ensurePartitions(ctx context.Context, spans []store.Span) error {
	var missing []int64
	s.pmu.Lock()
	for i := range spans {
		d := rollup.FloorDiv(spans[i].Start.UnixNano(), dayNS)
		if !s.parts[d] && !slices.Contains(missing, d) {
			missing = append(missing, d)
		}
	}
	s.pmu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	// Most days exist already (made by another replica).
	rows, err := s.pool.Query(ctx, `SELECT day FROM span_partitions WHERE day = ANY($1)`, missing)
	if err != nil {
		return fmt.Errorf("spans partitions: %w", err)
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("spans partitions: %w", err)
	}
	var create []int64
	for _, d := range missing {
		if !slices.Contains(have, d) {
			create = append(create, d)
		}
	}
	if len(create) > 0 {
		slices.Sort(create)
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(partitionLockKey)); err != nil {
				return err
			}
			for _, d := range create {
				from, to := partitionBounds(d)
				if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+partitionName(d)+` PARTITION OF spans FOR VALUES FROM (`+from+`) TO (`+to+`)`); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `INSERT INTO span_partitions (day, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`, d, partitionName(d)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("spans partitions: %w", err)
		}
	}
	s.pmu.Lock()
	for _, d := range missing {
		s.parts[d] = true
	}
	s.pmu.Unlock()
	return nil
}
