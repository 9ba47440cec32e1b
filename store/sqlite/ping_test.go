package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/storetest"
)

// TestPingFullDatabase: when writes fail because the database is full
// (SQLite's own page limit stands in for the disk here; the soak suite
// fills a real file size limit), Ping fails with ErrNotReady and the write
// with an error, nothing acknowledged is lost, and once there is room the
// next write succeeds and Ping recovers.
func TestPingFullDatabase(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "full.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping on a fresh store: %v", err)
	}
	first := storetest.NewSpan(1, 1, "", storetest.T0)
	if _, err := st.WriteSpans(ctx, []store.Span{first}); err != nil {
		t.Fatal(err)
	}
	var pages int64
	if err := st.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := st.w.ExecContext(ctx, "PRAGMA max_page_count = "+itoa(pages)); err != nil {
		t.Fatal(err)
	}
	var big []store.Span
	for i := 0; i < 200; i++ {
		sp := storetest.NewSpan(2, 10+i, "", storetest.T0.Add(time.Duration(i)*time.Second))
		sp.Attributes = []byte(`{"pad":"` + strings.Repeat("x", 8<<10) + `"}`)
		big = append(big, sp)
	}
	if _, err := st.WriteSpans(ctx, big); err == nil {
		t.Fatal("a write past the full database succeeded")
	}
	if err := st.Ping(ctx); !errors.Is(err, store.ErrNotReady) {
		t.Fatalf("Ping with the database full = %v, want ErrNotReady", err)
	}
	if _, err := st.GetTrace(ctx, first.TraceID, ""); err != nil {
		t.Fatalf("the span written before is lost: %v", err)
	}
	if _, err := st.w.ExecContext(ctx, "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.WriteSpans(ctx, big); err != nil {
		t.Fatalf("write once there is room: %v", err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping after a successful write: %v", err)
	}
	st.Close()
	if err := st.Ping(ctx); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Ping after Close = %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
