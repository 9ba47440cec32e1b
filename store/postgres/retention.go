package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agenttrace/agenttrace/store/internal/rollup"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agenttrace/agenttrace/store"
)

var _ store.Retainer = (*Store)(nil)

// expireChunk bounds the rows one expiry statement removes, so that each
// holds its locks briefly.
const expireChunk = 2000

// DeleteBefore implements store.Retainer. The cutoff is rounded down to a
// whole day (UTC), the partitions' width: span partitions of the days
// before it are detached concurrently (ingest and queries go on) and
// dropped; trace summaries that started before it are removed in chunks
// under their traces' locks, and rollup hours before it in chunks. One
// replica at a time runs a pass: a call while another replica's is running
// returns at once with nothing removed.
func (s *Store) DeleteBefore(ctx context.Context, cutoff time.Time) (store.Expired, error) {
	if s.closed.Load() {
		return store.Expired{}, store.ErrClosed
	}
	day := rollup.FloorDiv(cutoff.UnixNano(), dayNS)
	c := day * dayNS
	exp := store.Expired{Cutoff: timeNS(c)}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return exp, fmt.Errorf("postgres: retention: %w", s.mapErr(err))
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(retentionLockKey)).Scan(&locked); err != nil {
		return exp, fmt.Errorf("postgres: retention: %w", err)
	}
	if !locked {
		return exp, nil
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(retentionLockKey))
	if err := s.expireTraces(ctx, conn, c, &exp); err != nil {
		return exp, fmt.Errorf("postgres: retention: traces: %w", err)
	}
	for _, table := range []string{"usage_session_hour", "usage_tenant_hour", "tenant_session_hour"} {
		for {
			tag, err := conn.Exec(ctx, `DELETE FROM `+table+` WHERE ctid = ANY(ARRAY(SELECT ctid FROM `+table+
				` WHERE hour < $1 LIMIT `+fmt.Sprint(expireChunk)+`))`, rollup.FloorDiv(c, rollup.HourNS))
			if err != nil {
				return exp, fmt.Errorf("postgres: retention: %s: %w", table, err)
			}
			if tag.RowsAffected() < expireChunk {
				break
			}
		}
	}
	if err := s.dropPartitions(ctx, conn, day, &exp); err != nil {
		return exp, fmt.Errorf("postgres: retention: spans: %w", err)
	}
	return exp, nil
}

// expireTraces removes the summaries of traces that started before c,
// and the attribution of those traces, a chunk per transaction.
func (s *Store) expireTraces(ctx context.Context, conn *pgxpool.Conn, c int64, exp *store.Expired) error {
	for {
		var n int64
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT DISTINCT trace_id FROM (SELECT trace_id FROM traces WHERE start_ns < $1
				ORDER BY start_ns LIMIT `+fmt.Sprint(expireChunk)+`) AS x`, c)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil || len(ids) == 0 {
				return err
			}
			keys := make([]int64, len(ids))
			for i, id := range ids {
				keys[i] = traceLockKey(id)
			}
			slices.Sort(keys)
			keys = slices.Compact(keys)
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k`, keys); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `DELETE FROM traces WHERE trace_id = ANY($1) AND start_ns < $2`, ids, c)
			if err != nil {
				return err
			}
			n = tag.RowsAffected()
			_, err = tx.Exec(ctx, `DELETE FROM trace_attrs a WHERE trace_id = ANY($1)
				AND NOT EXISTS (SELECT 1 FROM traces t WHERE t.trace_id = a.trace_id)`, ids)
			return err
		})
		if err != nil {
			return err
		}
		exp.Traces += n
		if n == 0 {
			return nil
		}
	}
}

// dropPartitions detaches (concurrently: ingest and queries are not
// blocked) and drops the span partitions of the days before day.
func (s *Store) dropPartitions(ctx context.Context, conn *pgxpool.Conn, day int64, exp *store.Expired) error {
	rows, err := conn.Query(ctx, `SELECT day, name FROM span_partitions WHERE day < $1 ORDER BY day`, day)
	if err != nil {
		return err
	}
	type part struct {
		Day  int64
		Name string
	}
	parts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[part])
	if err != nil {
		return err
	}
	defer s.forgetPartitions()
	for _, p := range parts {
		var attached bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE c.relname = $1 AND i.inhparent = 'spans'::regclass)`, p.Name).Scan(&attached); err != nil {
			return err
		}
		var n int64
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+p.Name).Scan(&n); err != nil && !strings.Contains(err.Error(), "does not exist") {
			return err
		}
		if attached {
			if _, err := conn.Exec(ctx, `ALTER TABLE spans DETACH PARTITION `+p.Name+` CONCURRENTLY`); err != nil {
				// A detach left pending by an interrupted pass.
				if !strings.Contains(err.Error(), "pending") {
					return err
				}
				if _, err := conn.Exec(ctx, `ALTER TABLE spans DETACH PARTITION `+p.Name+` FINALIZE`); err != nil {
					return err
				}
			}
		}
		if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS `+p.Name); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, `DELETE FROM span_partitions WHERE day = $1`, p.Day); err != nil {
			return err
		}
		exp.Spans += n
		exp.Partitions++
	}
	return nil
}
