package llmcall

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/maphash"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/budget"
	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/recording"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/llm/internal/sse"
	"github.com/agenttrace/agenttrace/span"
)

// Next sends a request: the option.MiddlewareNext of both SDKs.
type Next = func(*http.Request) (*http.Response, error)

// Request is what an Adapter learned from a request body.
type Request struct {
	Model     string
	Operation string // empty means llm.DefaultOperation
	// Input returns the request's messages; called only when content is
	// recorded.
	Input func() []llm.Message
	// NewAccumulator returns the decoder of this request's response.
	NewAccumulator func() Accumulator
	// MaxOutputTokens is the request's bound on output tokens (0: none),
	// for the worst case of a hard budget.
	MaxOutputTokens int64
	// Body, when not nil, replaces the request body (the OpenAI adapter
	// asks a stream for its usage this way).
	Body []byte
}

// Progress is an Accumulator that counts the output text of a stream read
// so far (for budgets that cut streams).
type Progress interface {
	OutputBytes() int64
}

// Accumulator decodes one response: a whole JSON body (Body) or the events
// of a stream (Event), then reports what it learned (Result).
type Accumulator interface {
	Body(data []byte)
	Event(typ string, data []byte)
	Result() Result
}

// Ender is an Accumulator that can tell from a stream event that the
// stream is over before its body ends. An SDK that stops reading at such an
// event (the Anthropic SDK at an error event) returns from the caller's
// Next without reading the body to its end or closing it, so the span of a
// stream whose accumulator is an Ender ends as soon as Ended reports true,
// during the read that brought the event, instead of at the body's end or
// close, which may never come.
type Ender interface {
	// Ended reports whether an event given to Event ended the stream.
	Ended() bool
}

// Adapter knows one provider's HTTP API.
type Adapter interface {
	// Provider is the gen_ai.provider.name of the calls.
	Provider() string
	// Request decodes a request that Match accepted; ok=false lets it pass
	// unrecorded.
	Request(req *http.Request, body []byte) (r Request, ok bool)
	// Match reports whether req is a model call to record, from its method
	// and URL alone (the body is not read otherwise).
	Match(req *http.Request) bool
}

// Config tunes a Middleware.
type Config struct {
	// Provider overrides the adapter's provider name when not empty.
	Provider string
	// Content records input and output messages when true.
	Content bool
	// MaxRetryWait is how long a call whose attempt got a retryable error
	// waits for the SDK's next attempt before its span ends with that error.
	MaxRetryWait time.Duration
	// MaxBodyBytes bounds the copy kept of a non-streamed response body to
	// decode it; a bigger body is passed through unrecorded.
	MaxBodyBytes int
	// Options are added to every span's llm options.
	Options []llm.Option
	// SkipScope is the instrumentation scope (a prefix) of an SDK's own
	// spans, which the LLM span is not parented to (see parentContext).
	SkipScope string
}

// Defaults of Config.
const (
	DefaultMaxRetryWait = 2 * time.Minute
	DefaultMaxBodyBytes = 32 << 20
	maxErrorBody        = 64 << 10
)

// Middleware instruments an SDK client. Each model call made inside an
// agenttrace trace gets one LLM span, across the SDK's retries: the SDK runs
// middleware once per attempt, so the first attempt starts the span, and an
// attempt whose error response the SDK closes without reading (which it
// does only to retry) leaves the span waiting for the next attempt, matched
// by the X-Stainless-Retry-Count header, the request body and the parent
// span. An error response the SDK reads ends the span with the error; a
// transport error ends it at once (a retry after one starts a new span with
// http.request.resend_count). Response bodies are observed as the
// application reads them: nothing is buffered but a non-streamed body's
// copy and the stream event being decoded.
type Middleware struct {
	a   Adapter
	cfg Config

	mu      sync.Mutex
	waiting map[callKey][]*call
}

// New returns a Middleware for a.
func New(a Adapter, cfg Config) *Middleware {
	if cfg.MaxRetryWait <= 0 {
		cfg.MaxRetryWait = DefaultMaxRetryWait
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Provider == "" {
		cfg.Provider = a.Provider()
	}
	return &Middleware{a: a, cfg: cfg, waiting: make(map[callKey][]*call)}
}

// Waiting returns how many calls wait for a retry (for tests).
func (m *Middleware) Waiting() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, cs := range m.waiting {
		n += len(cs)
	}
	return n
}

type callKey struct {
	parent oteltrace.SpanID
	trace  oteltrace.TraceID
	path   string
	body   uint64
}

var seed = maphash.MakeSeed()

