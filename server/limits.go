package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/net/netutil"
	"golang.org/x/sync/semaphore"

	"github.com/agenttrace/agenttrace/internal/wire"
)

// Limits under hostile input and load. Every request has a deadline, the
// memory ingest may hold is budgeted, and connections are capped; what is
// refused is answered with a JSON error (429 or 503 with Retry-After, so
// SDKs back off) and counted in Stats.
const (
	// DefaultMaxIngestInFlight caps the ingest requests being read,
	// decoded or stored at once; more wait up to DefaultIngestWait for a
	// slot, then get 429.
	DefaultMaxIngestInFlight = 8
	// DefaultIngestWait is how long an ingest request waits for a slot
	// or for memory before 429.
	DefaultIngestWait = 2 * time.Second
	// DefaultIngestMemoryBytes is the ingest memory budget. A request is
	// charged ingestMemoryFactor times its decompressed body size while
	// it is read, decoded and stored (decoding OTLP allocates about 9
	// times the protobuf body; see BENCHMARKS.md, RELIABILITY); a request
	// that finds the budget spent gets 429. The budget is raised to fit
	// at least one body of the maximum size.
	DefaultIngestMemoryBytes = 128 << 20
	// DefaultMaxConns caps open client connections; past it, new
	// connections wait in the kernel's accept queue.
	DefaultMaxConns = 1024
	// DefaultReadTimeout bounds reading a request, headers and body.
	DefaultReadTimeout = 30 * time.Second
	// DefaultQueryTimeout bounds a request's work (a query, or storing
	// an ingest request's spans); past it the answer is 503
	// deadline_exceeded.
	DefaultQueryTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds writing a response, on top of the query
	// timeout (and, for ingest, the read timeout): a client that does not
	// read its answer is disconnected then, and what it pinned is freed.
	DefaultWriteTimeout = 15 * time.Second
	// readHeaderTimeout bounds reading request headers (slowloris).
	readHeaderTimeout = 10 * time.Second
	// idleTimeout closes idle keep-alive connections.
	idleTimeout = 60 * time.Second
)

// ingestMemoryFactor is what one decompressed body byte costs until the
// request is done: the body itself, the buffer's growth and the decoded
// OTLP (measured at about 9x for protobuf, 5x for JSON).
const ingestMemoryFactor = 8

// WithIngestLimits sets the ingest concurrency cap and memory budget in
// bytes (see DefaultMaxIngestInFlight, DefaultIngestMemoryBytes); zero
// keeps a default.
func WithIngestLimits(maxInFlight int, memoryBytes int64) Option {
	return func(s *Server) {
		if maxInFlight > 0 {
			s.maxIngest = maxInFlight
		}
		if memoryBytes > 0 {
			s.ingestMem = memoryBytes
		}
	}
}

// WithTimeouts sets the read, query and write timeouts (see
// DefaultReadTimeout, DefaultQueryTimeout, DefaultWriteTimeout); zero
// keeps a default.
func WithTimeouts(read, query, write time.Duration) Option {
	return func(s *Server) {
		if read > 0 {
			s.readTimeout = read
		}
		if query > 0 {
			s.queryTimeout = query
		}
		if write > 0 {
			s.writeTimeout = write
		}
	}
}

// WithMaxConns caps open client connections in Serve (DefaultMaxConns).
func WithMaxConns(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.maxConns = n
		}
	}
}

// initLimits fills the limits' defaults and state; New calls it after
// the options.
func (s *Server) initLimits() {
	s.ingestMem = max(s.ingestMem, ingestMemoryFactor*s.maxBody)
	s.ingestSlots = make(chan struct{}, s.maxIngest)
	s.ingestBudget = semaphore.NewWeighted(s.ingestMem)
}

// httpServer is the http.Server Serve runs.
func (s *Server) httpServer() *http.Server {
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: min(readHeaderTimeout, s.readTimeout),
		ReadTimeout:       s.readTimeout,
		// A backstop: each request sets its own write deadline (deadlines).
		WriteTimeout:   s.readTimeout + s.queryTimeout + s.writeTimeout,
		IdleTimeout:    idleTimeout,
		MaxHeaderBytes: 64 << 10,
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				s.stats.openConns.Add(1)
			case http.StateClosed, http.StateHijacked:
				s.stats.openConns.Add(-1)
			}
		},
	}
}

