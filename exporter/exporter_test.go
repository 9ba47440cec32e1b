package exporter_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/goleak"

	"github.com/agenttrace/agenttrace/exporter"
	"github.com/agenttrace/agenttrace/internal/otlptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clearEnv empties every variable New reads.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{exporter.EnvEndpoint, exporter.EnvTracesEndpoint, exporter.EnvHeaders,
		exporter.EnvTracesHeaders, exporter.EnvCompression, exporter.EnvTracesCompression,
		exporter.EnvTimeout, exporter.EnvTracesTimeout, exporter.EnvCertificate, exporter.EnvTracesCertificate,
		exporter.EnvClientCertificate, exporter.EnvTracesClientCertificate, exporter.EnvClientKey,
		exporter.EnvTracesClientKey} {
		t.Setenv(k, "")
	}
}

// send exports one span named name through exp and shuts it down,
// returning the export's error.
func send(t *testing.T, exp sdktrace.SpanExporter, name string) error {
	t.Helper()
	err := exp.ExportSpans(context.Background(), spansNamed(t, name))
	require.NoError(t, exp.Shutdown(context.Background()))
	return err
}

// spansNamed returns one ended span named name.
func spansNamed(t *testing.T, name string) []sdktrace.ReadOnlySpan {
	t.Helper()
	rec := &capture{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(rec))
	_, s := tp.Tracer("test").Start(context.Background(), name)
	s.End()
	require.NoError(t, tp.Shutdown(context.Background()))
	return rec.spans
}

type capture struct{ spans []sdktrace.ReadOnlySpan }

func (c *capture) ExportSpans(_ context.Context, s []sdktrace.ReadOnlySpan) error {
	c.spans = append(c.spans, s...)
	return nil
}
func (c *capture) Shutdown(context.Context) error { return nil }

func newCollector(t *testing.T) *otlptest.Collector {
	c := otlptest.New()
	t.Cleanup(c.Close)
	return c
}

func TestExplicitEndpointWinsOverEnv(t *testing.T) {
	clearEnv(t)
	want, other := newCollector(t), newCollector(t)
	t.Setenv(exporter.EnvEndpoint, other.URL)
	t.Setenv(exporter.EnvTracesEndpoint, other.URL+"/v1/traces")
	exp, err := exporter.New(context.Background(), exporter.WithEndpoint(want.URL))
	require.NoError(t, err)
	require.NoError(t, send(t, exp, "explicit"))
	require.Len(t, want.Spans(), 1)
	assert.Equal(t, "explicit", want.Spans()[0].Name())
	assert.Empty(t, other.Requests())
}

func TestEnvEndpoint(t *testing.T) {
	for _, c := range []struct{ name, env, suffix string }{
		{"base", exporter.EnvEndpoint, ""},
		{"traces", exporter.EnvTracesEndpoint, "/v1/traces"},
	} {
		t.Run(c.name, func(t *testing.T) {
			clearEnv(t)
			col := newCollector(t)
			t.Setenv(c.env, col.URL+c.suffix)
			exp, err := exporter.New(context.Background())
			require.NoError(t, err)
			require.NoError(t, send(t, exp, "from-env"))
			require.Len(t, col.Requests(), 1)
			assert.Equal(t, "/v1/traces", col.Requests()[0].Path)
			assert.True(t, col.Requests()[0].Gzipped)
		})
	}
}

func TestHeadersMerge(t *testing.T) {
	clearEnv(t)
	col := newCollector(t)
	t.Setenv(exporter.EnvHeaders, "x-a=env-a,x-b=env-b,authorization=Bearer%20env")
	t.Setenv(exporter.EnvTracesHeaders, "x-b=traces-b")
	exp, err := exporter.New(context.Background(), exporter.WithEndpoint(col.URL),
		exporter.WithHeaders(map[string]string{"x-c": "opt-c"}), exporter.WithAPIKey("opt-key"))
	require.NoError(t, err)
	require.NoError(t, send(t, exp, "h"))
	require.Len(t, col.Requests(), 1)
	h := col.Requests()[0].Header
	assert.Equal(t, "env-a", h.Get("x-a"))
	assert.Equal(t, "traces-b", h.Get("x-b"))
	assert.Equal(t, "opt-c", h.Get("x-c"))
	assert.Equal(t, "Bearer opt-key", h.Get("Authorization"), "an option wins over the environment")
}

func TestEnvHeadersAlone(t *testing.T) {
	clearEnv(t)
	col := newCollector(t)
	t.Setenv(exporter.EnvHeaders, "authorization=Bearer%20env")
	exp, err := exporter.New(context.Background(), exporter.WithEndpoint(col.URL))
	require.NoError(t, err)
	require.NoError(t, send(t, exp, "h"))
	require.Len(t, col.Requests(), 1)
	assert.Equal(t, "Bearer env", col.Requests()[0].Header.Get("Authorization"))
}

