package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/agenttrace/agenttrace/usage"
)

// runUsage is "agenttrace usage session ID" and "agenttrace usage tenant
// ID": tokens, requests and cost over a window.
func runUsage(ctx context.Context, args []string, e env) error {
	qc := newQueryCommand("usage", "usage: agenttrace usage session SESSION_ID [flags]\n"+
		"       agenttrace usage tenant TENANT_ID [flags]\n\n"+
		"Token, request and cost totals of a session's or a tenant's spans that started in [--from, --to).", e)
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
	var v any
	if pos[0] == "session" {
		v, err = c.GetSessionUsage(ctx, pos[1], from, to)
	} else {
		v, err = c.GetTenantUsage(ctx, pos[1], from, to)
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
	)
	switch u := v.(type) {
	case *usage.SessionUsage:
		row("session", "%s", cell(u.SessionID))
		start, end, tokens, requests, nano, tb = u.StartTime, u.EndTime, u.TokenCount, u.RequestCount, u.TotalCostNanoUSD, u.Tokens
		unknown = u.UnknownUsageCount
	case *usage.TenantUsage:
		row("tenant", "%s", cell(u.TenantID))
		row("organisation", "%s", cell(u.OrganisationID))
		row("sessions", "%d", u.SessionCount)
		start, end, tokens, requests, nano, tb = u.StartTime, u.EndTime, u.TokenCount, u.RequestCount, u.TotalCostNanoUSD, u.Tokens
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
	return tw.Flush()
}
