package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrSchemaTooNew means the database was migrated by a newer agenttrace
// than this one: a replica refuses to run on a schema it does not know.
var ErrSchemaTooNew = errors.New("postgres: database schema is newer than this program")

// migrateLockKey is the advisory lock key replicas take while they
// migrate, so that several starting together migrate once.
const migrateLockKey = 0x61677472_6d696772 // "agtrmigr"

// retentionLockKey is held (as a session lock) by the replica running an
// expiry pass: the others skip theirs.
const retentionLockKey = 0x61677472_72657465 // "agtrrete"

// partitionLockKey serialises the creation of spans partitions.
const partitionLockKey = 0x61677472_70617274 // "agtrpart"

// schemaVersion is the number of migrations this program knows.
var schemaVersion = len(migrations)

// spanCols are the columns of the spans table, in the order of
// insertSpansSQL's arrays.
const spanCols = `trace_id, span_id, parent_id, name, kind, type, status, status_message, start_ns, end_ns,
	operation, request_model, response_model, provider, prompt_slug, prompt_version,
	input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens, total_tokens,
	cost_nano, cost_source, price_table_version, llm, session_id, user_id, tenant_id, conversation_id,
	environment, service_name, scope_name, tags, inherited, attributes, resource, events`

// traceCols are the columns of the traces table.
const traceCols = `tenant_id, trace_id, name, status, has_root, start_ns, end_ns, duration_ns, min_start_ns, max_end_ns,
	span_count, error_count, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens,
	reasoning_tokens, total_tokens, requests, cost_nano, models, input, output, session_id, user_id,
	environment, tags`

