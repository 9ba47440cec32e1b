package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agenttrace/agenttrace/usage"
)

// runUsage is "agenttrace usage session ID" and "agenttrace usage tenant
// ID": tokens, requests and cost over a window.
func runUsage(ctx context.Context, args []string, e env) error {
	qc := newQueryCommand("usage", "usage: agenttrace usage session SESSION_ID [flags]\n"+
		"       agenttrace usage tenant TENANT_ID [flags]\n\n"+
		"Token, request and cost totals of a session's or a tenant's spans that started in [--from, --to).\n"+
		"With --by, also per model, user, session, hour or day (the groups add up to the totals).", e)
	by := qc.fs.String("by", "", "also break the usage down by `group`: model, user, session, hour or day")
	limit := qc.fs.Int("limit", 0, "with --by, list at most `n` groups (the last sums the rest; default all, at most 1000)")
	tenant := qc.fs.String("tenant", "", "session usage of one `tenant`'s spans (needed with an unscoped key when several tenants use the session id)")
	pos, err := qc.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || (pos[0] != "session" && pos[0] != "tenant") {
		return usageError{fmt.Errorf("want \"session ID\" or \"tenant ID\", got %q (see agenttrace usage -h)", pos)}
	}
	c, tmpl, err := qc.open()
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	from, to := qc.window()
	var opts []usage.UsageOption
	if *by != "" {
		opts = append(opts, usage.GroupBy(usage.Grouping(*by)))
	}
	if *limit != 0 {
		opts = append(opts, usage.GroupLimit(*limit))
	}
	if *tenant != "" {
		if pos[0] != "session" {
			return usageError{fmt.Errorf("--tenant is a flag of session usage; tenant usage names its tenant")}
		}
		opts = append(opts, usage.Tenant(*tenant))
	}
	var v any
	if pos[0] == "session" {
		v, err = c.GetSessionUsage(ctx, pos[1], from, to, opts...)
	} else {
		v, err = c.GetTenantUsage(ctx, pos[1], from, to, opts...)
	}
	if err != nil {
		return queryError(err, c.BaseURL())
	}
	switch {
	case qc.json:
		return writeJSON(e.stdout, v)
	case tmpl != nil:
		return execTemplate(e.stdout, tmpl, v)
	}
	return printUsage(e.stdout, v)
}

// printUsage prints a *usage.SessionUsage or *usage.TenantUsage as a
// two-column table.
func printUsage(w io.Writer, v any) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, k+"\t"+format+"\n", args...) }
	var (
		start, end time.Time
		tokens     int64
		requests   int64
		unknown    int64
		nano       int64
		tb         usage.Tokens
		by         usage.Grouping
		groups     []usage.UsageGroup
	)
	switch u := v.(type) {
	case *usage.SessionUsage:
		row("session", "%s", cell(u.SessionID))
		start, end, tokens, requests, nano, tb = u.StartTime, u.EndTime, u.TokenCount, u.RequestCount, u.TotalCostNanoUSD, u.Tokens
		by, groups = u.GroupBy, u.Groups
		unknown = u.UnknownUsageCount
	case *usage.TenantUsage:
		row("tenant", "%s", cell(u.TenantID))
		row("organisation", "%s", cell(u.OrganisationID))
		row("sessions", "%d", u.SessionCount)
		start, end, tokens, requests, nano, tb = u.StartTime, u.EndTime, u.TokenCount, u.RequestCount, u.TotalCostNanoUSD, u.Tokens
		by, groups = u.GroupBy, u.Groups
		unknown = u.UnknownUsageCount
	default:
		return fmt.Errorf("printUsage: unexpected %T", v)
	}
	row("window", "%s to %s", fmtTime(start), fmtTime(end))
	row("tokens", "%d", tokens)
	row("  input", "%d (cache read %d, cache write %d)", tb.InputTokens, tb.CacheReadTokens, tb.CacheCreationTokens)
	row("  output", "%d (reasoning %d)", tb.OutputTokens, tb.ReasoningTokens)
	row("requests", "%d", requests)
	// Calls whose usage is unknown are not in the token and cost totals.
	row("  unknown usage", "%d (not in tokens or cost)", unknown)
	row("cost", "%s", fmtUSD(nano))
	if err := tw.Flush(); err != nil || by == "" {
		return err
	}
	return printGroups(w, by, groups)
}

// printGroups prints the groups of a grouped usage answer as a table.
func printGroups(w io.Writer, by usage.Grouping, groups []usage.UsageGroup) error {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tTOKENS\tINPUT\tOUTPUT\tREQUESTS\tCOST\n", strings.ToUpper(string(by)))
	for _, g := range groups {
		key := cell(g.Key)
		switch {
		case g.Other:
			key = "(other)"
		case g.Key == "":
			key = "(none)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", key, g.TokenCount, g.InputTokens, g.OutputTokens, g.RequestCount, fmtUSD(g.TotalCostNanoUSD))
	}
	return tw.Flush()
}
