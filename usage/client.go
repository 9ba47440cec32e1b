package usage

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agenttrace/agenttrace/internal/httptransport"
	"github.com/agenttrace/agenttrace/internal/wire"
)

// Environment variables NewClient reads for what its arguments leave out.
const (
	// EnvURL is the server's base URL, used when NewClient's baseURL is "".
	EnvURL = "AGENTTRACE_URL"
	// EnvAPIKey is the API key, used unless WithAPIKey is given.
	EnvAPIKey = "AGENTTRACE_API_KEY"
)

// Client defaults.
const (
	// DefaultURL is the server's address when neither the baseURL argument
	// nor AGENTTRACE_URL names one: agenttrace serve's default.
	DefaultURL = "http://127.0.0.1:4318"
	// DefaultTimeout bounds one call (one page for iterators), retries
	// included.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxRetries and DefaultRetryBackoff are the retry policy:
	// up to 3 retries, waiting about 250 ms, 500 ms, then 1 s.
	DefaultMaxRetries   = 3
	DefaultRetryBackoff = 250 * time.Millisecond
	// DefaultUserAgent is sent unless WithUserAgent says otherwise.
	DefaultUserAgent = "agenttrace-usage-go/1"
)

const (
	// maxRetryWait caps one wait between attempts, whether from the
	// backoff or from a Retry-After header.
	maxRetryWait = 30 * time.Second
	// maxResponseBytes bounds a 2xx body, which is decoded as a stream
	// (never held whole): a page of 1000 spans with their inputs, outputs
	// and messages at the SDK's default 32 KiB limit fits several times.
	maxResponseBytes = 256 << 20
	// maxErrorBytes bounds an error body.
	maxErrorBytes = 64 << 10
)

// Client queries an agenttrace server: session and tenant usage, traces and
// spans. Make one with NewClient. A Client is safe for concurrent use.
//
// Every call checks its arguments first and sends nothing when they are
// invalid (a *ValidationError, matching ErrInvalidArgument). A server error
// comes back as an *APIError; a call never returns a nil result with a nil
// error. Calls are GETs, retried with exponential backoff and jitter on 429,
// 503 and network errors, honouring Retry-After, at most WithRetry's count.
type Client struct {
	base       string // scheme://host[:port][/prefix], no trailing slash
	apiKey     string
	hc         *http.Client
	timeout    time.Duration
	userAgent  string
	maxRetries int
	backoff    time.Duration
	maxBody    int64 // bound of a 2xx body; maxResponseBytes
}

// Option configures NewClient.
type Option func(*config)

type config struct {
	apiKey     *string
	hc         *http.Client
	timeout    time.Duration
	userAgent  string
	maxRetries int
	backoff    time.Duration
	errs       []error
}

// WithAPIKey sets the API key, sent as "Authorization: Bearer KEY". It
// overrides AGENTTRACE_API_KEY; an empty key sends none.
func WithAPIKey(key string) Option {
	return func(c *config) {
		if strings.ContainsAny(key, "\r\n") {
			c.errs = append(c.errs, fmt.Errorf("%w: API key holds a line break", ErrInvalidOption))
			return
		}
		c.apiKey = &key
	}
}

// WithHTTPClient sets the *http.Client requests go through (default: a
// client of its own over http.DefaultTransport's settings). Its Timeout, if
// any, bounds each attempt; WithTimeout bounds the whole call.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) {
		if hc == nil {
			c.errs = append(c.errs, fmt.Errorf("%w: nil *http.Client", ErrInvalidOption))
			return
		}
		c.hc = hc
	}
}

// WithTimeout bounds each call, retries included (each page, for the
// iterators). Zero means no bound beyond the context's. Default
// DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.errs = append(c.errs, fmt.Errorf("%w: negative timeout %v", ErrInvalidOption, d))
			return
		}
		c.timeout = d
	}
}

// WithUserAgent sets the User-Agent header (default DefaultUserAgent).
func WithUserAgent(ua string) Option {
	return func(c *config) {
		if strings.TrimSpace(ua) == "" || strings.ContainsAny(ua, "\r\n") {
			c.errs = append(c.errs, fmt.Errorf("%w: user agent %q", ErrInvalidOption, ua))
			return
		}
		c.userAgent = ua
	}
}

// WithRetry sets the retry policy: at most maxRetries retries of a request
// that got a 429, a 503 or a network error, the n-th after a random wait
// between half and all of backoff*2^(n-1) (capped at 30 s), or what the
// answer's Retry-After header asks for. maxRetries 0 turns retries off.
// Default DefaultMaxRetries and DefaultRetryBackoff.
func WithRetry(maxRetries int, backoff time.Duration) Option {
	return func(c *config) {
		if maxRetries < 0 || backoff < 0 {
			c.errs = append(c.errs, fmt.Errorf("%w: WithRetry(%d, %v): want non-negative values",
				ErrInvalidOption, maxRetries, backoff))
			return
		}
		c.maxRetries, c.backoff = maxRetries, backoff
	}
}

