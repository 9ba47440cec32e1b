// Package exporter builds the span exporters agenttrace sends through: the
// OTLP/HTTP exporter (protobuf, gzip) configured by options and the standard
// OTEL_EXPORTER_OTLP_* environment variables, and a console exporter that
// prints a readable tree of each trace for local runs.
//
// Precedence for the OTLP/HTTP exporter, highest first: options given to New,
// then OTEL_EXPORTER_OTLP_TRACES_* variables, then OTEL_EXPORTER_OTLP_*
// variables, then the defaults (endpoint http://localhost:4318, gzip, a
// 10 s timeout per request). Headers merge by name in the same order.
//
// # Retries
//
// Retrying lives here, in the exporter, and nowhere else in agenttrace (the
// batch processor does not retry). By default a request answered with 429,
// 502, 503 or 504, one that timed out, and one that failed in the network
// (a refused or reset connection, a DNS failure, the endpoint not up yet) is
// retried with exponential backoff and jitter, honouring Retry-After: first
// after about DefaultRetryInitialInterval, at most DefaultRetryMaxInterval
// apart, for at most DefaultRetryMaxElapsed, which is also the batch
// processor's default export timeout, the bound of one export with its
// retries. Other answers (400, 401, 413, ...) and TLS certificate errors are
// not retried. A retry stops as soon as the export's context is done.
//
// otlptracehttp on its own retries only the network errors that report
// themselves as temporary (timeouts), so New sends through an HTTP client
// whose transport reports every other transport error as temporary too,
// unless the request's context is done.
package exporter

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agenttrace/agenttrace/internal/httptransport"
)

// DefaultEndpoint is the endpoint used when neither an option nor an
// environment variable names one.
const DefaultEndpoint = "http://localhost:4318"

// TracesPath is the OTLP/HTTP path for traces, appended to base endpoints.
const TracesPath = "/v1/traces"

// Defaults of the OTLP/HTTP exporter (see the package documentation).
const (
	// DefaultTimeout bounds each export request (one attempt).
	DefaultTimeout = 10 * time.Second
	// DefaultRetryInitialInterval is the wait before the first retry, before
	// jitter (±50 %).
	DefaultRetryInitialInterval = time.Second
	// DefaultRetryMaxInterval bounds the wait between two retries, before
	// jitter.
	DefaultRetryMaxInterval = 10 * time.Second
	// DefaultRetryMaxElapsed bounds the time one export spends retrying. It
	// equals the batch processor's default export timeout (30 s), which
	// bounds the whole export, retries included.
	DefaultRetryMaxElapsed = 30 * time.Second
)

// DefaultRetry returns the retry policy New uses unless WithRetry replaces
// it.
func DefaultRetry() otlptracehttp.RetryConfig {
	return otlptracehttp.RetryConfig{
		Enabled:         true,
		InitialInterval: DefaultRetryInitialInterval,
		MaxInterval:     DefaultRetryMaxInterval,
		MaxElapsedTime:  DefaultRetryMaxElapsed,
	}
}

// Environment variables read by New (the OpenTelemetry exporter
// specification's names).
const (
	EnvEndpoint          = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint    = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvHeaders           = "OTEL_EXPORTER_OTLP_HEADERS"
	EnvTracesHeaders     = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
	EnvCompression       = "OTEL_EXPORTER_OTLP_COMPRESSION"
	EnvTracesCompression = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"
	// EnvTimeout and EnvTracesTimeout are in milliseconds; 0 means no
	// per-request timeout.
	EnvTimeout       = "OTEL_EXPORTER_OTLP_TIMEOUT"
	EnvTracesTimeout = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
	// Files in PEM format: the certificate authorities to verify the
	// endpoint's certificate with (instead of the system's), and a client
	// certificate and its key for mutual TLS. The TRACES_ variables win over
	// the general ones (the client certificate and key as a pair).
	EnvCertificate             = "OTEL_EXPORTER_OTLP_CERTIFICATE"
	EnvTracesCertificate       = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"
	EnvClientCertificate       = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
	EnvTracesClientCertificate = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE"
	EnvClientKey               = "OTEL_EXPORTER_OTLP_CLIENT_KEY"
	EnvTracesClientKey         = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY"
)

// Errors returned by New, to test with errors.Is.
var (
	// ErrInvalidEndpoint means an endpoint URL (from an option or the
	// environment) is not an absolute http:// or https:// URL with a host.
	ErrInvalidEndpoint = errors.New("exporter: invalid endpoint")
	// ErrInvalidOption means another option value is invalid.
	ErrInvalidOption = errors.New("exporter: invalid option")
)

// Option configures New.
type Option func(*config)

type config struct {
	endpoint    string
	headers     map[string]string
	timeout     time.Duration
	retry       *otlptracehttp.RetryConfig
	httpClient  *http.Client
	compression *bool
	errs        []error
}

