package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agenttrace/agenttrace/batch"
	"github.com/agenttrace/agenttrace/internal/sdkload"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/sqlite"
)

// BenchmarkSDKToServe is DESIGN section 6's ingest target as deployed: the
// agenttrace SDK in this process (trace.NewClient with WithEndpoint,
// default settings, four goroutines recording traces of a root and nine
// LLM calls with usage) exports over OTLP/HTTP to the agenttrace binary's
// "serve" running in its own process on 127.0.0.1, which stores in a SQLite
// file.
//
// spans/s counts the spans found in the database (opened after serve has
// exited) over the time from the first span to the end of the client's
// final flush; every span answered 200 is committed by then. lost is
// offered minus stored, and must equal the client's dropped count
// (checked). rate=50000 offers 50,000 spans/s paced per trace (the
// target); rate=max offers as fast as the goroutines can; -serve.rates
// sets other rates. sdk-cpu-µs/span
// and serve-cpu-µs/span are the CPU time of each process per span offered
// (serve's includes its start and its SQLite checkpoints); gogc= is
// serve's GOGC.
//
// Run it with a fixed span count, e.g. -benchtime=200000x, so that the
// SDK's queue (16,384 spans) cannot hide a pipeline slower than the offer.
func BenchmarkSDKToServe(b *testing.B) {
	rates, err := parseRates(*serveRates)
	if err != nil {
		b.Fatal(err)
	}
	bin := binary(b)
	for _, gogc := range []string{"default", "100"} {
		for _, rate := range rates {
			name := "rate=max"
			if rate > 0 {
				name = fmt.Sprintf("rate=%d", rate)
			}
			b.Run("gogc="+gogc+"/"+name, func(b *testing.B) { benchServe(b, bin, gogc, rate) })
		}
	}
}

// serveRates are BenchmarkSDKToServe's offered rates; find the highest
// rate with nothing lost with, e.g., -args -serve.rates=25000,30000,35000.
var serveRates = flag.String("serve.rates", "max,50000", "BenchmarkSDKToServe: comma-separated offered spans/s (max: unpaced)")

// parseRates parses -serve.rates; max is 0.
func parseRates(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "max" {
			out = append(out, 0)
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-serve.rates: %q is not max or a positive rate", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func benchServe(b *testing.B, bin, gogc string, rate int) {
	dir := b.TempDir()
	db := filepath.Join(dir, "serve.db")
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", db, "--log-level", "warn")
	cmd.Env = os.Environ()
	if gogc != "default" {
		cmd.Env = append(cmd.Env, "GOGC="+gogc)
	} else {
		cmd.Env = append(cmd.Env, "GOGC=")
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-waited
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("serve: %v; stderr: %s", err, stderr.String())
	}
	_, url, _ := strings.Cut(strings.TrimSpace(line), "listening on ")
	go io.Copy(io.Discard, stdout)

	ctx := context.Background()
	client, err := sdkload.NewClient(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := sdkload.ProcessCPU()
	offered := sdkload.Offer(ctx, client, b.N, 4, rate)
	if err := client.Shutdown(ctx); err != nil {
		var ue *batch.UndeliveredError
		if !errors.As(err, &ue) { // undelivered spans are counted below
			b.Fatal(err)
		}
	}
	b.StopTimer()
	ownCPU := sdkload.ProcessCPU() - cpu0
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.Fatal(err)
	}
	err = <-waited
	waited <- nil // for the deferred Kill
	if err != nil {
		b.Fatalf("serve: %v; stderr: %s", err, stderr.String())
	}
	serveCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()

	st, err := sqlite.Open(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	u, err := st.TenantUsage(ctx, store.UsageQuery{TenantID: "acme", Start: time.Now().Add(-24 * time.Hour), End: time.Now().Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	stats := client.Stats()
	lost := offered - u.Spans
	if offered != int64(b.N) || uint64(lost) != stats.Dropped.Total() || stats.Exported != uint64(u.Spans) {
		b.Fatalf("offered %d, stored %d, client stats %+v: the accounting does not add up", offered, u.Spans, stats)
	}
	b.ReportMetric(float64(u.Spans)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64(ownCPU.Microseconds())/float64(b.N), "sdk-cpu-µs/span")
	b.ReportMetric(float64(serveCPU.Microseconds())/float64(b.N), "serve-cpu-µs/span")
}
