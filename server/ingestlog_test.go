package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/ingestlog"
	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/sqlite"
	"github.com/agenttrace/agenttrace/usage"
)

// logBody is an OTLP protobuf body of n model-call spans of trace tr (10
// input tokens each), for tenant (none if ""); the span at index foreign
// (if in range) is for tenant "other".
func logBody(t *testing.T, tr, n int, tenant string, foreign int) []byte {
	t.Helper()
	var tb byte // span ids differ by tenant; trace ids do not
	if tenant != "" {
		tb = tenant[0]
	}
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i := 0; i < n; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetName("chat")
		sp.SetTraceID(pcommon.TraceID{0x10, byte(tr >> 8), byte(tr), 1})
		sp.SetSpanID(pcommon.SpanID{0x20, byte(i >> 8), byte(i), 1, tb})
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Second)))
		a := sp.Attributes()
		a.PutStr(string(attr.OperationName), attr.OpChat)
		a.PutInt(string(attr.InputTokens), 10)
		switch {
		case i == foreign:
			a.PutStr(string(attr.TenantID), "other")
		case tenant != "":
			a.PutStr(string(attr.TenantID), tenant)
		}
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tenantTokens(t *testing.T, c *http.Client, url, tenant string, headers map[string]string) int64 {
	t.Helper()
	var u usage.TenantUsage
	mustGet(t, c, url, "/v1/usage/tenants/"+tenant+"?start_time=2025-11-16T00:00:00Z&end_time=2025-11-17T00:00:00Z", headers, &u)
	return u.InputTokens
}

// With the ingest log, every span answered 200 is in the answer of a
// query made after it, however far behind the store's writes are; Serve's
// end writes everything logged and empties the log.
func TestIngestLogReadAfterAck(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	ts := startServer(t, server.WithIngestLog(dir, false))
	c := client(t)
	const clients, requests, spans = 4, 15, 40
	var wg sync.WaitGroup
	errs := make(chan error, clients*requests)
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < requests; i++ {
				tr := w*requests + i
				req, _ := http.NewRequest(http.MethodPost, ts.url+"/v1/traces", bytes.NewReader(logBody(t, tr, spans, "acme", -1)))
				req.Header.Set("Content-Type", "application/x-protobuf")
				resp, err := c.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("request %d: %d", tr, resp.StatusCode)
					return
				}
				// The trace just answered is whole in a query made now.
				var sum usage.TraceSummary
				if code, eb := get(t, c, ts.url, "/v1/traces/"+fmt.Sprintf("10%04x01", tr)+"000000000000000000000000", nil, &sum); code != 200 || sum.SpanCount != spans {
					errs <- fmt.Errorf("trace %d answered 200, then a query: %d %+v %d spans", tr, code, eb, sum.SpanCount)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got, want := tenantTokens(t, c, ts.url, "acme", nil), int64(clients*requests*spans*10); got != want {
		t.Fatalf("tenant usage right after the last 200: %d input tokens, want %d", got, want)
	}
	if st := ts.srv.Stats(); st.IngestLogBacklogBytes != 0 {
		t.Fatalf("backlog after a query saw every span: %d bytes", st.IngestLogBacklogBytes)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	// Everything was written: the next start has nothing to replay.
	l, recs, err := ingestlog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if len(recs) != 0 {
		t.Fatalf("%d requests left in the log after a clean shutdown", len(recs))
	}
}

// A request logged but not written to the store before the process died is
// written by the next server's New, scoped to its key's tenant; a
// duplicate of stored spans is ignored.
func TestIngestLogReplay(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "log")
	l, _, err := ingestlog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []struct {
		tenant string
		body   []byte
	}{
		{"acme", logBody(t, 1, 5, "", -1)},     // a scoped key's request: spans take its tenant
		{"", logBody(t, 2, 3, "beta", -1)},     // a full-access key's
		{"", logBody(t, 2, 3, "beta", -1)},     // sent again: duplicates
		{"acme", logBody(t, 3, 2, "acme", -1)}, // the same trace id below: tenants are walls
		{"beta", logBody(t, 3, 2, "beta", -1)},
	} {
		if _, err := l.Append(0, rec.tenant, rec.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(tmp, "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(st, server.WithIngestLog(dir, false))
	if err != nil {
		t.Fatal(err)
	}
	for tenant, want := range map[string]int64{"acme": (5 + 2) * 10, "beta": (3 + 2) * 10} {
		u, err := st.TenantUsage(context.Background(), store.UsageQuery{TenantID: tenant, Start: base.Add(-time.Hour), End: base.Add(time.Hour)})
		if err != nil || u.InputTokens != want {
			t.Errorf("tenant %s after replay: %d input tokens (%v), want %d", tenant, u.InputTokens, err, want)
		}
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if fi, _ := e.Info(); fi != nil && fi.Size() > 0 {
			t.Errorf("log file %s keeps %d bytes after the replay was written", e.Name(), fi.Size())
		}
	}
}

// A body that fails part-way (its third span is for another tenant than
// the key's) is refused whole: none of its spans is stored, now or by a
// replay of the log.
func TestIngestLogBodyFailsMidBatch(t *testing.T) {
	for _, logged := range []bool{true, false} {
		t.Run(fmt.Sprintf("log=%v", logged), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "log")
			opts := []server.Option{server.WithAPIKeys(server.APIKey{Key: "admin"}, server.APIKey{Key: "acme-key", Tenant: "acme"})}
			if logged {
				opts = append(opts, server.WithIngestLog(dir, false))
			}
			ts := startServer(t, opts...)
			c := client(t)
			send := func(body []byte) int {
				req, _ := http.NewRequest(http.MethodPost, ts.url+"/v1/traces", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/x-protobuf")
				req.Header.Set("Authorization", "Bearer acme-key")
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if code := send(logBody(t, 7, 5, "", 2)); code != http.StatusForbidden {
				t.Fatalf("body with a foreign tenant's span: %d, want 403", code)
			}
			if code := send(logBody(t, 8, 4, "", -1)); code != 200 {
				t.Fatalf("good body: %d", code)
			}
			admin := map[string]string{"Authorization": "Bearer admin"}
			if got := tenantTokens(t, c, ts.url, "acme", admin); got != 40 {
				t.Fatalf("acme: %d input tokens, want 40 (the good body only)", got)
			}
			if got := tenantTokens(t, c, ts.url, "other", admin); got != 0 {
				t.Fatalf("other: %d input tokens, want 0", got)
			}
			var sum usage.TraceSummary
			if code, _ := get(t, c, ts.url, "/v1/traces/10000701000000000000000000000000", admin, &sum); code != http.StatusNotFound {
				t.Fatalf("the refused body's trace: %d %+v, want 404", code, sum)
			}
			if !logged {
				return
			}
			if err := ts.stop(); err != nil {
				t.Fatal(err)
			}
			l, recs, err := ingestlog.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if len(recs) != 0 {
				t.Fatalf("%d requests in the log, want 0", len(recs))
			}
		})
	}
}