// WithEndpoint sets the endpoint's base URL, such as "http://127.0.0.1:4318";
// spans are posted to its /v1/traces path, unless the URL already ends in
// /v1/traces. http:// URLs are sent without TLS. It overrides
// OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.
func WithEndpoint(rawURL string) Option {
	return func(c *config) { c.endpoint = rawURL }
}

// WithHeaders adds HTTP headers to every request, overriding headers of the
// same name from the environment. Later options win.
func WithHeaders(h map[string]string) Option {
	return func(c *config) {
		if c.headers == nil {
			c.headers = map[string]string{}
		}
		maps.Copy(c.headers, h)
	}
}

// WithAPIKey sends "Authorization: Bearer key" with every request.
func WithAPIKey(key string) Option {
	return func(c *config) {
		if key == "" {
			c.errs = append(c.errs, fmt.Errorf("%w: empty API key", ErrInvalidOption))
			return
		}
		WithHeaders(map[string]string{"Authorization": "Bearer " + key})(c)
	}
}

// WithTimeout bounds each export request, one attempt (default
// DefaultTimeout, or OTEL_EXPORTER_OTLP_TRACES_TIMEOUT /
// OTEL_EXPORTER_OTLP_TIMEOUT). It overrides the Timeout of a client given
// with WithHTTPClient. It must be positive.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.errs = append(c.errs, fmt.Errorf("%w: timeout %v is not positive", ErrInvalidOption, d))
			return
		}
		c.timeout = d
	}
}

// WithRetry replaces the retry policy (default DefaultRetry(): retries of
// 429, 502, 503 and 504 answers, timeouts and network errors with
// exponential backoff and jitter honouring Retry-After, for up to
// DefaultRetryMaxElapsed). RetryConfig{Enabled: false} turns retries off.
func WithRetry(rc otlptracehttp.RetryConfig) Option {
	return func(c *config) { c.retry = &rc }
}

// WithHTTPClient sends requests through a copy of client whose transport
// (client.Transport, or http.DefaultTransport when nil) is wrapped so that
// network errors are retried (see the package documentation); client itself
// is not modified. The copy's Timeout is WithTimeout's when given, else
// client.Timeout, else the environment's or DefaultTimeout. Everything else
// about the connection is then the client's business: the
// OTEL_EXPORTER_OTLP_*CERTIFICATE and *CLIENT_KEY variables are not read
// (configure TLS on the client's transport) and the proxy is the
// transport's.
func WithHTTPClient(client *http.Client) Option {
	return func(c *config) { c.httpClient = client }
}

// WithCompression turns gzip compression of request bodies on (the default)
// or off, overriding OTEL_EXPORTER_OTLP_COMPRESSION.
func WithCompression(gzip bool) Option {
	return func(c *config) { c.compression = &gzip }
}

// New returns an OTLP/HTTP protobuf exporter configured by opts and the
// environment (see the package documentation). A malformed endpoint, from an
// option or the environment, gives an error wrapping ErrInvalidEndpoint; an
// invalid option, timeout variable or certificate file one wrapping
// ErrInvalidOption. New does not contact the endpoint.
//
// Strings that are not valid UTF-8 (a span name, an attribute, an event,
// the resource) are sent with each invalid run of bytes replaced by U+FFFD,
// instead of failing the whole batch.
//
// Unless WithHTTPClient gives one, requests go through an HTTP client of the
// exporter's own, with a clone of http.DefaultTransport (so the proxy comes
// from HTTPS_PROXY, HTTP_PROXY and NO_PROXY), the TLS settings of the
// OTEL_EXPORTER_OTLP_*CERTIFICATE and *CLIENT_KEY variables, and the timeout;
// Shutdown closes its idle connections.
func New(ctx context.Context, opts ...Option) (sdktrace.SpanExporter, error) {
	hopts, own, err := httpOptions(opts)
	if err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	exp, err := otlptracehttp.New(ctx, hopts...)
	if err != nil {
		return nil, fmt.Errorf("exporter: %w", err)
	}
	return &otlpExporter{Exporter: exp, transport: own}, nil
}

// otlpExporter is the otlptracehttp exporter, closing the idle connections
// of the transport New made for it when it shuts down.
type otlpExporter struct {
	*otlptrace.Exporter
	transport *http.Transport // nil for a client given with WithHTTPClient
}

// ExportSpans sends spans (see otlptrace.Exporter.ExportSpans), with any
// invalid UTF-8 in their strings replaced by U+FFFD first: protobuf refuses
// such a string, which would fail the whole request.
func (e *otlpExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	return e.Exporter.ExportSpans(ctx, validSpans(spans))
}

