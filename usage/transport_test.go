package usage_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agenttrace/agenttrace/internal/servertest"
	"github.com/agenttrace/agenttrace/usage"
)

// flakyProxy is a foreign reverse proxy in front of the real server: it
// answers its first `fail` requests itself with the given status, header and
// body, then forwards.
type flakyProxy struct {
	URL      string
	requests atomic.Int64
}

func startFlakyProxy(t *testing.T, backend string, fail int64, status int, header http.Header, body string) *flakyProxy {
	t.Helper()
	u, err := url.Parse(backend)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(u)
	tr := &http.Transport{}
	rp.Transport = tr
	fp := &flakyProxy{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fp.requests.Add(1) <= fail {
			for k, v := range header {
				w.Header()[k] = v
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		hs.Close()
		tr.CloseIdleConnections()
	})
	fp.URL = hs.URL
	return fp
}

func TestRetries(t *testing.T) {
	ts := servertest.Start(t, fixture(0))
	ctx := context.Background()
	jsonErr := `{"error":{"code":"unavailable","message":"overloaded, try later"}}`

	t.Run("503 then success", func(t *testing.T) {
		fp := startFlakyProxy(t, ts.URL, 2, 503, nil, jsonErr)
		c := newClient(t, fp.URL, usage.WithRetry(3, time.Millisecond))
		su, err := c.GetSessionUsage(ctx, "s-1", wStart, wEnd)
		require.NoError(t, err)
		assert.EqualValues(t, 330, su.TokenCount)
		assert.EqualValues(t, 3, fp.requests.Load())
	})
	t.Run("429 persists", func(t *testing.T) {
		fp := startFlakyProxy(t, ts.URL, 100, 429, nil, "slow down")
		c := newClient(t, fp.URL, usage.WithRetry(2, time.Millisecond))
		p, err := c.ListTraces(ctx, usage.TraceQuery{Start: wStart, End: wEnd})
		assert.Nil(t, p)
		assert.ErrorIs(t, err, usage.ErrUnavailable)
		var ae *usage.APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, 429, ae.StatusCode)
		assert.Empty(t, ae.Code, "no JSON error body")
		assert.Contains(t, ae.Message, "Too Many Requests")
		assert.Contains(t, ae.Message, "slow down")
		assert.EqualValues(t, 3, fp.requests.Load(), "one try and two retries")
	})
	t.Run("retries off", func(t *testing.T) {
		fp := startFlakyProxy(t, ts.URL, 1, 503, nil, jsonErr)
		c := newClient(t, fp.URL, usage.WithRetry(0, time.Millisecond))
		_, err := c.GetTrace(ctx, traceID(1))
		var ae *usage.APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, "overloaded, try later", ae.Message)
		assert.EqualValues(t, 1, fp.requests.Load())
	})
	for _, status := range []int{400, 404, 500, 502} {
		t.Run(fmt.Sprintf("%d not retried", status), func(t *testing.T) {
			fp := startFlakyProxy(t, ts.URL, 1, status, http.Header{"Content-Type": {"text/html"}}, "<html>oops</html>")
			c := newClient(t, fp.URL, usage.WithRetry(3, time.Millisecond))
			su, err := c.GetSessionUsage(ctx, "s-1", wStart, wEnd)
			assert.Nil(t, su)
			var ae *usage.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, status, ae.StatusCode)
			assert.Contains(t, ae.Message, "oops")
			assert.NotErrorIs(t, err, usage.ErrUnavailable)
			assert.EqualValues(t, 1, fp.requests.Load())
		})
	}
	t.Run("Retry-After honoured", func(t *testing.T) {
		fp := startFlakyProxy(t, ts.URL, 1, 429, http.Header{"Retry-After": {"1"}}, "")
		c := newClient(t, fp.URL, usage.WithRetry(1, time.Millisecond))
		start := time.Now()
		_, err := c.GetTenantUsage(ctx, "acme", wStart, wEnd)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, time.Since(start), time.Second, "waited as Retry-After asked, not the 1ms backoff")
		assert.EqualValues(t, 2, fp.requests.Load())
	})
	t.Run("Retry-After past the deadline", func(t *testing.T) {
		fp := startFlakyProxy(t, ts.URL, 1, 503, http.Header{"Retry-After": {"20"}}, jsonErr)
		c := newClient(t, fp.URL, usage.WithRetry(3, time.Millisecond), usage.WithTimeout(5*time.Second))
		_, err := c.GetTenantUsage(ctx, "acme", wStart, wEnd)
		var ae *usage.APIError
		require.ErrorAs(t, err, &ae, "gives up at once with the server's answer")
		assert.Equal(t, 503, ae.StatusCode)
		assert.EqualValues(t, 1, fp.requests.Load())
	})
}

