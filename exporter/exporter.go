// Package exporter builds the span exporters agenttrace sends through: the
// OTLP/HTTP exporter (protobuf, gzip) configured by options and the standard
// OTEL_EXPORTER_OTLP_* environment variables, and a console exporter that
// prints a readable tree of each trace for local runs.
//
// Precedence for the OTLP/HTTP exporter, highest first: options given to New,
// then OTEL_EXPORTER_OTLP_TRACES_* variables, then OTEL_EXPORTER_OTLP_*
// variables, then the defaults (endpoint http://localhost:4318, gzip,
// 10 s timeout, retries on 429/502/503/504 honouring Retry-After for up to a
// minute). Headers merge by name in the same order.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// DefaultEndpoint is the endpoint used when neither an option nor an
// environment variable names one.
const DefaultEndpoint = "http://localhost:4318"

// TracesPath is the OTLP/HTTP path for traces, appended to base endpoints.
const TracesPath = "/v1/traces"

// Environment variables read by New (the OpenTelemetry exporter
// specification's names).
const (
	EnvEndpoint          = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint    = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvHeaders           = "OTEL_EXPORTER_OTLP_HEADERS"
	EnvTracesHeaders     = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
	EnvCompression       = "OTEL_EXPORTER_OTLP_COMPRESSION"
	EnvTracesCompression = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"
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

// WithTimeout bounds each export request (default 10 s, or
// OTEL_EXPORTER_OTLP_TIMEOUT). It must be positive.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.errs = append(c.errs, fmt.Errorf("%w: timeout %v is not positive", ErrInvalidOption, d))
			return
		}
		c.timeout = d
	}
}

// WithRetry replaces the retry policy (by default retries of 429, 502, 503
// and 504 answers with exponential backoff honouring Retry-After, for up to
// one minute). RetryConfig{Enabled: false} turns retries off.
func WithRetry(rc otlptracehttp.RetryConfig) Option {
	return func(c *config) { c.retry = &rc }
}

// WithHTTPClient sends requests through client (its Timeout, if set, applies
// on top of the exporter's).
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
// option or the environment, gives an error wrapping ErrInvalidEndpoint. New
// does not contact the endpoint.
func New(ctx context.Context, opts ...Option) (sdktrace.SpanExporter, error) {
	hopts, err := httpOptions(opts)
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
	return exp, nil
}

// httpOptions resolves opts and the environment into otlptracehttp options.
func httpOptions(opts []Option) ([]otlptracehttp.Option, error) {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if err := errors.Join(c.errs...); err != nil {
		return nil, err
	}
	var hopts []otlptracehttp.Option

	// Endpoint: an option wins; otherwise otlptracehttp reads the environment
	// itself, after we check it is well formed; otherwise the default.
	switch {
	case c.endpoint != "":
		u, err := TracesURL(c.endpoint)
		if err != nil {
			return nil, err
		}
		hopts = append(hopts, otlptracehttp.WithEndpointURL(u))
	default:
		found := false
		for _, name := range []string{EnvTracesEndpoint, EnvEndpoint} {
			if v := strings.TrimSpace(os.Getenv(name)); v != "" {
				if err := ValidateEndpoint(v); err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
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
	if c.timeout > 0 {
		hopts = append(hopts, otlptracehttp.WithTimeout(c.timeout))
	}
	if c.retry != nil {
		hopts = append(hopts, otlptracehttp.WithRetry(*c.retry))
	}
	if c.httpClient != nil {
		hopts = append(hopts, otlptracehttp.WithHTTPClient(c.httpClient))
	}
	return hopts, nil
}

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
