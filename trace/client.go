package trace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	oteltrace "go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/agenttrace/agenttrace/exporter"
	"github.com/agenttrace/agenttrace/internal/jsonenc"
	"github.com/agenttrace/agenttrace/internal/recording"
	"github.com/agenttrace/agenttrace/llm"
)

// EnvDisabled is the environment variable that disables every client when
// set to a true value ("true", "1", ...; see strconv.ParseBool).
const EnvDisabled = "AGENTTRACE_DISABLED"

// ScopeName is the instrumentation scope of the spans the client records.
const ScopeName = "github.com/agenttrace/agenttrace"

// ErrInvalidOption means an option given to NewClient has an invalid value;
// the error names it.
var ErrInvalidOption = errors.New("agenttrace: invalid option")

// Client records traces. Create it with NewClient and shut it down with
// Shutdown to flush what is buffered. A Client is safe for concurrent use; a
// nil *Client behaves as a disabled one.
type Client struct {
	disabled bool
	tp       *sdktrace.TracerProvider
	ownsTP   bool
	stamper  *recording.Stamper
	proc     *detachable
	settings *recording.Settings

	shutdownOnce sync.Once
	shutdownErr  error
}

// NewClient returns a client configured by opts. Unless the client is
// disabled, it builds an OTLP/HTTP exporter (see package exporter for the
// endpoint, header and environment rules; WithExporter replaces it), a
// BatchSpanProcessor, and its own TracerProvider (or attaches to the one
// given with WithTracerProvider). It never sets the global provider.
//
// Invalid option values (a negative WithMaxValueBytes, a malformed endpoint,
// WithSampler together with WithTracerProvider, an unparsable
// AGENTTRACE_DISABLED) give an error wrapping ErrInvalidOption or
// exporter.ErrInvalidEndpoint. NewClient does not contact the endpoint.
func NewClient(ctx context.Context, opts ...Option) (*Client, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg := clientConfig{prices: llm.DefaultPrices()}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if v := strings.TrimSpace(os.Getenv(EnvDisabled)); v != "" {
		off, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s=%q is not a boolean", ErrInvalidOption, EnvDisabled, v)
		}
		cfg.disabled = cfg.disabled || off
	}
	if cfg.disabled {
		return &Client{disabled: true}, nil
	}

	exp := cfg.exporter
	if exp == nil {
		var err error
		if exp, err = exporter.New(ctx, cfg.exporterOpts...); err != nil {
			return nil, fmt.Errorf("agenttrace: %w", err)
		}
	}
	proc, err := newExportProcessor(exp)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("agenttrace: export processor: %w", err), exp.Shutdown(ctx))
	}
	c := &Client{
		stamper: recording.NewStamper(),
		proc:    &detachable{SpanProcessor: proc},
	}
	if cfg.provider != nil {
		c.tp = cfg.provider
		c.tp.RegisterSpanProcessor(c.stamper)
		c.tp.RegisterSpanProcessor(c.proc)
	} else {
		res, err := newResource(cfg.serviceName)
		if err != nil {
			return nil, errors.Join(err, proc.Shutdown(ctx))
		}
		popts := []sdktrace.TracerProviderOption{
			sdktrace.WithResource(res),
			sdktrace.WithSpanProcessor(c.stamper),
			sdktrace.WithSpanProcessor(c.proc),
		}
		if cfg.sampler != nil {
			popts = append(popts, sdktrace.WithSampler(cfg.sampler))
		}
		c.tp, c.ownsTP = sdktrace.NewTracerProvider(popts...), true
	}
	maxBytes := cfg.maxValueBytes
	if maxBytes == 0 {
		maxBytes = jsonenc.DefaultLimit
	}
	c.settings = &recording.Settings{
		Tracer:        c.tp.Tracer(ScopeName, oteltrace.WithSchemaURL(semconv.SchemaURL)),
		Mask:          cfg.mask,
		MaxValueBytes: maxBytes,
		Prices:        cfg.prices,
		// A custom sampler, or the unknown one of a user's provider, may
		// sample on attributes: give them to it at the start.
		AttributesAtStart: cfg.sampler != nil || cfg.provider != nil,
	}
	return c, nil
}

