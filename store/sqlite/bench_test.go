package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/storetest"
)

var (
	millionOnce sync.Once
	millionPath string
	millionErr  error
)

// millionStore opens the cached 1,000,000-span fixture, building it (about
// half a minute) the first time on this machine. Benchmarks only run with
// -bench, so tests never pay for it.
func millionStore(b *testing.B) *Store {
	b.Helper()
	millionOnce.Do(func() {
		sum := sha256.Sum256([]byte(fmt.Sprint(migrations)))
		name := fmt.Sprintf("million-%s.db", hex.EncodeToString(sum[:6]))
		millionPath, millionErr = storetest.CachedFile(name, func(path string) error {
			ctx := context.Background()
			st, err := Open(ctx, path)
			if err != nil {
				return err
			}
			start := time.Now()
			if err := storetest.Million.Write(ctx, st, 10_000); err != nil {
				st.Close()
				return err
			}
			b.Logf("built the 1M-span fixture in %v", time.Since(start).Round(time.Second))
			return st.Close()
		})
	})
	if millionErr != nil {
		b.Fatal(millionErr)
	}
	st, err := Open(context.Background(), millionPath)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// rawUsage is the baseline: the same sum from raw spans only, no rollups.
func rawUsage(b *testing.B, s *Store, col, key string, start, end time.Time) store.Usage {
	var u store.Usage
	err := s.r.QueryRow(`SELECT COALESCE(SUM(input_tokens),0), COALESCE(SUM(output_tokens),0), COALESCE(SUM(llm),0),
		COALESCE(SUM(cost_nano),0), COUNT(*), COUNT(DISTINCT NULLIF(session_id, '')) FROM spans WHERE `+col+` = ? AND `+col+` != ''
		AND start_ns >= ? AND start_ns < ?`, key, start.UnixNano(), end.UnixNano()).
		Scan(&u.InputTokens, &u.OutputTokens, &u.Requests, &u.CostNanoUSD, &u.Spans, &u.Sessions)
	if err != nil {
		b.Fatal(err)
	}
	return u
}

func BenchmarkUsage(b *testing.B) {
	st := millionStore(b)
	ctx := context.Background()
	f := storetest.Million
	day := f.Start.Add(10*24*time.Hour + 13*time.Minute)
	dayEnd := day.Add(24*time.Hour + 34*time.Minute)
	sessionTrace := int((day.Sub(f.Start) + 5*time.Hour) / (f.Span / time.Duration(f.Traces)))
	session, tenant := f.Session(sessionTrace), f.Tenant(sessionTrace)
	month := [2]time.Time{f.Start.Add(7 * time.Minute), f.Start.Add(f.Span - 7*time.Minute)}

	// Both ways agree before they race.
	for _, w := range [][2]time.Time{{day, dayEnd}, month} {
		got, err := st.TenantUsage(ctx, store.UsageQuery{TenantID: tenant, Start: w[0], End: w[1]})
		if err != nil {
			b.Fatal(err)
		}
		raw := rawUsage(b, st, "tenant_id", tenant, w[0], w[1])
		if got.InputTokens != raw.InputTokens || got.Requests != raw.Requests || got.CostNanoUSD != raw.CostNanoUSD ||
			got.Sessions != raw.Sessions || got.Spans != raw.Spans || got.Spans == 0 {
			b.Fatalf("rollup %+v != raw %+v", got, raw)
		}
	}
	if u, _ := st.SessionUsage(ctx, store.UsageQuery{SessionID: session, Start: day, End: dayEnd}); u.Spans != int64(storetest.TracesPerSession*f.SpansPerTrace) {
		b.Fatalf("session %s has %d spans in the window", session, u.Spans)
	}

	b.Run("q=session-day/how=rollup", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.SessionUsage(ctx, store.UsageQuery{SessionID: session, Start: day, End: dayEnd}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("q=session-day/how=raw", func(b *testing.B) {
		for b.Loop() {
			rawUsage(b, st, "session_id", session, day, dayEnd)
		}
	})
	for _, w := range []struct {
		name       string
		start, end time.Time
	}{{"day", day, dayEnd}, {"month", month[0], month[1]}} {
		b.Run("q=tenant-"+w.name+"/how=rollup", func(b *testing.B) {
			for b.Loop() {
				if _, err := st.TenantUsage(ctx, store.UsageQuery{TenantID: tenant, Start: w.start, End: w.end}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("q=tenant-"+w.name+"/how=raw", func(b *testing.B) {
			for b.Loop() {
				rawUsage(b, st, "tenant_id", tenant, w.start, w.end)
			}
		})
	}
}

func BenchmarkTracePage(b *testing.B) {
	st := millionStore(b)
	ctx := context.Background()
	f := storetest.Million
	day := store.TraceFilter{Start: f.Start.Add(10 * 24 * time.Hour), End: f.Start.Add(11 * 24 * time.Hour)}
	month := store.TraceFilter{Start: f.Start, End: f.Start.Add(f.Span)}
	list := func(b *testing.B, q store.TraceQuery) store.TracePage {
		p, err := st.ListTraces(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Traces) != q.Limit {
			b.Fatalf("page of %d traces, want %d", len(p.Traces), q.Limit)
		}
		return p
	}
	// The position 5,000 traces deep, for keyset against offset.
	deep := list(b, store.TraceQuery{TraceFilter: month, Limit: 1, Offset: 4999}).Traces[0].Position(store.SortStartTime)
	tenant := month
	tenant.TenantID = f.Tenant(0)
	for _, tc := range []struct {
		name string
		q    store.TraceQuery
	}{
		{"page=first-day", store.TraceQuery{TraceFilter: day, Limit: 50}},
		{"page=first-month", store.TraceQuery{TraceFilter: month, Limit: 50}},
		{"page=first-month-tenant", store.TraceQuery{TraceFilter: tenant, Limit: 50}},
		{"page=first-month-by_cost", store.TraceQuery{TraceFilter: month, Limit: 50, SortField: store.SortTotalCost}},
		{"page=first-day-by_cost", store.TraceQuery{TraceFilter: day, Limit: 50, SortField: store.SortTotalCost}},
		{"page=deep5000/how=keyset", store.TraceQuery{TraceFilter: month, Limit: 50, Cursor: &deep}},
		{"page=deep5000/how=offset", store.TraceQuery{TraceFilter: month, Limit: 50, Offset: 5000}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				list(b, tc.q)
			}
		})
	}
}

// writeBatch is the size of the batches the write benchmarks write: the
// SDK's default export batch.
const writeBatch = 512

// writeBench writes the batches next returns (new spans) into a fresh file
// store. cpu-µs/span is the process's CPU time per span (fixture
// generation included).
func writeBench(b *testing.B, next func() []store.Span) {
	st, err := Open(context.Background(), filepath.Join(b.TempDir(), "w.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	spans := 0
	cpu0 := processCPU()
	for b.Loop() {
		buf := next()
		if _, err := st.WriteSpans(ctx, buf); err != nil {
			b.Fatal(err)
		}
		spans += len(buf)
	}
	b.ReportMetric(float64(spans)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(spans), "cpu-µs/span")
}

// BenchmarkWriteSpans is the store's own ingest rate: batches of 512 new
// spans, each trace whole in one batch.
func BenchmarkWriteSpans(b *testing.B) {
	f := storetest.Million
	trace := 0
	writeBench(b, func() []store.Span {
		var buf []store.Span
		for len(buf) < writeBatch {
			buf = append(buf, f.TraceSpans(trace)...)
			trace++
		}
		return buf
	})
}

// BenchmarkWriteSpansLateRoot is BenchmarkWriteSpans in the SDK's export
// order with late attribution at work: each batch holds the children of
// about 57 traces, which carry no session, user, tenant or environment,
// and the roots (which carry them) of the previous batch's traces, so
// every trace is repaired once (store/ATTRIBUTION.md). mode=carried is the
// same order with every span carrying its fields (no repair), the
// baseline of the same run.
func BenchmarkWriteSpansLateRoot(b *testing.B) {
	for _, mode := range []string{"carried", "late"} {
		b.Run("mode="+mode, func(b *testing.B) {
			f := storetest.Million
			trace := 0
			var roots []store.Span
			writeBench(b, func() []store.Span {
				buf := roots
				roots = nil
				for len(buf) < writeBatch {
					ts := f.TraceSpans(trace)
					trace++
					roots = append(roots, ts[0])
					for _, sp := range ts[1:] {
						if mode == "late" {
							sp.SessionID, sp.UserID, sp.TenantID, sp.Environment = "", "", "", ""
						}
						buf = append(buf, sp)
					}
				}
				return buf
			})
		})
	}
}
