package trace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	oteltrace "go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/agenttrace/agenttrace/batch"
	"github.com/agenttrace/agenttrace/budget"
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

// DefaultEventCountLimit is the most events a span keeps in the
// TracerProvider a client builds (the OpenTelemetry SDK's default is 128).
// A trace's messages, feedback and signals are events of its root span, so
// a long conversation needs more; events past the limit are dropped by the
// SDK. OTEL_SPAN_EVENT_COUNT_LIMIT, when set, replaces it.
const DefaultEventCountLimit = 4096

// envEventCountLimit is the OpenTelemetry variable for the event limit.
const envEventCountLimit = "OTEL_SPAN_EVENT_COUNT_LIMIT"

// ErrInvalidOption means an option given to NewClient has an invalid value;
// the error names it.
var ErrInvalidOption = errors.New("agenttrace: invalid option")

// ErrConflictingOptions means two options given to NewClient contradict each
// other (WithExporter and WithEndpoint, say), so that one would be ignored;
// the error names both. It wraps ErrInvalidOption.
var ErrConflictingOptions = fmt.Errorf("%w: conflicting options", ErrInvalidOption)

// Client records traces. Create it with NewClient and shut it down with
// Shutdown to flush what is buffered. A Client is safe for concurrent use; a
// nil *Client behaves as a disabled one.
type Client struct {
	disabled bool
	tp       *sdktrace.TracerProvider
	ownsTP   bool
	stamper  *recording.Stamper
	// proc is the batch processor every ended span goes through, wrapped
	// so that the client controls its shutdown.
	proc     *detachable
	settings *recording.Settings
	// sessions and tenants are the session and tenant budgets' Trackers
	// (nil without WithSessionBudget, WithTenantBudget).
	sessions, tenants *trackers

	// stalledAt is 1 + the exported count at which awaitRoom last gave
	// up waiting (0: never).
	stalledAt atomic.Uint64

	shutdownOnce sync.Once
	shutdownErr  error
}

// NewClient returns a client configured by opts. Unless the client is
// disabled, it builds an OTLP/HTTP exporter (see package exporter for the
// endpoint, header, retry and environment rules; WithExporter replaces it),
// a batch.Processor in front of it (configured with WithBatchOptions and the
// OTEL_BSP_* variables, see package batch), and its own TracerProvider (or
// attaches to the one given with WithTracerProvider). It never sets the
// global provider. Its own provider keeps up to DefaultEventCountLimit
// events per span (so up to that many messages, feedback and signals per
// trace) and the SDK's other span limits (128 attributes per span, no limit
// on an attribute value's length: the client cuts values itself, see
// WithMaxValueBytes), all changeable with the OTEL_SPAN_* variables. Note
// that a span is exported in one request: a root span whose messages add up
// to more than the batch's maximum request size (4 MiB by default) is
// dropped as too_large (see Stats).
//
// Invalid option values (a negative WithMaxValueBytes, a malformed endpoint,
// an unparsable AGENTTRACE_DISABLED, a batch option batch.New rejects) give
// an error wrapping ErrInvalidOption or exporter.ErrInvalidEndpoint (and, for
// a batch option, batch.ErrInvalidOption too). Options that contradict each
// other (WithExporter with WithEndpoint, WithHeaders, WithAPIKey or
// WithExporterOptions; WithSampler with WithTracerProvider) give an error
// wrapping ErrConflictingOptions that names both, never a silent choice.
// NewClient does not contact the endpoint.
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
	proc, err := newExportProcessor(exp, cfg.batchOpts...)
	if err != nil {
		if errors.Is(err, batch.ErrInvalidOption) {
			err = fmt.Errorf("%w: WithBatchOptions: %w", ErrInvalidOption, err)
		} else {
			err = fmt.Errorf("agenttrace: export processor: %w", err)
		}
		return nil, errors.Join(err, exp.Shutdown(ctx))
	}
	c := &Client{
		stamper: recording.NewStamper(),
		proc:    &detachable{Processor: proc},
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
			sdktrace.WithRawSpanLimits(spanLimits()),
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
	c.sessions = newTrackers(cfg.sessionBudget, budget.ScopeSession)
	c.tenants = newTrackers(cfg.tenantBudget, budget.ScopeTenant)
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
		errs = append(errs, fmt.Errorf("%w: WithSampler and WithTracerProvider (configure the sampler on that provider)", ErrConflictingOptions))
	}
	if cfg.exporterSet && cfg.exporter == nil {
		errs = append(errs, fmt.Errorf("%w: WithExporter(nil)", ErrInvalidOption))
	}
	if cfg.exporterSet {
		for _, name := range cfg.exporterOptNames {
			errs = append(errs, fmt.Errorf("%w: %s and WithExporter (%s configures the exporter the client builds; "+
				"configure the exporter given to WithExporter where it is built)", ErrConflictingOptions, name, name))
		}
	}
	if cfg.endpoint != "" {
		if err := exporter.ValidateEndpoint(cfg.endpoint); err != nil {
			errs = append(errs, fmt.Errorf("agenttrace: WithEndpoint: %w", err))
		}
	}
	return errors.Join(errs...)
}

