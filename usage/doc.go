// Package usage is the query client of the agenttrace server and the JSON
// wire types it shares with the server: session and tenant usage, trace
// summaries, spans, pages and errors, with the exact snake_case names of
// the HTTP API (DESIGN.md section 5).
//
// It imports nothing from the recording side (trace, span, batch), so a
// reporting job can query usage without linking the SDK.
//
//	c, err := usage.NewClient("") // AGENTTRACE_URL, else http://127.0.0.1:4318; key from AGENTTRACE_API_KEY
//	if err != nil { ... }
//	end := time.Now()
//	u, err := c.GetSessionUsage(ctx, "s-9", end.Add(-24*time.Hour), end)
//	fmt.Println(u.TokenCount, u.RequestCount, u.TotalCost)
//
//	for tr, err := range c.IterTraces(ctx, usage.TraceQuery{
//		Start: end.Add(-24 * time.Hour), End: end, TenantID: "AceTech", Limit: 100,
//	}) {
//		if err != nil { ... }
//		fmt.Println(tr.ID, tr.Name, tr.TotalTokens, tr.TotalCost)
//	}
//
// Errors: arguments are checked before anything is sent, and a rejected
// call returns a *ValidationError (errors.Is(err, ErrInvalidArgument)). An
// error answer from the server is an *APIError carrying its status, code
// and message, matching ErrInvalidArgument, ErrUnauthorized, ErrForbidden,
// ErrNotFound or ErrUnavailable with errors.Is. No call returns a nil result
// with a nil error.
//
// Pagination: a page holds HasNextPage, NextCursor and PrevCursor. Pass
// NextCursor back with the same Direction for the next page, PrevCursor with
// the other one to go back; a cursor is bound to the filters and sort it was
// made with. IterTraces, IterSpansByTraceID and IterSpans walk every page as
// Go range functions.
package usage