// TestBadResponses: a foreign service answering 2xx with something that is
// not the API's JSON gives ErrBadResponse, never a zero result.
func TestBadResponses(t *testing.T) {
	ctx := context.Background()
	for _, body := range []string{"", "null", "<html>hello</html>", "[1,2]", `{"traces":`, `{"token_count":"many"}`} {
		t.Run(body, func(t *testing.T) {
			var n atomic.Int64
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				io.WriteString(w, body)
			}))
			defer hs.Close()
			c := newClient(t, hs.URL)
			su, err := c.GetSessionUsage(ctx, "s", wStart, wEnd)
			assert.Nil(t, su)
			assert.ErrorIs(t, err, usage.ErrBadResponse)
			p, err := c.ListTraces(ctx, usage.TraceQuery{Start: wStart, End: wEnd})
			assert.Nil(t, p)
			assert.ErrorIs(t, err, usage.ErrBadResponse)
			assert.EqualValues(t, 2, n.Load(), "not retried")
		})
	}

	// A page that says more follow but gives no cursor stops the iterator
	// with an error instead of looping.
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"traces":[{"id":"t1"}],"has_next_page":true,"next_cursor":"c1"}`)
	}))
	defer hs.Close()
	c := newClient(t, hs.URL)
	var got []string
	var errs []error
	for tr, err := range c.IterTraces(ctx, usage.TraceQuery{Start: wStart, End: wEnd}) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got = append(got, tr.ID)
	}
	assert.Equal(t, []string{"t1", "t1"}, got)
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], usage.ErrBadResponse)
}

// brokenListener accepts TCP connections on 127.0.0.1 and hands each to
// serve, counting them.
func brokenListener(t *testing.T, serve func(net.Conn)) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var n atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				serve(conn)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return "http://" + ln.Addr().String(), &n
}

func TestNetworkErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("connection closed", func(t *testing.T) {
		u, n := brokenListener(t, func(c net.Conn) {})
		c := newClient(t, u, usage.WithRetry(2, time.Millisecond))
		su, err := c.GetSessionUsage(ctx, "s", wStart, wEnd)
		assert.Nil(t, su)
		require.Error(t, err)
		var ae *usage.APIError
		assert.False(t, errors.As(err, &ae))
		var ue *url.Error
		assert.ErrorAs(t, err, &ue)
		assert.EqualValues(t, 3, n.Load(), "one try and two retries: %v", err)
	})
	t.Run("body cut short", func(t *testing.T) {
		u, n := brokenListener(t, func(c net.Conn) {
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"token_")
		})
		c := newClient(t, u, usage.WithRetry(1, time.Millisecond))
		su, err := c.GetSessionUsage(ctx, "s", wStart, wEnd)
		assert.Nil(t, su)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.EqualValues(t, 2, n.Load())
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close()
		c := newClient(t, "http://"+addr, usage.WithRetry(1, time.Millisecond))
		_, err = c.GetTrace(ctx, traceID(1))
		var op *net.OpError
		assert.ErrorAs(t, err, &op)
	})
	t.Run("timeout", func(t *testing.T) {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}))
		defer hs.Close()
		c := newClient(t, hs.URL, usage.WithTimeout(50*time.Millisecond))
		_, err := c.GetTrace(ctx, traceID(1))
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("cancelled context", func(t *testing.T) {
		ts := servertest.Start(t, nil)
		c := newClient(t, ts.URL)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := c.GetTrace(cctx, traceID(1))
		assert.ErrorIs(t, err, context.Canceled)
		assert.Zero(t, ts.Requests.Load())
	})
}

func TestNewClientOptions(t *testing.T) {
	ctx := context.Background()
	t.Run("defaults", func(t *testing.T) {
		t.Setenv(usage.EnvURL, "")
		c, err := usage.NewClient("")
		require.NoError(t, err)
		assert.Equal(t, usage.DefaultURL, c.BaseURL())
	})
	t.Run("URL from the environment", func(t *testing.T) {
		ts := servertest.Start(t, fixture(0))
		t.Setenv(usage.EnvURL, ts.URL+"/")
		t.Setenv(usage.EnvAPIKey, "")
		c, err := usage.NewClient("")
		require.NoError(t, err)
		defer c.CloseIdleConnections()
		assert.Equal(t, ts.URL, c.BaseURL())
		_, err = c.GetTrace(ctx, traceID(1))
		require.NoError(t, err)
	})
	t.Run("argument beats environment", func(t *testing.T) {
		t.Setenv(usage.EnvURL, "http://192.0.2.1:1")
		c, err := usage.NewClient("https://example.test/x")
		require.NoError(t, err)
		assert.Equal(t, "https://example.test/x", c.BaseURL())
	})
	for _, bad := range []string{"127.0.0.1:4318", "localhost:4318", "ftp://h", "http://", "http://u:p@h", "http://h?x=1", "http://h/#f", ":"} {
		t.Run("bad URL "+bad, func(t *testing.T) {
			c, err := usage.NewClient(bad)
			assert.Nil(t, c)
			assert.ErrorIs(t, err, usage.ErrInvalidOption)
			assert.NotContains(t, err.Error(), ":p@", "no password in the message")
		})
	}
	for name, opt := range map[string]usage.Option{
		"nil http client":    usage.WithHTTPClient(nil),
		"negative timeout":   usage.WithTimeout(-time.Second),
		"negative retries":   usage.WithRetry(-1, time.Second),
		"negative backoff":   usage.WithRetry(1, -time.Second),
		"empty user agent":   usage.WithUserAgent(" "),
		"key with a newline": usage.WithAPIKey("a\nb"),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := usage.NewClient("http://127.0.0.1:1", opt)
			assert.Nil(t, c)
			assert.ErrorIs(t, err, usage.ErrInvalidOption)
		})
	}

	t.Run("headers, http client and path prefix", func(t *testing.T) {
		ts := servertest.Start(t, fixture(0))
		var mu sync.Mutex
		var seen []http.Header
		var paths []string
		backend, _ := url.Parse(ts.URL)
		rp := httputil.NewSingleHostReverseProxy(backend)
		tr := &http.Transport{}
		rp.Transport = tr
		mux := http.NewServeMux()
		mux.Handle("/agenttrace/", http.StripPrefix("/agenttrace", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Header.Clone())
			paths = append(paths, r.URL.EscapedPath())
			mu.Unlock()
			rp.ServeHTTP(w, r)
		})))
		hs := httptest.NewServer(mux)
		defer func() { hs.Close(); tr.CloseIdleConnections() }()

		var trips atomic.Int64
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			trips.Add(1)
			return http.DefaultTransport.RoundTrip(r)
		})}
		c := newClient(t, hs.URL+"/agenttrace/", usage.WithHTTPClient(hc), usage.WithUserAgent("report-job/2"),
			usage.WithAPIKey("k-123"))
		su, err := c.GetSessionUsage(ctx, "s/3 x", wStart, wEnd)
		require.NoError(t, err)
		assert.EqualValues(t, 440, su.TokenCount)
		require.Len(t, seen, 1)
		assert.Equal(t, "report-job/2", seen[0].Get("User-Agent"))
		assert.Equal(t, "Bearer k-123", seen[0].Get("Authorization"))
		assert.Equal(t, "application/json", seen[0].Get("Accept"))
		assert.Equal(t, "/v1/usage/sessions/s%2F3%20x", paths[0])
		assert.EqualValues(t, 1, trips.Load())
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
