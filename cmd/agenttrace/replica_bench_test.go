package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/agenttrace/agenttrace/batch"
	"github.com/agenttrace/agenttrace/internal/pgtest"
	"github.com/agenttrace/agenttrace/internal/sdkload"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/postgres"
	"github.com/agenttrace/agenttrace/store/sqlite"
)

// BenchmarkReplicas is the ingest rate of serve on PostgreSQL with one and
// with two replicas, against serve on SQLite, in one run: agenttrace SDK
// clients in this process (one per replica, four goroutines each, flat
// out) export to serve binaries on 127.0.0.1; with two replicas the
// traffic is split between them. PostgreSQL runs durable (fsync and
// synchronous commits on), as SQLite does in WAL mode.
//
// spans/s counts the spans found stored over the time from the first span
// to the end of the clients' final flushes (every span answered 200 is
// committed by then); lost must be 0. Run it with a fixed span count, e.g.
// -benchtime=100000x.
func BenchmarkReplicas(b *testing.B) {
	bin := binary(b)
	srv, err := pgtest.Start(pgtest.WithDurable())
	if err != nil {
		pg.Get(b)
		b.Fatal(err)
	}
	defer srv.Close()
	b.Run("store=sqlite", func(b *testing.B) {
		benchReplicas(b, bin, filepath.Join(b.TempDir(), "serve.db"), 1)
	})
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("store=postgres/replicas=%d", n), func(b *testing.B) {
			benchReplicas(b, bin, srv.NewDatabase(b), n)
		})
	}
}

func benchReplicas(b *testing.B, bin, db string, replicas int) {
	ctx := context.Background()
	if postgres.IsURL(db) {
		// Migrate before the replicas start, so that they all start alike.
		st, err := postgres.Open(ctx, db)
		if err != nil {
			b.Fatal(err)
		}
		st.Close()
	}
	var procs []*proc
	for range replicas {
		procs = append(procs, startBenchServe(b, bin, db))
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var offered, dropped int64
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client, err := sdkload.NewClient(ctx, p.url)
			if err != nil {
				b.Error(err)
				return
			}
			n := b.N / replicas
			if i == 0 {
				n += b.N % replicas
			}
			o := sdkload.Offer(ctx, client, n, 4, 0)
			if err := client.Shutdown(ctx); err != nil {
				var ue *batch.UndeliveredError
				if !errors.As(err, &ue) {
					b.Error(err)
				}
			}
			mu.Lock()
			offered += o
			dropped += int64(client.Stats().Dropped.Total())
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.StopTimer()
	for _, p := range procs {
		p.cmd.Process.Kill()
		<-p.waited
		p.waited <- nil
	}
	var st store.Store
	var err error
	if postgres.IsURL(db) {
		st, err = postgres.Open(ctx, db)
	} else {
		st, err = sqlite.Open(ctx, db)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	u, err := st.TenantUsage(ctx, store.UsageQuery{TenantID: "acme", Start: time.Now().Add(-24 * time.Hour), End: time.Now().Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(u.Spans)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(offered-u.Spans), "lost")
	if offered-u.Spans != dropped {
		b.Fatalf("offered %d, stored %d, dropped %d: the accounting does not add up", offered, u.Spans, dropped)
	}
}

// startBenchServe starts a serve binary on db for a benchmark.
func startBenchServe(b *testing.B, bin, db string) *proc {
	b.Helper()
	return startBinary(b, bin, db, "--log-level", "warn")
}
