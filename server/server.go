// Package server is the HTTP side of agenttrace serve: the OTLP/HTTP trace
// receiver (POST /v1/traces) and the usage and query API of DESIGN.md
// section 5, with API-key auth, tenant scoping, body limits and JSON
// errors, on top of a store.Store.
//
// Routes (wire types and parameter names are in package usage):
//
//	POST /v1/traces                        OTLP/HTTP protobuf or JSON, gzip or not
//	GET  /v1/traces                        list traces
//	GET  /v1/traces/{trace_id}             one trace's summary
//	GET  /v1/traces/{trace_id}/spans       spans of a trace
//	GET  /v1/spans                         spans across traces
//	GET  /v1/usage/sessions/{session_id}   session usage
//	GET  /v1/usage/tenants/{tenant_id}     tenant usage
//	GET  /healthz                          liveness, no auth
//	GET  /readyz                           readiness: the store can take writes; no auth
//
// Auth: with no API key configured the server is open and serves loopback
// clients only (Serve refuses a non-loopback listener), and only requests
// whose Host is a loopback name (against DNS rebinding). With keys, every
// request but /healthz needs one, as "Authorization: Bearer KEY" or
// "x-api-key: KEY". A key scoped to a tenant reads only that tenant's data
// (other tenants are 403, lists are forced to it) and writes only into it:
// spans without a tenant are stamped with the key's tenant, and a request
// holding any span of another tenant is rejected whole with 403.
package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/agenttrace/agenttrace/internal/wire"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/store"
)

// Defaults.
const (
	// DefaultAddr is the OTLP/HTTP port on loopback, so SDKs' default
	// endpoint reaches the server.
	DefaultAddr = "127.0.0.1:4318"
	// DefaultOrganisation is reported by tenant usage unless set.
	DefaultOrganisation = "default"
	// DefaultMaxBodyBytes limits a request body, both as sent and after
	// gzip decompression.
	DefaultMaxBodyBytes = 16 << 20
	// DefaultShutdownTimeout bounds how long Serve waits for in-flight
	// requests once its context is done.
	DefaultShutdownTimeout = 30 * time.Second
)

// ErrOpenNonLoopback is returned by Serve for a listener that is not on
// loopback when no API key is configured.
var ErrOpenNonLoopback = errors.New("server: no API keys configured: refusing to serve a non-loopback address")

// APIKey is a key clients present. An empty Tenant grants full access;
// otherwise the key is scoped to that tenant.
type APIKey struct {
	Key    string
	Tenant string
}

// ParseAPIKey parses "KEY" (full access) or "KEY=TENANT" (one tenant).
func ParseAPIKey(s string) (APIKey, error) {
	key, tenant, scoped := strings.Cut(s, "=")
	key = strings.TrimSpace(key)
	tenant = strings.TrimSpace(tenant)
	if key == "" {
		return APIKey{}, errors.New("empty API key")
	}
	if scoped && tenant == "" {
		return APIKey{}, fmt.Errorf("API key %s...: empty tenant after '='", key[:min(4, len(key))])
	}
	return APIKey{Key: key, Tenant: tenant}, nil
}

// Option configures a Server.
type Option func(*Server)

// WithAPIKeys adds API keys. Without any the server is open to loopback.
func WithAPIKeys(keys ...APIKey) Option {
	return func(s *Server) { s.pendingKeys = append(s.pendingKeys, keys...) }
}

// WithOrganisation sets the organisation id tenant usage reports.
func WithOrganisation(id string) Option {
	return func(s *Server) {
		if id != "" {
			s.org = id
		}
	}
}

// WithMaxBodyBytes sets the request body limit (as sent and decompressed).
func WithMaxBodyBytes(n int64) Option {
	return func(s *Server) {
		if n > 0 {
			s.maxBody = n
		}
	}
}

// WithPrices sets the price table that costs spans carrying a model and
// tokens but no agenttrace.usage.cost_usd, such as GenAI spans from other
// OpenTelemetry SDKs (default llm.DefaultPrices(); to extend it, pass
// llm.DefaultPrices().Merge(yours)). Such spans are stored with
// cost_source "computed" and the table's version. A span whose model the
// table does not know keeps its tokens and gets no cost. WithPrices(nil)
// turns pricing off. Spans that carry a cost always keep it.
func WithPrices(t *llm.PriceTable) Option {
	return func(s *Server) { s.prices = t }
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) {
		if l != nil {
			s.log = l
		}
	}
}

