package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agenttrace/agenttrace/batch"
	"github.com/agenttrace/agenttrace/internal/pgtest"
	"github.com/agenttrace/agenttrace/internal/sdkload"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/postgres"
	"github.com/agenttrace/agenttrace/store/sqlite"
	agenttrace "github.com/agenttrace/agenttrace/trace"
)

// BenchmarkReplicas is the ingest rate of serve on PostgreSQL with one and
// with two replicas, against serve on SQLite, in one run: agenttrace SDK
// clients in this process (one per replica, four goroutines each, flat
// out; a full queue blocks the producers, so that nothing is dropped and
// the rate is the pipeline's) export to serve binaries on 127.0.0.1; with
// two replicas the traffic is split between them. PostgreSQL runs durable (fsync and
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
	db0 := postgresCPU()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var offered, dropped int64
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client, err := agenttrace.NewClient(ctx, agenttrace.WithEndpoint(p.url), agenttrace.WithServiceName("bench"),
				agenttrace.WithBatchOptions(batch.WithLogger(slog.New(slog.DiscardHandler)), batch.WithBlocking(time.Minute)))
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
	dbCPU := postgresCPU() - db0
	var serveCPU time.Duration
	for _, p := range procs {
		p.cmd.Process.Kill()
		<-p.waited
		p.waited <- nil
		serveCPU += p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
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
	b.ReportMetric(float64(serveCPU.Microseconds())/float64(u.Spans), "serve-cpu-µs/span")
	if postgres.IsURL(db) {
		b.ReportMetric(float64(dbCPU.Microseconds())/float64(u.Spans), "pg-cpu-µs/span")
	}
	if offered-u.Spans != dropped {
		b.Fatalf("offered %d, stored %d, dropped %d: the accounting does not add up", offered, u.Spans, dropped)
	}
}

// startBenchServe starts a serve binary on db for a benchmark.
func startBenchServe(b *testing.B, bin, db string) *proc {
	b.Helper()
	return startBinary(b, bin, db, "--log-level", "warn")
}

// postgresCPU is the CPU time used so far by the running processes named
// postgres (the server and its backends), from /proc; 0 where there is
// no /proc.
func postgresCPU() time.Duration {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var ticks int64
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime(14) stime(15)
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.HasPrefix(s[strings.IndexByte(s, '(')+1:], "postgres") {
			continue
		}
		f := strings.Fields(s[i+2:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}
