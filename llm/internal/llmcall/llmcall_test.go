package llmcall

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/agenttrace/agenttrace/llm/internal/llmtest"
	"github.com/agenttrace/agenttrace/trace"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type stubAdapter struct{}

func (stubAdapter) Provider() string         { return "stub" }
func (stubAdapter) Match(*http.Request) bool { return true }
func (stubAdapter) Request(_ *http.Request, body []byte) (Request, bool) {
	return Request{Model: string(body), NewAccumulator: func() Accumulator { return &stubAcc{} }}, true
}

type stubAcc struct{ events int }

func (a *stubAcc) Body([]byte)          {}
func (a *stubAcc) Event(string, []byte) { a.events++ }
func (a *stubAcc) Result() Result       { return Result{ResponseModel: "m"} }

func newTrace(t *testing.T) (context.Context, *tracetest.InMemoryExporter, *trace.Client) {
	rec := llmtest.NewRecorder(t)
	return rec.Start(), rec.Mem, rec.Client
}

func request(ctx context.Context, body string, retry int) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://x/v1/m", strings.NewReader(body))
	if retry >= 0 {
		req.Header.Set("X-Stainless-Retry-Count", strconv.Itoa(retry))
	}
	return req
}

func response(status int, ct, body string) *http.Response {
	h := http.Header{}
	h.Set("Content-Type", ct)
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body))}
}

// A call whose error the SDK closes unread waits for a retry; if none comes
// its span ends with that error after MaxRetryWait.
func TestWaitingCallEndsAfterMaxRetryWait(t *testing.T) {
	ctx, mem, c := newTrace(t)
	m := New(stubAdapter{}, Config{MaxRetryWait: 10 * time.Millisecond})
	res, err := m.Handle(request(ctx, "model-a", 0), func(*http.Request) (*http.Response, error) {
		return response(503, "application/json", `{"error":{"message":"busy"}}`), nil
	})
	require.NoError(t, err)
	require.NoError(t, res.Body.Close()) // unread: the SDK would retry
	assert.Equal(t, 1, m.Waiting())
	// The timer takes the call out of the waiting set, then ends its span:
	// wait for the span itself.
	var found bool
	for i := 0; i < 500 && !found; i++ {
		time.Sleep(10 * time.Millisecond)
		require.NoError(t, c.Flush(context.Background()))
		for _, s := range mem.GetSpans() {
			if s.Name == "chat model-a" {
				found = true
				assert.Equal(t, codes.Error, s.Status.Code)
				assert.Contains(t, s.Status.Description, "503", "the unread body's message is unknown; its status is not")
			}
		}
	}
	assert.True(t, found)
	assert.Equal(t, 0, m.Waiting())
}

// Two identical calls retrying at once each get their own span.
func TestRetriesOfIdenticalCalls(t *testing.T) {
	ctx, mem, c := newTrace(t)
	m := New(stubAdapter{}, Config{})
	fail := func(*http.Request) (*http.Response, error) { return response(500, "application/json", `{}`), nil }
	ok := func(*http.Request) (*http.Response, error) { return response(200, "application/json", `{}`), nil }
	var bodies []io.ReadCloser
	for range 2 {
		res, err := m.Handle(request(ctx, "same", 0), fail)
		require.NoError(t, err)
		bodies = append(bodies, res.Body)
	}
	for _, b := range bodies {
		require.NoError(t, b.Close())
	}
	require.Equal(t, 2, m.Waiting())
	for range 2 {
		res, err := m.Handle(request(ctx, "same", 1), ok)
		require.NoError(t, err)
		_, _ = io.ReadAll(res.Body)
		require.NoError(t, res.Body.Close())
	}
	assert.Equal(t, 0, m.Waiting())
	require.NoError(t, c.Flush(context.Background()))
	n := 0
	for _, s := range mem.GetSpans() {
		if s.Name == "chat same" {
			n++
			assert.Equal(t, codes.Unset, s.Status.Code)
		}
	}
	assert.Equal(t, 2, n)
}

// A retry that finds no waiting call (after a transport error ended the
// first span) starts a span of its own, marked as a resend.
func TestRetryWithoutWaitingCall(t *testing.T) {
	ctx, mem, c := newTrace(t)
	m := New(stubAdapter{}, Config{})
	res, err := m.Handle(request(ctx, "x", 1), func(*http.Request) (*http.Response, error) {
		return response(200, "application/json", `{}`), nil
	})
	require.NoError(t, err)
	_, _ = io.ReadAll(res.Body)
	require.NoError(t, c.Flush(context.Background()))
	spans := mem.GetSpans()
	require.Len(t, spans, 1)
	var resend int64 = -1
	for _, kv := range spans[0].Attributes {
		if kv.Key == "http.request.resend_count" {
			resend = kv.Value.AsInt64()
		}
	}
	assert.Equal(t, int64(1), resend)
}

// The stream body never holds more than the event being decoded.
func TestStreamBodyBounded(t *testing.T) {
	ctx, _, _ := newTrace(t)
	m := New(stubAdapter{}, Config{})
	var buf bytes.Buffer
	for range 5000 {
		buf.WriteString("data: " + strings.Repeat("y", 200) + "\n\n")
	}
	res, err := m.Handle(request(ctx, "s", 0), func(*http.Request) (*http.Response, error) {
		return response(200, "text/event-stream; charset=utf-8", buf.String()), nil
	})
	require.NoError(t, err)
	sb, ok := res.Body.(*streamBody)
	require.True(t, ok, "an event stream is observed, not copied")
	p := make([]byte, 1000)
	maxHeld := 0
	for {
		_, err := res.Body.Read(p)
		maxHeld = max(maxHeld, sb.p.Buffered())
		if err != nil {
			break
		}
	}
	assert.LessOrEqual(t, maxHeld, 1000, "held %d bytes", maxHeld)
	assert.Equal(t, 5000, sb.acc.(*stubAcc).events)
}