// WithShutdownTimeout bounds the wait for in-flight requests in Serve.
func WithShutdownTimeout(d time.Duration) Option {
	return func(s *Server) {
		if d > 0 {
			s.shutdownTimeout = d
		}
	}
}

// Server serves the agenttrace HTTP API over a store. Make one with New.
type Server struct {
	st              store.Store
	org             string
	maxBody         int64
	log             *slog.Logger
	prices          *llm.PriceTable
	shutdownTimeout time.Duration
	pendingKeys     []APIKey
	keys            map[[32]byte]principal
	handler         http.Handler
	stats           counters
	pages           http.Handler // WithPages: the viewer

	// limits (limits.go)
	maxIngest                               int
	ingestMem                               int64
	ingestSlots                             chan struct{}
	ingestBudget                            *semaphore.Weighted
	readTimeout, queryTimeout, writeTimeout time.Duration
	maxConns                                int
	maxWindow                               time.Duration

	// the ingest log (ingestlog.go), when WithIngestLog is given
	logDir    string
	logSync   bool
	q         *ingestQueue
	closeOnce sync.Once
}

// principal is who a request acts as.
type principal struct {
	// tenant is the key's tenant; empty means every tenant.
	tenant string
}

// New returns a Server over st. The Server does not close st.
func New(st store.Store, opts ...Option) (*Server, error) {
	if st == nil {
		return nil, errors.New("server: nil store")
	}
	s := &Server{
		st:              st,
		org:             DefaultOrganisation,
		maxBody:         DefaultMaxBodyBytes,
		log:             slog.Default(),
		prices:          llm.DefaultPrices(),
		shutdownTimeout: DefaultShutdownTimeout,
		maxIngest:       DefaultMaxIngestInFlight,
		ingestMem:       DefaultIngestMemoryBytes,
		readTimeout:     DefaultReadTimeout,
		queryTimeout:    DefaultQueryTimeout,
		writeTimeout:    DefaultWriteTimeout,
		maxConns:        DefaultMaxConns,
		maxWindow:       DefaultMaxQueryWindow,
	}
	for _, o := range opts {
		o(s)
	}
	s.initLimits()
	s.keys = map[[32]byte]principal{}
	for _, k := range s.pendingKeys {
		if k.Key == "" {
			return nil, errors.New("server: empty API key")
		}
		h := sha256.Sum256([]byte(k.Key))
		if p, dup := s.keys[h]; dup && p.tenant != k.Tenant {
			return nil, errors.New("server: the same API key is given for two tenants")
		}
		s.keys[h] = principal{tenant: k.Tenant}
	}
	s.pendingKeys = nil
	if s.logDir != "" {
		if err := s.openIngestLog(); err != nil {
			return nil, err
		}
	}
	s.handler = s.routes()
	return s, nil
}

// Open reports whether the server has no API keys (and so serves loopback
// clients only).
func (s *Server) Open() bool { return len(s.keys) == 0 }

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves HTTP on ln until ctx is done, then shuts down gracefully:
// it stops accepting, lets in-flight requests finish (bounded by the
// shutdown timeout), finishes the ingest log's background writes (Close)
// and returns. It closes ln. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Open() && !isLoopbackAddr(ln.Addr()) {
		ln.Close()
		return fmt.Errorf("%w %s (bind 127.0.0.1 or configure API keys)", ErrOpenNonLoopback, ln.Addr())
	}
	if s.Open() {
		s.log.Warn("no API keys configured: the server is open and serves loopback clients only", "addr", ln.Addr().String())
	}
	hs := s.httpServer()
	hs.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	ln = s.limitListener(ln)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return errors.Join(fmt.Errorf("server: %w", err), s.Close())
	case <-ctx.Done():
	}
	s.log.Info("shutting down: finishing in-flight requests", "timeout", s.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		hs.Close()
		return errors.Join(fmt.Errorf("server: shutdown: %w", err), s.Close())
	}
	return s.Close()
}

func isLoopbackAddr(a net.Addr) bool {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	return IsLoopbackHost(host)
}

// IsLoopbackHost reports whether host (a name or IP, as in an --addr) is
// a loopback address. An empty host means every interface: false.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// apiHandler handles an authenticated API request.
type apiHandler func(http.ResponseWriter, *http.Request, principal) error

