package exporter_test

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"

	"github.com/agenttrace/agenttrace/exporter"
)

// closedPort returns a 127.0.0.1 address nothing listens on (connections to
// it are refused).
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// sendAsync runs send in a goroutine and returns its error, failing the
// test if it has not returned within limit (a bound far above the expected
// time, so that a hang is reported instead of stalling the run).
func sendAsync(t *testing.T, limit time.Duration, send func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- send() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("the export had not returned after %v", limit)
		return nil
	}
}

// TestRetriesRefusedConnection: the collector is down when the export starts
// and comes up about 1.5 s later on the same port; with the default retry
// policy the export succeeds.
func TestRetriesRefusedConnection(t *testing.T) {
	clearEnv(t)
	col := newCollector(t) // records what the late server receives
	addr := closedPort(t)

	var (
		mu  sync.Mutex
		srv *http.Server
		up  = make(chan error, 1)
	)
	timer := time.AfterFunc(1500*time.Millisecond, func() {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			up <- err
			return
		}
		mu.Lock()
		srv = &http.Server{Handler: col.Config.Handler, ReadHeaderTimeout: 5 * time.Second}
		mu.Unlock()
		up <- nil
		_ = srv.Serve(l)
	})
	t.Cleanup(func() {
		if timer.Stop() {
			return
		}
		<-up
		mu.Lock()
		defer mu.Unlock()
		if srv != nil {
			_ = srv.Close()
		}
	})

	exp, err := exporter.New(context.Background(), exporter.WithEndpoint("http://"+addr))
	require.NoError(t, err)
	require.NoError(t, sendAsync(t, 25*time.Second, func() error { return send(t, exp, "late") }))
	require.Len(t, col.Spans(), 1)
	assert.Equal(t, "late", col.Spans()[0].Name())
}

// countingTransport counts round trips.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// TestRefusedConnectionStopsWithContext: retrying a refused connection stops
// as soon as the export's context is cancelled.
func TestRefusedConnectionStopsWithContext(t *testing.T) {
	clearEnv(t)
	base := &countingTransport{base: http.DefaultTransport}
	user := &http.Client{Transport: base}
	exp, err := exporter.New(context.Background(), exporter.WithEndpoint("http://"+closedPort(t)),
		exporter.WithHTTPClient(user)) // the default retry policy: up to 30 s
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	spans := spansNamed(t, "refused")
	err = sendAsync(t, 10*time.Second, func() error { return exp.ExportSpans(ctx, spans) })
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "connection refused")
	assert.GreaterOrEqual(t, base.n.Load(), int64(1))
	assert.Same(t, base, user.Transport, "the user's client is not modified")
}

// TestNetworkErrorsRetriedThroughUserClient: a client given with
// WithHTTPClient has its transport wrapped too, so refused connections are
// retried until the retry policy gives up.
func TestNetworkErrorsRetriedThroughUserClient(t *testing.T) {
	clearEnv(t)
	base := &countingTransport{base: http.DefaultTransport}
	exp, err := exporter.New(context.Background(), exporter.WithEndpoint("http://"+closedPort(t)),
		exporter.WithHTTPClient(&http.Client{Transport: base}),
		exporter.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 10 * time.Millisecond,
			MaxInterval: 20 * time.Millisecond, MaxElapsedTime: 300 * time.Millisecond}))
	require.NoError(t, err)
	err = sendAsync(t, 10*time.Second, func() error { return send(t, exp, "refused") })
	require.ErrorContains(t, err, "connection refused")
	assert.Contains(t, err.Error(), "max retry time")
	assert.GreaterOrEqual(t, base.n.Load(), int64(3), "the refused connection was retried")

	// With retries off, one attempt.
	base.n.Store(0)
	exp, err = exporter.New(context.Background(), exporter.WithEndpoint("http://"+closedPort(t)),
		exporter.WithHTTPClient(&http.Client{Transport: base}), exporter.WithRetry(otlptracehttp.RetryConfig{}))
	require.NoError(t, err)
	require.ErrorContains(t, send(t, exp, "once"), "connection refused")
	assert.Equal(t, int64(1), base.n.Load())
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

