package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agenttrace/agenttrace/usage"
)

// runSpans is "agenttrace spans TRACE_ID" (every span of one trace, as a
// tree) and "agenttrace spans [filters]" (spans across traces, newest
// first).
func runSpans(ctx context.Context, args []string, e env) error {
	qc := newQueryCommand("spans", "usage: agenttrace spans TRACE_ID [flags]   every span of a trace, as a tree\n"+
		"       agenttrace spans [flags]            spans across traces that started in [--from, --to), newest first", e)
	fs := qc.fs
	var q usage.SpanQuery
	var tags tagsFlag
	var dir, status string
	var all bool
	fs.StringVar(&q.Name, "name", "", "only spans with this name")
	fs.IntVar(&q.Limit, "limit", 0, fmt.Sprintf("page size, 1 to %d (default %d; with a trace id, %d)",
		usage.MaxLimit, usage.DefaultLimit, usage.MaxLimit))
	fs.StringVar(&q.Cursor, "cursor", "", "continue from a cursor a previous page printed")
	fs.StringVar(&dir, "direction", "", "down (default) or up")
	fs.BoolVar(&all, "all", false, "walk every page, not just the first (always so with a trace id)")
	// Filters across traces only.
	fs.StringVar(&status, "status", "", "ok or error (across traces)")
	fs.StringVar(&q.Type, "type", "", "span type: llm, tool, task, retrieval, trace, ... (across traces)")
	fs.StringVar(&q.Model, "model", "", "request or response model (across traces)")
	fs.StringVar(&q.PromptSlug, "prompt", "", "prompt slug (across traces)")
	fs.StringVar(&q.TenantID, "tenant", "", "tenant (across traces)")
	fs.StringVar(&q.UserID, "user", "", "user (across traces)")
	fs.StringVar(&q.SessionID, "session", "", "session (across traces)")
	fs.Var(&tags, "tag", "`TAG`, repeatable or comma-separated, all must match (across traces)")
	pos, err := qc.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError{fmt.Errorf("want at most one trace id, got %q (see agenttrace spans -h)", pos)}
	}
	byTrace := len(pos) == 1
	if byTrace {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for _, name := range []string{"from", "to", "status", "type", "model", "prompt", "tenant", "user", "session", "tag"} {
			if set[name] {
				return usageError{fmt.Errorf("--%s filters spans across traces; with a trace id only --name applies", name)}
			}
		}
		if q.Limit == 0 {
			q.Limit = usage.MaxLimit
		}
	} else {
		q.Start, q.End = qc.window()
	}
	q.Tags, q.Direction, q.Status = tags, usage.Direction(dir), usage.Status(status)
	c, tmpl, err := qc.open()
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()

	page := &usage.SpansPage{}
	switch {
	case byTrace:
		page.Spans, err = collect(c.IterSpansByTraceID(ctx, pos[0], q))
	case all:
		page.Spans, err = collect(c.IterSpans(ctx, q))
	default:
		page, err = c.ListSpans(ctx, q)
	}
	if err != nil {
		return queryError(err, c.BaseURL())
	}
	switch {
	case qc.json:
		return writeJSON(e.stdout, page)
	case tmpl != nil:
		return printEach(e.stdout, tmpl, page.Spans)
	case byTrace:
		return printSpanTree(e.stdout, page.Spans)
	}
	if err := printSpans(e.stdout, page.Spans); err != nil {
		return err
	}
	if page.HasNextPage && !all {
		fmt.Fprintf(e.stdout, "more: add --cursor %s (or --all)\n", page.NextCursor)
	}
	return nil
}

// printSpanTree prints the spans of one trace as a tree: children under
// their parent in start order, names indented by depth, start times as
// offsets from the trace's first span.
func printSpanTree(w io.Writer, spans []usage.Span) error {
	if len(spans) == 0 {
		_, err := fmt.Fprintln(w, "no spans")
		return err
	}
	ids := map[string]bool{}
	children := map[string][]*usage.Span{}
	var roots []*usage.Span
	first := spans[0].StartTime
	for i := range spans {
		ids[spans[i].ID] = true
		first = minTime(first, spans[i].StartTime)
	}
	for i := range spans {
		sp := &spans[i]
		if sp.ParentID != "" && ids[sp.ParentID] && sp.ParentID != sp.ID {
			children[sp.ParentID] = append(children[sp.ParentID], sp)
		} else {
			roots = append(roots, sp)
		}
	}
	byStart := func(a, b *usage.Span) int {
		return cmp.Or(a.StartTime.Compare(b.StartTime), strings.Compare(a.ID, b.ID))
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "trace %s\n", spans[0].TraceID)
	fmt.Fprintln(tw, "SPAN ID\tSTART\tNAME\tTYPE\tSTATUS\tMODEL\tTOKENS\tCOST\tLATENCY")
	seen := map[string]bool{}
	var walk func(sp *usage.Span, depth int)
	walk = func(sp *usage.Span, depth int) {
		if seen[sp.ID] { // a cycle of parent ids: print each span once
			return
		}
		seen[sp.ID] = true
		fmt.Fprintf(tw, "%s\t+%s\t%s%s\t%s\t%s\t%s\t%d\t%s\t%s\n", sp.ID, fmtMS(float64(sp.StartTime.Sub(first))/1e6),
			strings.Repeat("  ", depth), cell(sp.Name), cell(sp.Type), sp.Status, cell(sp.Model), sp.TotalTokens,
			fmtUSD(sp.CostNanoUSD), fmtMS(sp.LatencyMS))
		kids := children[sp.ID]
		slices.SortFunc(kids, byStart)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	slices.SortFunc(roots, byStart)
	for _, r := range roots {
		walk(r, 0)
	}
	for i := range spans { // spans only reachable through a cycle
		walk(&spans[i], 0)
	}
	return tw.Flush()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// printSpans prints spans across traces as a table.
func printSpans(w io.Writer, spans []usage.Span) error {
	if len(spans) == 0 {
		_, err := fmt.Fprintln(w, "no spans")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TRACE ID\tSPAN ID\tSTART\tNAME\tTYPE\tSTATUS\tMODEL\tTOKENS\tCOST\tLATENCY\tSESSION\tTENANT")
	for _, sp := range spans {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", sp.TraceID, sp.ID, fmtTime(sp.StartTime),
			cell(sp.Name), cell(sp.Type), sp.Status, cell(sp.Model), sp.TotalTokens, fmtUSD(sp.CostNanoUSD),
			fmtMS(sp.LatencyMS), cell(sp.SessionID), cell(sp.TenantID))
	}
	return tw.Flush()
}