// call is one logical model call: its span lives across attempts.
type call struct {
	m     *Middleware
	key   callKey
	span  *span.Span
	acc   func() Accumulator
	adm   *budget.Admission // nil without budgets
	ctx   context.Context   // the first attempt's, for the trace
	timer *time.Timer
	stop  func() bool // stops the wait's watch of the attempt's context
	once  sync.Once
}

// end ends the call's span with err (nil: no error), once.
func (c *call) end(err error) {
	c.once.Do(func() {
		c.span.Fail(err)
		c.span.End()
	})
}

// endAt ends the call's span with err at t, once.
func (c *call) endAt(err error, t time.Time) {
	c.once.Do(func() {
		c.span.Fail(err)
		c.span.EndAt(t)
	})
}

// retryGrace is how long a waiting call whose attempt's context ended
// still waits for the SDK's next attempt: the Anthropic SDK cancels the
// previous attempt's context (its per-attempt timeout) right before it
// sends the retry. It delays only when the span is exported; the span ends
// at the moment the context did.
const retryGrace = time.Second

// Handle is the middleware function: func(*http.Request, Next).
func (m *Middleware) Handle(req *http.Request, next Next) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody || recording.NodeFrom(req.Context()) == nil || !m.a.Match(req) {
		return next(req)
	}
	body, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		// Let the SDK see the same failure it would have seen.
		req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		return next(req)
	}
	r, ok := m.a.Request(req, body)
	if !ok {
		return next(req)
	}
	if r.Body != nil {
		body = r.Body
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	retryHeader := req.Header.Get("X-Stainless-Retry-Count")
	retry, _ := strconv.Atoi(retryHeader)
	ctx := m.parentContext(req.Context())
	parent := oteltrace.SpanContextFromContext(ctx)
	key := callKey{parent: parent.SpanID(), trace: parent.TraceID(), path: req.URL.Path, body: maphash.Bytes(seed, body)}

	var c *call
	if retry > 0 || retryHeader == "" {
		// Without the header (a caller replaced the SDK's default headers),
		// an identical request following an error closed unread is taken
		// for the retry it almost certainly is.
		c = m.claim(key)
	}
	if c == nil {
		// A new call (not a retry): the budgets decide whether it is sent.
		adm, err := admit(ctx, r, len(body))
		if err != nil {
			return refused(req, err)
		}
		if adm != nil {
			ctx = recording.WithAdmission(ctx, adm)
		}
		opts := make([]llm.Option, 0, 3+len(m.cfg.Options))
		opts = append(opts, llm.Model(r.Model), llm.Provider(m.cfg.Provider))
		if r.Operation != "" {
			opts = append(opts, llm.Operation(r.Operation))
		}
		opts = append(opts, m.cfg.Options...)
		_, s := span.StartLLM(ctx, "", opts...)
		if !s.IsRecording() && adm == nil {
			s.End()
			return next(req)
		}
		// (A sampled-out call under budgets is followed like any other:
		// its usage settles the admission; its span records nothing.)
		c = &call{m: m, key: key, span: s, acc: r.NewAccumulator, adm: adm, ctx: ctx}
		if m.cfg.Content && r.Input != nil {
			s.RecordInputMessages(r.Input())
		}
		if retry > 0 {
			s.SetAttributes(semconv.HTTPRequestResendCount(retry))
		}
	}
	// Spans of the HTTP client's own instrumentation nest under the call.
	req = req.WithContext(oteltrace.ContextWithSpan(ctx, c.span.OTelSpan()))
	start := time.Now()
	res, err := next(req)
	if err != nil {
		c.end(err)
		return res, err
	}
	if res == nil || res.Body == nil {
		c.end(nil)
		return res, err
	}
	c.span.SetAttributes(semconv.HTTPResponseStatusCode(res.StatusCode))
	switch {
	case res.StatusCode >= 400:
		res.Body = &errorBody{watch: watch{rc: res.Body}, c: c, status: res.StatusCode, ctx: req.Context()}
	case isEventStream(res.Header.Get("Content-Type")):
		b := &streamBody{watch: watch{rc: res.Body}, c: c, acc: c.acc(), start: start}
		b.ender, _ = b.acc.(Ender)
		if c.adm.CutsStreams() {
			b.progress, _ = b.acc.(Progress)
		}
		b.p.OnEvent = b.onEvent
		res.Body = b
	default:
		res.Body = &jsonBody{watch: watch{rc: res.Body}, c: c, max: m.cfg.MaxBodyBytes}
	}
	return res, nil
}

