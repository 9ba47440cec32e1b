// Package usage is the query client of the agenttrace server and the JSON
// wire types it shares with the server: session and tenant usage, trace
// summaries, spans, pages and errors, with the exact snake_case names of
// the HTTP API (DESIGN.md section 5).
//
// It imports nothing from the recording side (trace, span, batch), so a
// reporting job can query usage without linking the SDK.
package usage