func (cfg *clientConfig) validate() error {
	var errs []error
	if cfg.maxValueBytes < 0 {
		errs = append(errs, fmt.Errorf("%w: WithMaxValueBytes(%d) is negative", ErrInvalidOption, cfg.maxValueBytes))
	}
	if cfg.providerSet && cfg.provider == nil {
		errs = append(errs, fmt.Errorf("%w: WithTracerProvider(nil)", ErrInvalidOption))
	}
	if cfg.provider != nil && cfg.sampler != nil {
		errs = append(errs, fmt.Errorf("%w: WithSampler cannot be combined with WithTracerProvider (configure the sampler on that provider)", ErrInvalidOption))
	}
	if cfg.endpoint != "" {
		if err := exporter.ValidateEndpoint(cfg.endpoint); err != nil {
			errs = append(errs, fmt.Errorf("agenttrace: WithEndpoint: %w", err))
		}
	}
	return errors.Join(errs...)
}

// newExportProcessor builds the processor that batches ended spans to exp.
// It is the one place to change when the batch package replaces the SDK's
// BatchSpanProcessor (batch.New(exp) has the same shape).
func newExportProcessor(exp sdktrace.SpanExporter) (sdktrace.SpanProcessor, error) {
	return sdktrace.NewBatchSpanProcessor(exp), nil
}

func newResource(serviceName string) (*resource.Resource, error) {
	res := resource.Default()
	if serviceName == "" {
		return res, nil
	}
	merged, err := resource.Merge(res, resource.NewSchemaless(semconv.ServiceName(serviceName)))
	if err != nil {
		return nil, fmt.Errorf("agenttrace: resource: %w", err)
	}
	return merged, nil
}

// detachable wraps the export processor registered on a provider. When the
// client detaches from a user's provider, UnregisterSpanProcessor shuts the
// processor down without a deadline; detachable turns that call into a
// no-op so that Client.Shutdown can shut it down bounded by its context.
type detachable struct {
	sdktrace.SpanProcessor
	mu        sync.Mutex
	detaching bool
}

func (d *detachable) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	detaching := d.detaching
	d.mu.Unlock()
	if detaching {
		return nil
	}
	return d.SpanProcessor.Shutdown(ctx)
}

// Disabled reports whether the client records nothing.
func (c *Client) Disabled() bool { return c == nil || c.disabled }

// TracerProvider returns the provider the client records through, to hand
// to other OpenTelemetry instrumentation (HTTP, database, provider SDKs) so
// that their spans join agenttrace traces and carry the trace-level fields.
// A disabled client returns a no-op provider.
func (c *Client) TracerProvider() oteltrace.TracerProvider {
	if c.Disabled() {
		return noop.NewTracerProvider()
	}
	return c.tp
}

// Flush exports every span that has ended, waiting at most until ctx is
// done.
func (c *Client) Flush(ctx context.Context) error {
	if c.Disabled() {
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return c.proc.ForceFlush(ctx)
}

// Shutdown flushes every span that has ended and stops the client, waiting
// at most until ctx is done. Spans started afterwards are not recorded. A
// client it built its own provider for shuts that provider down; a client
// attached with WithTracerProvider removes its processors and leaves the
// provider running. Later calls return the first call's result.
func (c *Client) Shutdown(ctx context.Context) error {
	if c.Disabled() {
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	c.shutdownOnce.Do(func() {
		if c.ownsTP {
			c.shutdownErr = c.tp.Shutdown(ctx)
			return
		}
		c.tp.UnregisterSpanProcessor(c.stamper)
		c.proc.mu.Lock()
		c.proc.detaching = true
		c.proc.mu.Unlock()
		c.tp.UnregisterSpanProcessor(c.proc)
		c.shutdownErr = c.proc.SpanProcessor.Shutdown(ctx)
	})
	return c.shutdownErr
}
