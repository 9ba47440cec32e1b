// Package viewer is the trace viewer agenttrace serve shows at /: the
// traces list, a trace's waterfall with span details and the
// conversation, a session read as one conversation, usage over time by
// model and user, and span search.
//
// The pages are html/template shells with their filter forms filled from
// the URL; a little plain JavaScript (embedded, no build step, nothing
// fetched from elsewhere) reads the data through the server's query API
// with the key the user gives (kept in the browser's session storage and
// sent as a Bearer token), so the viewer sees exactly what that key may
// read and can never write. Charts are inline SVG.
//
// Mount it with server.WithPages(viewer.Handler()).
package viewer

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
)

//go:embed assets
var assets embed.FS

//go:embed page.html
var pageHTML string

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

// csp keeps the pages to their own origin: scripts and styles from
// /assets, data from the API.
const csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// field is one filter of a page's form; its name is the API's query
// parameter (or window/bucket, which the script turns into a window).
type field struct {
	Name, Label, Placeholder string
	// Options makes a select: value and label pairs.
	Options [][2]string
	Value   string
}

var (
	windowOpts = [][2]string{{"15m", "last 15 min"}, {"1h", "last hour"}, {"6h", "last 6 hours"}, {"24h", "last 24 hours"},
		{"7d", "last 7 days"}, {"30d", "last 30 days"}, {"custom", "exact times"}}
	statusOpts = [][2]string{{"", "any"}, {"ok", "ok"}, {"error", "error"}}
	limitOpts  = [][2]string{{"", "50"}, {"20", "20"}, {"100", "100"}, {"200", "200"}}
	timeFields = []field{
		{Name: "window", Label: "Window", Options: windowOpts},
		{Name: "start_time", Label: "From", Placeholder: "2025-11-16T00:00:00Z"},
		{Name: "end_time", Label: "To", Placeholder: "now"},
	}
)

func fields(fs ...[]field) []field {
	var out []field
	for _, f := range fs {
		out = append(out, f...)
	}
	return out
}

// pages are the viewer's pages by name: title and filter form.
var pages = map[string]struct {
	title string
	form  []field
}{
	"traces": {"Traces", fields(timeFields, []field{
		{Name: "tenant_id", Label: "Tenant"}, {Name: "user_id", Label: "User"}, {Name: "session_id", Label: "Session"},
		{Name: "environment", Label: "Environment"}, {Name: "name", Label: "Name"},
		{Name: "status", Label: "Status", Options: statusOpts}, {Name: "tags", Label: "Tags", Placeholder: "a,b"},
		{Name: "sort_field", Label: "Sort", Options: [][2]string{{"", "start time"}, {"duration_ms", "duration"},
			{"total_tokens", "tokens"}, {"total_cost", "cost"}, {"name", "name"}}},
		{Name: "sort_order", Label: "Order", Options: [][2]string{{"", "desc"}, {"asc", "asc"}}},
		{Name: "limit", Label: "Rows", Options: limitOpts},
	})},
	"spans": {"Spans", fields(timeFields, []field{
		{Name: "model", Label: "Model"}, {Name: "type", Label: "Type", Options: [][2]string{{"", "any"}, {"llm", "llm"},
			{"tool", "tool"}, {"task", "task"}, {"retrieval", "retrieval"}, {"trace", "trace"}, {"span", "span"},
			{"agent", "agent"}, {"message", "message"}, {"score", "score"}, {"reranker", "reranker"}, {"guardrail", "guardrail"}}},
		{Name: "status", Label: "Status", Options: statusOpts}, {Name: "prompt_slug", Label: "Prompt"},
		{Name: "tags", Label: "Tags", Placeholder: "a,b"}, {Name: "name", Label: "Name"},
		{Name: "tenant_id", Label: "Tenant"}, {Name: "user_id", Label: "User"}, {Name: "session_id", Label: "Session"},
		{Name: "limit", Label: "Rows", Options: limitOpts},
	})},
	"usage": {"Usage", fields(timeFields, []field{
		{Name: "tenant_id", Label: "Tenant"}, {Name: "session_id", Label: "or session"},
		{Name: "bucket", Label: "Per", Options: [][2]string{{"", "auto"}, {"hour", "hour"}, {"day", "day"}}},
	})},
	"session": {"Session", timeFields},
	"trace":   {"Trace", nil},
	"missing": {"Not found", nil},
}

// Handler returns the viewer's handler: pages at /, /traces/{id},
// /sessions/{id}, /usage and /spans, assets under /assets/, and a
// not-found page for anything else.
func Handler() http.Handler {
	mux := http.NewServeMux()
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(static)
	mux.Handle("GET /assets/", http.StripPrefix("/assets", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})))
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { render(w, r, name, r.PathValue("id"), http.StatusOK) }
	}
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Header().Set("Cache-Control", "max-age=86400")
		http.ServeFileFS(w, r, static, "favicon.svg")
	})
	mux.HandleFunc("GET /{$}", page("traces"))
	mux.HandleFunc("GET /spans", page("spans"))
	mux.HandleFunc("GET /usage", page("usage"))
	mux.HandleFunc("GET /traces/{id}", page("trace"))
	mux.HandleFunc("GET /sessions/{id}", page("session"))
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		render(w, r, "missing", path.Clean(r.URL.Path), http.StatusNotFound)
	})
	return mux
}

// render writes page name for id, its form filled from the URL.
func render(w http.ResponseWriter, r *http.Request, name, id string, status int) {
	p := pages[name]
	q := r.URL.Query()
	form := make([]field, len(p.form))
	for i, f := range p.form {
		f.Value = strings.TrimSpace(q.Get(f.Name))
		if f.Name == "window" && f.Value == "" {
			f.Value = "24h"
			if name == "usage" {
				f.Value = "7d"
			} else if name == "session" {
				f.Value = "30d"
			}
		}
		form[i] = f
	}
	var buf bytes.Buffer
	err := pageTmpl.Execute(&buf, map[string]any{
		"Page": name, "ID": id, "Title": p.title, "Form": form, "Action": r.URL.Path,
		"Nav": navLinks(name), "Query": url.Values(q).Encode(),
	})
	if err != nil {
		slog.Error("viewer: render", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func navLinks(current string) [][3]string {
	on := func(p string) string {
		if p == current || (p == "traces" && (current == "trace" || current == "session")) {
			return "on"
		}
		return ""
	}
	return [][3]string{{"/", "Traces", on("traces")}, {"/spans", "Spans", on("spans")}, {"/usage", "Usage", on("usage")}}
}
