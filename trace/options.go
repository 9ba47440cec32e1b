package trace

import (
	"slices"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agenttrace/agenttrace/batch"
	"github.com/agenttrace/agenttrace/budget"
	"github.com/agenttrace/agenttrace/exporter"
	"github.com/agenttrace/agenttrace/llm"
)

// Option configures a Client (see NewClient).
type Option func(*clientConfig)

type clientConfig struct {
	serviceName  string
	exporterOpts []exporter.Option
	// exporterOptNames names the options that configure the exporter the
	// client builds (WithEndpoint, ...), in the order given, without
	// repeats: each conflicts with WithExporter.
	exporterOptNames []string
	batchOpts        []batch.Option
	endpoint         string
	sampler          sdktrace.Sampler
	provider         *sdktrace.TracerProvider
	providerSet      bool
	exporter         sdktrace.SpanExporter
	exporterSet      bool
	disabled         bool
	mask             func(key, value string) string
	maxValueBytes    int
	prices           *llm.PriceTable
	sessionBudget    *budget.Limit
	tenantBudget     *budget.Limit
}

// WithServiceName sets the service.name resource attribute of the client's
// own TracerProvider. Without it, OTEL_SERVICE_NAME or the OpenTelemetry
// default ("unknown_service:<program>") applies.
func WithServiceName(name string) Option {
	return func(c *clientConfig) { c.serviceName = name }
}

// WithEndpoint sets the OTLP/HTTP endpoint's base URL, such as
// "http://127.0.0.1:4318"; spans go to its /v1/traces path (a URL already
// ending in /v1/traces is used as is). It overrides
// OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. A
// malformed URL makes NewClient fail with an error wrapping
// exporter.ErrInvalidEndpoint. It configures the exporter the client builds,
// so it cannot be combined with WithExporter (ErrConflictingOptions).
func WithEndpoint(url string) Option {
	return func(c *clientConfig) {
		c.endpoint = url
		c.addExporterOpts("WithEndpoint", exporter.WithEndpoint(url))
	}
}

// WithHeaders adds HTTP headers to every export request; they override
// headers of the same name from OTEL_EXPORTER_OTLP_HEADERS. It cannot be
// combined with WithExporter (ErrConflictingOptions).
func WithHeaders(headers map[string]string) Option {
	return func(c *clientConfig) { c.addExporterOpts("WithHeaders", exporter.WithHeaders(headers)) }
}

// WithAPIKey sends "Authorization: Bearer key" with every export request.
// It cannot be combined with WithExporter (ErrConflictingOptions).
func WithAPIKey(key string) Option {
	return func(c *clientConfig) { c.addExporterOpts("WithAPIKey", exporter.WithAPIKey(key)) }
}

// WithExporterOptions passes further options to exporter.New when the
// client builds its OTLP/HTTP exporter. It cannot be combined with
// WithExporter (ErrConflictingOptions).
func WithExporterOptions(opts ...exporter.Option) Option {
	return func(c *clientConfig) { c.addExporterOpts("WithExporterOptions", opts...) }
}

func (c *clientConfig) addExporterOpts(name string, opts ...exporter.Option) {
	c.exporterOpts = append(c.exporterOpts, opts...)
	if !slices.Contains(c.exporterOptNames, name) {
		c.exporterOptNames = append(c.exporterOptNames, name)
	}
}

// WithBatchOptions configures the batch processor every ended span goes
// through on its way to the exporter (queue and batch bounds, interval,
// export timeout, exports in flight, blocking mode, drop callback and
// logger; see package batch for the defaults and the OTEL_BSP_* variables).
// Options a batch.New call would reject make NewClient fail with an error
// wrapping ErrInvalidOption and batch.ErrInvalidOption. Repeated options add
// up.
func WithBatchOptions(opts ...batch.Option) Option {
	return func(c *clientConfig) { c.batchOpts = append(c.batchOpts, opts...) }
}

// WithExporter makes the client export through exp instead of building an
// OTLP/HTTP exporter (for example exporter.NewConsole, an exporter.New
// configured as needed, or the SDK's in-memory tracetest exporter in
// tests). The client shuts exp down with itself. exp is used as it is
// built: combined with an option that configures the exporter the client
// would build (WithEndpoint, WithHeaders, WithAPIKey,
// WithExporterOptions), NewClient fails with ErrConflictingOptions; a nil
// exp makes it fail with ErrInvalidOption.
func WithExporter(exp sdktrace.SpanExporter) Option {
	return func(c *clientConfig) { c.exporter, c.exporterSet = exp, true }
}

// WithSampler sets the sampler of the client's own TracerProvider (the
// default samples everything, following the parent's decision). The sampler
// sees the attributes agenttrace sets when a span starts
// (agenttrace.span.type, gen_ai.request.model, ...). It cannot be combined
// with WithTracerProvider.
func WithSampler(s sdktrace.Sampler) Option {
	return func(c *clientConfig) { c.sampler = s }
}

