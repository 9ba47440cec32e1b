package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/agenttrace/agenttrace/store/internal/rollup"

	"github.com/agenttrace/agenttrace/store"
)

var _ store.Retainer = (*Store)(nil)

// expireChunk bounds the spans or traces one expiry transaction removes,
// so that ingest (which shares the one write connection) waits at most
// for one chunk.
const expireChunk = 2000

// vacuumStep is the number of free pages one incremental_vacuum gives back.
const vacuumStep = 2048

// DeleteBefore implements store.Retainer. The cutoff is rounded down to a
// whole hour. Spans and trace summaries are removed in chunks, each in a
// transaction of its own (ingest goes on between them), then the rollup
// hours before the cutoff; last, the freed pages are given back to the
// file system with incremental vacuums (databases made by this version
// use auto_vacuum=INCREMENTAL; an older file keeps its size and reuses
// the freed pages, until a one-time "PRAGMA auto_vacuum=INCREMENTAL;
// VACUUM" offline).
func (s *Store) DeleteBefore(ctx context.Context, cutoff time.Time) (store.Expired, error) {
	s.qmu.RLock()
	closed := s.closed
	s.qmu.RUnlock()
	if closed {
		return store.Expired{}, store.ErrClosed
	}
	c := rollup.FloorDiv(cutoff.UnixNano(), rollup.HourNS) * rollup.HourNS
	exp := store.Expired{Cutoff: timeNS(c)}
	before, err := s.fileBytes(ctx)
	if err != nil {
		return exp, fmt.Errorf("sqlite: retention: %w", s.mapErr(err))
	}
	for {
		n, err := s.expireSpans(ctx, c)
		if err != nil {
			return exp, fmt.Errorf("sqlite: retention: spans: %w", s.mapErr(err))
		}
		exp.Spans += n
		if n == 0 {
			break
		}
	}
	for {
		n, err := s.expireTraces(ctx, c)
		if err != nil {
			return exp, fmt.Errorf("sqlite: retention: traces: %w", s.mapErr(err))
		}
		exp.Traces += n
		if n == 0 {
			break
		}
	}
	h := c / rollup.HourNS
	for _, q := range []string{
		`DELETE FROM usage_session_hour WHERE (session_id, hour, tenant_id) IN (SELECT session_id, hour, tenant_id FROM usage_session_hour WHERE hour < ? LIMIT ?)`,
		`DELETE FROM usage_tenant_hour WHERE (tenant_id, hour) IN (SELECT tenant_id, hour FROM usage_tenant_hour WHERE hour < ? LIMIT ?)`,
		`DELETE FROM tenant_session_hour WHERE (tenant_id, hour, session_id) IN (SELECT tenant_id, hour, session_id FROM tenant_session_hour WHERE hour < ? LIMIT ?)`,
	} {
		for {
			res, err := s.w.ExecContext(ctx, q, h, expireChunk)
			if err != nil {
				return exp, fmt.Errorf("sqlite: retention: rollups: %w", s.mapErr(err))
			}
			if n, _ := res.RowsAffected(); n < expireChunk {
				break
			}
		}
	}
	var mode int
	if err := s.w.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return exp, fmt.Errorf("sqlite: retention: %w", s.mapErr(err))
	}
	for mode == 2 { // incremental
		var free int64
		if err := s.w.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
			return exp, fmt.Errorf("sqlite: retention: %w", s.mapErr(err))
		}
		if free == 0 {
			break
		}
		if _, err := s.w.ExecContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, vacuumStep)); err != nil {
			return exp, fmt.Errorf("sqlite: retention: vacuum: %w", s.mapErr(err))
		}
		if err := ctx.Err(); err != nil {
			return exp, err
		}
	}
	after, err := s.fileBytes(ctx)
	if err != nil {
		return exp, fmt.Errorf("sqlite: retention: %w", s.mapErr(err))
	}
	exp.FreedBytes = max(0, before-after)
	return exp, nil
}

// fileBytes is the size of the database in pages times the page size.
func (s *Store) fileBytes(ctx context.Context) (int64, error) {
	var pages, size int64
	if err := s.w.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		return 0, err
	}
	if err := s.w.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&size); err != nil {
		return 0, err
	}
	return pages * size, nil
}

// expireSpans removes one chunk of the spans that started before c (and
// their tags), oldest first, and returns how many.
func (s *Store) expireSpans(ctx context.Context, c int64) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, json_extract(detail, '$[13]') FROM spans WHERE start_ns < ? ORDER BY start_ns LIMIT ?`, c, expireChunk)
	if err != nil {
		return 0, err
	}
	var ids []any
	type tagRow struct {
		id  int64
		tag string
	}
	var tags []tagRow
	for rows.Next() {
		var id int64
		var list sql.NullString
		if err := rows.Scan(&id, &list); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
		if l, err := decodeList(list.String); err == nil {
			for _, t := range l {
				tags = append(tags, tagRow{id, t})
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	for _, t := range tags {
		if _, err := tx.ExecContext(ctx, `DELETE FROM span_tags WHERE tag = ? AND span = ?`, t.tag, t.id); err != nil {
			return 0, err
		}
	}
	if err := deleteIn(ctx, tx, `DELETE FROM spans WHERE id IN (%s)`, ids); err != nil {
		return 0, err
	}
	return int64(len(ids)), tx.Commit()
}

// expireTraces removes one chunk of the trace summaries (one per tenant
// and trace) that started before c, with their tags, and the attribution
// of the traces left with no summary; it returns how many summaries.
func (s *Store) expireTraces(ctx context.Context, c int64) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT trace_id, tenant_id, tags FROM traces WHERE start_ns < ? ORDER BY start_ns LIMIT ?`, c, expireChunk)
	if err != nil {
		return 0, err
	}
	type key struct{ trace, tenant string }
	var keys []key
	var tags [][3]string
	for rows.Next() {
		var k key
		var list string
		if err := rows.Scan(&k.trace, &k.tenant, &list); err != nil {
			rows.Close()
			return 0, err
		}
		keys = append(keys, k)
		var l []string
		if json.Unmarshal([]byte(list), &l) == nil {
			for _, t := range l {
				tags = append(tags, [3]string{t, k.trace, k.tenant})
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, t := range tags {
		if _, err := tx.ExecContext(ctx, `DELETE FROM trace_tags WHERE tag = ? AND trace_id = ? AND tenant_id = ?`, t[0], t[1], t[2]); err != nil {
			return 0, err
		}
	}
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, `DELETE FROM traces WHERE trace_id = ? AND tenant_id = ?`, k.trace, k.tenant); err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM trace_attrs WHERE trace_id = ?1 AND NOT EXISTS (SELECT 1 FROM traces WHERE trace_id = ?1)`, k.trace); err != nil {
			return 0, err
		}
	}
	return int64(len(keys)), tx.Commit()
}

// deleteIn runs a DELETE with an IN list of ids, 500 at a time.
func deleteIn(ctx context.Context, tx *sql.Tx, query string, ids []any) error {
	for len(ids) > 0 {
		n := min(len(ids), 500)
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(query, strings.TrimSuffix(strings.Repeat("?,", n), ",")), ids[:n]...); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}