// parentContext returns ctx, or, when ctx's current OpenTelemetry span is
// one of Config.SkipScope's (the Anthropic SDK's own span of the call), ctx
// with the enclosing agenttrace span as current span instead: the LLM span
// then sits in the agenttrace tree whether or not that span is exported to
// the same place.
func (m *Middleware) parentContext(ctx context.Context) context.Context {
	if m.cfg.SkipScope == "" {
		return ctx
	}
	ro, ok := oteltrace.SpanFromContext(ctx).(sdktrace.ReadOnlySpan)
	if !ok || !strings.HasPrefix(ro.InstrumentationScope().Name, m.cfg.SkipScope) {
		return ctx
	}
	n := recording.NodeFrom(ctx)
	if n == nil {
		return ctx
	}
	return oteltrace.ContextWithSpan(ctx, oteltrace.SpanFromContext(n.Context))
}

func isEventStream(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "text/event-stream"
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// claim takes the oldest call waiting for a retry under key.
func (m *Middleware) claim(key callKey) *call {
	m.mu.Lock()
	defer m.mu.Unlock()
	cs := m.waiting[key]
	if len(cs) == 0 {
		return nil
	}
	c := cs[0]
	if len(cs) == 1 {
		delete(m.waiting, key)
	} else {
		m.waiting[key] = cs[1:]
	}
	c.timer.Stop()
	c.stop()
	return c
}

// wait parks c until the SDK's next attempt, or ends it with err after
// MaxRetryWait. If ctx, the attempt's context, ends first and no attempt
// follows within retryGrace, the caller's context ended during the SDK's
// backoff (the SDK then returns that context's error, and sends nothing
// more): the span ends with ctx's error, at the moment ctx ended, as the
// call did.
func (m *Middleware) wait(ctx context.Context, c *call, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.waiting[c.key] = append(m.waiting[c.key], c)
	c.timer = time.AfterFunc(m.cfg.MaxRetryWait, func() {
		if m.remove(c) {
			c.stop()
			c.end(err)
		}
	})
	c.stop = context.AfterFunc(ctx, func() {
		at, cerr := time.Now(), ctx.Err()
		if d, ok := ctx.Deadline(); ok && cerr == context.DeadlineExceeded && d.Before(at) {
			at = d // the moment it ended, not when this func got to run
		}
		time.AfterFunc(retryGrace, func() {
			if m.remove(c) {
				c.timer.Stop()
				c.endAt(cerr, at)
			}
		})
	})
}

func (m *Middleware) remove(c *call) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	cs := m.waiting[c.key]
	for i, x := range cs {
		if x == c {
			cs = append(cs[:i:i], cs[i+1:]...)
			if len(cs) == 0 {
				delete(m.waiting, c.key)
			} else {
				m.waiting[c.key] = cs
			}
			return true
		}
	}
	return false
}

// watch is what the response body wrappers (errorBody, jsonBody,
// streamBody) share: it passes what the application reads to the wrapper,
// an observer, and tells it, once, how the body ended. Each wrapper embeds
// it and passes itself to read and close.
type watch struct {
	rc io.ReadCloser

	mu   sync.Mutex
	done bool
}

// observer is what a wrapper does with its body.
type observer interface {
	// data is given the bytes of each read until the body ends, under the
	// watch's lock. It returns true when those bytes ended what the body
	// has to tell (see Ender): the body then counts as read to its end
	// (io.EOF), whatever the application does next.
	data(p []byte) (over bool)
	// end is called once, without the lock, with the error that stopped
	// reading (io.EOF at the end, or when data reported the body over), or
	// with nil when the body was closed first.
	end(readErr error)
}

func (w *watch) read(p []byte, o observer) (int, error) {
	n, err := w.rc.Read(p)
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return n, err
	}
	endErr := err
	if o.data(p[:n]) && endErr == nil {
		endErr = io.EOF
	}
	w.done = endErr != nil
	w.mu.Unlock()
	if endErr != nil {
		o.end(endErr)
	}
	return n, err
}

func (w *watch) close(o observer) error {
	err := w.rc.Close()
	w.mu.Lock()
	ended := w.done
	w.done = true
	w.mu.Unlock()
	if !ended {
		o.end(nil)
	}
	return err
}

// errorBody watches an error response: read, it ends the call with the
// provider's error; closed unread, the SDK is about to retry.
type errorBody struct {
	watch
	c      *call
	status int
	ctx    context.Context

	started bool // read at all
	buf     []byte
}

func (b *errorBody) Read(p []byte) (int, error) { return b.read(p, b) }
func (b *errorBody) Close() error               { return b.close(b) }

