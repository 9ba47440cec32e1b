package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/agenttrace/agenttrace/internal/ingestlog"
	"github.com/agenttrace/agenttrace/internal/wire"
	"github.com/agenttrace/agenttrace/store"
)

// The ingest log (WithIngestLog): an ingest request is answered 200 once
// its body is appended to the log, and its spans are written to the store
// behind it, so that the store's group commit writes many requests in one
// transaction even when each client keeps one export in flight. A query
// first waits until every request answered before it began is in the
// store, so what a 200 acknowledged is what a later query sees.

// DefaultIngestBacklogBytes bounds the request bodies (decompressed)
// logged but not yet in the store; a request that would pass it waits
// for room, up to DefaultIngestWait, then gets 429.
const DefaultIngestBacklogBytes = 8 << 20

// logFlagJSON marks a logged body as OTLP JSON (else protobuf).
const logFlagJSON = 1

// replayBatchSpans is the number of spans written per transaction when
// the log of an earlier run is replayed.
const replayBatchSpans = 16384

// WithIngestLog makes ingest durable at an append-only log in dir (created
// if needed) rather than at the store's commit: a request is answered 200
// once its body is in the log (a write to the file: it survives a killed
// process; with fsync true the write is fsynced, so it also survives a
// power loss), and its spans are written to the store in the background.
// A query waits until the store holds every span answered before it began.
// New replays what an earlier run logged but did not store; Close (or the
// end of Serve) finishes the background writes. Use it with one server per
// store only: a second process writing the same store does not see this
// one's backlog.
func WithIngestLog(dir string, fsync bool) Option {
	return func(s *Server) {
		s.logDir, s.logSync = dir, fsync
	}
}

// ingestQueue is the log and the background writes behind it.
type ingestQueue struct {
	log *ingestlog.Log
	st  store.Store
	lg  *slog.Logger

	mu       sync.Mutex
	changed  chan struct{} // closed (and replaced) when mark, backlog or failErr change
	done     map[uint64]bool
	appended uint64 // the last seq logged
	mark     uint64 // every seq up to mark is in the store (or was dropped)
	backlog  int64  // body bytes logged and not yet in the store
	failErr  error  // the last write's error (log or store); nil once one succeeds
	closing  bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// openIngestLog opens the log and writes what it holds to the store.
func (s *Server) openIngestLog() error {
	var opts []ingestlog.Option
	if s.logSync {
		opts = append(opts, ingestlog.WithSync())
	}
	l, recs, err := ingestlog.Open(s.logDir, opts...)
	if err != nil {
		return fmt.Errorf("server: ingest log: %w", err)
	}
	q := &ingestQueue{log: l, st: s.st, lg: s.log, changed: make(chan struct{}), done: map[uint64]bool{}, stop: make(chan struct{})}
	if err := s.replay(recs); err != nil {
		l.Close()
		return err
	}
	if len(recs) > 0 {
		last := recs[len(recs)-1].Seq
		q.appended, q.mark = last, last
		s.log.Info("ingest log replayed", "requests", len(recs))
	}
	if err := l.Release(q.mark); err != nil {
		s.log.Warn("ingest log", "err", err)
	}
	s.q = q
	return nil
}

// replay writes the spans of logged requests to the store, in
// transactions of up to replayBatchSpans spans (duplicates of spans
// stored before the crash are ignored by the store).
func (s *Server) replay(recs []ingestlog.Record) error {
	ctx := context.Background()
	var batch []store.Span
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := s.st.WriteSpans(ctx, batch)
		batch = batch[:0]
		if err != nil && !errors.Is(err, store.ErrInvalidSpan) {
			return fmt.Errorf("server: replaying the ingest log: %w", err)
		}
		return err
	}
	for _, r := range recs {
		res, err := s.spansOf(r.Payload, r.Flags&logFlagJSON != 0, r.Tenant)
		if err != nil {
			// Logged only after it decoded: a bug or a changed rule.
			s.log.Error("ingest log: a logged request no longer decodes; skipped", "err", err)
			continue
		}
		if len(batch) > 0 && len(batch)+len(res.spans) > replayBatchSpans {
			if err := flush(); err != nil && !errors.Is(err, store.ErrInvalidSpan) {
				return err
			}
		}
		batch = append(batch, res.spans...)
	}
	if err := flush(); err != nil && !errors.Is(err, store.ErrInvalidSpan) {
		return err
	}
	return nil
}

// broadcast wakes the waiters; q.mu is held.
func (q *ingestQueue) broadcast() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// failing returns the error of the last write if it failed.
func (q *ingestQueue) failing() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.failErr
}

