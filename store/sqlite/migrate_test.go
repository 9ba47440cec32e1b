package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/storetest"
)

// TestMigrateFromVersion1 opens a database written by schema version 1
// (before price_table_version): the span stored then reads back unchanged
// and new spans keep their price table version.
func TestMigrateFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(ctx, db, 0, 1); err != nil {
		t.Fatal(err)
	}
	old := storetest.NewSpan(1, 1, "", storetest.T0)
	old.CostNanoUSD, old.CostSource = 42, "user"
	args := appendSpanArgs(nil, &old)
	cols := strings.TrimSuffix(spanCols, ", price_table_version")
	if _, err := db.ExecContext(ctx, `INSERT INTO spans (`+cols+`) VALUES (`+placeholders(len(args)-1)+`)`, args[:len(args)-1]...); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	st, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open a version 1 database: %v", err)
	}
	defer st.Close()
	var v int
	if err := st.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil || v != len(migrations) {
		t.Fatalf("user_version = %d (%v), want %d", v, err, len(migrations))
	}
	priced := storetest.NewSpan(1, 2, old.SpanID, storetest.T0)
	priced.CostNanoUSD, priced.CostSource, priced.PriceTableVersion = 7, "computed", "2026-11-25"
	if _, err := st.WriteSpans(ctx, []store.Span{priced}); err != nil {
		t.Fatal(err)
	}
	page, err := st.ListSpansByTrace(ctx, store.TraceSpansQuery{TraceID: old.TraceID})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Spans) != 2 {
		t.Fatalf("%d spans, want 2", len(page.Spans))
	}
	if g := page.Spans[0]; g.SpanID != old.SpanID || g.CostNanoUSD != 42 || g.CostSource != "user" || g.PriceTableVersion != "" {
		t.Errorf("span from version 1 = %+v", g)
	}
	if g := page.Spans[1]; g.CostSource != "computed" || g.PriceTableVersion != "2026-11-25" {
		t.Errorf("new span = %+v", g)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// Opening again is a no-op.
	st2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	st2.Close()
}

// TestOpenNewerSchema refuses a database written by a newer program.
func TestOpenNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if st, err := Open(context.Background(), path); err == nil || !strings.Contains(err.Error(), "newer") {
		if st != nil {
			st.Close()
		}
		t.Fatalf("Open = %v, want a newer-schema error", err)
	}
}