// ConcurrentExports reports true: ExportSpans is safe to call from several
// goroutines at once (otlptrace.Exporter is), so agenttrace's batch
// processor runs several exports in flight on it (batch.ConcurrentExporter).
func (e *otlpExporter) ConcurrentExports() bool { return true }

// Shutdown shuts the exporter down (see otlptrace.Exporter.Shutdown) and
// closes the idle connections of its own transport.
func (e *otlpExporter) Shutdown(ctx context.Context) error {
	err := e.Exporter.Shutdown(ctx)
	if e.transport != nil {
		e.transport.CloseIdleConnections()
	}
	return err
}

// httpOptions resolves opts and the environment into otlptracehttp options.
// own is the transport it made for the exporter's own HTTP client (nil when
// WithHTTPClient gave one).
func httpOptions(opts []Option) (hopts []otlptracehttp.Option, own *http.Transport, err error) {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if err := errors.Join(c.errs...); err != nil {
		return nil, nil, err
	}

	// Endpoint: an option wins; otherwise otlptracehttp reads the environment
	// itself, after we check it is well formed; otherwise the default.
	switch {
	case c.endpoint != "":
		u, err := TracesURL(c.endpoint)
		if err != nil {
			return nil, nil, err
		}
		hopts = append(hopts, otlptracehttp.WithEndpointURL(u))
	default:
		found := false
		for _, name := range []string{EnvTracesEndpoint, EnvEndpoint} {
			if v := strings.TrimSpace(os.Getenv(name)); v != "" {
				if err := ValidateEndpoint(v); err != nil {
					return nil, nil, fmt.Errorf("%s: %w", name, err)
				}
				found = true
			}
		}
		if !found {
			u, _ := TracesURL(DefaultEndpoint)
			hopts = append(hopts, otlptracehttp.WithEndpointURL(u))
		}
	}

	// Headers: otlptracehttp lets TRACES_HEADERS replace HEADERS wholesale and
	// an option replace both; we merge by name instead when options add any.
	if len(c.headers) > 0 {
		// Header names are case-insensitive: merge them canonicalised, so
		// an option's "Authorization" replaces the environment's
		// "authorization" instead of racing it in map order.
		h := map[string]string{}
		for _, src := range []map[string]string{
			ParseHeaders(os.Getenv(EnvHeaders)),
			ParseHeaders(os.Getenv(EnvTracesHeaders)),
			c.headers,
		} {
			for k, v := range src {
				h[http.CanonicalHeaderKey(k)] = v
			}
		}
		hopts = append(hopts, otlptracehttp.WithHeaders(h))
	}

	switch {
	case c.compression != nil:
		hopts = append(hopts, otlptracehttp.WithCompression(compression(*c.compression)))
	case os.Getenv(EnvCompression) == "" && os.Getenv(EnvTracesCompression) == "":
		hopts = append(hopts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	}
	retry := DefaultRetry()
	if c.retry != nil {
		retry = *c.retry
	}
	hopts = append(hopts, otlptracehttp.WithRetry(retry))

	// Once it is given an HTTP client, otlptracehttp no longer applies its
	// own timeout, TLS and proxy settings: the client carries them all.
	client, own, err := c.buildHTTPClient()
	if err != nil {
		return nil, nil, err
	}
	hopts = append(hopts, otlptracehttp.WithHTTPClient(client))
	return hopts, own, nil
}

// buildHTTPClient returns the client requests go through: a copy of the
// user's, or the exporter's own (whose transport it also returns), with the
// transport wrapped by retryNetErrors and the timeout set.
func (c *config) buildHTTPClient() (*http.Client, *http.Transport, error) {
	var client http.Client
	var own *http.Transport
	if c.httpClient != nil {
		client = *c.httpClient
		if client.Transport == nil {
			client.Transport = http.DefaultTransport
		}
	} else {
		own = httptransport.Default()
		tlsConf, err := envTLS()
		if err != nil {
			return nil, nil, err
		}
		if tlsConf != nil {
			own.TLSClientConfig = tlsConf
		}
		client.Transport = own
	}
	client.Transport = retryNetErrors{base: client.Transport}
	switch {
	case c.timeout > 0:
		client.Timeout = c.timeout
	case client.Timeout == 0:
		d, err := envTimeout()
		if err != nil {
			return nil, nil, err
		}
		client.Timeout = d
	}
	return &client, own, nil
}

// envTimeout returns the timeout of OTEL_EXPORTER_OTLP_TRACES_TIMEOUT or
// OTEL_EXPORTER_OTLP_TIMEOUT (milliseconds; 0 means none), else
// DefaultTimeout.
func envTimeout() (time.Duration, error) {
	for _, name := range []string{EnvTracesTimeout, EnvTimeout} {
		v := strings.TrimSpace(os.Getenv(name))
		if v == "" {
			continue
		}
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 || ms > int64(time.Duration(1<<63-1)/time.Millisecond) {
			return 0, fmt.Errorf("%w: %s=%q is not a number of milliseconds", ErrInvalidOption, name, v)
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	return DefaultTimeout, nil
}

// envTLS returns the TLS settings of the certificate variables, or nil when
// none is set.
func envTLS() (*tls.Config, error) {
	ca, caVar := firstEnv(EnvTracesCertificate, EnvCertificate)
	certVar, keyVar := EnvTracesClientCertificate, EnvTracesClientKey
	if os.Getenv(certVar) == "" && os.Getenv(keyVar) == "" {
		certVar, keyVar = EnvClientCertificate, EnvClientKey
	}
	cert, key := strings.TrimSpace(os.Getenv(certVar)), strings.TrimSpace(os.Getenv(keyVar))
	if ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidOption, caVar, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: %s: no PEM certificate in %s", ErrInvalidOption, caVar, ca)
		}
		conf.RootCAs = pool
	}
	if cert != "" || key != "" {
		if cert == "" || key == "" {
			return nil, fmt.Errorf("%w: %s and %s must be set together", ErrInvalidOption, certVar, keyVar)
		}
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("%w: %s, %s: %w", ErrInvalidOption, certVar, keyVar, err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf, nil
}

// firstEnv returns the first non-empty variable of names and its name.
func firstEnv(names ...string) (value, name string) {
	for _, n := range names {
		if v := strings.TrimSpace(os.Getenv(n)); v != "" {
			return v, n
		}
	}
	return "", ""
}

// retryNetErrors is the transport of every client the exporter sends
// through. otlptracehttp retries a transport error only when it reports
// itself as temporary, which a refused or reset connection does not:
// retryNetErrors marks every transport error temporary, except when the
// request's context is done (the export was cancelled or timed out, so the
// retry loop must stop) and for TLS certificate errors (which retrying does
// not fix).
type retryNetErrors struct{ base http.RoundTripper }

func (t retryNetErrors) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil && r.Context().Err() == nil && !isCertificateError(err) {
		return nil, temporaryError{err}
	}
	return resp, err
}

// CloseIdleConnections closes the base transport's idle connections, for
// http.Client.CloseIdleConnections.
func (t retryNetErrors) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func isCertificateError(err error) bool {
	var verr *tls.CertificateVerificationError
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var cerr x509.CertificateInvalidError
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr)
}

// temporaryError marks a transport error as temporary (see retryNetErrors).
type temporaryError struct{ error }

// Temporary reports true: otlptracehttp retries the request.
func (temporaryError) Temporary() bool { return true }

// Unwrap returns the transport's error.
func (e temporaryError) Unwrap() error { return e.error }

func compression(gzip bool) otlptracehttp.Compression {
	if gzip {
		return otlptracehttp.GzipCompression
	}
	return otlptracehttp.NoCompression
}

// ValidateEndpoint reports whether rawURL is an absolute http:// or https://
// URL with a host, as endpoints must be; the error wraps ErrInvalidEndpoint.
func ValidateEndpoint(rawURL string) error {
	_, err := parseEndpoint(rawURL)
	return err
}

func parseEndpoint(rawURL string) (*url.URL, error) {
	s := strings.TrimSpace(rawURL)
	if s == "" {
		return nil, fmt.Errorf("%w: empty URL", ErrInvalidEndpoint)
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrInvalidEndpoint, rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: %q: scheme must be http or https", ErrInvalidEndpoint, rawURL)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: %q: no host", ErrInvalidEndpoint, rawURL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: %q: credentials, query and fragment are not allowed (use headers)", ErrInvalidEndpoint, rawURL)
	}
	return u, nil
}

// TracesURL returns the URL spans are posted to for the base endpoint
// rawURL: rawURL with /v1/traces appended to its path, unless the path
// already ends in /v1/traces.
func TracesURL(rawURL string) (string, error) {
	u, err := parseEndpoint(rawURL)
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), TracesPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + TracesPath
	}
	return u.String(), nil
}

// ParseHeaders parses the OTEL_EXPORTER_OTLP_HEADERS format: comma-separated
// name=value pairs with percent-encoded values, such as
// "authorization=Bearer%20abc,x-tenant=acme". Malformed pairs (no "=", an
// invalid header name, a bad escape) are skipped, as the OpenTelemetry SDK
// does. It always returns a non-nil map.
func ParseHeaders(s string) map[string]string {
	h := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return h
	}
	for pair := range strings.SplitSeq(s, ",") {
		name, value, ok := strings.Cut(pair, "=")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		if !validHeaderName(name) {
			continue
		}
		v, err := url.PathUnescape(value)
		if err != nil {
			continue
		}
		h[name] = strings.TrimSpace(v)
	}
	return h
}

// validHeaderName reports whether s is an HTTP token (RFC 9110).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