// limitListener caps ln's open connections.
func (s *Server) limitListener(ln net.Listener) net.Listener {
	return netutil.LimitListener(ln, s.maxConns)
}

// isIngest reports whether r is an OTLP ingest request.
func isIngest(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == "/v1/traces"
}

// deadlines gives every request a deadline: its context ends after the
// query timeout (for ingest, the read timeout plus the query timeout),
// and writing its answer must end the write timeout after that.
func (s *Server) deadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.stats.requestsInFlight.Add(1)
		defer s.stats.requestsInFlight.Add(-1)
		work := s.queryTimeout
		if isIngest(r) {
			work += s.readTimeout
		}
		// Not every ResponseWriter supports deadlines (httptest's does
		// not); the http.Server's WriteTimeout is the backstop there.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(work + s.writeTimeout))
		ctx, cancel := context.WithTimeout(r.Context(), work)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// timeoutError is the answer to a request whose context ran out.
func (s *Server) timeoutError(r *http.Request, err error) *apiError {
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(r.Context().Err(), context.DeadlineExceeded) {
		return nil
	}
	s.stats.queryTimeouts.Add(1)
	return errorf(http.StatusServiceUnavailable, wire.CodeDeadlineExceeded,
		"the request ran past the server's query timeout (%v); narrow the time window or filters, or retry later", s.queryTimeout)
}

// busy is the 429 of a full ingest budget.
func (s *Server) busy(what string) error {
	s.stats.ingestBusy.Add(1)
	return errorf(http.StatusTooManyRequests, wire.CodeResourceExhausted,
		"the server is busy (%s); retry after the Retry-After delay", what)
}

// ingestGrant is what one ingest request holds: a slot and memory.
type ingestGrant struct {
	s    *Server
	held int64
}

// admitIngest takes an ingest slot, waiting up to DefaultIngestWait, and
// charges the body's declared length when it has one.
func (s *Server) admitIngest(r *http.Request) (*ingestGrant, error) {
	t := time.NewTimer(DefaultIngestWait)
	defer t.Stop()
	select {
	case s.ingestSlots <- struct{}{}:
	case <-t.C:
		return nil, s.busy("too many ingest requests in flight")
	case <-r.Context().Done():
		if ae := s.timeoutError(r, r.Context().Err()); ae != nil {
			return nil, ae
		}
		return nil, errorf(http.StatusServiceUnavailable, wire.CodeUnavailable, "request canceled")
	}
	s.stats.ingestInFlight.Add(1)
	g := &ingestGrant{s: s}
	if n := r.ContentLength; n > 0 && n <= s.maxBody && r.Header.Get("Content-Encoding") == "" {
		ctx, cancel := context.WithTimeout(r.Context(), DefaultIngestWait)
		defer cancel()
		if err := s.ingestBudget.Acquire(ctx, n*ingestMemoryFactor); err != nil {
			g.release()
			return nil, s.busy("ingest memory budget spent")
		}
		g.held = n * ingestMemoryFactor
		s.stats.ingestBytes.Add(n)
	}
	return g, nil
}

// chargeStep is the body size charged at a time while reading a body of
// unknown decompressed size.
const chargeStep = 256 << 10

// grow makes sure n decompressed body bytes are charged, without waiting.
func (g *ingestGrant) grow(n int64) error {
	if g == nil || n*ingestMemoryFactor <= g.held {
		return nil
	}
	want := min(n+chargeStep, g.s.maxBody+1) * ingestMemoryFactor
	if !g.s.ingestBudget.TryAcquire(want - g.held) {
		return g.s.busy("ingest memory budget spent")
	}
	g.s.stats.ingestBytes.Add((want - g.held) / ingestMemoryFactor)
	g.held = want
	return nil
}

// release gives back the slot and the memory.
func (g *ingestGrant) release() {
	if g.held > 0 {
		g.s.ingestBudget.Release(g.held)
		g.s.stats.ingestBytes.Add(-g.held / ingestMemoryFactor)
	}
	g.s.stats.ingestInFlight.Add(-1)
	<-g.s.ingestSlots
}

// retryAfter is the Retry-After of 429 and 503 answers, in seconds.
var retryAfter = strconv.Itoa(1)