// enderAcc is an Ender whose stream ends at an event named "last".
type enderAcc struct {
	stubAcc
	ended bool
}

func (a *enderAcc) Event(typ string, data []byte) {
	a.stubAcc.Event(typ, data)
	a.ended = a.ended || typ == "last"
}
func (a *enderAcc) Ended() bool { return a.ended }

type enderAdapter struct{ stubAdapter }

func (enderAdapter) Request(_ *http.Request, body []byte) (Request, bool) {
	return Request{Model: string(body), NewAccumulator: func() Accumulator { return &enderAcc{} }}, true
}

// chunks is a body read one chunk per Read, never reaching its end.
type chunks struct{ c []string }

func (r *chunks) Read(p []byte) (int, error) {
	if len(r.c) == 0 {
		return 0, nil
	}
	n := copy(p, r.c[0])
	r.c = r.c[1:]
	return n, nil
}
func (r *chunks) Close() error { return nil }

// A stream whose Ender accumulator saw the last event has its span ended
// by the read that brought the event, before the body ends or is closed;
// later reads pass through unobserved and the close ends nothing twice.
func TestStreamEndsAtEnderEvent(t *testing.T) {
	ctx, mem, c := newTrace(t)
	m := New(enderAdapter{}, Config{})
	res, err := m.Handle(request(ctx, "model-e", 0), func(*http.Request) (*http.Response, error) {
		r := response(200, "text/event-stream", "")
		r.Body = &chunks{c: []string{"data: a\n\n", "event: last\ndata: b\n\n", "data: c\n\n"}}
		return r, nil
	})
	require.NoError(t, err)
	sb := res.Body.(*streamBody)
	ended := func() int {
		require.NoError(t, c.Flush(context.Background()))
		n := 0
		for _, s := range mem.GetSpans() {
			if s.Name == "chat model-e" {
				n++
			}
		}
		return n
	}
	p := make([]byte, 64)
	_, err = res.Body.Read(p)
	require.NoError(t, err)
	assert.Equal(t, 0, ended(), "not over after the first event")
	_, err = res.Body.Read(p)
	require.NoError(t, err, "the application sees the body as it is")
	assert.Equal(t, 1, ended(), "ended by the read of the last event")
	_, err = res.Body.Read(p)
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	assert.Equal(t, 1, ended())
	assert.Equal(t, 2, sb.acc.(*enderAcc).events, "nothing after the end is decoded")
}

func TestPassThroughWithoutTrace(t *testing.T) {
	m := New(stubAdapter{}, Config{})
	req := request(context.Background(), "x", 0)
	body := req.Body
	_, err := m.Handle(req, func(r *http.Request) (*http.Response, error) {
		assert.True(t, body == r.Body, "outside a trace the body is not even read")
		return response(200, "application/json", "{}"), nil
	})
	require.NoError(t, err)
}

func TestTextCapOnRuneBoundary(t *testing.T) {
	var tx Text
	tx.Add(strings.Repeat("a", MaxText-1))
	tx.Add("é and more") // 'é' is two bytes: it does not fit
	assert.Equal(t, MaxText-1, tx.Len())
	assert.True(t, utf8.ValidString(tx.String()))
	tx.Add("b")
	assert.Equal(t, MaxText-1, tx.Len(), "full")
}

func TestProviderErrorText(t *testing.T) {
	assert.Equal(t, "HTTP 429 rate_limit_error: slow down", (&ProviderError{Status: 429, Type: "rate_limit_error", Message: "slow down"}).Error())
	assert.Equal(t, "HTTP 500: no message", (&ProviderError{Status: 500}).Error())
	assert.Equal(t, "server_error: boom", (&ProviderError{Code: "server_error", Message: "boom"}).Error())
}

// Without the retry-count header, an identical request after an error the
// SDK closed unread continues the waiting call.
func TestRetryWithoutHeader(t *testing.T) {
	ctx, mem, c := newTrace(t)
	m := New(stubAdapter{}, Config{})
	res, err := m.Handle(request(ctx, "h", -1), func(*http.Request) (*http.Response, error) {
		return response(500, "application/json", `{}`), nil
	})
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	res, err = m.Handle(request(ctx, "h", -1), func(*http.Request) (*http.Response, error) {
		return response(200, "application/json", `{}`), nil
	})
	require.NoError(t, err)
	_, _ = io.ReadAll(res.Body)
	require.NoError(t, c.Flush(context.Background()))
	require.Len(t, mem.GetSpans(), 1)
	assert.Equal(t, codes.Unset, mem.GetSpans()[0].Status.Code)
}

func TestDecodeError(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want ProviderError
	}{
		{`{"message":"slow down","type":"rate_limit_error"}`, ProviderError{Type: "rate_limit_error", Message: "slow down"}},
		{`{"message":"boom","type":"server_error","code":"server_error"}`, ProviderError{Type: "server_error", Code: "server_error", Message: "boom"}},
		{`{"message":"boom","code":500}`, ProviderError{Code: "500", Message: "boom"}},
		{`{"message":"boom","code":null}`, ProviderError{Message: "boom"}},
		{`"plain text"`, ProviderError{Message: "plain text"}},
		{`[1]`, ProviderError{}},
	} {
		assert.Equal(t, tc.want, *DecodeError(json.RawMessage(tc.raw)), tc.raw)
	}
}
