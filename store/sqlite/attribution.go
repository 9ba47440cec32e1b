package sqlite

import (
	"fmt"
	"strings"
	"time"

	"github.com/agenttrace/agenttrace/store/internal/rollup"

	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/internal/lateattr"
)

// Late attribution (store/ATTRIBUTION.md): each trace's session, user,
// tenant and environment live in trace_attrs; a write resolves them for
// the traces it touches, fills the fields its spans lack, and brings up to
// date the stored spans (and their rollups) of a trace whose attribution
// it changed.

// Late attribution's rules are lateattr's; these names keep the store's
// code short.
type attribution = lateattr.Trace

const (
	fSession = lateattr.Session
	fUser    = lateattr.User
	fTenant  = lateattr.Tenant
	fEnv     = lateattr.Env
	nFields  = lateattr.N
)

// selectAttrsSQL reads n traces' attributions.
func selectAttrsSQL(n int) string {
	return `SELECT trace_id, session_id, user_id, tenant_id, environment, root FROM trace_attrs WHERE trace_id IN (` + placeholders(n) + `)`
}

// upsertAttrsSQL writes n traces' attributions.
func upsertAttrsSQL(n int) string {
	return `INSERT INTO trace_attrs (trace_id, session_id, user_id, tenant_id, environment, root) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?),", n), ",") +
		` ON CONFLICT (trace_id) DO UPDATE SET session_id = excluded.session_id, user_id = excluded.user_id,
		tenant_id = excluded.tenant_id, environment = excluded.environment, root = excluded.root`
}

// attribute resolves the attribution of the traces of spans (the new
// spans of a write, not yet inserted), fills their missing fields, and
// repairs the stored spans of traces whose attribution changed, adding
// the rollup deltas to b. It returns the number of conflicts of each span.
func (w *writer) attribute(spans []*store.Span, b *batch) ([]int, error) {
	byTrace := map[string][]*store.Span{}
	var order []string
	for _, sp := range spans {
		sp.Inherited = 0 // what a writer passes is what the span carries
		if _, ok := byTrace[sp.TraceID]; !ok {
			order = append(order, sp.TraceID)
		}
		byTrace[sp.TraceID] = append(byTrace[sp.TraceID], sp)
	}
	stored := map[string]attribution{}
	if err := w.loadAttrs(order, stored); err != nil {
		return nil, err
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
		b.attrArgs = append(b.attrArgs, id, a.Vals[fSession], a.Vals[fUser], a.Vals[fTenant], a.Vals[fEnv], int64(a.Root))
	}
	out := make([]int, len(spans))
	for i, sp := range spans {
		out[i] = conflicts[sp]
	}
	return out, nil
}

func timeNS(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// storeAttribution repairs the stored spans of the traces attribute found
// changed and writes their attributions. It runs after the write's spans
// are inserted (the repair leaves them as they are: they were filled from
// the same attribution), so that the transaction's first change is the
// insert of spans, as before late attribution.
func (w *writer) storeAttribution(b *batch) error {
	for _, id := range b.repairs {
		a := b.attrs[id]
		if err := w.repair(id, &a, b); err != nil {
			return err
		}
	}
	args := b.attrArgs
	for len(args) > 0 {
		n := nextChunk(len(args) / 6)
		if err := w.exec(w.st.upsertAttrs[n], args[:6*n]...); err != nil {
			return fmt.Errorf("sqlite: trace attribution: %w", err)
		}
		args = args[6*n:]
	}
	return nil
}

// loadAttrs reads the stored attributions of ids into into.
func (w *writer) loadAttrs(ids []string, into map[string]attribution) error {
	for len(ids) > 0 {
		n := nextChunk(len(ids))
		args := make([]any, n)
		for i := range args {
			args[i] = ids[i]
		}
		ids = ids[n:]
		rows, err := w.tx.StmtContext(w.ctx, w.st.selectAttrs[n]).QueryContext(w.ctx, args...)
		if err != nil {
			return fmt.Errorf("sqlite: trace attribution: %w", err)
		}
		for rows.Next() {
			var id string
			var a attribution
			if err := rows.Scan(&id, &a.Vals[fSession], &a.Vals[fUser], &a.Vals[fTenant], &a.Vals[fEnv], &a.Root); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: trace attribution: %w", err)
			}
			into[id] = a
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("sqlite: trace attribution: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: trace attribution: %w", err)
		}
	}
	return nil
}

// storedSpan is what a repair reads of a stored span.
type storedSpan struct {
	id int64
	sp store.Span
}

// repair brings the stored spans of trace id up to date with a: each span
// whose fields change is rewritten, and its usage moved between rollup
// cells (added to b as deltas).
func (w *writer) repair(id string, a *attribution, b *batch) error {
	rows, err := w.tx.StmtContext(w.ctx, w.st.selectTraceSpans).QueryContext(w.ctx, id)
	if err != nil {
		return fmt.Errorf("sqlite: attribution repair: %w", err)
	}
	var stored []storedSpan
	for rows.Next() {
		var s storedSpan
		sp := &s.sp
		var start, llm int64
		if err := rows.Scan(&s.id, &sp.ParentID, &start, &sp.InputTokens, &sp.OutputTokens, &sp.CacheReadTokens, &sp.CacheCreationTokens,
			&sp.ReasoningTokens, &sp.CostNanoUSD, &llm, &sp.SessionID, &sp.UserID, &sp.TenantID, &sp.Environment, &sp.Inherited); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: attribution repair: %w", err)
		}
		sp.LLMRequest, sp.UsageUnknown = llm != llmNone, llm == llmUnknown
		sp.TraceID = id
		sp.Start = timeNS(start)
		stored = append(stored, s)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("sqlite: attribution repair: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: attribution repair: %w", err)
	}
	// Spans that end up with the same fields (usually all the inherited
	// ones) are rewritten by one statement per chunk of ids.
	type fieldsKey struct {
		vals [nFields]string
		inh  store.Fields
	}
	groups := map[fieldsKey][]any{}
	var order []fieldsKey
	for i := range stored {
		s := &stored[i]
		before := s.sp
		a.Fill(&s.sp)
		after := &s.sp
		k := fieldsKey{[nFields]string{after.SessionID, after.UserID, after.TenantID, after.Environment}, after.Inherited}
		if k == (fieldsKey{[nFields]string{before.SessionID, before.UserID, before.TenantID, before.Environment}, before.Inherited}) {
			continue
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s.id)
		b.Move(&before, after)
	}
	for _, k := range order {
		ids := groups[k]
		for len(ids) > 0 {
			n := nextChunk(len(ids))
			args := append([]any{k.vals[fSession], k.vals[fUser], k.vals[fTenant], k.vals[fEnv], int64(k.inh)}, ids[:n]...)
			if err := w.exec(w.st.updateAttrs[n], args...); err != nil {
				return fmt.Errorf("sqlite: attribution repair: %w", err)
			}
			ids = ids[n:]
		}
	}
	return nil
}

// selectTraceSpansSQL reads what a repair needs of a trace's stored spans
// (the environment is element 10 of detail, see detailFields).
const selectTraceSpansSQL = `SELECT id, json_extract(detail, '$[0]'), start_ns, input_tokens, output_tokens, cache_read_tokens,
	cache_creation_tokens, reasoning_tokens, cost_nano, llm, session_id, user_id, tenant_id, json_extract(detail, '$[10]'), inherited
	FROM spans WHERE trace_id = ?`

// updateAttrsSQL sets the fields of n spans by row id.
func updateAttrsSQL(n int) string {
	return `UPDATE spans SET session_id = ?, user_id = ?, tenant_id = ?, detail = json_set(detail, '$[10]', ?),
	inherited = ? WHERE id IN (` + placeholders(n) + `)`
}

// pruneTenantSessions removes the (tenant, hour, session) entries a
// repair emptied: those no stored span has any more.
func (w *writer) pruneTenantSessions(b *batch) error {
	for k := range b.Gone {
		if _, ok := b.TenantSessions[k]; ok {
			continue
		}
		var n int
		err := w.tx.QueryRowContext(w.ctx, `SELECT count(*) FROM (SELECT 1 FROM spans WHERE tenant_id = ? AND session_id = ?
			AND start_ns >= ? AND start_ns < ? LIMIT 1)`, k.Tenant, k.Session, k.Hour*rollup.HourNS, (k.Hour+1)*rollup.HourNS).Scan(&n)
		if err != nil {
			return fmt.Errorf("sqlite: tenant sessions: %w", err)
		}
		if n == 0 {
			if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM tenant_session_hour WHERE tenant_id = ? AND hour = ? AND session_id = ?`,
				k.Tenant, k.Hour, k.Session); err != nil {
				return fmt.Errorf("sqlite: tenant sessions: %w", err)
			}
		}
	}
	return nil
}
