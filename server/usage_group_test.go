package server_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/usage"
)

// sumGroups adds up the groups of a grouped answer.
func sumGroups(gs []usage.UsageGroup) (tokens, requests, nano, spans int64, tb usage.Tokens) {
	for _, g := range gs {
		tokens += g.TokenCount
		requests += g.RequestCount
		nano += g.TotalCostNanoUSD
		spans += g.SpanCount
		tb.InputTokens += g.InputTokens
		tb.OutputTokens += g.OutputTokens
		tb.CacheReadTokens += g.CacheReadTokens
		tb.CacheCreationTokens += g.CacheCreationTokens
		tb.ReasoningTokens += g.ReasoningTokens
	}
	return
}

func TestUsageGroupBy(t *testing.T) {
	ts := startServer(t, server.WithAPIKeys(server.APIKey{Key: "admin"}, server.APIKey{Key: "k-acme", Tenant: "acme"}))
	admin := map[string]string{"Authorization": "Bearer admin"}
	usageFixture(t, ts, admin)
	c := client(t)
	acme := map[string]string{"Authorization": "Bearer k-acme"}
	win := window(at(10, 0), at(13, 0))

	var plain usage.TenantUsage
	mustGet(t, c, ts.url, "/v1/usage/tenants/acme?"+win, admin, &plain)
	if plain.Groups != nil || plain.GroupBy != "" {
		t.Fatalf("ungrouped answer has groups: %+v", plain)
	}
	for _, g := range usage.Groupings {
		var got usage.TenantUsage
		mustGet(t, c, ts.url, "/v1/usage/tenants/acme?group_by="+string(g)+"&"+win, acme, &got)
		if got.GroupBy != g || len(got.Groups) == 0 {
			t.Fatalf("by %s: %+v", g, got)
		}
		tot := got
		tot.GroupBy, tot.Groups = "", nil
		if !reflect.DeepEqual(tot, plain) {
			t.Fatalf("by %s: totals\n %+v\ndiffer from the ungrouped\n %+v", g, tot, plain)
		}
		tokens, requests, nano, _, tb := sumGroups(got.Groups)
		if tokens != plain.TokenCount || requests != plain.RequestCount || nano != plain.TotalCostNanoUSD || tb != plain.Tokens {
			t.Fatalf("by %s: groups add up to %d tokens, %d requests, %d nano-USD, %+v; total %+v", g, tokens, requests, nano, tb, plain)
		}
		for _, gr := range got.Groups {
			if gr.TotalCost != float64(gr.TotalCostNanoUSD)/1e9 || gr.TokenCount != gr.InputTokens+gr.OutputTokens {
				t.Fatalf("by %s: group %+v", g, gr)
			}
		}
	}

	// Exact figures per hour and per user.
	var byHour usage.TenantUsage
	mustGet(t, c, ts.url, "/v1/usage/tenants/acme?group_by=hour&"+win, admin, &byHour)
	wantHours := []struct {
		key  string
		nano int64
		sess int64
	}{{"2025-11-16T10:00:00Z", 1_234_567 + 2_000_000 + 500_000_000, 2}, {"2025-11-16T11:00:00Z", 253_000_000, 2}, {"2025-11-16T12:00:00Z", 4_000_000, 1}}
	if len(byHour.Groups) != len(wantHours) {
		t.Fatalf("by hour: %+v", byHour.Groups)
	}
	for i, w := range wantHours {
		if g := byHour.Groups[i]; g.Key != w.key || g.TotalCostNanoUSD != w.nano || g.SessionCount != w.sess {
			t.Errorf("hour %d = %+v, want %s with %d nano-USD and %d sessions", i, g, w.key, w.nano, w.sess)
		}
	}
	var byUser usage.SessionUsage
	mustGet(t, c, ts.url, "/v1/usage/sessions/s-B?group_by=user&"+win, admin, &byUser)
	if len(byUser.Groups) != 1 || byUser.Groups[0].Key != "u-s-B" || byUser.Groups[0].TotalCostNanoUSD != 750_000_000 ||
		byUser.Groups[0].RequestCount != 2 {
		t.Fatalf("s-B by user = %+v", byUser.Groups)
	}
	// A limit folds the rest into the "other" group.
	var top usage.TenantUsage
	mustGet(t, c, ts.url, "/v1/usage/tenants/acme?group_by=hour&limit=2&"+win, admin, &top)
	if len(top.Groups) != 2 || top.Groups[0] != byHour.Groups[0] || !top.Groups[1].Other ||
		top.Groups[1].TotalCostNanoUSD != 257_000_000 {
		t.Fatalf("limit 2: %+v", top.Groups)
	}

	// Tenants are walls, grouped or not.
	if code, eb := get(t, c, ts.url, "/v1/usage/tenants/globex?group_by=model&"+win, acme, nil); code != http.StatusForbidden {
		t.Fatalf("acme key on globex by model = %d %+v", code, eb)
	}
	for _, tc := range []struct{ q, param string }{
		{"group_by=week&" + win, "group_by"},
		{"group_by=model&limit=0&" + win, "limit"},
		{"group_by=model&limit=1001&" + win, "limit"},
		{"limit=5&" + win, "limit"},
		{"group_by=model&group_by=user&" + win, "group_by"},
	} {
		code, eb := get(t, c, ts.url, "/v1/usage/tenants/acme?"+tc.q, admin, nil)
		if code != http.StatusBadRequest || eb.Error.Param != tc.param {
			t.Errorf("%s = %d %+v, want 400 on %s", tc.q, code, eb, tc.param)
		}
	}
}
