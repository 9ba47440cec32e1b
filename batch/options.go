package batch

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// Defaults. Each can be changed with an option; the ones marked "env" also
// with the standard OpenTelemetry variable (an explicit option wins over the
// variable, the variable over the default).
const (
	// DefaultMaxQueueSpans bounds the number of queued spans.
	// env: OTEL_BSP_MAX_QUEUE_SIZE.
	DefaultMaxQueueSpans = 16384
	// DefaultMaxQueueBytes bounds the estimated encoded size of queued spans
	// (64 MiB).
	DefaultMaxQueueBytes = 64 << 20
	// DefaultMaxBatchSpans is the most spans in one export request.
	// env: OTEL_BSP_MAX_EXPORT_BATCH_SIZE.
	DefaultMaxBatchSpans = 512
	// DefaultMaxBatchBytes is the maximum request size: the largest estimated
	// encoded (uncompressed protobuf) size of one export request (4 MiB).
	DefaultMaxBatchBytes = 4 << 20
	// DefaultInterval is the longest a span waits in the queue before it is
	// sent in a (possibly partial) batch. env: OTEL_BSP_SCHEDULE_DELAY
	// (milliseconds).
	DefaultInterval = time.Second
	// DefaultExportTimeout bounds one ExportSpans call, the exporter's retries
	// included. env: OTEL_BSP_EXPORT_TIMEOUT (milliseconds; 0 means none).
	DefaultExportTimeout = 30 * time.Second
	// DefaultMaxInFlight is the number of ExportSpans calls that may run at
	// the same time.
	DefaultMaxInFlight = 8
)

// Environment variables read by [New].
const (
	EnvMaxQueueSize       = "OTEL_BSP_MAX_QUEUE_SIZE"
	EnvScheduleDelay      = "OTEL_BSP_SCHEDULE_DELAY"
	EnvExportTimeout      = "OTEL_BSP_EXPORT_TIMEOUT"
	EnvMaxExportBatchSize = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"
)

// warnEvery is the shortest time between two drop warnings in the log.
const warnEvery = 10 * time.Second

// Option configures a Processor. Options are applied in order; the last one of
// a kind wins.
type Option func(*config)

type config struct {
	maxQueueSpans int
	maxQueueBytes int
	maxBatchSpans int
	maxBatchBytes int
	interval      time.Duration
	exportTimeout time.Duration
	maxInFlight   int
	blocking      bool
	blockTimeout  time.Duration
	onDrop        func(DropReason, int)
	logger        *slog.Logger

	errs []error
}

func (c *config) invalid(opt string, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%w: %s: %s", ErrInvalidOption, opt, fmt.Sprintf(format, args...)))
}

// positive returns the option named name that stores v with set, or records
// an error if v is not positive.
func positive[T int | time.Duration](name string, v T, set func(*config, T)) Option {
	return func(c *config) {
		if v <= 0 {
			c.invalid(name, "%v is not positive", v)
			return
		}
		set(c, v)
	}
}

// WithMaxQueueSpans bounds the number of spans waiting in the queue (default
// [DefaultMaxQueueSpans]). When the queue is full a new span is dropped with
// [QueueFull] (or, with [WithBlocking], waits). n must be positive.
func WithMaxQueueSpans(n int) Option {
	return positive("WithMaxQueueSpans", n, func(c *config, n int) { c.maxQueueSpans = n })
}

// WithMaxQueueBytes bounds the estimated encoded size of the spans waiting in
// the queue (default [DefaultMaxQueueBytes]). n must be positive.
func WithMaxQueueBytes(n int) Option {
	return positive("WithMaxQueueBytes", n, func(c *config, n int) { c.maxQueueBytes = n })
}

// WithMaxBatchSpans sets the most spans sent in one export request (default
// [DefaultMaxBatchSpans]); a batch is also sent as soon as this many spans are
// queued. n must be positive; it is lowered to the queue bound if larger.
func WithMaxBatchSpans(n int) Option {
	return positive("WithMaxBatchSpans", n, func(c *config, n int) { c.maxBatchSpans = n })
}

// WithMaxBatchBytes sets the maximum request size: the largest estimated
// encoded size (uncompressed OTLP protobuf, resource and scope included) of one
// export request (default [DefaultMaxBatchBytes]). Batches are split so that
// none exceeds it, and a span that alone exceeds it is dropped with
// [TooLarge]. Set it at or below the collector's request body limit. n must be
// positive; it is lowered to the queue byte bound if larger.
func WithMaxBatchBytes(n int) Option {
	return positive("WithMaxBatchBytes", n, func(c *config, n int) { c.maxBatchBytes = n })
}

