// Package batch is agenttrace's background span flusher: an
// sdktrace.SpanProcessor with a queue bounded by span count and by encoded
// bytes, that exports in batches with several exports in flight and accounts
// for every span it is handed.
//
//	span.End -> Processor.OnEnd (never blocks by default)
//	         -> bounded queue (spans and estimated bytes)
//	         -> flusher (a batch is cut when MaxBatchSpans spans or MaxBatchBytes
//	            bytes are queued, when Interval passes, on ForceFlush and on Shutdown)
//	         -> up to MaxInFlight concurrent ExportSpans calls (one at a time
//	            unless the exporter opts in: ConcurrentExporter)
//
// OnEnd is the hot path, run by whatever goroutine ends a span. It estimates
// the span's size and appends it to the queue under the processor's one
// lock; once the queue has refused a span for lack of room, further spans are
// dropped without taking the lock at all until the flusher makes room. The
// flusher cuts batches off the queue and starts a goroutine per export,
// at most MaxInFlight at a time.
//
// # Accounting
//
// Every sampled span handed to OnEnd is, at any moment, in exactly one state:
// queued, in flight (in a batch the exporter is working on), exported, or
// dropped with one [DropReason]: [QueueFull], [TooLarge], [ExportFailed] or
// [AfterShutdown]. [Processor.Stats] returns a consistent snapshot for which
// Enqueued == Exported + Dropped.Total() + Queued + InFlight always holds.
// Drops are also reported to the [WithOnDrop] callback and logged with
// log/slog at warn level, at most once every 10 seconds, with the counts per
// reason since the previous warning.
//
// # Sizes
//
// Byte bounds are in terms of the uncompressed OTLP protobuf encoding, which
// the processor estimates cheaply from the span's IDs, name, attributes,
// events, links and status (an upper bound, see size.go). A batch never
// exceeds MaxBatchBytes (the maximum request size, resource and scope
// included): a larger one is split, and a span that alone exceeds it is dropped
// with [TooLarge] and never sent.
//
// # Retries live in the exporter
//
// The processor does not retry: an error from ExportSpans drops the batch
// with [ExportFailed]. Retrying 429, 502, 503, 504 and network errors with
// exponential backoff and jitter, honouring Retry-After, is the exporter's job,
// so that it happens in exactly one place. The otlptracehttp exporter does
// this when built with its retry enabled (otlptracehttp.WithRetry) and an HTTP
// client whose transport reports connection errors as temporary
// (otlptracehttp on its own does not retry a refused connection); exporter.New
// in agenttrace's exporter package builds it that way, retrying for at most
// 30 s by default, within the default export timeout. The export timeout
// ([WithExportTimeout]) bounds each ExportSpans call including its retries,
// and because MaxInFlight exports run at once, a retrying or slow export does
// not stop the queue from draining.
//
// # Concurrent exports
//
// OpenTelemetry's SpanExporter contract has ExportSpans called one call at a
// time, and exporters written for it need not be safe for concurrent calls.
// The Processor calls an exporter concurrently only when it opts in by
// implementing [ConcurrentExporter] (agenttrace's OTLP exporter does); any
// other exporter gets one batch at a time, in order.
//
// # Defaults and environment
//
// See the Default* constants. OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_SCHEDULE_DELAY,
// OTEL_BSP_EXPORT_TIMEOUT and OTEL_BSP_MAX_EXPORT_BATCH_SIZE apply where no
// option sets the same thing; invalid values are ignored with a warning. The
// memory held is bounded by MaxQueueBytes for queued spans plus
// MaxInFlight*MaxBatchBytes for spans being exported (MaxBatchBytes for an
// exporter called one batch at a time).
package batch