// migrations[v] brings a database from schema version v to v+1. Never edit
// one that has shipped: add another.
//
// Times are bigint Unix nanoseconds, costs bigint nano-USD, hours bigint
// Unix hours. Spans are partitioned by day of start_ns (partitions are
// made as spans arrive, see ensurePartitions); a span is identified by its
// trace id, span id and start (a partitioned table's keys include the
// partition key).
var migrations = [][]string{{
	`CREATE TABLE spans (
		trace_id text NOT NULL,
		span_id text NOT NULL,
		parent_id text NOT NULL,
		name text NOT NULL,
		kind text NOT NULL,
		type text NOT NULL,
		status smallint NOT NULL,
		status_message text NOT NULL,
		start_ns bigint NOT NULL,
		end_ns bigint NOT NULL,
		operation text NOT NULL,
		request_model text NOT NULL,
		response_model text NOT NULL,
		provider text NOT NULL,
		prompt_slug text NOT NULL,
		prompt_version text NOT NULL,
		input_tokens bigint NOT NULL,
		output_tokens bigint NOT NULL,
		cache_read_tokens bigint NOT NULL,
		cache_creation_tokens bigint NOT NULL,
		reasoning_tokens bigint NOT NULL,
		total_tokens bigint NOT NULL,
		cost_nano bigint NOT NULL,
		cost_source text NOT NULL,
		price_table_version text NOT NULL,
		llm smallint NOT NULL,
		session_id text NOT NULL,
		user_id text NOT NULL,
		tenant_id text NOT NULL,
		conversation_id text NOT NULL,
		environment text NOT NULL,
		service_name text NOT NULL,
		scope_name text NOT NULL,
		tags text[] NOT NULL,
		inherited smallint NOT NULL,
		attributes text NOT NULL,
		resource text NOT NULL,
		events text NOT NULL,
		PRIMARY KEY (trace_id, span_id, start_ns)
	) PARTITION BY RANGE (start_ns)`,
	`CREATE INDEX spans_start ON spans (start_ns, trace_id, span_id)`,
	`CREATE INDEX spans_session ON spans (session_id, start_ns) WHERE session_id <> ''`,
	`CREATE INDEX spans_tenant ON spans (tenant_id, start_ns) WHERE tenant_id <> ''`,
	`CREATE TABLE span_partitions (
		day bigint PRIMARY KEY,
		name text NOT NULL
	)`,
	`CREATE TABLE traces (
		tenant_id text NOT NULL,
		trace_id text NOT NULL,
		name text NOT NULL,
		status smallint NOT NULL,
		has_root boolean NOT NULL,
		start_ns bigint NOT NULL,
		end_ns bigint NOT NULL,
		duration_ns bigint NOT NULL,
		min_start_ns bigint NOT NULL,
		max_end_ns bigint NOT NULL,
		span_count bigint NOT NULL,
		error_count bigint NOT NULL,
		input_tokens bigint NOT NULL,
		output_tokens bigint NOT NULL,
		cache_read_tokens bigint NOT NULL,
		cache_creation_tokens bigint NOT NULL,
		reasoning_tokens bigint NOT NULL,
		total_tokens bigint NOT NULL,
		requests bigint NOT NULL,
		cost_nano bigint NOT NULL,
		models text[] NOT NULL,
		input text NOT NULL,
		output text NOT NULL,
		session_id text NOT NULL,
		user_id text NOT NULL,
		environment text NOT NULL,
		tags text[] NOT NULL,
		PRIMARY KEY (tenant_id, trace_id)
	)`,
	`CREATE INDEX traces_id ON traces (trace_id)`,
	`CREATE INDEX traces_start ON traces (start_ns, trace_id)`,
	`CREATE INDEX traces_tenant_start ON traces (tenant_id, start_ns, trace_id)`,
	`CREATE INDEX traces_session ON traces (session_id, start_ns) WHERE session_id <> ''`,
	`CREATE INDEX traces_user ON traces (user_id, start_ns) WHERE user_id <> ''`,
	`CREATE INDEX traces_duration ON traces (duration_ns, trace_id)`,
	`CREATE INDEX traces_tokens ON traces (total_tokens, trace_id)`,
	`CREATE INDEX traces_cost ON traces (cost_nano, trace_id)`,
	`CREATE INDEX traces_name ON traces (name, trace_id)`,
	`CREATE INDEX traces_tags ON traces USING gin (tags)`,
	`CREATE TABLE trace_attrs (
		trace_id text PRIMARY KEY,
		session_id text NOT NULL,
		user_id text NOT NULL,
		tenant_id text NOT NULL,
		environment text NOT NULL,
		root smallint NOT NULL
	)`,
	`CREATE TABLE usage_session_hour (
		session_id text NOT NULL,
		hour bigint NOT NULL,
		tenant_id text NOT NULL,
		input_tokens bigint NOT NULL,
		output_tokens bigint NOT NULL,
		cache_read_tokens bigint NOT NULL,
		cache_creation_tokens bigint NOT NULL,
		reasoning_tokens bigint NOT NULL,
		requests bigint NOT NULL,
		cost_nano bigint NOT NULL,
		spans bigint NOT NULL,
		unknown_usage bigint NOT NULL,
		PRIMARY KEY (session_id, hour, tenant_id)
	)`,
	`CREATE TABLE usage_tenant_hour (
		tenant_id text NOT NULL,
		hour bigint NOT NULL,
		input_tokens bigint NOT NULL,
		output_tokens bigint NOT NULL,
		cache_read_tokens bigint NOT NULL,
		cache_creation_tokens bigint NOT NULL,
		reasoning_tokens bigint NOT NULL,
		requests bigint NOT NULL,
		cost_nano bigint NOT NULL,
		spans bigint NOT NULL,
		unknown_usage bigint NOT NULL,
		PRIMARY KEY (tenant_id, hour)
	)`,
	`CREATE TABLE tenant_session_hour (
		tenant_id text NOT NULL,
		hour bigint NOT NULL,
		session_id text NOT NULL,
		PRIMARY KEY (tenant_id, hour, session_id)
	)`,
}, {
	// 2: retention (DeleteBefore) finds expired rollup hours by index
	// (dropped by 3);
	// trace lists break ties by trace id, then tenant (one summary per
	// tenant and trace).
	`CREATE INDEX usage_session_hour_hour ON usage_session_hour (hour)`,
	`DROP INDEX traces_start`,
	`DROP INDEX traces_duration`,
	`DROP INDEX traces_tokens`,
	`DROP INDEX traces_cost`,
	`DROP INDEX traces_name`,
	`CREATE INDEX traces_start ON traces (start_ns, trace_id, tenant_id)`,
	`CREATE INDEX traces_duration ON traces (duration_ns, trace_id, tenant_id)`,
	`CREATE INDEX traces_tokens ON traces (total_tokens, trace_id, tenant_id)`,
	`CREATE INDEX traces_cost ON traces (cost_nano, trace_id, tenant_id)`,
	`CREATE INDEX traces_name ON traces (name, trace_id, tenant_id)`,
	`CREATE INDEX usage_tenant_hour_hour ON usage_tenant_hour (hour)`,
	`CREATE INDEX tenant_session_hour_hour ON tenant_session_hour (hour)`,
}, {
	// 3: the rollups' hour indexes go: a generic plan of a usage sum
	// could prefer them to the keys (reading every tenant's rows of the
	// window), and retention's chunked deletes find old hours at the
	// start of the tables without them.
	`DROP INDEX usage_session_hour_hour`,
	`DROP INDEX usage_tenant_hour_hour`,
	`DROP INDEX tenant_session_hour_hour`,
}}

// migrate brings the schema up to date under a session advisory lock, so
// that replicas starting together migrate once; it refuses a schema newer
// than this program's.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLockKey)); err != nil {
		return fmt.Errorf("postgres: migrate: lock: %w", err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(migrateLockKey))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS agenttrace_schema (version integer NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	var v int
	err = conn.QueryRow(ctx, `SELECT version FROM agenttrace_schema`).Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := conn.Exec(ctx, `INSERT INTO agenttrace_schema (version) VALUES (0)`); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
	case err != nil:
		return fmt.Errorf("postgres: read schema version: %w", err)
	}
	if v > schemaVersion {
		return fmt.Errorf("%w: database version %d, this program knows %d", ErrSchemaTooNew, v, schemaVersion)
	}
	for ; v < schemaVersion; v++ {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		for _, q := range migrations[v] {
			if _, err := tx.Exec(ctx, q); err != nil {
				tx.Rollback(ctx)
				return fmt.Errorf("postgres: migrate to version %d: %w (in %.60q)", v+1, err, q)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE agenttrace_schema SET version = `+strconv.Itoa(v+1)); err != nil {
			tx.Rollback(ctx)
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
	}
	return nil
}
