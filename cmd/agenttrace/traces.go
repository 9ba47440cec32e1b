package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/agenttrace/agenttrace/usage"
)

// runTraces is "agenttrace traces": one page of traces, or every page with
// --all.
func runTraces(ctx context.Context, args []string, e env) error {
	fs := flag.NewFlagSet("agenttrace traces", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var qf queryFlags
	qf.register(fs, e)
	win := window(fs, time.Now)
	var q usage.TraceQuery
	var tags tagsFlag
	var dir, sortField, sortOrder string
	var all bool
	fs.StringVar(&q.TenantID, "tenant", "", "only this tenant's traces")
	fs.StringVar(&q.UserID, "user", "", "only this user's traces")
	fs.StringVar(&q.SessionID, "session", "", "only this session's traces")
	fs.StringVar(&q.Environment, "env", "", "only traces of this deployment environment")
	fs.StringVar(&q.Name, "name", "", "only traces whose root span has this name")
	fs.StringVar(&q.Status, "status", "", "ok or error")
	fs.Var(&tags, "tag", "only traces with this `TAG` (repeatable or comma-separated; all must match)")
	fs.IntVar(&q.Limit, "limit", 0, fmt.Sprintf("page size, 1 to %d (default %d)", usage.MaxLimit, usage.DefaultLimit))
	fs.StringVar(&q.Cursor, "cursor", "", "continue from a cursor a previous page printed")
	fs.StringVar(&dir, "direction", "", "down (default: onwards in the sort order) or up (back)")
	fs.StringVar(&sortField, "sort", "", "start_time (default), duration_ms, total_tokens, total_cost or name")
	fs.StringVar(&sortOrder, "order", "", "desc (default) or asc")
	fs.IntVar(&q.Offset, "offset", 0, "skip this many traces first")
	fs.BoolVar(&q.IncludeTotal, "total", false, "also count every matching trace")
	fs.BoolVar(&all, "all", false, "walk every page, not just the first")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: agenttrace traces [flags]\n\n"+
			"Traces that started in [--from, --to), newest first unless --sort/--order say otherwise.\n\nflags:")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q (see agenttrace traces -h)", pos)}
	}
	q.Tags = tags
	q.Direction, q.SortField, q.SortOrder = usage.Direction(dir), usage.SortField(sortField), usage.SortOrder(sortOrder)
	q.Start, q.End = win()
	c, err := qf.client()
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	tmpl, err := qf.template()
	if err != nil {
		return err
	}

	var page *usage.TracesPage
	if all {
		page = &usage.TracesPage{Traces: []usage.TraceSummary{}}
		for tr, err := range c.IterTraces(ctx, q) {
			if err != nil {
				return queryError(err, c.BaseURL())
			}
			page.Traces = append(page.Traces, tr)
		}
	} else if page, err = c.ListTraces(ctx, q); err != nil {
		return queryError(err, c.BaseURL())
	}
	switch {
	case qf.json:
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

// printEach prints every item through t.
func printEach[T any](w io.Writer, t *template.Template, items []T) error {
	for i := range items {
		if err := execTemplate(w, t, &items[i]); err != nil {
			return err
		}
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
