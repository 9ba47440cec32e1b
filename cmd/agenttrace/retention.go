package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agenttrace/agenttrace/store"
)

// retentionEvery is how often serve expires data past --retention.
const retentionEvery = 5 * time.Minute

// parseRetention parses --retention: a Go duration (36h, 90m) or a number
// of days (30d); "" or "0" keeps everything. Below store.MinRetention is
// refused.
func parseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil || days <= 0 || days > 100*365 {
			return 0, fmt.Errorf("--retention %q: want a duration such as 30d or 36h", s)
		}
		d = time.Duration(days * float64(24*time.Hour))
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("--retention %q: want a duration such as 30d or 36h", s)
		}
	}
	if d < store.MinRetention {
		return 0, fmt.Errorf("--retention %q: at least %v (expiry works in whole hours)", s, store.MinRetention)
	}
	return d, nil
}

// startRetention expires what is older than keep now and every interval
// until ctx is done; wait blocks until it has stopped.
func startRetention(ctx context.Context, st store.Store, keep, interval time.Duration, log *slog.Logger) (wait func(), err error) {
	r, ok := st.(store.Retainer)
	if !ok {
		return nil, fmt.Errorf("--retention: the %T store cannot expire data", st)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			start := time.Now()
			exp, err := r.DeleteBefore(ctx, start.Add(-keep))
			switch {
			case err != nil && !errors.Is(err, context.Canceled):
				log.Warn("retention pass failed", "err", err)
			case err == nil && (exp.Spans > 0 || exp.Traces > 0):
				log.Info("expired", "before", exp.Cutoff, "spans", exp.Spans, "traces", exp.Traces,
					"partitions", exp.Partitions, "freed_bytes", exp.FreedBytes, "took", time.Since(start).Round(time.Millisecond))
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return wg.Wait, nil
}