// newExportProcessor builds the processor that batches ended spans to exp:
// package batch's, which never blocks the span's goroutine, keeps several
// exports in flight and accounts for every span (Client.Stats).
func newExportProcessor(exp sdktrace.SpanExporter, opts ...batch.Option) (*batch.Processor, error) {
	return batch.New(exp, opts...)
}

// spanLimits returns the span limits of a provider the client builds: the
// SDK's (from the OTEL_SPAN_* and OTEL_*_LIMIT variables, attribute values
// unlimited in length unless a variable says otherwise, since the client
// cuts them itself), with DefaultEventCountLimit events unless
// OTEL_SPAN_EVENT_COUNT_LIMIT is set.
func spanLimits() sdktrace.SpanLimits {
	l := sdktrace.NewSpanLimits()
	if strings.TrimSpace(os.Getenv(envEventCountLimit)) == "" {
		l.EventCountLimit = DefaultEventCountLimit
	}
	return l
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

// roomStall is how long awaitRoom waits without any export completing.
const roomStall = time.Second

// awaitRoom waits while the export queue is over half full and exports
// complete, so that a flood of messages slows to the exporter's pace
// instead of being dropped. Once no export has completed for roomStall it
// gives up, and does not wait again until an export completes: a dead
// endpoint costs the program one such wait, not one per message.
func (c *Client) awaitRoom() {
	if c == nil || c.proc == nil {
		return
	}
	share, last := c.proc.Backlog()
	if share < 0.5 || c.stalledAt.Load() == last+1 {
		return
	}
	progress := time.Now()
	for share >= 0.5 {
		time.Sleep(time.Millisecond)
		var exported uint64
		share, exported = c.proc.Backlog()
		switch {
		case exported != last:
			last, progress = exported, time.Now()
		case time.Since(progress) > roomStall:
			c.stalledAt.Store(last + 1)
			return
		}
	}
}

// detachable wraps the batch processor registered on a provider so that the
// client decides when it shuts down. When the client detaches from a user's
// provider, UnregisterSpanProcessor shuts the processor down without a
// deadline; detachable turns that call into a no-op so that Client.Shutdown
// can shut it down bounded by its context. It also runs the processor's
// Shutdown once and remembers the result, so that Client.Shutdown can tell
// whether the provider's Shutdown reached it (the provider stops early,
// without shutting down the remaining processors, when its context is done).
type detachable struct {
	*batch.Processor
	mu        sync.Mutex
	detaching bool

	once sync.Once
	err  error
}

// Shutdown is the provider's call: it shuts the processor down unless the
// client is detaching it.
func (d *detachable) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	detaching := d.detaching
	d.mu.Unlock()
	if detaching {
		return nil
	}
	return d.shutdown(ctx)
}

func (d *detachable) detach() {
	d.mu.Lock()
	d.detaching = true
	d.mu.Unlock()
}

// shutdown shuts the processor down the first time and returns that call's
// result every time.
func (d *detachable) shutdown(ctx context.Context) error {
	d.once.Do(func() { d.err = d.Processor.Shutdown(ctx) })
	return d.err
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
// done. It returns once each of them has been exported or dropped with a
// reason (see Stats); if ctx runs out first, the error is a
// *batch.UndeliveredError (use errors.As) wrapping ctx.Err() that says how
// many spans were still queued or being exported. Flush goes straight to the
// client's batch processor, also when the client is attached to a user's
// provider (whose other processors it does not flush).
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
// provider running. Either way the batch processor is shut down: it exports
// what is queued, then shuts the exporter down. When spans could not be
// delivered (ctx ran out, or exports failed during the drain) the error
// holds a *batch.UndeliveredError (use errors.As) that counts them per
// reason and, when ctx ran out, wraps ctx.Err(). Later calls return the
// first call's result.
func (c *Client) Shutdown(ctx context.Context) error {
	if c.Disabled() {
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	c.shutdownOnce.Do(func() {
		var tpErr error
		if c.ownsTP {
			// Shuts down the stamper and, unless ctx runs out first, the
			// batch processor.
			tpErr = c.tp.Shutdown(ctx)
		} else {
			c.tp.UnregisterSpanProcessor(c.stamper)
			c.proc.detach()
			c.tp.UnregisterSpanProcessor(c.proc)
		}
		// Runs the processor's shutdown if the provider did not (so its
		// goroutines stop and its undelivered spans are counted), else
		// returns that call's result.
		c.shutdownErr = shutdownError(tpErr, c.proc.shutdown(ctx))
	})
	return c.shutdownErr
}

// shutdownError combines the provider's and the processor's shutdown
// errors without repeating the processor's.
func shutdownError(tpErr, procErr error) error {
	switch {
	case procErr == nil:
		return tpErr
	case tpErr == nil, errors.Is(tpErr, procErr), errors.Is(procErr, tpErr):
		// The provider's error is the processor's, or (when the provider
		// stopped at a done ctx before reaching the processor) ctx.Err(),
		// which procErr wraps.
		return procErr
	}
	return errors.Join(procErr, tpErr)
}

// Stats returns the accounting of the client's batch processor: spans
// enqueued, exported, dropped per reason, still queued or being exported
// (see batch.Stats; Enqueued == Exported + Dropped.Total() + Queued +
// InFlight). A disabled or nil client returns the zero Stats.
func (c *Client) Stats() batch.Stats {
	if c.Disabled() {
		return batch.Stats{}
	}
	return c.proc.Stats()
}