// setFail records the outcome of a write (nil: it succeeded).
func (q *ingestQueue) setFail(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if (q.failErr == nil) != (err == nil) {
		q.broadcast()
	}
	q.failErr = err
}

// add logs a request's body and starts writing its spans to the store.
// It waits (up to DefaultIngestWait) for room in the backlog.
func (q *ingestQueue) add(ctx context.Context, s *Server, flags uint8, tenant string, body []byte, spans []store.Span) error {
	n := int64(len(body))
	t := time.NewTimer(DefaultIngestWait)
	defer t.Stop()
	q.mu.Lock()
	for q.backlog > 0 && q.backlog+n > DefaultIngestBacklogBytes {
		if q.closing {
			q.mu.Unlock()
			return errorf(http.StatusServiceUnavailable, wire.CodeUnavailable, "the server is shutting down; retry")
		}
		ch := q.changed
		q.mu.Unlock()
		select {
		case <-ch:
		case <-t.C:
			return s.busy("the store is behind the ingest log")
		case <-ctx.Done():
			return errorf(http.StatusServiceUnavailable, wire.CodeUnavailable, "request canceled")
		}
		q.mu.Lock()
	}
	if q.closing {
		q.mu.Unlock()
		return errorf(http.StatusServiceUnavailable, wire.CodeUnavailable, "the server is shutting down; retry")
	}
	seq, err := q.log.Append(flags, tenant, body)
	if err != nil {
		if q.failErr == nil {
			q.broadcast()
		}
		q.failErr = err
		q.mu.Unlock()
		q.lg.Warn("cannot log spans", "spans", len(spans), "err", err)
		return errorf(http.StatusServiceUnavailable, wire.CodeUnavailable, "cannot store spans now; retry")
	}
	q.appended = seq
	q.backlog += n
	q.wg.Add(1)
	q.mu.Unlock()
	go q.write(seq, n, spans)
	return nil
}

// write writes one logged request's spans to the store, retrying until
// it succeeds or the queue is stopped (the log keeps them then).
func (q *ingestQueue) write(seq uint64, n int64, spans []store.Span) {
	defer q.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		_, err := q.st.WriteSpans(context.Background(), spans)
		switch {
		case err == nil:
			q.complete(seq, n, nil)
			return
		case errors.Is(err, store.ErrInvalidSpan):
			// Checked before logging: not expected. Retrying cannot help.
			q.lg.Error("ingest log: the store refused logged spans; dropped", "spans", len(spans), "err", err)
			q.complete(seq, n, nil)
			return
		case errors.Is(err, store.ErrClosed):
			q.lg.Warn("ingest log: the store closed before logged spans were written; they are replayed at the next start", "spans", len(spans))
			return
		}
		q.setFail(err)
		q.lg.Warn("cannot store logged spans; retrying", "spans", len(spans), "err", err, "retry_in", backoff)
		select {
		case <-q.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// complete marks seq as written.
func (q *ingestQueue) complete(seq uint64, n int64, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.failErr = err
	q.backlog -= n
	q.done[seq] = true
	for q.done[q.mark+1] {
		delete(q.done, q.mark+1)
		q.mark++
	}
	if err := q.log.Release(q.mark); err != nil {
		q.lg.Warn("ingest log", "err", err)
	}
	q.broadcast()
}

// caughtUp waits until the store holds every request logged before the
// call. While the store is failing it does not wait: queries then answer
// from what is stored.
func (q *ingestQueue) caughtUp(ctx context.Context) error {
	q.mu.Lock()
	target := q.appended
	for q.mark < target && q.failErr == nil {
		ch := q.changed
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		q.mu.Lock()
	}
	q.mu.Unlock()
	return nil
}

// close stops taking requests, waits (bounded by ctx) for the background
// writes, and closes the log; what was not written stays in it.
func (q *ingestQueue) close(ctx context.Context) error {
	q.mu.Lock()
	q.closing = true
	q.mu.Unlock()
	err := q.caughtUp(ctx)
	if err == nil {
		err = q.failing()
	}
	close(q.stop)
	q.wg.Wait()
	return errors.Join(err, q.log.Close())
}

// Close finishes the ingest log's background writes (waiting up to the
// shutdown timeout) and closes the log; Serve calls it when it returns.
// Without WithIngestLog it does nothing. The Server takes no requests
// after it.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if s.q == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
		defer cancel()
		if err = s.q.close(ctx); err != nil {
			err = fmt.Errorf("server: ingest log: %w", err)
		}
	})
	return err
}
