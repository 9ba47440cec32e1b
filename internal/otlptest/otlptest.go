// Package otlptest is a test OTLP/HTTP trace collector: an httptest server
// on 127.0.0.1 that decodes what exporters actually send (gzip or plain
// protobuf, as the collector's pdata does) and can answer with failures to
// exercise retries. It is for tests only.
package otlptest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// Request is one export request the collector received.
type Request struct {
	Path    string
	Header  http.Header
	Traces  ptrace.Traces
	Gzipped bool
}

// Span is a decoded span with its resource and scope.
type Span struct {
	ptrace.Span
	Resource pcommon.Resource
	Scope    pcommon.InstrumentationScope
}

// Attr returns the span attribute key as a string ("" when absent).
func (s Span) Attr(key string) string {
	v, ok := s.Attributes().Get(key)
	if !ok {
		return ""
	}
	return v.AsString()
}

// Collector records export requests.
type Collector struct {
	*httptest.Server

	mu       sync.Mutex
	requests []Request
	fail     []Failure
	errs     []error
}

// Failure is an answer the collector gives instead of success.
type Failure struct {
	Status     int
	RetryAfter int // seconds; 0 leaves the header out
}

// New starts a collector; close it with Close (t.Cleanup).
func New() *Collector {
	c := &Collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(c.handle))
	return c
}

// FailNext makes the next len(f) requests fail as given.
func (c *Collector) FailNext(f ...Failure) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = append(c.fail, f...)
}

func (c *Collector) handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		c.fault(w, fmt.Errorf("read body: %w", err))
		return
	}
	gzipped := r.Header.Get("Content-Encoding") == "gzip"
	if gzipped {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			c.fault(w, fmt.Errorf("gzip: %w", err))
			return
		}
		if body, err = io.ReadAll(zr); err != nil {
			c.fault(w, fmt.Errorf("gunzip: %w", err))
			return
		}
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		c.fault(w, fmt.Errorf("content type %q", ct))
		return
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		c.fault(w, fmt.Errorf("decode: %w", err))
		return
	}

	c.mu.Lock()
	if len(c.fail) > 0 {
		f := c.fail[0]
		c.fail = c.fail[1:]
		c.mu.Unlock()
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		w.WriteHeader(f.Status)
		return
	}
	c.requests = append(c.requests, Request{Path: r.URL.Path, Header: r.Header.Clone(), Traces: req.Traces(), Gzipped: gzipped})
	c.mu.Unlock()

	out, _ := ptraceotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (c *Collector) fault(w http.ResponseWriter, err error) {
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
	http.Error(w, err.Error(), http.StatusBadRequest)
}

// Requests returns the successful requests so far.
func (c *Collector) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Request(nil), c.requests...)
}

// Errors returns the requests the collector could not decode.
func (c *Collector) Errors() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.errs...)
}

// Spans returns every span received so far.
func (c *Collector) Spans() []Span {
	var out []Span
	for _, r := range c.Requests() {
		rss := r.Traces.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			rs := rss.At(i)
			sss := rs.ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				ss := sss.At(j)
				for k := 0; k < ss.Spans().Len(); k++ {
					out = append(out, Span{Span: ss.Spans().At(k), Resource: rs.Resource(), Scope: ss.Scope()})
				}
			}
		}
	}
	return out
}

// SpansByName returns Spans by name (the last one of each name).
func (c *Collector) SpansByName() map[string]Span {
	out := map[string]Span{}
	for _, s := range c.Spans() {
		out[s.Name()] = s
	}
	return out
}