func (b *errorBody) data(p []byte) bool {
	b.started = true
	if room := maxErrorBody - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(len(p), room)]...)
	}
	return false
}

func (b *errorBody) end(readErr error) {
	if readErr == nil {
		if !b.started {
			if err := b.ctx.Err(); err != nil {
				// Closed unread because the call is over: it ends with
				// the context's error (the SDK returns that error).
				b.c.end(err)
				return
			}
			b.c.m.wait(b.ctx, b.c, b.apiError())
			return
		}
		readErr = io.EOF
	}
	e := b.apiError()
	if readErr != io.EOF && e.Message == "" {
		e.Message = readErr.Error()
	}
	b.c.once.Do(func() {
		b.c.span.Fail(e)
		// error.type of an HTTP error is its status code (HTTP semconv).
		b.c.span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(b.status)))
		// A provider that answers with an error ran no model: the call's
		// usage is known, and zero (it does not hold a budget as an
		// unknown one would).
		b.c.span.SetUsage(llm.Usage{})
		b.c.span.End()
	})
}

// apiError decodes the error body of either provider:
// {"error": {"message", "type", "code"}} (OpenAI) or
// {"type": "error", "error": {"type", "message"}} (Anthropic).
func (b *errorBody) apiError() *ProviderError {
	e := &ProviderError{}
	var body struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b.buf, &body) == nil && len(body.Error) > 0 {
		e = DecodeError(body.Error)
	}
	e.Status = b.status
	if e.Message == "" && e.Type == "" {
		e.Message = http.StatusText(b.status)
	}
	return e
}

// jsonBody copies a non-streamed response as the SDK reads it and decodes
// it at the end.
type jsonBody struct {
	watch
	c   *call
	max int

	buf  bytes.Buffer
	over bool
}

func (b *jsonBody) Read(p []byte) (int, error) { return b.read(p, b) }
func (b *jsonBody) Close() error               { return b.close(b) }

func (b *jsonBody) data(p []byte) bool {
	if b.over {
		return false
	}
	if b.buf.Len()+len(p) > b.max {
		b.over = true
		b.buf = bytes.Buffer{}
		return false
	}
	b.buf.Write(p)
	return false
}

func (b *jsonBody) end(readErr error) {
	switch {
	case readErr == nil: // closed unread: nothing to record
	case readErr != io.EOF:
		b.c.end(readErr)
		return
	case !b.over:
		acc := b.c.acc()
		acc.Body(b.buf.Bytes())
		r := acc.Result()
		r.Record(b.c.span, b.c.m.cfg.Content)
	}
	b.buf = bytes.Buffer{}
	b.c.end(nil)
}

// streamBody decodes a server-sent event stream as the application reads
// it, holding only the event being decoded.
type streamBody struct {
	watch
	c     *call
	acc   Accumulator
	ender Ender // acc, when it is one
	start time.Time
	// progress is acc when a budget of the call cuts streams; cut is the
	// budget's error once it did.
	progress Progress
	cut      error

	p     sse.Parser
	first bool
}

func (b *streamBody) onEvent(typ string, data []byte) {
	if !b.first {
		b.first = true
		b.c.span.SetTimeToFirstChunk(time.Since(b.start))
	}
	b.acc.Event(typ, data)
}

// Read passes the body on; once a budget cut the stream, it fails with the
// budget's error (the bytes that crossed the budget are not passed on).
func (b *streamBody) Read(p []byte) (int, error) {
	n, err := b.read(p, b)
	if b.cut != nil {
		return 0, b.cut
	}
	return n, err
}

func (b *streamBody) Close() error { return b.close(b) }

func (b *streamBody) data(p []byte) bool {
	_, _ = b.p.Write(p)
	if b.progress != nil && b.cut == nil {
		if err := b.c.adm.StreamCheck(b.progress.OutputBytes()); err != nil {
			b.cut = err
			return true
		}
	}
	return b.ender != nil && b.ender.Ended()
}

// end records what the stream told and ends the span; readErr nil means
// the application closed the stream early, io.EOF that the body or an
// event that ends the stream (Ender) was read.
func (b *streamBody) end(readErr error) {
	r := b.acc.Result()
	r.Record(b.c.span, b.c.m.cfg.Content)
	var err error
	if readErr != nil && readErr != io.EOF {
		err = readErr
	}
	if b.cut != nil {
		err = b.cut
		b.c.span.SetAttributes(attr.BudgetStreamCut.Bool(true))
		signal(b.c.ctx, b.cut)
		_ = b.rc.Close()
	}
	b.c.end(err)
}
