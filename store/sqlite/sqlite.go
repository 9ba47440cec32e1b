// Package sqlite is the embedded default store.Store: one SQLite file (or
// ":memory:") through modernc.org/sqlite, pure Go with no cgo.
//
// The database runs in WAL mode. Writes go through a single connection owned
// by one writer goroutine, with group commit: WriteSpans calls that arrive
// while a transaction is being written are written together in the next
// one and each is answered once that shared transaction has committed (if
// it fails, each call is retried alone, so one call's bad spans fail only
// that call).
// Reads use a separate pool of read-only connections, so queries never wait
// on ingest.
// Spans are immutable rows (INSERT OR IGNORE on trace and span id) with
// session, user and tenant denormalised onto each; the per-trace summary and
// the per-hour usage rollups (by session and by tenant) are updated in the
// same transaction as the spans they count. Costs are INTEGER nano-USD.
//
// Durability: commits use synchronous=NORMAL, which survives a killed
// process (a committed transaction is in the WAL file before WriteSpans
// returns) but not a power loss; WithFullSync makes every commit fsync.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/internal/summary"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Memory is the path of a private in-memory database. It lives as long as
// the Store and is served by one connection, so reads wait for writes.
const Memory = ":memory:"

// schemaVersion is stored in PRAGMA user_version: the number of
// migrations applied.
var schemaVersion = len(migrations)

// Option configures Open.
type Option func(*config)

type config struct {
	readers  int
	fullSync bool
}

// WithReadConns sets the size of the read connection pool (default: the
// number of CPUs, at least 2). It has no effect on Memory.
func WithReadConns(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.readers = n
		}
	}
}

// WithFullSync makes every commit fsync the WAL (synchronous=FULL), so
// acknowledged spans also survive a power loss, at a cost in ingest rate.
func WithFullSync() Option {
	return func(c *config) { c.fullSync = true }
}

