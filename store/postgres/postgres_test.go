package postgres_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"go.uber.org/goleak"

	"github.com/agenttrace/agenttrace/internal/pgtest"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/postgres"
	"github.com/agenttrace/agenttrace/store/storetest"
)

// srv is the PostgreSQL server of this package's tests (nil when missing).
var srv *pgtest.Server

func TestMain(m *testing.M) {
	code := pgtest.Main(m, &srv)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// open opens a store on a fresh database of srv.
func open(t *testing.T) (*postgres.Store, string) {
	t.Helper()
	url := pgtest.Require(t, srv).NewDatabase(t)
	st, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st, url
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		st, _ := open(t)
		return st
	})
}

// TestTwoStoresOneDatabase: two stores (as two replicas) write the same
// batches at once, and overlapping ones: every span is stored and counted
// once, and rollups shared by both are exact.
func TestTwoStoresOneDatabase(t *testing.T) {
	a, url := open(t)
	b, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	const batches, per = 40, 25
	mk := func(n int) []store.Span {
		var out []store.Span
		for i := 0; i < per; i++ {
			k := n*per + i
			sp := storetest.NewSpan(k/10, k, "", storetest.T0.Add(time.Duration(k)*time.Second))
			sp.Type, sp.LLMRequest, sp.InputTokens, sp.CostNanoUSD = "llm", true, 3, 7
			sp.SessionID, sp.TenantID = fmt.Sprintf("s%d", k%3), "acme"
			out = append(out, sp)
		}
		return out
	}
	var wg sync.WaitGroup
	var inserted [2]atomic.Int64
	errs := make(chan error, 2*batches)
	for w, st := range []*postgres.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < batches; n++ {
				// Both send every batch (the same spans, at once).
				res, err := st.WriteSpans(ctx, mk(n))
				if err != nil {
					errs <- err
					return
				}
				inserted[w].Add(int64(res.Inserted))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := inserted[0].Load() + inserted[1].Load(); got != batches*per {
		t.Fatalf("inserted %d spans in all, want %d", got, batches*per)
	}
	for _, st := range []*postgres.Store{a, b} {
		u, err := st.TenantUsage(ctx, store.UsageQuery{TenantID: "acme", Start: storetest.T0, End: storetest.T0.Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if u.Spans != batches*per || u.InputTokens != 3*batches*per || u.CostNanoUSD != 7*batches*per || u.Sessions != 3 {
			t.Fatalf("tenant usage = %+v, want %d spans", u, batches*per)
		}
	}
}

func TestSchemaTooNew(t *testing.T) {
	st, url := open(t)
	st.Close()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `UPDATE agenttrace_schema SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(context.Background(), url)
	if !errors.Is(err, postgres.ErrSchemaTooNew) {
		t.Fatalf("Open on a newer schema = %v, want ErrSchemaTooNew", err)
	}
}

func TestOpenBadURL(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"postgres://u:secret@127.0.0.1:notaport/db", "/tmp/file.db", "postgres://u:secret@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"} {
		_, err := postgres.Open(ctx, u)
		if err == nil {
			t.Fatalf("Open(%s) = nil", u)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Fatalf("Open(%s) error shows the password: %v", u, err)
		}
	}
}

// TestConcurrentMigrate: replicas starting together on a new database
// migrate it once.
func TestConcurrentMigrate(t *testing.T) {
	url := pgtest.Require(t, srv).NewDatabase(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := postgres.Open(context.Background(), url)
			if err == nil {
				err = st.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// pgxExec runs one statement on the database at url.
func pgxExec(ctx context.Context, url, sql string) (int64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, sql)
	return tag.RowsAffected(), err
}
