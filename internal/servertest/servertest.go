// Package servertest serves the real agenttrace server over a SQLite file
// on 127.0.0.1, for the tests of its clients (package usage, the agenttrace
// query commands).
package servertest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/sqlite"
)

// Server is a running server.
type Server struct {
	// URL is the base URL, http://127.0.0.1:port.
	URL string
	// Store is the server's store; closing it early is allowed.
	Store *sqlite.Store
	// Requests counts the HTTP requests received.
	Requests atomic.Int64
}

// Start writes spans into a fresh SQLite file in t's temporary directory
// and serves it with server.New(store, opts...) (its log discarded unless
// opts set a logger) until the test ends, when it checks that the server
// and the store shut down cleanly.
func Start(t testing.TB, spans []store.Span, opts ...server.Option) *Server {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "agenttrace.db"))
	require.NoError(t, err)
	if len(spans) > 0 {
		_, err = st.WriteSpans(ctx, spans)
		require.NoError(t, err)
	}
	srv, err := server.New(st, append([]server.Option{server.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &Server{URL: "http://" + ln.Addr().String(), Store: st}
	h := srv.Handler()
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Requests.Add(1)
		h.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	t.Cleanup(func() {
		assert.NoError(t, hs.Shutdown(ctx))
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
		assert.NoError(t, st.Close())
	})
	return s
}
