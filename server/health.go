package server

import (
	"net"
	"net/http"
	"strings"

	"github.com/agenttrace/agenttrace/internal/wire"
)

// PathReady is the readiness probe: 200 {"status":"ok","stats":{...}}
// when the store can take writes (store.Store.Ping), else 503 with a JSON
// error. /healthz stays a liveness probe: 200 while the process serves.
const PathReady = "/readyz"

// handleReady is GET /readyz (no auth: it shows no data, only counters).
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	err := s.st.Ping(r.Context())
	if err == nil && s.q != nil {
		err = s.q.failing()
	}
	if err != nil {
		s.log.Warn("not ready", "err", err)
		s.writeError(w, r, errorf(http.StatusServiceUnavailable, wire.CodeUnavailable, "not ready: %v", err))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
		Stats  Stats  `json:"stats"`
	}{"ok", s.Stats()})
}

// loopbackHost reports whether a request's Host header names loopback:
// localhost (or a name under .localhost, which browsers resolve to
// loopback themselves), 127.0.0.0/8 or ::1, with any port. Without API
// keys only such requests are served, so that a web page whose name an
// attacker re-points at 127.0.0.1 (DNS rebinding) cannot read the data:
// the browser still sends the page's own name.
func loopbackHost(hostport string) bool {
	if hostport == "" {
		return true // HTTP/1.0 without Host: not a browser
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