// NewClient returns a client of the server at baseURL, such as
// "http://127.0.0.1:4318" (a path prefix is kept: "https://host/agenttrace").
// An empty baseURL means AGENTTRACE_URL, else DefaultURL. The API key is
// WithAPIKey's, else AGENTTRACE_API_KEY's, else none. NewClient does not
// contact the server. An invalid URL or option is an error wrapping
// ErrInvalidOption.
func NewClient(baseURL string, opts ...Option) (*Client, error) {
	cfg := config{timeout: DefaultTimeout, userAgent: DefaultUserAgent,
		maxRetries: DefaultMaxRetries, backoff: DefaultRetryBackoff}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if len(cfg.errs) > 0 {
		return nil, errors.Join(cfg.errs...)
	}
	if baseURL == "" {
		baseURL = strings.TrimSpace(os.Getenv(EnvURL))
	}
	if baseURL == "" {
		baseURL = DefaultURL
	}
	base, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{base: base, hc: cfg.hc, timeout: cfg.timeout, userAgent: cfg.userAgent,
		maxRetries: cfg.maxRetries, backoff: cfg.backoff, maxBody: maxResponseBytes}
	if cfg.apiKey != nil {
		c.apiKey = *cfg.apiKey
	} else {
		c.apiKey = strings.TrimSpace(os.Getenv(EnvAPIKey))
		if strings.ContainsAny(c.apiKey, "\r\n") {
			return nil, fmt.Errorf("%w: %s holds a line break", ErrInvalidOption, EnvAPIKey)
		}
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: httptransport.Default()}
	}
	return c, nil
}

// parseBaseURL checks an http(s) base URL and returns it without a
// trailing slash.
func parseBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w: base URL %q: %v", ErrInvalidOption, raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("%w: base URL %q: want http:// or https:// and a host, such as %s",
			ErrInvalidOption, raw, DefaultURL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("%w: base URL %q: no user info, query or fragment allowed (use WithAPIKey for the key)",
			ErrInvalidOption, u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u.String(), nil
}

// BaseURL returns the server URL the client talks to ("" for a nil
// client).
func (c *Client) BaseURL() string {
	if c == nil {
		return ""
	}
	return c.base
}

// CloseIdleConnections closes the idle keep-alive connections of the
// client's *http.Client. The client stays usable.
func (c *Client) CloseIdleConnections() {
	if c != nil {
		c.hc.CloseIdleConnections()
	}
}

// get GETs path with query q and decodes a 2xx JSON answer into out,
// retrying as the policy allows.
func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	if c == nil {
		return fmt.Errorf("%w: nil *usage.Client", ErrInvalidOption)
	}
	if ctx == nil {
		return invalid("ctx", "nil context")
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	target := c.base + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	for attempt := 0; ; attempt++ {
		retryAfter, err := c.once(ctx, target, path, out)
		if err == nil || ctx.Err() != nil || attempt >= c.maxRetries || !retryable(err) {
			return err
		}
		wait := c.wait(attempt, retryAfter)
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			return err // no time to try again; the last answer says most
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// wait returns how long to wait before retry number attempt+1.
func (c *Client) wait(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, maxRetryWait)
	}
	d := c.backoff
	for i := 0; i < attempt && d < maxRetryWait; i++ {
		d *= 2
	}
	d = min(d, maxRetryWait)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2) //nolint:gosec // jitter needs no cryptographic randomness
}

// once makes one attempt. It returns the Retry-After of a retryable answer.
func (c *Client) once(ctx context.Context, target, path string, out any) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, fmt.Errorf("usage: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, &netError{err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		ae := apiError(resp.StatusCode, body)
		ae.Method, ae.Path = http.MethodGet, path
		var ra time.Duration
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			ra = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return ra, ae
	}
	return 0, decodeStream(resp.Body, c.maxBody, path, out)
}

// decodeBody decodes a 2xx body held in memory (see decodeStream).
func decodeBody(body []byte, path string, out any) error {
	return decodeStream(bytes.NewReader(body), maxResponseBytes, path, out)
}

