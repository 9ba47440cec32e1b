package server

import (
	"net/http"
	"strings"
)

// WithPages serves h for the GET and HEAD requests no API route takes
// (every path outside /v1/ and /healthz): the trace viewer (package
// server/viewer) in agenttrace serve. Without it those paths answer a JSON
// 404. h reads data only through the API, with the browser's credentials.
func WithPages(h http.Handler) Option {
	return func(s *Server) { s.pages = h }
}

// servePages hands a request the API has no route for to the pages
// handler, and reports whether it did.
func (s *Server) servePages(w http.ResponseWriter, r *http.Request) bool {
	if s.pages == nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) ||
		strings.HasPrefix(r.URL.Path, "/v1/") {
		return false
	}
	s.pages.ServeHTTP(w, r)
	return true
}