// WithTracerProvider attaches the client to a TracerProvider the program
// already has instead of building its own. The client registers two span
// processors on tp: the one that stamps trace-level fields on every span
// started inside a trace, and its export pipeline, a batch.Processor (to the
// endpoint, or the exporter given with WithExporter). Every span tp ends
// then goes through that processor too, and Client.Stats counts it. tp's
// span limits apply, not the client's: with the SDK's default of 128
// events per span, a trace keeps only its first 128 messages, feedback and
// signals; build tp with sdktrace.WithRawSpanLimits (or set
// OTEL_SPAN_EVENT_COUNT_LIMIT) to keep more (see DefaultEventCountLimit). Client.Shutdown unregisters and shuts
// down those two and leaves tp running; it never becomes the global
// provider.
func WithTracerProvider(tp *sdktrace.TracerProvider) Option {
	return func(c *clientConfig) { c.provider, c.providerSet = tp, true }
}

// WithDisabled makes a client that records nothing and allocates nothing on
// the hot path. AGENTTRACE_DISABLED=true in the environment does the same.
func WithDisabled() Option {
	return func(c *clientConfig) { c.disabled = true }
}

// WithMask sets a function that rewrites every recorded value before it is
// truncated and recorded: span inputs and outputs, LLM messages, tool
// arguments and results, message content, feedback comments and error
// messages. key is the attribute key the value is recorded under (for
// message content, "content"), value its text (JSON for structured values),
// always valid UTF-8 (invalid bytes are replaced by U+FFFD before and after
// the mask). Use it to redact secrets or personal data.
func WithMask(mask func(key, value string) string) Option {
	return func(c *clientConfig) { c.mask = mask }
}

// WithMaxValueBytes sets the limit of one recorded value in bytes (default
// 32 KiB, also for 0). A longer value is cut with the visible marker
// "…[truncated N bytes]". Plain text ends with it. A value that is JSON
// (structured inputs and outputs, tool arguments and results, GenAI messages,
// message content) stays valid JSON: its long strings are shortened, each
// ending with a marker, or, when that is not enough, trailing messages,
// parts or elements are dropped and the marker ends the last string kept
// (see internal/jsonenc.TruncateJSON for the exact rules). A negative limit
// makes NewClient fail.
func WithMaxValueBytes(n int) Option {
	return func(c *clientConfig) { c.maxValueBytes = n }
}

// WithPriceTable sets the table that prices LLM usage reported without a
// cost (default llm.DefaultPrices()). A nil table turns cost computation
// off.
func WithPriceTable(t *llm.PriceTable) Option {
	return func(c *clientConfig) { c.prices = t }
}

// StartOption configures a trace (see Client.Start). Options are small
// values rather than closures, so that passing them costs nothing when the
// client is disabled.
type StartOption struct {
	kind startKind
	s    string
	ss   []string
	kv   []attribute.KeyValue
	m    map[string]any
	// budget is WithBudget's limit.
	budget *budget.Limit
}

type startKind uint8

const (
	startNone startKind = iota
	startUser
	startSession
	startTenant
	startConversation
	startExternal
	startTags
	startEnvironment
	startAttributes
	startContext
	startBudget
)

// WithUserID associates the trace with an end user (user.id on every span).
func WithUserID(id string) StartOption { return StartOption{kind: startUser, s: id} }

// WithSessionID groups traces into a session (session.id on every span).
func WithSessionID(id string) StartOption { return StartOption{kind: startSession, s: id} }

// WithTenantID attributes the trace to a tenant, a customer organisation or
// account (agenttrace.tenant.id on every span).
func WithTenantID(id string) StartOption { return StartOption{kind: startTenant, s: id} }

// WithConversationID ties the turns of a multi-turn conversation together
// (gen_ai.conversation.id on every span).
func WithConversationID(id string) StartOption {
	return StartOption{kind: startConversation, s: id}
}

// WithExternalID correlates the trace with an id from your own system
// (agenttrace.external_trace_id on every span).
func WithExternalID(id string) StartOption { return StartOption{kind: startExternal, s: id} }

// WithTags labels the trace (agenttrace.tags, a string array, on every
// span). Empty tags are dropped; repeated options add up.
func WithTags(tags ...string) StartOption { return StartOption{kind: startTags, ss: tags} }

// WithEnvironment names the deployment environment, such as "production"
// (deployment.environment.name on every span).
func WithEnvironment(env string) StartOption { return StartOption{kind: startEnvironment, s: env} }

// WithAttributes sets attributes on the trace's root span only.
func WithAttributes(kv ...attribute.KeyValue) StartOption {
	return StartOption{kind: startAttributes, kv: kv}
}

// WithContext merges fields onto every span of the trace, each as the
// attribute "agenttrace.context.<key>". Strings, booleans, integers, floats
// and slices of those keep their type; other values are recorded as JSON
// text. Repeated options merge, later keys winning.
func WithContext(fields map[string]any) StartOption {
	return StartOption{kind: startContext, m: fields}
}