// Store is a store.Store on SQLite. Use Open to make one.
type Store struct {
	w *sql.DB // the single writer connection
	r *sql.DB // read-only pool (== w for Memory)

	// reqs carries WriteSpans calls to the writer goroutine (writeLoop),
	// which owns the writer connection's transactions and the statements
	// below, and closes wdone when it exits. qmu guards closed and sends
	// on reqs, so Close can close it.
	reqs   chan *writeReq
	wdone  chan struct{}
	qmu    sync.RWMutex
	closed bool
	wst    *writerStmts // prepared on first write
	// insertHook is nil, except in this package's tests, which set it on
	// their own Store before its first write: it runs before a call's
	// spans are inserted, and its error fails that call's insert.
	insertHook func(spans []store.Span) error
	wall       []*sql.Stmt

	// ckpt is the checkpointer's connection; stop and done end it.
	ckpt       *sql.DB
	stop, done chan struct{}
	writes     atomic.Int64 // commits since the last checkpoint

	smu   sync.Mutex
	stmts map[string]*sql.Stmt // prepared read statements by query text

	// path is the database file ("" for Memory); writeErr is the error of
	// the last failed write transaction, nil once one succeeds (Ping).
	path     string
	writeErr atomic.Pointer[error]
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path, or a private
// in-memory one when path is Memory, and brings its schema up to date.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := config{readers: max(2, runtime.NumCPU())}
	for _, o := range opts {
		o(&cfg)
	}
	if path == "" {
		return nil, errors.New("sqlite: empty path")
	}
	if strings.ContainsAny(path, "?#") && path != Memory {
		return nil, fmt.Errorf("sqlite: path %q must not contain '?' or '#'", path)
	}
	sync := "NORMAL"
	if cfg.fullSync {
		sync = "FULL"
	}
	params := "_txlock=immediate&_busy_timeout=10000&_synchronous=" + sync +
		"&_pragma=foreign_keys(0)&_pragma=temp_store(memory)&_pragma=cache_size(-32768)"
	s := &Store{}
	if path != Memory {
		s.path = path
	}
	if path == Memory {
		db, err := sql.Open("sqlite", Memory+"?"+params)
		if err != nil {
			return nil, fmt.Errorf("sqlite: open: %w", err)
		}
		// One connection that is never recycled: closing it would drop
		// the database.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxIdleTime(0)
		db.SetConnMaxLifetime(0)
		s.w, s.r = db, db
	} else {
		// Commits never checkpoint: the checkpointer goroutine does, off
		// the ingest path.
		w, err := sql.Open("sqlite", path+"?"+params+"&_journal_mode=WAL&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(67108864)")
		if err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxIdleTime(0)
		w.SetConnMaxLifetime(0)
		s.w = w
	}
	if err := s.migrate(ctx); err != nil {
		s.w.Close()
		return nil, err
	}
	if s.r == nil {
		r, err := sql.Open("sqlite", path+"?"+params+"&_query_only=1")
		if err != nil {
			s.w.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		r.SetMaxOpenConns(cfg.readers)
		r.SetMaxIdleConns(cfg.readers)
		r.SetConnMaxIdleTime(0)
		r.SetConnMaxLifetime(0)
		s.r = r
		c, err := sql.Open("sqlite", path+"?"+params)
		if err != nil {
			s.r.Close()
			s.w.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		c.SetMaxOpenConns(1)
		s.ckpt = c
		s.stop = make(chan struct{})
		s.done = make(chan struct{})
		go s.checkpointer()
	}
	s.reqs = make(chan *writeReq, 64)
	s.wdone = make(chan struct{})
	go s.writeLoop()
	return s, nil
}

// Close closes the database. WriteSpans calls that returned nil stay
// durable; later calls return store.ErrClosed.
func (s *Store) Close() error {
	s.qmu.Lock()
	if s.closed {
		s.qmu.Unlock()
		<-s.wdone
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.qmu.Unlock()
	// The writer writes what was handed to it before Close, then exits.
	<-s.wdone
	var errs []error
	if s.ckpt != nil {
		close(s.stop)
		<-s.done
		errs = append(errs, s.ckpt.Close())
	}
	for _, st := range s.wall {
		errs = append(errs, st.Close())
	}
	s.smu.Lock()
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	s.stmts = nil
	s.smu.Unlock()
	if s.r != s.w {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}

// The checkpointer looks every checkpointTick; it copies the WAL into the
// database file once checkpointInterval has passed since its last copy and
// there were writes, or at once when the WAL file has grown past
// checkpointWALBytes. Copying less often copies a page written by several
// commits once: at 3 s instead of 200 ms, 16,384-span writes of the stock
// client's traces took about 0.85x the CPU per span (BENCHMARKS.md, issue
// 14). A query reads the newest pages from the WAL either way.
const (
	checkpointTick     = 200 * time.Millisecond
	checkpointInterval = 3 * time.Second
	checkpointWALBytes = 256 << 20
)

// checkpointer runs passive WAL checkpoints in the background, so commits
// do not pay for copying pages and syncing the database file.
func (s *Store) checkpointer() {
	defer close(s.done)
	t := time.NewTicker(checkpointTick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if s.writes.Load() == 0 {
			continue
		}
		if time.Since(last) < checkpointInterval {
			if fi, err := os.Stat(s.path + "-wal"); err != nil || fi.Size() < checkpointWALBytes {
				continue
			}
		}
		s.writes.Store(0)
		last = time.Now()
		// A passive checkpoint never blocks the writer or readers; what it
		// cannot copy now it copies next time. Errors are retried then.
		_, _ = s.ckpt.Exec("PRAGMA wal_checkpoint(PASSIVE)")
	}
}

func (s *Store) migrate(ctx context.Context) error {
	var v int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	if v == schemaVersion {
		return nil
	}
	if v > schemaVersion {
		return fmt.Errorf("sqlite: database schema version %d is newer than this program's %d", v, schemaVersion)
	}
	if v == 0 {
		// A new database gives the pages retention frees back to the
		// file system (DeleteBefore). The WAL header is written already,
		// so the mode takes a VACUUM (of an empty file: instant).
		for _, q := range []string{"PRAGMA auto_vacuum = INCREMENTAL", "VACUUM"} {
			if _, err := s.w.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("sqlite: auto_vacuum: %w", err)
			}
		}
	}
	return migrateTo(ctx, s.w, v, schemaVersion)
}

// migrateTo applies migrations[from:to] in one transaction.
func migrateTo(ctx context.Context, db *sql.DB, from, to int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer tx.Rollback()
	// Another process may have migrated since from was read: the
	// immediate transaction holds the write lock, so read it again.
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&from); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	if from >= to {
		return nil
	}
	for v := from; v < to; v++ {
		for _, q := range migrations[v] {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("sqlite: migrate to version %d: %w (in %.60q)", v+1, err, q)
			}
		}
		if f := migrationSteps[v]; f != nil {
			if err := f(ctx, tx); err != nil {
				return fmt.Errorf("sqlite: migrate to version %d: %w", v+1, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", to)); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

// migrations[v] brings a database from schema version v to v+1. A new
// database runs them all. Never edit one that has shipped: add another.
var migrations = [][]string{
	schema,
	// 2: the price table version of a computed cost.
	{`ALTER TABLE spans ADD COLUMN price_table_version TEXT NOT NULL DEFAULT ''`},
	// 3: the span columns no query filters, sorts or sums on are packed
	// into one JSON array, detail (see spanCols): ingest binds 23 values
	// per span instead of 37. Row ids are kept (span_tags refers to them).
	{
		`ALTER TABLE spans RENAME TO spans_v2`,
		`CREATE TABLE spans (
			id INTEGER PRIMARY KEY,
			trace_id TEXT NOT NULL,
			span_id TEXT NOT NULL,
			name TEXT NOT NULL,
			type TEXT NOT NULL,
			status INTEGER NOT NULL,
			start_ns INTEGER NOT NULL,
			request_model TEXT NOT NULL,
			response_model TEXT NOT NULL,
			prompt_slug TEXT NOT NULL,
			input_tokens INTEGER NOT NULL,
			output_tokens INTEGER NOT NULL,
			cache_read_tokens INTEGER NOT NULL,
			cache_creation_tokens INTEGER NOT NULL,
			reasoning_tokens INTEGER NOT NULL,
			cost_nano INTEGER NOT NULL,
			llm INTEGER NOT NULL,
			session_id TEXT NOT NULL,
			user_id TEXT NOT NULL,
			tenant_id TEXT NOT NULL,
			detail TEXT NOT NULL,
			attributes TEXT NOT NULL,
			resource TEXT NOT NULL,
			events TEXT NOT NULL
		)`,
		`INSERT INTO spans (id, ` + spanColsV3 + `)
			SELECT id, trace_id, span_id, name, type, status, start_ns, request_model, response_model, prompt_slug,
			input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens, cost_nano, llm,
			session_id, user_id, tenant_id, json_array(` + detailFields + `), attributes, resource, events
			FROM spans_v2 ORDER BY id`,
		`DROP TABLE spans_v2`,
		`CREATE UNIQUE INDEX spans_trace ON spans (trace_id, span_id)`,
		`CREATE INDEX spans_start ON spans (start_ns, trace_id, span_id)`,
		`CREATE INDEX spans_session ON spans (session_id, start_ns) WHERE session_id != ''`,
		`CREATE INDEX spans_tenant ON spans (tenant_id, start_ns) WHERE tenant_id != ''`,
	},
	// 4: usage sums saturate at 2^63-1. Before, a sum past it wrapped
	// (trace summaries, summed in Go) or became a REAL (hourly rollups,
	// summed in SQL), and queries reading it failed. Such values were
	// overflows: they are pinned at 2^63-1 like the sums made from now on.
	saturateOverflows(map[string][]string{
		"usage_session_hour": {"input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "reasoning_tokens", "requests", "cost_nano", "spans"},
		"usage_tenant_hour":  {"input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "reasoning_tokens", "requests", "cost_nano", "spans"},
		"traces":             {"input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "reasoning_tokens", "total_tokens", "requests", "cost_nano"},
	}),
	// 5: model calls of unknown usage are counted (unknown_usage_count):
	// spans.llm is 2 for them (see llmCode), and the hourly rollups sum
	// them. Calls stored before count as known.
	{
		`ALTER TABLE usage_session_hour ADD COLUMN unknown_usage INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE usage_tenant_hour ADD COLUMN unknown_usage INTEGER NOT NULL DEFAULT 0`,
	},
	// 6: late attribution (store/ATTRIBUTION.md): each trace's session,
	// user, tenant and environment, and which of them its root set; each
	// span's inherited fields.
	{
		`ALTER TABLE spans ADD COLUMN inherited INTEGER NOT NULL DEFAULT 0`,
		`CREATE TABLE trace_attrs (
			trace_id TEXT NOT NULL PRIMARY KEY,
			session_id TEXT NOT NULL,
			user_id TEXT NOT NULL,
			tenant_id TEXT NOT NULL,
			environment TEXT NOT NULL,
			root INTEGER NOT NULL
		) WITHOUT ROWID`,
		`INSERT INTO trace_attrs (trace_id, session_id, user_id, tenant_id, environment, root)
			SELECT trace_id, session_id, user_id, tenant_id, environment,
			CASE WHEN has_root THEN (session_id != '') | (user_id != '') << 1 | (tenant_id != '') << 2 | (environment != '') << 3 ELSE 0 END
			FROM traces`,
	},
	// 7: tenants are walls: a trace's summary is kept per tenant and trace
	// (the spans of one tenant alone), and so are its tags. Summaries
	// stored before are re-keyed by their tenant; those of traces with
	// spans of several tenants are split by splitMixedTraces.
	{
		`CREATE TABLE traces_v7 (
			trace_id TEXT NOT NULL,
			` + traceTableCols + `,
			PRIMARY KEY (trace_id, tenant_id)
		)`,
		`INSERT INTO traces_v7 (` + traceCols + `) SELECT ` + traceCols + ` FROM traces`,
		`DROP TABLE traces`,
		`ALTER TABLE traces_v7 RENAME TO traces`,
		`CREATE INDEX traces_start ON traces (start_ns, trace_id, cost_nano, duration_ns, total_tokens)`,
		`CREATE INDEX traces_tenant_start ON traces (tenant_id, start_ns, trace_id)`,
		`CREATE INDEX traces_session ON traces (session_id, start_ns) WHERE session_id != ''`,
		`CREATE INDEX traces_user ON traces (user_id, start_ns) WHERE user_id != ''`,
		`CREATE INDEX traces_duration ON traces (duration_ns, trace_id, start_ns)`,
		`CREATE INDEX traces_tokens ON traces (total_tokens, trace_id, start_ns)`,
		`CREATE INDEX traces_cost ON traces (cost_nano, trace_id, start_ns)`,
		`CREATE INDEX traces_name ON traces (name, trace_id, start_ns)`,
		`CREATE TABLE trace_tags_v7 (
			tag TEXT NOT NULL,
			trace_id TEXT NOT NULL,
			tenant_id TEXT NOT NULL,
			PRIMARY KEY (tag, trace_id, tenant_id)
		) WITHOUT ROWID`,
		`INSERT INTO trace_tags_v7 (tag, trace_id, tenant_id)
			SELECT tt.tag, tt.trace_id, t.tenant_id FROM trace_tags tt JOIN traces t ON t.trace_id = tt.trace_id`,
		`DROP TABLE trace_tags`,
		`ALTER TABLE trace_tags_v7 RENAME TO trace_tags`,
	},
	// 8: the trace listing's sort indexes end their tie-break with the
	// tenant (trace_id, tenant_id), as the listing orders: without it a
	// page read every row of its window from the table for its tenant (a
	// day's page by cost took 2.5x as long).
	{
		`DROP INDEX traces_start`,
		`CREATE INDEX traces_start ON traces (start_ns, trace_id, tenant_id, cost_nano, duration_ns, total_tokens)`,
		`DROP INDEX traces_duration`,
		`CREATE INDEX traces_duration ON traces (duration_ns, trace_id, tenant_id, start_ns)`,
		`DROP INDEX traces_tokens`,
		`CREATE INDEX traces_tokens ON traces (total_tokens, trace_id, tenant_id, start_ns)`,
		`DROP INDEX traces_cost`,
		`CREATE INDEX traces_cost ON traces (cost_nano, trace_id, tenant_id, start_ns)`,
		`DROP INDEX traces_name`,
		`CREATE INDEX traces_name ON traces (name, trace_id, tenant_id, start_ns)`,
	},
}

// migrationSteps[v] runs in Go after the statements of migrations[v].
var migrationSteps = map[int]func(context.Context, *sql.Tx) error{
	6: splitMixedTraces,
}

// splitMixedTraces splits the summary of each trace whose spans are of
// more than one tenant into one summary per tenant, computed from the
// spans. Previews are not kept per span: the summary of the tenant the
// trace had keeps the stored previews, the others have none.
func splitMixedTraces(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT trace_id FROM spans GROUP BY trace_id HAVING COUNT(DISTINCT tenant_id) > 1`)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, id := range ids {
		if err := splitTrace(ctx, tx, id); err != nil {
			return fmt.Errorf("trace %s: %w", id, err)
		}
	}
	return nil
}

func splitTrace(ctx context.Context, tx *sql.Tx, id string) error {
	var old traceRow
	err := old.scan(tx.QueryRowContext(ctx, `SELECT `+traceCols+` FROM traces WHERE trace_id = ?`, id))
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+spanCols+` FROM spans WHERE trace_id = ? ORDER BY start_ns, span_id`, id)
	if err != nil {
		return err
	}
	byTenant := map[string]*traceRow{}
	var order []string
	for rows.Next() {
		var sp store.Span
		if err := scanSpan(rows, &sp); err != nil {
			rows.Close()
			return err
		}
		r := byTenant[sp.TenantID]
		if r == nil {
			r = &traceRow{summary.Row{TraceSummary: store.TraceSummary{TraceID: id, TenantID: sp.TenantID}}}
			byTenant[sp.TenantID] = r
			order = append(order, sp.TenantID)
		}
		r.Merge(&sp, r.SpanCount == 0)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM traces WHERE trace_id = ?`, id); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM trace_tags WHERE trace_id = ?`, id); err != nil {
		return err
	}
	for _, tenant := range order {
		r := byTenant[tenant]
		if tenant == old.TenantID {
			r.Input, r.Output = old.Input, old.Output
			r.SessionID, r.UserID, r.Environment = old.SessionID, old.UserID, old.Environment
		} else {
			r.Input, r.Output = "", ""
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO traces (`+traceCols+`) VALUES (`+placeholders(traceNCols)+`)`, r.args()...); err != nil {
			return err
		}
		for _, tag := range r.Tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO trace_tags (tag, trace_id, tenant_id) VALUES (?, ?, ?)`, tag, id, tenant); err != nil {
				return err
			}
		}
	}
	return nil
}

// saturateOverflows returns the statements of migration 4: in each table,
// each column's REAL or negative values become 2^63-1.
func saturateOverflows(cols map[string][]string) []string {
	var out []string
	for _, table := range []string{"usage_session_hour", "usage_tenant_hour", "traces"} {
		for _, c := range cols[table] {
			out = append(out, fmt.Sprintf(`UPDATE %s SET %s = 9223372036854775807 WHERE typeof(%s) != 'integer' OR %s < 0`, table, c, c, c))
		}
	}
	return out
}

// traceTableCols are the columns of the traces table but trace_id.
const traceTableCols = `name TEXT NOT NULL,
		status INTEGER NOT NULL,
		has_root INTEGER NOT NULL,
		start_ns INTEGER NOT NULL,
		end_ns INTEGER NOT NULL,
		duration_ns INTEGER NOT NULL,
		min_start_ns INTEGER NOT NULL,
		max_end_ns INTEGER NOT NULL,
		span_count INTEGER NOT NULL,
		error_count INTEGER NOT NULL,
		input_tokens INTEGER NOT NULL,
		output_tokens INTEGER NOT NULL,
		cache_read_tokens INTEGER NOT NULL,
		cache_creation_tokens INTEGER NOT NULL,
		reasoning_tokens INTEGER NOT NULL,
		total_tokens INTEGER NOT NULL,
		requests INTEGER NOT NULL,
		cost_nano INTEGER NOT NULL,
		models TEXT NOT NULL,
		input TEXT NOT NULL,
		output TEXT NOT NULL,
		session_id TEXT NOT NULL,
		user_id TEXT NOT NULL,
		tenant_id TEXT NOT NULL,
		environment TEXT NOT NULL,
		tags TEXT NOT NULL`

// schema creates version 1 (migrations[0]). Times are int64 Unix nanoseconds, costs int64
// nano-USD, hours int64 Unix hours (start_ns / 3600e9), lists JSON arrays.
var schema = []string{
	`CREATE TABLE spans (
		id INTEGER PRIMARY KEY,
		trace_id TEXT NOT NULL,
		span_id TEXT NOT NULL,
		parent_id TEXT NOT NULL,
		name TEXT NOT NULL,
		kind TEXT NOT NULL,
		type TEXT NOT NULL,
		status INTEGER NOT NULL,
		status_message TEXT NOT NULL,
		start_ns INTEGER NOT NULL,
		end_ns INTEGER NOT NULL,
		operation TEXT NOT NULL,
		request_model TEXT NOT NULL,
		response_model TEXT NOT NULL,
		provider TEXT NOT NULL,
		prompt_slug TEXT NOT NULL,
		prompt_version TEXT NOT NULL,
		input_tokens INTEGER NOT NULL,
		output_tokens INTEGER NOT NULL,
		cache_read_tokens INTEGER NOT NULL,
		cache_creation_tokens INTEGER NOT NULL,
		reasoning_tokens INTEGER NOT NULL,
		total_tokens INTEGER NOT NULL,
		cost_nano INTEGER NOT NULL,
		cost_source TEXT NOT NULL,
		llm INTEGER NOT NULL,
		session_id TEXT NOT NULL,
		user_id TEXT NOT NULL,
		tenant_id TEXT NOT NULL,
		conversation_id TEXT NOT NULL,
		environment TEXT NOT NULL,
		service_name TEXT NOT NULL,
		scope_name TEXT NOT NULL,
		tags TEXT NOT NULL,
		attributes TEXT NOT NULL,
		resource TEXT NOT NULL,
		events TEXT NOT NULL
	)`,
	`CREATE UNIQUE INDEX spans_trace ON spans (trace_id, span_id)`,
	`CREATE INDEX spans_start ON spans (start_ns, trace_id, span_id)`,
	`CREATE INDEX spans_session ON spans (session_id, start_ns) WHERE session_id != ''`,
	`CREATE INDEX spans_tenant ON spans (tenant_id, start_ns) WHERE tenant_id != ''`,
	`CREATE TABLE span_tags (
		tag TEXT NOT NULL,
		span INTEGER NOT NULL,
		PRIMARY KEY (tag, span)
	) WITHOUT ROWID`,
	`CREATE TABLE traces (
		trace_id TEXT NOT NULL PRIMARY KEY,
		` + traceTableCols + `
	)`,
	`CREATE INDEX traces_start ON traces (start_ns, trace_id, cost_nano, duration_ns, total_tokens)`,
	`CREATE INDEX traces_tenant_start ON traces (tenant_id, start_ns, trace_id)`,
	`CREATE INDEX traces_session ON traces (session_id, start_ns) WHERE session_id != ''`,
	`CREATE INDEX traces_user ON traces (user_id, start_ns) WHERE user_id != ''`,
	`CREATE INDEX traces_duration ON traces (duration_ns, trace_id, start_ns)`,
	`CREATE INDEX traces_tokens ON traces (total_tokens, trace_id, start_ns)`,
	`CREATE INDEX traces_cost ON traces (cost_nano, trace_id, start_ns)`,
	`CREATE INDEX traces_name ON traces (name, trace_id, start_ns)`,
	`CREATE TABLE trace_tags (
		tag TEXT NOT NULL,
		trace_id TEXT NOT NULL,
		PRIMARY KEY (tag, trace_id)
	) WITHOUT ROWID`,
	`CREATE TABLE usage_session_hour (
		session_id TEXT NOT NULL,
		hour INTEGER NOT NULL,
		tenant_id TEXT NOT NULL,
		input_tokens INTEGER NOT NULL,
		output_tokens INTEGER NOT NULL,
		cache_read_tokens INTEGER NOT NULL,
		cache_creation_tokens INTEGER NOT NULL,
		reasoning_tokens INTEGER NOT NULL,
		requests INTEGER NOT NULL,
		cost_nano INTEGER NOT NULL,
		spans INTEGER NOT NULL,
		PRIMARY KEY (session_id, hour, tenant_id)
	) WITHOUT ROWID`,
	`CREATE TABLE usage_tenant_hour (
		tenant_id TEXT NOT NULL,
		hour INTEGER NOT NULL,
		input_tokens INTEGER NOT NULL,
		output_tokens INTEGER NOT NULL,
		cache_read_tokens INTEGER NOT NULL,
		cache_creation_tokens INTEGER NOT NULL,
		reasoning_tokens INTEGER NOT NULL,
		requests INTEGER NOT NULL,
		cost_nano INTEGER NOT NULL,
		spans INTEGER NOT NULL,
		PRIMARY KEY (tenant_id, hour)
	) WITHOUT ROWID`,
	`CREATE TABLE tenant_session_hour (
		tenant_id TEXT NOT NULL,
		hour INTEGER NOT NULL,
		session_id TEXT NOT NULL,
		PRIMARY KEY (tenant_id, hour, session_id)
	) WITHOUT ROWID`,
}
