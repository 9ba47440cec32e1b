package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/agenttrace/agenttrace/usage"
)

// runTraces is "agenttrace traces": one page of traces, or every page with
// --all.
func runTraces(ctx context.Context, args []string, e env) error {
	qc := newQueryCommand("traces", "usage: agenttrace traces [flags]\n\n"+
		"Traces that started in [--from, --to), newest first unless --sort/--order say otherwise.", e)
	fs := qc.fs
	var q usage.TraceQuery
	var tags tagsFlag
	var dir, sortField, sortOrder, status string
	var all bool
	fs.StringVar(&q.TenantID, "tenant", "", "only this tenant's traces")
	fs.StringVar(&q.UserID, "user", "", "only this user's traces")
	fs.StringVar(&q.SessionID, "session", "", "only this session's traces")
	fs.StringVar(&q.Environment, "env", "", "only traces of this deployment environment")
	fs.StringVar(&q.Name, "name", "", "only traces whose root span has this name")
	fs.StringVar(&status, "status", "", "ok or error")
	fs.Var(&tags, "tag", "only traces with this `TAG` (repeatable or comma-separated; all must match)")
	fs.IntVar(&q.Limit, "limit", 0, fmt.Sprintf("page size, 1 to %d (default %d)", usage.MaxLimit, usage.DefaultLimit))
	fs.StringVar(&q.Cursor, "cursor", "", "continue from a cursor a previous page printed")
	fs.StringVar(&dir, "direction", "", "down (default: onwards in the sort order) or up (back)")
	fs.StringVar(&sortField, "sort", "", "start_time (default), duration_ms, total_tokens, total_cost or name")
	fs.StringVar(&sortOrder, "order", "", "desc (default) or asc")
	fs.IntVar(&q.Offset, "offset", 0, "skip this many traces first")
	fs.BoolVar(&q.IncludeTotal, "total", false, "also count every matching trace")
	fs.BoolVar(&all, "all", false, "walk every page, not just the first")
	pos, err := qc.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q (see agenttrace traces -h)", pos)}
	}
	q.Tags = tags
	q.Direction, q.SortField, q.SortOrder, q.Status = usage.Direction(dir), usage.SortField(sortField), usage.SortOrder(sortOrder), usage.Status(status)
	q.Start, q.End = qc.window()
	c, tmpl, err := qc.open()
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()

	page := &usage.TracesPage{}
	if all {
		page.Traces, err = collect(c.IterTraces(ctx, q))
	} else {
		page, err = c.ListTraces(ctx, q)
	}
	if err != nil {
		return queryError(err, c.BaseURL())
	}
	switch {
	case qc.json:
		return writeJSON(e.stdout, page)
	case tmpl != nil:
		return printEach(e.stdout, tmpl, page.Traces)
	}
	if err := printTraces(e.stdout, page.Traces); err != nil {
		return err
	}
	if page.TotalCount != nil {
		fmt.Fprintf(e.stdout, "%d matching traces in all\n", *page.TotalCount)
	}
	if page.HasNextPage && !all {
		fmt.Fprintf(e.stdout, "more: add --cursor %s (or --all)\n", page.NextCursor)
	}
	return nil
}

// printTraces prints traces as a table.
func printTraces(w io.Writer, traces []usage.TraceSummary) error {
	if len(traces) == 0 {
		_, err := fmt.Fprintln(w, "no traces")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TRACE ID\tSTART\tNAME\tSTATUS\tSPANS\tTOKENS\tCOST\tDURATION\tSESSION\tUSER\tTENANT")
	for _, t := range traces {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", t.ID, fmtTime(t.StartTime), cell(t.Name),
			t.Status, t.SpanCount, t.TotalTokens, fmtUSD(t.TotalCostNanoUSD), fmtMS(t.DurationMS),
			cell(t.SessionID), cell(t.UserID), cell(t.TenantID))
	}
	return tw.Flush()
}
