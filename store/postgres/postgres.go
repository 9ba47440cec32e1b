// Package postgres is a store.Store on PostgreSQL (github.com/jackc/pgx/v5
// with a pgxpool), for several stateless `agenttrace serve` replicas
// sharing one database.
//
// It keeps the semantics of the embedded store (store/sqlite) and passes
// the same conformance suite (store/storetest): spans are immutable rows
// with session, user and tenant denormalised onto each; the per-trace
// summary and the per-hour usage rollups (by session and by tenant) are
// updated in the transaction that stores the spans they count; costs are
// bigint nano-USD and every sum saturates at 2^63-1 instead of wrapping.
//
// Replicas: each WriteSpans call is one transaction. It takes a
// transaction-scoped advisory lock per trace it touches (in one global
// order, so writers never deadlock on them), which serialises the
// read-modify-write of a trace's summary and attribution across replicas;
// spans are inserted with one multi-row statement (ON CONFLICT DO NOTHING,
// so a span delivered twice, to two replicas at once, is stored and
// counted once); rollups are upserted set-based, in key order, adding
// deltas in SQL (no lost update). A transaction that still fails with a
// deadlock or a serialization failure is retried.
//
// The spans table is partitioned by day of start time, so that retention
// (DeleteBefore) drops whole partitions.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agenttrace/agenttrace/store"
)

// Option configures Open.
type Option func(*config)

type config struct {
	maxConns int32
}

// WithMaxConns sets the most connections the store's pool opens (default:
// pgxpool's, the larger of 4 and the number of CPUs).
func WithMaxConns(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxConns = int32(n)
		}
	}
}

// Store is a store.Store on PostgreSQL. Use Open to make one.
type Store struct {
	pool   *pgxpool.Pool
	closed atomic.Bool

	// parts caches the days whose spans partition exists.
	pmu   sync.Mutex
	parts map[int64]bool

	// smu guards the stored traces' time span (wideWindow) and when it
	// was read.
	smu            sync.Mutex
	spanLo, spanHi int64
	spanAt         time.Time
}

var _ store.Store = (*Store)(nil)

// IsURL reports whether db names a PostgreSQL database (a postgres:// or
// postgresql:// URL) rather than a file.
func IsURL(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// userinfo matches the user and password of a URL that url.Parse may
// refuse (a bad port, say).
var userinfo = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*):[^@/]*@`)

// Redact returns the URL with its password hidden, for messages; a
// malformed URL too.
func Redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		return u.Redacted()
	}
	return userinfo.ReplaceAllString(dsn, "${1}:xxxxx@")
}

// Open connects to the database named by a postgres:// URL, checks that
// it answers, and brings its schema up to date (under an advisory lock:
// replicas may start together). It fails with ErrSchemaTooNew on a
// database migrated by a newer program.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if !IsURL(dsn) {
		return nil, fmt.Errorf("postgres: %s is not a postgres:// URL", Redact(dsn))
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: malformed URL %s: %w", Redact(dsn), err)
	}
	if cfg.maxConns > 0 {
		pc.MaxConns = cfg.maxConns
	}
	// A dead database must not hang callers: connecting is bounded, and
	// every call carries its caller's deadline.
	if pc.ConnConfig.ConnectTimeout == 0 || pc.ConnConfig.ConnectTimeout > 10*time.Second {
		pc.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pc.HealthCheckPeriod = 5 * time.Second
	// Usage sums and ingest statements are key lookups of one shape: a
	// generic plan (partitions pruned when it runs) serves them all,
	// where custom plans would be planned again at every call. Listings
	// are planned per call (custom in query.go). A URL may say otherwise.
	if _, ok := pc.ConnConfig.RuntimeParams["plan_cache_mode"]; !ok {
		pc.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", Redact(dsn), err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot reach %s: %w", Redact(dsn), err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool, parts: map[int64]bool{}}, nil
}

// Close closes the pool. Writes that returned nil are committed; later
// calls return store.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.pool.Close()
	return nil
}

// Ping implements store.Store: a round trip to the database.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("%w: postgres: %w", store.ErrNotReady, err)
	}
	return nil
}

// mapErr turns errors of a closed pool into store.ErrClosed.
func (s *Store) mapErr(err error) error {
	if err != nil && s.closed.Load() {
		return errors.Join(store.ErrClosed, err)
	}
	return err
}
