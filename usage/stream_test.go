package usage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agenttrace/agenttrace/internal/servertest"
	"github.com/agenttrace/agenttrace/usage"
)

// TestNewClientOtherDefaultTransport: a program that replaced
// http.DefaultTransport with a wrapper (as otelhttp does) still gets a
// working client, not a panic.
func TestNewClientOtherDefaultTransport(t *testing.T) {
	ts := servertest.Start(t, fixture(0))
	saved := http.DefaultTransport
	t.Cleanup(func() { http.DefaultTransport = saved })
	http.DefaultTransport = roundTripFunc(saved.RoundTrip)

	var c *usage.Client
	var err error
	require.NotPanics(t, func() { c, err = usage.NewClient(ts.URL, usage.WithAPIKey("")) })
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	tr, err := c.GetTrace(context.Background(), traceID(1))
	require.NoError(t, err)
	assert.Equal(t, traceID(1), tr.ID)
}

// bigSpansPage returns a valid spans page of n spans, each with an
// attribute of size bytes.
func bigSpansPage(n, size int) []byte {
	attr, _ := json.Marshal(map[string]string{"agenttrace.input": strings.Repeat("x", size)})
	var b bytes.Buffer
	b.WriteString(`{"spans":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%016x","trace_id":"%032x","name":"s","attributes":%s,"events":[]}`, i+1, 1, attr)
	}
	b.WriteString(`],"has_next_page":false}`)
	return b.Bytes()
}

// TestLargePageStreams: a 2xx body is decoded as a stream, so a large page
// costs about its decoded size in allocations, not a copy of the whole body
// on top (reading it whole, growing a buffer, then decoding costs three
// times the body or more). The server stands for one answering a page of
// large spans; its handler writes a prepared body and allocates little.
func TestLargePageStreams(t *testing.T) {
	body := bigSpansPage(64, 64<<10) // 4 MiB
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer hs.Close()
	c := newClient(t, hs.URL)

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p, err := c.ListSpans(context.Background(), usage.SpanQuery{Start: wStart, End: wEnd})
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.Len(t, p.Spans, 64)
	assert.Len(t, p.Spans[63].Attributes, 64<<10+len(`{"agenttrace.input":""}`))
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("body %d bytes, allocated %d bytes (%.2fx)", len(body), alloc, float64(alloc)/float64(len(body)))
	assert.Less(t, alloc, uint64(2*len(body)), "allocated %.2fx the body", float64(alloc)/float64(len(body)))
}

// TestBodyBound: an endless 2xx body stops at the client's bound with
// ErrBadResponse, whatever part of the page it is in.
func TestBodyBound(t *testing.T) {
	for name, prefix := range map[string]string{
		"in an array":   `{"spans":[`,
		"in a string":   `{"spans":[{"id":"`,
		"in a scalar":   `{"next_cursor":"`,
		"after the end": `{"spans":[],"has_next_page":false}`,
	} {
		t.Run(name, func(t *testing.T) {
			var wrote int64
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, prefix)
				filler := strings.Repeat(`{"id":"a"},`, 1000)
				if strings.HasSuffix(prefix, `"`) {
					filler = strings.Repeat("a", len(filler))
				}
				if strings.HasSuffix(prefix, "}") {
					filler = strings.Repeat(" ", len(filler))
				}
				for range 1000 { // 11 MB at most; the client stops far earlier
					n, err := io.WriteString(w, filler)
					wrote += int64(n)
					if err != nil {
						return
					}
				}
			}))
			defer hs.Close()
			c := newClient(t, hs.URL, usage.WithRetry(0, 0))
			usage.SetMaxResponseBytes(c, 64<<10)
			p, err := c.ListSpans(context.Background(), usage.SpanQuery{Start: wStart, End: wEnd})
			assert.Nil(t, p)
			require.ErrorIs(t, err, usage.ErrBadResponse)
			if name != "after the end" {
				assert.Contains(t, err.Error(), "larger than 65536 bytes")
			}
			c.CloseIdleConnections()
			hs.CloseClientConnections()
		})
	}
}
