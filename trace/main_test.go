package trace_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/store/sqlite"
)

// envChildServer, set to a SQLite path, makes the test binary serve that
// database on 127.0.0.1 instead of running tests (see startChildServer).
const envChildServer = "AGENTTRACE_TEST_CHILD_SERVER"

func TestMain(m *testing.M) {
	if path := os.Getenv(envChildServer); path != "" {
		if err := serveChild(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// serveChild serves the real server over the SQLite file at path on
// 127.0.0.1 (with a 1 GiB ingest budget), prints its URL on stdout and stops when stdin closes.
func serveChild(path string) error {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	// A 1 GiB ingest budget: the child is there to keep its memory out of
	// the client's heap, not to push back.
	srv, err := server.New(st, server.WithLogger(slog.New(slog.DiscardHandler)),
		server.WithIngestLimits(0, 1<<30))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	fmt.Printf("http://%s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := hs.Shutdown(ctx); err != nil {
		return err
	}
	return st.Close()
}

// childServer is the real server running in a child process, so that
// the test's heap is the client's alone.
type childServer struct {
	URL string
	// DB is the SQLite file it serves.
	DB string
}

// startChildServer runs the test binary as a server over a fresh SQLite
// file; stop waits for it to shut down cleanly (it is also stopped when
// the test ends).
func startChildServer(t *testing.T) (srv childServer, stop func()) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "agenttrace.db")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envChildServer+"="+db)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = stdin.Close()
		require.NoError(t, cmd.Wait(), "the child server exits cleanly")
	}
	t.Cleanup(stop)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the child server prints its URL")
	return childServer{URL: strings.TrimSpace(line), DB: db}, stop
}