// TestTimeout: the request timeout comes from WithTimeout, else the
// environment, and also bounds a user's client whose Timeout is longer.
func TestTimeout(t *testing.T) {
	noRetry := exporter.WithRetry(otlptracehttp.RetryConfig{})
	for _, tc := range []struct {
		name string
		env  map[string]string
		opts []exporter.Option
	}{
		{"traces env", map[string]string{exporter.EnvTracesTimeout: "100", exporter.EnvTimeout: "600000"}, nil},
		{"general env", map[string]string{exporter.EnvTimeout: "100"}, nil},
		{"option over env", map[string]string{exporter.EnvTimeout: "600000"}, []exporter.Option{exporter.WithTimeout(100 * time.Millisecond)}},
		{"option over user client", nil, []exporter.Option{
			exporter.WithHTTPClient(&http.Client{Timeout: time.Hour}), exporter.WithTimeout(100 * time.Millisecond)}},
		{"env for a user client without timeout", map[string]string{exporter.EnvTimeout: "100"},
			[]exporter.Option{exporter.WithHTTPClient(&http.Client{})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			opts := append([]exporter.Option{exporter.WithEndpoint(silentServer(t)), noRetry}, tc.opts...)
			exp, err := exporter.New(context.Background(), opts...)
			require.NoError(t, err)
			// Far below the other candidate timeouts (10 min, 1 h, and the
			// 10 s default).
			err = sendAsync(t, 8*time.Second, func() error { return send(t, exp, "slow") })
			require.ErrorIs(t, err, context.DeadlineExceeded, "the client's timeout")
		})
	}

	t.Run("invalid env", func(t *testing.T) {
		for _, v := range []string{"abc", "-1", "1.5", "99999999999999999999"} {
			clearEnv(t)
			t.Setenv(exporter.EnvTracesTimeout, v)
			_, err := exporter.New(context.Background())
			require.ErrorIs(t, err, exporter.ErrInvalidOption, v)
			assert.ErrorContains(t, err, exporter.EnvTracesTimeout)
		}
	})
}

// TestCertificateEnv: OTEL_EXPORTER_OTLP_CERTIFICATE names the CA the
// endpoint's certificate is verified with; without it the certificate error
// is returned at once, not retried.
func TestCertificateEnv(t *testing.T) {
	clearEnv(t)
	col := newCollector(t)
	srv := httptest.NewUnstartedServer(col.Config.Handler)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshake
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))

	exp, err := exporter.New(context.Background(), exporter.WithEndpoint(srv.URL))
	require.NoError(t, err)
	err = sendAsync(t, 8*time.Second, func() error { return send(t, exp, "untrusted") }) // default retry: 30 s
	require.ErrorContains(t, err, "certificate")
	assert.NotContains(t, err.Error(), "retry")

	for _, name := range []string{exporter.EnvCertificate, exporter.EnvTracesCertificate} {
		clearEnv(t)
		t.Setenv(name, caFile)
		exp, err = exporter.New(context.Background(), exporter.WithEndpoint(srv.URL))
		require.NoError(t, err)
		require.NoError(t, send(t, exp, "trusted"))
	}
	assert.Len(t, col.Spans(), 2)

	t.Run("bad files", func(t *testing.T) {
		notPEM := filepath.Join(t.TempDir(), "x.pem")
		require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
		for _, env := range []map[string]string{
			{exporter.EnvCertificate: filepath.Join(t.TempDir(), "missing.pem")},
			{exporter.EnvTracesCertificate: notPEM},
			{exporter.EnvClientCertificate: caFile},                                            // no key
			{exporter.EnvTracesClientCertificate: caFile, exporter.EnvTracesClientKey: notPEM}, // not a key
		} {
			clearEnv(t)
			for k, v := range env {
				t.Setenv(k, v)
			}
			_, err := exporter.New(context.Background())
			require.ErrorIs(t, err, exporter.ErrInvalidOption, "%v", env)
		}
	})
}

func TestDefaultRetry(t *testing.T) {
	rc := exporter.DefaultRetry()
	assert.True(t, rc.Enabled)
	assert.Equal(t, time.Second, rc.InitialInterval)
	assert.Equal(t, 10*time.Second, rc.MaxInterval)
	assert.Equal(t, 30*time.Second, rc.MaxElapsedTime)
}