// routes registers each endpoint with a Go 1.22 method pattern, so the
// mux answers a known path with another method 405 and an Allow header
// listing the registered methods (jsonErrors gives it a JSON body).
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h apiHandler) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			p, err := s.authenticate(r)
			if err == nil && s.q != nil && r.Method != http.MethodPost {
				// What was answered 200 before this query is in it.
				if err = s.q.caughtUp(r.Context()); err != nil {
					if err = s.timeoutError(r, err); err == nil {
						err = errorf(http.StatusServiceUnavailable, wire.CodeUnavailable, "request canceled")
					}
				}
			}
			if err == nil {
				err = h(w, r, p)
			}
			if err != nil {
				s.writeError(w, r, err)
			}
		})
	}
	// A GET pattern also matches HEAD.
	api("POST /v1/traces", s.handleIngest)
	api("GET /v1/traces", s.handleListTraces)
	api("GET /v1/traces/{trace_id}", s.handleGetTrace)
	api("GET /v1/traces/{trace_id}/spans", s.handleTraceSpans)
	api("GET /v1/spans", s.handleListSpans)
	api("GET /v1/usage/sessions/{session_id}", s.handleSessionUsage)
	api("GET /v1/usage/tenants/{tenant_id}", s.handleTenantUsage)
	mux.HandleFunc("GET "+wire.PathHealth, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET "+PathReady, s.handleReady)
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		if !s.servePages(w, r) {
			s.writeError(w, r, errorf(http.StatusNotFound, wire.CodeNotFound, "no route for %s", r.URL.Path))
		}
	})
	return s.recoverer(s.deadlines(s.jsonErrors(mux)))
}

// jsonErrors serves mux, except that the answers the mux makes itself for
// a request no pattern takes (405 with Allow for a known path, 404) are
// JSON errors like every other.
func (s *Server) jsonErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		switch rec.code {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", rec.header.Get("Allow"))
			s.writeError(w, r, errorf(http.StatusMethodNotAllowed, wire.CodeMethodNotAllowed,
				"method %s not allowed on %s", r.Method, r.URL.Path))
		case http.StatusNotFound:
			s.writeError(w, r, errorf(http.StatusNotFound, wire.CodeNotFound, "no route for %s %s", r.Method, r.URL.Path))
		default: // a redirect to the clean path, say
			mux.ServeHTTP(w, r)
		}
	})
}

// statusRecorder keeps the status and headers a handler writes and drops
// its body.
type statusRecorder struct {
	header http.Header
	code   int
}

func (r *statusRecorder) Header() http.Header { return r.header }

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return len(b), nil
}

// recoverer turns a panic in a handler into a logged 500.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.writeError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// authenticate finds the request's principal.
func (s *Server) authenticate(r *http.Request) (principal, error) {
	if s.Open() {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil || !IsLoopbackHost(host) {
			return principal{}, errorf(http.StatusForbidden, wire.CodePermissionDenied,
				"the server has no API keys and serves loopback clients only")
		}
		if !loopbackHost(r.Host) {
			return principal{}, errorf(http.StatusForbidden, wire.CodePermissionDenied,
				"the server has no API keys and answers only requests addressed to localhost, 127.0.0.1 or [::1] "+
					"(Host %q); configure API keys to serve other names", r.Host)
		}
		return principal{}, nil
	}
	key := r.Header.Get("x-api-key")
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, token, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return principal{}, errorf(http.StatusUnauthorized, wire.CodeUnauthenticated,
				"Authorization must be \"Bearer KEY\"")
		}
		key = strings.TrimSpace(token)
	}
	if key == "" {
		return principal{}, errorf(http.StatusUnauthorized, wire.CodeUnauthenticated,
			"an API key is required (Authorization: Bearer KEY or x-api-key: KEY)")
	}
	p, ok := s.keys[sha256.Sum256([]byte(key))]
	if !ok {
		return principal{}, errorf(http.StatusUnauthorized, wire.CodeUnauthenticated, "unknown API key")
	}
	return p, nil
}

// readAll reads r up to limit bytes, reporting whether it was longer.
// charge, if not nil, is told how many bytes were read so far and may
// stop the read with its error.
func readAll(r io.Reader, limit int64, buf []byte, charge func(int64) error) ([]byte, bool, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if charge != nil {
			if cerr := charge(int64(len(buf))); cerr != nil {
				return buf, false, cerr
			}
		}
		if int64(len(buf)) > limit {
			return buf, true, nil
		}
		if err == io.EOF {
			return buf, false, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
}