func TestCompression(t *testing.T) {
	clearEnv(t)
	col := newCollector(t)
	exp, err := exporter.New(context.Background(), exporter.WithEndpoint(col.URL), exporter.WithCompression(false))
	require.NoError(t, err)
	require.NoError(t, send(t, exp, "plain"))

	t.Setenv(exporter.EnvCompression, "none")
	exp, err = exporter.New(context.Background(), exporter.WithEndpoint(col.URL))
	require.NoError(t, err)
	require.NoError(t, send(t, exp, "plain-env"))

	exp, err = exporter.New(context.Background(), exporter.WithEndpoint(col.URL), exporter.WithCompression(true))
	require.NoError(t, err)
	require.NoError(t, send(t, exp, "gzip-opt"))

	reqs := col.Requests()
	require.Len(t, reqs, 3)
	assert.False(t, reqs[0].Gzipped)
	assert.False(t, reqs[1].Gzipped)
	assert.True(t, reqs[2].Gzipped)
}

// TestRetry: 429 and 503 answers are retried until the collector accepts.
func TestRetry(t *testing.T) {
	clearEnv(t)
	col := newCollector(t)
	col.FailNext(otlptest.Failure{Status: http.StatusTooManyRequests}, otlptest.Failure{Status: http.StatusServiceUnavailable})
	exp, err := exporter.New(context.Background(), exporter.WithEndpoint(col.URL),
		exporter.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 5 * time.Millisecond,
			MaxInterval: 20 * time.Millisecond, MaxElapsedTime: 10 * time.Second}))
	require.NoError(t, err)
	require.NoError(t, send(t, exp, "retried"))
	require.Len(t, col.Spans(), 1)
	assert.Equal(t, "retried", col.Spans()[0].Name())

	// Without retries the failure surfaces.
	col.FailNext(otlptest.Failure{Status: http.StatusServiceUnavailable})
	exp, err = exporter.New(context.Background(), exporter.WithEndpoint(col.URL),
		exporter.WithRetry(otlptracehttp.RetryConfig{Enabled: false}), exporter.WithTimeout(5*time.Second))
	require.NoError(t, err)
	require.Error(t, send(t, exp, "failed"))
	assert.Len(t, col.Spans(), 1)
}

func TestInvalidEndpoints(t *testing.T) {
	clearEnv(t)
	for _, u := range []string{"", "localhost:4318", "ftp://host", "http://", "http://[::1", "http://u:p@host:4318",
		"http://host:4318/?q=1", "//host:4318"} {
		_, err := exporter.New(context.Background(), exporter.WithEndpoint(u))
		if u == "" {
			// An empty option means "not set": the default endpoint applies.
			require.NoError(t, err)
			continue
		}
		require.ErrorIs(t, err, exporter.ErrInvalidEndpoint, u)
		require.ErrorIs(t, exporter.ValidateEndpoint(u), exporter.ErrInvalidEndpoint, u)
	}
	t.Setenv(exporter.EnvTracesEndpoint, "not a url")
	_, err := exporter.New(context.Background())
	require.ErrorIs(t, err, exporter.ErrInvalidEndpoint)
	require.ErrorContains(t, err, exporter.EnvTracesEndpoint)

	_, err = exporter.New(context.Background(), exporter.WithTimeout(-time.Second))
	require.ErrorIs(t, err, exporter.ErrInvalidOption)
}

func TestTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:4318":               "http://127.0.0.1:4318/v1/traces",
		"http://127.0.0.1:4318/":              "http://127.0.0.1:4318/v1/traces",
		"https://otel.example.com/otlp":       "https://otel.example.com/otlp/v1/traces",
		"https://otel.example.com/v1/traces":  "https://otel.example.com/v1/traces",
		"https://otel.example.com/v1/traces/": "https://otel.example.com/v1/traces/",
		" http://host:1 ":                     "http://host:1/v1/traces",
	} {
		got, err := exporter.TracesURL(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
}

func TestParseHeaders(t *testing.T) {
	h := exporter.ParseHeaders(" a = 1 ,b=x%20y,bad,=novalue, c d=3,e=%zz,f=")
	assert.Equal(t, map[string]string{"a": "1", "b": "x y", "f": ""}, h)
	assert.Empty(t, exporter.ParseHeaders(""))
	assert.NotNil(t, exporter.ParseHeaders(" "))
}

func FuzzParseHeaders(f *testing.F) {
	for _, s := range []string{"a=1", "a=1,b=2", "authorization=Bearer%20x", "=,=,", "%%%", "a=%zz", "k=v=w"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := exporter.ParseHeaders(s)
		require.NotNil(t, h)
		for name, value := range h {
			require.NotEmpty(t, name)
			require.False(t, strings.ContainsAny(name, " ,=\t\r\n:\x00"), "name %q", name)
			require.Equal(t, strings.TrimSpace(value), value)
			require.True(t, strings.Contains(s, name), "name %q comes from the input", name)
		}
	})
}

// New builds the OTLP/HTTP exporter; trace.NewClient calls it for you, so
// use it directly only to give the exporter to your own TracerProvider.
func ExampleNew() {
	exp, err := exporter.New(context.Background(),
		exporter.WithEndpoint("http://127.0.0.1:4318"), // spans go to /v1/traces
		exporter.WithAPIKey("my-key"),
		exporter.WithTimeout(5*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	defer tp.Shutdown(context.Background())

	_, err = exporter.New(context.Background(), exporter.WithEndpoint("localhost:4318"))
	fmt.Println(errors.Is(err, exporter.ErrInvalidEndpoint))
	// Output: true
}
