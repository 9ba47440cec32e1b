package sqlite_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/sqlite"
	"github.com/agenttrace/agenttrace/store/storetest"
)

// TestRetentionShrinksFile: expiring most of the spans gives their space
// back: the file is smaller after DeleteBefore (and a restart).
func TestRetentionShrinksFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ret.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	attrs := json.RawMessage(`{"payload":"` + strings.Repeat("x", 2000) + `"}`)
	const days, perDay = 4, 2500
	for d := 0; d < days; d++ {
		var spans []store.Span
		for i := 0; i < perDay; i++ {
			n := d*perDay + i
			sp := storetest.NewSpan(n/5, n, "", storetest.T0.Add(time.Duration(d)*24*time.Hour+time.Duration(i)*time.Second))
			sp.SessionID, sp.TenantID, sp.Tags, sp.Attributes = "s", "t", []string{"a"}, attrs
			spans = append(spans, sp)
		}
		if _, err := st.WriteSpans(ctx, spans); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	before := fileSize(t, path)
	st, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := st.DeleteBefore(ctx, storetest.T0.Add(3*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if exp.Spans != 3*perDay || exp.Traces != 3*perDay/5 || exp.FreedBytes <= 0 {
		t.Fatalf("DeleteBefore = %+v, want %d spans and %d traces removed, bytes freed", exp, 3*perDay, 3*perDay/5)
	}
	u, err := st.TenantUsage(ctx, store.UsageQuery{TenantID: "t", Start: storetest.T0, End: storetest.T0.Add(5 * 24 * time.Hour)})
	if err != nil || u.Spans != perDay {
		t.Fatalf("usage after expiry = %+v, %v; want %d spans", u, err, perDay)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	after := fileSize(t, path)
	if after > before/2 {
		t.Fatalf("file %d bytes before expiring 3 days of 4, %d after: not given back", before, after)
	}
	t.Logf("file %d -> %d bytes (freed %d)", before, after, exp.FreedBytes)
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err == nil {
			n += fi.Size()
		}
	}
	return n
}
