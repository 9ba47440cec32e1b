package sqlite

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/agenttrace/agenttrace/store"
)

// minFreeBytes is the free space below which Ping reports the disk full:
// SQLite needs room for the WAL and new pages before it can commit.
const minFreeBytes = 1 << 20

// Ping implements store.Store: a read on the read pool, the outcome of
// the last write transaction, and the free space of the database's file
// system.
func (s *Store) Ping(ctx context.Context) error {
	s.qmu.RLock()
	closed := s.closed
	s.qmu.RUnlock()
	if closed {
		return store.ErrClosed
	}
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("%w: sqlite: %w", store.ErrNotReady, s.mapErr(err))
	}
	if err := s.writeErr.Load(); err != nil {
		return fmt.Errorf("%w: sqlite: the last write failed: %w", store.ErrNotReady, *err)
	}
	if s.path != "" {
		free, err := freeBytes(filepath.Dir(s.path))
		if err == nil && free < minFreeBytes {
			return fmt.Errorf("%w: sqlite: the disk holding %s is full (%d bytes free)", store.ErrNotReady, s.path, free)
		}
	}
	return nil
}