// WithInterval sets the longest a span waits before it is sent in a possibly
// partial batch (default [DefaultInterval]). d must be positive.
func WithInterval(d time.Duration) Option {
	return positive("WithInterval", d, func(c *config, d time.Duration) { c.interval = d })
}

// WithExportTimeout bounds each ExportSpans call, including the exporter's
// own retries (default [DefaultExportTimeout]). 0 means no bound; negative is
// an error.
func WithExportTimeout(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.invalid("WithExportTimeout", "%v is negative", d)
			return
		}
		c.exportTimeout = d
	}
}

// WithMaxInFlight sets how many ExportSpans calls may run at the same time
// (default [DefaultMaxInFlight]) on an exporter that opts in to concurrent
// exports ([ConcurrentExporter]), so a slow or retrying export does not stop
// the queue from draining. Any other exporter is called one batch at a
// time, as OpenTelemetry's SpanExporter contract promises, whatever n is.
// n must be positive.
func WithMaxInFlight(n int) Option {
	return positive("WithMaxInFlight", n, func(c *config, n int) { c.maxInFlight = n })
}

// WithBlocking makes OnEnd wait, at most timeout, for room in a full queue
// before dropping the span with [QueueFull]. By default OnEnd never blocks.
// timeout must be positive.
func WithBlocking(timeout time.Duration) Option {
	return positive("WithBlocking", timeout, func(c *config, d time.Duration) {
		c.blocking = true
		c.blockTimeout = d
	})
}

// WithOnDrop registers fn to be called each time spans are dropped, with the
// reason and the number of spans. It is called synchronously, outside the
// processor's lock, from the goroutine that dropped them (for queue_full,
// too_large and after_shutdown usually the one calling span.End), so it must be
// quick and must not block.
func WithOnDrop(fn func(reason DropReason, n int)) Option {
	return func(c *config) { c.onDrop = fn }
}

// WithLogger sets the logger for drop warnings (default slog.Default()).
// Warnings are rate-limited to one every 10 seconds and carry the counts per
// reason since the previous warning.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// newConfig applies defaults, then the OTEL_BSP_* variables, then opts, so an
// option wins over a variable and a variable over a default. A variable that
// is not an integer, or is out of range, is ignored with a warning to the
// configured logger.
func newConfig(opts []Option) (config, error) {
	c := config{
		maxQueueSpans: DefaultMaxQueueSpans,
		maxQueueBytes: DefaultMaxQueueBytes,
		maxBatchSpans: DefaultMaxBatchSpans,
		maxBatchBytes: DefaultMaxBatchBytes,
		interval:      DefaultInterval,
		exportTimeout: DefaultExportTimeout,
		maxInFlight:   DefaultMaxInFlight,
	}
	badEnv := c.applyEnv()
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if len(c.errs) > 0 {
		return c, errors.Join(c.errs...)
	}
	for _, kv := range badEnv {
		c.logger.Warn("agenttrace/batch: ignoring invalid environment variable", "name", kv[0], "value", kv[1])
	}
	c.maxBatchSpans = min(c.maxBatchSpans, c.maxQueueSpans)
	c.maxBatchBytes = min(c.maxBatchBytes, c.maxQueueBytes)
	return c, nil
}

// applyEnv stores the values of the OTEL_BSP_* variables that are set and
// valid, and returns the name and value of each one that is set but invalid.
func (c *config) applyEnv() (invalid [][2]string) {
	envInt := func(key string, zeroOK bool, set func(int)) {
		v := os.Getenv(key)
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || (n == 0 && !zeroOK) {
			invalid = append(invalid, [2]string{key, v})
			return
		}
		set(n)
	}
	envInt(EnvMaxQueueSize, false, func(n int) { c.maxQueueSpans = n })
	envInt(EnvMaxExportBatchSize, false, func(n int) { c.maxBatchSpans = n })
	envInt(EnvScheduleDelay, false, func(n int) { c.interval = time.Duration(n) * time.Millisecond })
	envInt(EnvExportTimeout, true, func(n int) { c.exportTimeout = time.Duration(n) * time.Millisecond })
	return invalid
}