// decodeStream decodes a 2xx JSON object from r into out, a pointer to a
// struct, reading at most limit bytes. It reads the body as a stream: the
// elements of the object's arrays (a page's traces or spans) are decoded one
// at a time, so no copy of the whole body is ever held, and a body over the
// limit ends the read there. An empty, null or non-object body, data after
// the object, or a body over the limit is an ErrBadResponse; a transport
// failure while reading is a *netError.
func decodeStream(r io.Reader, limit int64, path string, out any) error {
	lr := &limitedReader{r: r, n: limit}
	err := decodeObject(json.NewDecoder(lr), out)
	if err == nil {
		return nil
	}
	switch {
	case lr.over:
		return fmt.Errorf("%w: GET %s: body larger than %d bytes", ErrBadResponse, path, limit)
	case lr.err != nil:
		return &netError{err: fmt.Errorf("read response of GET %s: %w", path, lr.err)}
	}
	return fmt.Errorf("%w: GET %s: %v", ErrBadResponse, path, err)
}

// decodeObject decodes one JSON object from dec into out (a pointer to a
// struct): array fields element by element, the other members gathered and
// unmarshalled together at the end (they are small). Nothing may follow the
// object.
func decodeObject(dec *json.Decoder, out any) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("want a JSON object: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("want a JSON object, got %v", tok)
	}
	v := reflect.ValueOf(out).Elem()
	rest := []byte{'{'}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if f, ok := sliceField(v, key); ok {
			if err := decodeArray(dec, f); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if len(rest) > 1 {
			rest = append(rest, ',')
		}
		rest = strconv.AppendQuote(rest, key)
		rest = append(rest, ':')
		rest = append(rest, raw...)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return json.Unmarshal(append(rest, '}'), out)
}

// sliceField returns the slice field of the struct v whose JSON name is key.
func sliceField(v reflect.Value, key string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Type.Kind() != reflect.Slice || f.Type.Elem().Kind() == reflect.Uint8 {
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// decodeArray decodes a JSON array (or null) from dec into the slice f, one
// element at a time.
func decodeArray(dec *json.Decoder, f reflect.Value) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		f.SetZero()
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("want an array, got %v", tok)
	}
	s := reflect.MakeSlice(f.Type(), 0, 0)
	for dec.More() {
		e := reflect.New(f.Type().Elem())
		if err := dec.Decode(e.Interface()); err != nil {
			return err
		}
		s = reflect.Append(s, e.Elem())
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return err
	}
	f.Set(s)
	return nil
}

// limitedReader reads at most n bytes of r, and records whether the body
// went past them and what read error ended it.
type limitedReader struct {
	r    io.Reader
	n    int64
	over bool
	err  error
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		if k, _ := io.ReadFull(l.r, one[:]); k > 0 {
			l.over = true
			return 0, errors.New("body too large")
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	if err != nil && err != io.EOF {
		l.err = err
	}
	return k, err
}

// apiError builds the *APIError of a non-2xx answer.
func apiError(status int, body []byte) *APIError {
	ae := &APIError{StatusCode: status}
	var eb wire.ErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error.Code != "" {
		ae.Code, ae.Message, ae.Param = eb.Error.Code, eb.Error.Message, eb.Error.Param
		return ae
	}
	ae.Message = http.StatusText(status)
	if s := snippet(bytes.TrimSpace(body)); len(body) > 0 {
		ae.Message += ": " + s
	}
	return ae
}

// snippet returns the start of b as printable text for an error message.
func snippet(b []byte) string {
	const n = 200
	if len(b) == 0 {
		return "an empty body"
	}
	s := string(b)
	if len(s) > n {
		s = s[:n]
		for !utf8.ValidString(s) && len(s) > 0 {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return strconv.Quote(s)
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(maxRetryWait/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(0, min(t.Sub(now), maxRetryWait))
	}
	return 0
}

// netError is a transport failure: no answer, or a body cut short.
type netError struct{ err error }

func (e *netError) Error() string { return "usage: " + e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

// retryable reports whether a GET that failed with err may be retried: a
// 429 or 503 answer, or a transport failure other than the caller's context
// ending or a TLS certificate or handshake mismatch, which would fail the
// same way again.
func retryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode == http.StatusTooManyRequests || ae.StatusCode == http.StatusServiceUnavailable
	}
	var ne *netError
	if !errors.As(err, &ne) {
		return false
	}
	if errors.Is(ne.err, context.Canceled) || errors.Is(ne.err, context.DeadlineExceeded) {
		return false
	}
	var (
		cve *tls.CertificateVerificationError
		rhe tls.RecordHeaderError
		uae x509.UnknownAuthorityError
		hne x509.HostnameError
		cie x509.CertificateInvalidError
	)
	return !errors.As(ne.err, &cve) && !errors.As(ne.err, &rhe) && !errors.As(ne.err, &uae) &&
		!errors.As(ne.err, &hne) && !errors.As(ne.err, &cie)
}
