package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/wire"
	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/usage"
)

// TestTenantWallsSharedTraceID: two tenants' services share a trace id
// (W3C trace-context propagation: acme's agent calls globex's service,
// which continues the trace), each sending its spans with its own
// tenant-scoped key, in both arrival orders. Every endpoint answers each
// tenant from its own spans alone; nothing of the other's (ids, tokens,
// cost, session, user, content) leaks; neither loses access; an unscoped
// key sees both, and a session id both use is never summed across them.
func TestTenantWallsSharedTraceID(t *testing.T) {
	for _, globexFirst := range []bool{true, false} {
		name := "acme's root first"
		if globexFirst {
			name = "globex's child first"
		}
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, server.WithAPIKeys(
				server.APIKey{Key: "admin-key"},
				server.APIKey{Key: "acme-key", Tenant: "acme"},
				server.APIKey{Key: "globex-key", Tenant: "globex"},
			))
			keys := map[string]map[string]string{
				"acme":   {"x-api-key": "acme-key"},
				"globex": {"x-api-key": "globex-key"},
			}
			admin := map[string]string{"x-api-key": "admin-key"}
			c := client(t)
			ctx := context.Background()
			start := base.Add(3 * time.Hour)

			acmeRec, globexRec := newRecorder(t), newRecorder(t)
			// acme's agent: the root and a model call.
			rctx, root := acmeRec.tr.Start(ctx, "acme-agent", withStart(start))
			root.SetAttributes(attr.SessionID.String("shared-session"), attr.UserID.String("acme-user"), attr.Input.String("acme question"))
			acmeRec.span(rctx, "chat", start.Add(time.Millisecond), start.Add(10*time.Millisecond),
				llmAttrs(10, 1, 0.001, attr.SessionID.String("shared-session"))...)
			root.End(withEnd(start.Add(time.Second)))
			// globex's service continues acme's trace (the traceparent
			// header carried its span context).
			gctx := trace.ContextWithRemoteSpanContext(ctx, root.SpanContext())
			gctx, gsrv := globexRec.tr.Start(gctx, "globex-service", withStart(start.Add(20*time.Millisecond)))
			gsrv.SetAttributes(attr.SessionID.String("shared-session"), attr.UserID.String("globex-user"),
				attr.Input.String("globex-secret"))
			globexRec.span(gctx, "chat", start.Add(30*time.Millisecond), start.Add(40*time.Millisecond),
				llmAttrs(500, 50, 0.5, attr.SessionID.String("shared-session"), attribute.String("note", "globex-secret"))...)
			gsrv.End(withEnd(start.Add(50 * time.Millisecond)))
			acmeSpans, globexSpans := acmeRec.take(), globexRec.take()
			if globexFirst {
				export(t, exporter(t, ts, keys["globex"]), globexSpans)
				export(t, exporter(t, ts, keys["acme"]), acmeSpans)
			} else {
				export(t, exporter(t, ts, keys["acme"]), acmeSpans)
				export(t, exporter(t, ts, keys["globex"]), globexSpans)
			}
			id := root.SpanContext().TraceID().String()
			win := window(start.Add(-time.Hour), start.Add(time.Hour))
			spanIDs := map[string][]string{}
			for _, sp := range acmeSpans {
				// (acme's root's id is no secret to globex: it is the
				// parent its service was called with.)
				if sp.SpanContext().SpanID() != root.SpanContext().SpanID() {
					spanIDs["acme"] = append(spanIDs["acme"], sp.SpanContext().SpanID().String())
				}
			}
			for _, sp := range globexSpans {
				spanIDs["globex"] = append(spanIDs["globex"], sp.SpanContext().SpanID().String())
			}
			want := map[string]struct {
				in      int64
				user    string
				other   string
				secrets []string
			}{
				"acme":   {10, "acme-user", "globex", []string{"globex-secret", "globex-user", "globex-service"}},
				"globex": {500, "globex-user", "acme", []string{"acme question", "acme-user", "acme-agent"}},
			}
			for tenant, w := range want {
				h := keys[tenant]
				paths := []string{
					"/v1/traces/" + id,
					"/v1/traces/" + id + "/spans",
					"/v1/traces?" + win,
					"/v1/spans?" + win,
					"/v1/usage/tenants/" + tenant + "?" + win,
					"/v1/usage/sessions/shared-session?" + win,
					"/v1/usage/sessions/shared-session?group_by=model&" + win,
					"/v1/usage/sessions/shared-session?group_by=user&" + win,
				}
				for _, p := range paths {
					resp, body := rawGet(t, c, ts.url, p, h)
					code := resp.StatusCode
					if code != http.StatusOK {
						t.Fatalf("%s key GET %s = %d %s", tenant, p, code, body)
					}
					// Nothing of the other tenant in any answer.
					for _, s := range append(slices.Clone(w.secrets), spanIDs[w.other]...) {
						if bytes.Contains(body, []byte(s)) {
							t.Errorf("%s key GET %s leaks %q of %s: %s", tenant, p, s, w.other, body)
						}
					}
				}
				var tr usage.TraceSummary
				mustGet(t, c, ts.url, "/v1/traces/"+id, h, &tr)
				if tr.Tokens.InputTokens != w.in || tr.TenantID != tenant || tr.UserID != w.user || tr.SessionID != "shared-session" || tr.Tenants != nil {
					t.Errorf("%s's trace = %+v", tenant, tr)
				}
				var spans usage.SpansPage
				mustGet(t, c, ts.url, "/v1/traces/"+id+"/spans", h, &spans)
				if len(spans.Spans) != 2 {
					t.Errorf("%s's spans of the trace: %d, want 2", tenant, len(spans.Spans))
				}
				var list usage.TracesPage
				mustGet(t, c, ts.url, "/v1/traces?"+win, h, &list)
				if len(list.Traces) != 1 || list.Traces[0].ID != id || list.Traces[0].Tokens.InputTokens != w.in {
					t.Errorf("%s's traces = %+v", tenant, list.Traces)
				}
				var su usage.SessionUsage
				mustGet(t, c, ts.url, "/v1/usage/sessions/shared-session?"+win, h, &su)
				if su.Tokens.InputTokens != w.in {
					t.Errorf("%s's session usage = %+v, want input %d", tenant, su, w.in)
				}
				var tu usage.TenantUsage
				mustGet(t, c, ts.url, "/v1/usage/tenants/"+tenant+"?"+win, h, &tu)
				if tu.Tokens.InputTokens != w.in || tu.SessionCount != 1 {
					t.Errorf("%s's tenant usage = %+v", tenant, tu)
				}
				// The other tenant's view of the trace through a tenant
				// parameter is refused, not answered.
				if code, _ := get(t, c, ts.url, "/v1/traces/"+id+"?tenant_id="+w.other, h, nil); code != http.StatusForbidden {
					t.Errorf("%s key asking for %s's trace: %d, want 403", tenant, w.other, code)
				}
			}

			// The unscoped key sees the whole trace, and each tenant's part.
			var all usage.TraceSummary
			mustGet(t, c, ts.url, "/v1/traces/"+id, admin, &all)
			if all.Tokens.InputTokens != 510 || !slices.Equal(all.Tenants, []string{"acme", "globex"}) || all.SpanCount != 4 {
				t.Errorf("admin's trace = %+v", all)
			}
			var part usage.TraceSummary
			mustGet(t, c, ts.url, "/v1/traces/"+id+"?tenant_id=globex", admin, &part)
			if part.Tokens.InputTokens != 500 || part.TenantID != "globex" {
				t.Errorf("admin's view of globex's part = %+v", part)
			}
			var list usage.TracesPage
			mustGet(t, c, ts.url, "/v1/traces?"+win, admin, &list)
			if len(list.Traces) != 2 || list.Traces[0].ID != id || list.Traces[1].ID != id || list.Traces[0].TenantID == list.Traces[1].TenantID {
				t.Errorf("admin's traces = %+v, want the trace once per tenant", list.Traces)
			}
			// One row per page: the cursor's tie-break keeps both.
			var p1, p2 usage.TracesPage
			mustGet(t, c, ts.url, "/v1/traces?limit=1&"+win, admin, &p1)
			mustGet(t, c, ts.url, "/v1/traces?limit=1&cursor="+p1.NextCursor+"&"+win, admin, &p2)
			if len(p1.Traces) != 1 || len(p2.Traces) != 1 || p1.Traces[0].TenantID == p2.Traces[0].TenantID {
				t.Errorf("admin's traces one per page: %+v then %+v", p1.Traces, p2.Traces)
			}
			// A session id both tenants use: the admin names the tenant.
			code, eb := get(t, c, ts.url, "/v1/usage/sessions/shared-session?"+win, admin, nil)
			if code != http.StatusBadRequest || eb.Error.Param != wire.ParamTenantID || !strings.Contains(eb.Error.Message, `"acme", "globex"`) {
				t.Errorf("admin's session usage of a shared session id = %d %+v, want 400 naming both tenants", code, eb)
			}
			var su usage.SessionUsage
			mustGet(t, c, ts.url, "/v1/usage/sessions/shared-session?tenant_id=globex&"+win, admin, &su)
			if su.Tokens.InputTokens != 500 {
				t.Errorf("admin's session usage of globex = %+v", su)
			}
			// An unknown trace and another tenant's answer alike.
			unknown := strings.Repeat("ab", 16)
			r1, b1 := rawGet(t, c, ts.url, "/v1/traces/"+unknown, keys["acme"])
			c1 := r1.StatusCode
			var e1 wire.ErrorBody
			if err := json.Unmarshal(b1, &e1); err != nil || c1 != http.StatusNotFound || e1.Error.Code != wire.CodeNotFound {
				t.Errorf("unknown trace: %d %s", c1, b1)
			}
		})
	}
}
