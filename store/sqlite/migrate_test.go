package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agenttrace/agenttrace/store/internal/rollup"

	"github.com/agenttrace/agenttrace/internal/jsonenc"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/internal/summary"
	"github.com/agenttrace/agenttrace/store/storetest"
)

// v1Cols are the span columns of schema version 1.
const v1Cols = `trace_id, span_id, parent_id, name, kind, type, status, status_message, start_ns, end_ns,
	operation, request_model, response_model, provider, prompt_slug, prompt_version,
	input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens, total_tokens,
	cost_nano, cost_source, llm, session_id, user_id, tenant_id, conversation_id, environment,
	service_name, scope_name, tags, attributes, resource, events`

// insertV1 writes sp as schema version 1 did, with its tags.
func insertV1(t *testing.T, db *sql.DB, id int64, sp *store.Span) {
	t.Helper()
	tags, _ := json.Marshal(sp.Tags)
	args := []any{id, sp.TraceID, sp.SpanID, sp.ParentID, sp.Name, sp.Kind, sp.Type, int64(sp.Status), sp.StatusMessage,
		sp.Start.UnixNano(), sp.End.UnixNano(), sp.Operation, sp.RequestModel, sp.ResponseModel, sp.Provider, sp.PromptSlug,
		sp.PromptVersion, sp.InputTokens, sp.OutputTokens, sp.CacheReadTokens, sp.CacheCreationTokens, sp.ReasoningTokens,
		sp.TotalTokens, sp.CostNanoUSD, sp.CostSource, sp.LLMRequest, sp.SessionID, sp.UserID, sp.TenantID, sp.ConversationID,
		sp.Environment, sp.ServiceName, sp.ScopeName, string(tags), jsonOrEmpty(sp.Attributes, "{}"),
		jsonOrEmpty(sp.Resource, "{}"), jsonOrEmpty(sp.Events, "[]")}
	if _, err := db.Exec(`INSERT INTO spans (id, `+v1Cols+`) VALUES (`+placeholders(len(args))+`)`, args...); err != nil {
		t.Fatal(err)
	}
	for _, tag := range sp.Tags {
		if _, err := db.Exec(`INSERT INTO span_tags (tag, span) VALUES (?, ?)`, tag, id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrateFromVersion1 opens a database written by schema version 1:
// every field of the spans stored then reads back unchanged (version 3
// packs most of them into one JSON array), tag filters still find them,
// and new spans are written after them with their price table version.
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
	full := storetest.NewSpan(1, 2, old.SpanID, storetest.T0.Add(time.Second))
	full.Kind, full.Type, full.Status, full.StatusMessage = "client", "llm", store.StatusError, "quote\" back\\ nl\n ctl\x01 ünï"
	full.End = storetest.T0.Add(1500 * time.Millisecond)
	full.Operation, full.RequestModel, full.ResponseModel, full.Provider = "chat", "gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", "openai"
	full.PromptSlug, full.PromptVersion = "welcome", "v3"
	full.Tokens = store.Tokens{InputTokens: 100, OutputTokens: 20, CacheReadTokens: 30, CacheCreationTokens: 5, ReasoningTokens: 7}
	full.TotalTokens, full.CostNanoUSD, full.CostSource, full.LLMRequest = 999, 1234, "provider", true
	full.SessionID, full.UserID, full.TenantID, full.ConversationID = "s-1", "u-1", "acme", "conv-1"
	full.Environment, full.ServiceName, full.ScopeName = "prod", "bot", "github.com/agenttrace/agenttrace"
	full.Tags = []string{"beta", "a \"quoted\" tag"}
	full.Attributes = json.RawMessage(`{"k":"v","n":1.5}`)
	full.Resource = json.RawMessage(`{"service.name":"bot"}`)
	full.Events = json.RawMessage(`[{"name":"e","time":"2025-11-16T00:00:01Z","attributes":{}}]`)
	insertV1(t, db, 1, &old)
	insertV1(t, db, 2, &full)
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
	priced := storetest.NewSpan(1, 3, old.SpanID, storetest.T0.Add(2*time.Second))
	priced.CostNanoUSD, priced.CostSource, priced.PriceTableVersion = 7, "computed", "2026-11-25"
	if _, err := st.WriteSpans(ctx, []store.Span{priced}); err != nil {
		t.Fatal(err)
	}
	page, err := st.ListSpansByTrace(ctx, store.TraceSpansQuery{TraceID: old.TraceID})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Spans) != 3 {
		t.Fatalf("%d spans, want 3", len(page.Spans))
	}
	want := []store.Span{old, full, priced}
	for i := range want {
		want[i].Input, want[i].Output = "", ""
		for _, f := range []*json.RawMessage{&want[i].Attributes, &want[i].Resource} {
			if *f == nil {
				*f = json.RawMessage("{}")
			}
		}
		if want[i].Events == nil {
			want[i].Events = json.RawMessage("[]")
		}
		if !reflect.DeepEqual(page.Spans[i], want[i]) {
			t.Errorf("span %d\n got %+v\nwant %+v", i, page.Spans[i], want[i])
		}
	}
	tagged, err := st.ListSpans(ctx, store.SpanQuery{Tags: []string{`a "quoted" tag`}})
	if err != nil || len(tagged.Spans) != 1 || tagged.Spans[0].SpanID != full.SpanID {
		t.Errorf("spans by tag after the migration: %+v (%v)", tagged.Spans, err)
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

// TestDetailRoundTrip: the detail array written for a span decodes to the
// same fields, for strings JSON must escape and for none at all.
func TestDetailRoundTrip(t *testing.T) {
	for _, sp := range []store.Span{
		{},
		{ParentID: "00000000000000ff", Kind: "server", StatusMessage: "\x00\x1f\"\\\t\r\n\u2028 ünï 🙂", End: time.Unix(-5, 3).UTC(),
			Operation: "op", Provider: "p", PromptVersion: "v", TotalTokens: 1 << 60, CostSource: "user", ConversationID: "c",
			Environment: "e", ServiceName: "s", ScopeName: "sc", Tags: []string{"", "x"}, PriceTableVersion: "2026+custom"},
	} {
		b := appendDetail(nil, &sp)
		if !json.Valid(b) {
			t.Fatalf("invalid JSON %s", b)
		}
		var got store.Span
		if err := decodeDetail(string(b), &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if sp.End.IsZero() {
			sp.End = time.Unix(0, sp.End.UnixNano()).UTC()
		}
		if !reflect.DeepEqual(got, sp) {
			t.Errorf("round trip of %s\n got %+v\nwant %+v", b, got, sp)
		}
	}
	var sp store.Span
	for _, bad := range []string{"", "[", "{}", "[1,2]", `["a"]`} {
		if err := decodeDetail(bad, &sp); err == nil {
			t.Errorf("decodeDetail(%q) = nil, want an error", bad)
		}
	}
	// Invalid UTF-8 becomes U+FFFD.
	if b := jsonenc.AppendString(nil, "a\xffb"); string(b) != `"a\ufffdb"` {
		t.Errorf("invalid UTF-8: %s", b)
	}
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

// TestMigrateOverflowedSums opens a version 3 database holding what the
// old unchecked sums left: a REAL in an hourly rollup and a wrapped
// (negative) trace summary. Before migration 4, usage queries on it failed
// for good; after, they answer the saturated sum, and new spans add to it.
func TestMigrateOverflowedSums(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v3.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(ctx, db, 0, 3); err != nil {
		t.Fatal(err)
	}
	h := storetest.T0.UnixNano() / rollup.HourNS
	for _, q := range []string{
		`INSERT INTO usage_session_hour VALUES ('s', ?, 'acme', 1.8446744073709552e19, 5, 0, 0, 0, 2, -8446744073700000000, 2)`,
		`INSERT INTO usage_tenant_hour VALUES ('acme', ?, 1.8446744073709552e19, 5, 0, 0, 0, 2, -8446744073700000000, 2)`,
		`INSERT INTO tenant_session_hour VALUES ('acme', ?, 's')`,
	} {
		if _, err := db.Exec(q, h); err != nil {
			t.Fatal(err)
		}
	}
	sp := storetest.NewSpan(1, 1, "", storetest.T0)
	sp.InputTokens, sp.SessionID, sp.TenantID = 9, "s", "acme"
	insertV1Trace := `INSERT INTO traces (` + traceCols + `) VALUES (` + placeholders(traceNCols) + `)`
	row := traceRow{summary.Row{TraceSummary: store.TraceSummary{TraceID: sp.TraceID, Start: sp.Start, End: sp.End, SpanCount: 2,
		Tokens: store.Tokens{InputTokens: -2}, TotalTokens: -2, CostNanoUSD: -5}}}
	if _, err := db.Exec(insertV1Trace, row.args()...); err != nil {
		t.Fatal(err)
	}
	db.Close()

	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	next := storetest.NewSpan(2, 2, "", storetest.T0.Add(time.Minute))
	next.InputTokens, next.OutputTokens, next.SessionID, next.TenantID = 1, 1, "s", "acme"
	if _, err := st.WriteSpans(ctx, []store.Span{next}); err != nil {
		t.Fatal(err)
	}
	q := store.UsageQuery{SessionID: "s", TenantID: "acme", Start: storetest.T0, End: storetest.T0.Add(time.Hour)}
	u, err := st.SessionUsage(ctx, q)
	if err != nil || u.InputTokens != math.MaxInt64 || u.OutputTokens != 6 || u.CostNanoUSD != math.MaxInt64 || u.Spans != 3 {
		t.Fatalf("session usage = %+v, %v", u, err)
	}
	if u, err = st.TenantUsage(ctx, q); err != nil || u.InputTokens != math.MaxInt64 || u.Sessions != 1 {
		t.Fatalf("tenant usage = %+v, %v", u, err)
	}
	tr, err := st.GetTrace(ctx, sp.TraceID, "")
	if err != nil || tr.InputTokens != math.MaxInt64 || tr.CostNanoUSD != math.MaxInt64 {
		t.Fatalf("trace = %+v, %v", tr, err)
	}
}

// TestMigrateTracesPerTenant opens a database of schema version 6, whose
// one summary of a trace shared by two tenants mixed both tenants' usage:
// version 7 splits it into one summary per tenant, equal to those a
// fresh store keeps of the same spans, and the tags follow their tenant.
func TestMigrateTracesPerTenant(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v6.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(ctx, db, 0, 6); err != nil {
		t.Fatal(err)
	}
	root := storetest.NewSpan(1, 1, "", storetest.T0)
	root.Name, root.TenantID, root.SessionID, root.Tags = "a-root", "A", "sa", []string{"a-tag"}
	a := storetest.NewSpan(1, 2, root.SpanID, storetest.T0.Add(time.Second))
	a.TenantID, a.InputTokens, a.CostNanoUSD, a.LLMRequest = "A", 10, 100, true
	b := storetest.NewSpan(1, 3, root.SpanID, storetest.T0.Add(2*time.Second))
	b.TenantID, b.SessionID, b.InputTokens, b.CostNanoUSD, b.LLMRequest, b.Tags = "B", "sb", 500, 5000, true, []string{"b-tag"}
	spans := []store.Span{root, a, b}
	// As version 6 wrote them: the spans, and one summary of all three
	// under the root's tenant.
	mixed := traceRow{summary.Row{TraceSummary: store.TraceSummary{TraceID: root.TraceID}}}
	for i := range spans {
		sp := &spans[i]
		var detail []byte
		detail = appendDetail(detail, sp)
		args := appendSpanArgs([]any{int64(i + 1)}, sp, string(detail))
		if _, err := db.Exec(insertSQL(1), args...); err != nil {
			t.Fatal(err)
		}
		mixed.Merge(sp, i == 0)
	}
	mixed.Input = `"question"`
	if _, err := db.Exec(`INSERT INTO traces (`+traceCols+`) VALUES (`+placeholders(traceNCols)+`)`, mixed.args()...); err != nil {
		t.Fatal(err)
	}
	for _, tag := range mixed.Tags {
		if _, err := db.Exec(`INSERT INTO trace_tags (tag, trace_id) VALUES (?, ?)`, tag, root.TraceID); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fresh, err := Open(ctx, Memory)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := fresh.WriteSpans(ctx, spans); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"A", "B"} {
		got, err := st.GetTrace(ctx, root.TraceID, tenant)
		if err != nil {
			t.Fatalf("migrated GetTrace(%s): %v", tenant, err)
		}
		want, err := fresh.GetTrace(ctx, root.TraceID, tenant)
		if err != nil {
			t.Fatal(err)
		}
		if tenant == "A" {
			want.Input = `"question"` // the stored preview stays with the trace's tenant
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("migrated summary of %s\n got %+v\nwant %+v", tenant, got, want)
		}
		for _, tag := range []string{"a-tag", "b-tag"} {
			page, err := st.ListTraces(ctx, store.TraceQuery{TraceFilter: store.TraceFilter{TenantID: tenant, Tags: []string{tag}}})
			if err != nil {
				t.Fatal(err)
			}
			if want := (tag[0] == strings.ToLower(tenant)[0]); (len(page.Traces) == 1) != want {
				t.Errorf("tenant %s traces tagged %s: %d", tenant, tag, len(page.Traces))
			}
		}
	}
}
