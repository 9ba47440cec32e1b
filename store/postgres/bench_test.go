package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/agenttrace/agenttrace/internal/pgtest"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/postgres"
	"github.com/agenttrace/agenttrace/store/storetest"
)

var (
	millionOnce sync.Once
	millionURL  string
	millionErr  error
)

// millionStore opens a database holding the 1,000,000-span fixture
// (storetest.Million), built once per benchmark run (a few minutes: the
// test server's data lives as long as the run).
func millionStore(b *testing.B) *postgres.Store {
	b.Helper()
	s := pgtest.Require(b, srv)
	ctx := context.Background()
	millionOnce.Do(func() {
		millionURL, millionErr = s.CreateDatabase(ctx)
		if millionErr != nil {
			return
		}
		st, err := postgres.Open(ctx, millionURL)
		if err != nil {
			millionErr = err
			return
		}
		defer st.Close()
		start := time.Now()
		if millionErr = storetest.Million.Write(ctx, st, 10_000); millionErr == nil {
			b.Logf("built the 1M-span fixture in %v", time.Since(start).Round(time.Second))
			_, millionErr = pgxExec(ctx, millionURL, `VACUUM ANALYZE`)
		}
	})
	if millionErr != nil {
		b.Fatal(millionErr)
	}
	st, err := postgres.Open(ctx, millionURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkUsage: session and tenant usage over a day and a month of the
// 1M-span fixture (the windows of store/sqlite's BenchmarkUsage).
func BenchmarkUsage(b *testing.B) {
	st := millionStore(b)
	ctx := context.Background()
	f := storetest.Million
	day := f.Start.Add(10*24*time.Hour + 13*time.Minute)
	dayEnd := day.Add(24*time.Hour + 34*time.Minute)
	sessionTrace := int((day.Sub(f.Start) + 5*time.Hour) / (f.Span / time.Duration(f.Traces)))
	session, tenant := f.Session(sessionTrace), f.Tenant(sessionTrace)
	month := [2]time.Time{f.Start.Add(7 * time.Minute), f.Start.Add(f.Span - 7*time.Minute)}
	if u, err := st.SessionUsage(ctx, store.UsageQuery{SessionID: session, Start: day, End: dayEnd}); err != nil ||
		u.Spans != int64(storetest.TracesPerSession*f.SpansPerTrace) {
		b.Fatalf("session %s: %+v, %v", session, u, err)
	}
	b.Run("q=session-day", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.SessionUsage(ctx, store.UsageQuery{SessionID: session, Start: day, End: dayEnd}); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, w := range []struct {
		name       string
		start, end time.Time
	}{{"day", day, dayEnd}, {"month", month[0], month[1]}} {
		b.Run("q=tenant-"+w.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := st.TenantUsage(ctx, store.UsageQuery{TenantID: tenant, Start: w.start, End: w.end}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTracePage: a page of 50 traces of the 1M-span fixture (the
// pages of store/sqlite's BenchmarkTracePage).
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
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				list(b, tc.q)
			}
		})
	}
}

// BenchmarkWriteSpans is the store's own ingest rate: batches of 512 new
// spans, each trace whole in one batch (store/sqlite's BenchmarkWriteSpans
// on PostgreSQL).
func BenchmarkWriteSpans(b *testing.B) {
	url := pgtest.Require(b, srv).NewDatabase(b)
	ctx := context.Background()
	st, err := postgres.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	f := storetest.Million
	trace, spans := 0, 0
	for b.Loop() {
		var buf []store.Span
		for len(buf) < 512 {
			buf = append(buf, f.TraceSpans(trace)...)
			trace++
		}
		if _, err := st.WriteSpans(ctx, buf); err != nil {
			b.Fatal(err)
		}
		spans += len(buf)
	}
	b.ReportMetric(float64(spans)/b.Elapsed().Seconds(), "spans/s")
}
