package postgres_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/storetest"
)

// TestRetentionDropsPartitions: expiry drops the span partitions of whole
// days before the cutoff while ingest goes on into the current day, and
// usage stays exact.
func TestRetentionDropsPartitions(t *testing.T) {
	st, url := open(t)
	ctx := context.Background()
	const days, perDay = 5, 400
	for d := 0; d < days; d++ {
		var spans []store.Span
		for i := 0; i < perDay; i++ {
			n := d*perDay + i
			sp := storetest.NewSpan(n/4, n, "", storetest.T0.Add(time.Duration(d)*24*time.Hour+time.Duration(i)*time.Minute))
			sp.Type, sp.LLMRequest, sp.InputTokens = "llm", true, 2
			sp.SessionID, sp.TenantID = "s", "t"
			spans = append(spans, sp)
		}
		if _, err := st.WriteSpans(ctx, spans); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	partitions := func() int {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'spans'::regclass`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := partitions(); n != days {
		t.Fatalf("%d partitions for %d days", n, days)
	}
	// Ingest into the last day goes on while the first three expire.
	var wg sync.WaitGroup
	var written atomic.Int64
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for b := 0; b < 200; b++ {
			select {
			case <-stop:
				return
			default:
			}
			var spans []store.Span
			for i := 0; i < 10; i++ {
				n := 100_000 + b*10 + i
				sp := storetest.NewSpan(n, n, "", storetest.T0.Add(4*24*time.Hour+time.Duration(n)*time.Millisecond))
				sp.Type, sp.LLMRequest, sp.InputTokens = "llm", true, 2
				sp.SessionID, sp.TenantID = "s", "t"
				spans = append(spans, sp)
			}
			if _, err := st.WriteSpans(ctx, spans); err != nil {
				t.Error(err)
				return
			}
			written.Add(10)
		}
	}()
	exp, err := st.DeleteBefore(ctx, storetest.T0.Add(3*24*time.Hour+5*time.Hour))
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if exp.Partitions != 3 || exp.Spans != 3*perDay || !exp.Cutoff.Equal(storetest.T0.Add(3*24*time.Hour)) {
		t.Fatalf("DeleteBefore = %+v, want 3 partitions of %d spans dropped at day 3", exp, perDay)
	}
	if n := partitions(); n != days-3 {
		t.Fatalf("%d partitions left, want %d", n, days-3)
	}
	u, err := st.TenantUsage(ctx, store.UsageQuery{TenantID: "t", Start: storetest.T0, End: storetest.T0.Add(6 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if want := 2*perDay + written.Load(); u.Spans != want || u.InputTokens != 2*want {
		t.Fatalf("usage after expiry = %+v, want %d spans", u, want)
	}
}
