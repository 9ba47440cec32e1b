package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Processor is an sdktrace.SpanProcessor that queues ended spans in a bounded
// queue and exports them in batches from background goroutines, with up to
// MaxInFlight exports running at once on an exporter that allows it
// ([ConcurrentExporter]) and one at a time on any other. Create it with
// [New]; its methods are safe for concurrent use.
//
// One mutex guards the queue and the accounting. Once the queue has refused a
// span for lack of room, OnEnd drops further spans without taking it until
// the flusher makes room, so a flood costs the goroutines ending spans two
// atomic operations each.
type Processor struct {
	exp sdktrace.SpanExporter
	cfg config

	// full is set when the queue refuses a span for lack of room and cleared
	// when a batch is cut; while it is set, a non-blocking OnEnd drops
	// without locking and counts the span in fullDrops (as enqueued and
	// dropped with queue_full).
	full      atomic.Bool
	fullDrops atomic.Uint64

	kick          chan struct{} // capacity 1: wakes the flusher
	stop          chan struct{} // closed when Shutdown begins
	abort         chan struct{} // closed when Shutdown's context runs out
	flusherExit   chan struct{} // closed when the flusher goroutine returns
	slots         chan struct{} // one token per running export
	exportCtx     context.Context
	cancelExports context.CancelFunc

	mu         sync.Mutex // guards everything below
	queue      ring       // spans waiting to be cut into a batch, oldest first
	queueBytes int
	pressured  bool   // the queue refused a span since the last cut
	enqueued   uint64 // spans handed to OnEnd, except the fullDrops
	exported   uint64
	dropped    [numReasons]uint64
	inflight   int
	running    []*exportBatch // batches being exported, in the order they were cut
	headSeq    uint64         // spans that have left the queue (cut or dropped)
	tailSeq    uint64         // spans that have entered the queue
	until      uint64         // cut partial batches until headSeq reaches this
	waiters    []*flushWaiter // ForceFlush calls
	room       chan struct{}  // closed when a cut makes room (WithBlocking waits on it)
	closed     bool           // Shutdown began
	finished   bool           // Shutdown returned
	leftover   int            // spans dropped after_shutdown by an aborted drain
	lastErr    error          // last export error since the last warning
	lastWarn   time.Time
	warned     DropCounts // the drop counts at the last warning

	shutdownOnce sync.Once
	shutdownDone chan struct{}
	shutdownErr  error
}

var _ sdktrace.SpanProcessor = (*Processor)(nil)

// ConcurrentExporter is a span exporter that opts in to concurrent exports.
// OpenTelemetry's SpanExporter contract has ExportSpans called
// synchronously, one call at a time, so an exporter need not be safe for
// concurrent calls; the Processor keeps that promise for every exporter
// except one whose ConcurrentExports method reports true, which it calls
// from up to [WithMaxInFlight] goroutines at once. The OTLP exporter of
// agenttrace's exporter package opts in; a wrapper around it can forward
// its answer.
type ConcurrentExporter interface {
	sdktrace.SpanExporter
	// ConcurrentExports reports whether ExportSpans may be called from
	// several goroutines at the same time. It is asked once, by New.
	ConcurrentExports() bool
}

// inFlightFor returns how many exports may run at once on exp.
func inFlightFor(exp sdktrace.SpanExporter, n int) int {
	if c, ok := exp.(ConcurrentExporter); ok && c.ConcurrentExports() {
		return n
	}
	return 1
}

// exportBatch is a batch handed to the exporter: the spans with sequence
// numbers start, start+1, ... (too_large drops aside).
type exportBatch struct {
	start uint64
	spans []sdktrace.ReadOnlySpan
}

// flushWaiter is a ForceFlush call, done once every span with a sequence
// number below target is exported or dropped.
type flushWaiter struct {
	target uint64
	done   chan struct{}
}

// New returns a Processor that exports through exp and starts its background
// flusher. Call Shutdown to stop it. It returns an error wrapping
// [ErrInvalidOption] for a bad option value and [ErrNilExporter] for a nil
// exporter.
//
// The Processor does not retry: exp must do it (see the package
// documentation).
func New(exp sdktrace.SpanExporter, opts ...Option) (*Processor, error) {
	if exp == nil {
		return nil, ErrNilExporter
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	p := &Processor{
		exp:          exp,
		cfg:          cfg,
		kick:         make(chan struct{}, 1),
		stop:         make(chan struct{}),
		abort:        make(chan struct{}),
		flusherExit:  make(chan struct{}),
		slots:        make(chan struct{}, inFlightFor(exp, cfg.maxInFlight)),
		queue:        newRing(cfg.maxQueueSpans),
		shutdownDone: make(chan struct{}),
	}
	p.exportCtx, p.cancelExports = context.WithCancel(context.Background())
	go p.run()
	return p, nil
}

// OnStart does nothing; it implements sdktrace.SpanProcessor.
func (*Processor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd queues a sampled span for export. It never blocks unless
// [WithBlocking] is set, and then for at most the configured timeout. A span
// that cannot be queued is dropped with a reason and counted.
func (p *Processor) OnEnd(s sdktrace.ReadOnlySpan) {
	if s == nil {
		return
	}
	sc := s.SpanContext()
	if !sc.IsSampled() {
		return
	}
	if !p.cfg.blocking && p.full.Load() {
		p.fullDrops.Add(1)
		p.notifyDrop(QueueFull, 1)
		return
	}
	e := entry{span: s}
	e.size, e.exact = spanSize(s, sc, false)
	p.mu.Lock()
	switch {
	case p.closed:
		p.dropLocked(idxAfterShutdown)
	case e.exact && e.size > p.cfg.maxBatchBytes:
		p.dropLocked(idxTooLarge)
	case p.fitsLocked(e.size):
		p.pushLocked(e)
	case p.cfg.blocking:
		p.enqueueBlocking(e)
	default:
		p.full.Store(true)
		p.pressured = true
		p.dropLocked(idxQueueFull)
		p.wake()
	}
}

func (p *Processor) fitsLocked(size int) bool {
	return p.queue.n < p.cfg.maxQueueSpans && p.queueBytes+size <= p.cfg.maxQueueBytes
}

// pushLocked queues e and unlocks.
func (p *Processor) pushLocked(e entry) {
	p.enqueued++
	p.tailSeq++
	p.queue.push(e)
	p.queueBytes += e.size
	due := p.queue.n >= p.cfg.maxBatchSpans || p.queueBytes >= p.cfg.maxBatchBytes
	p.mu.Unlock()
	if due {
		p.wake()
	}
}

// dropLocked counts one span dropped by OnEnd and unlocks.
func (p *Processor) dropLocked(reason int) {
	p.enqueued++
	p.dropped[reason]++
	p.mu.Unlock()
	p.notifyDrop(reasons[reason], 1)
}

// enqueueBlocking waits, at most the blocking timeout, for room for e. It
// is called with p.mu held and unlocks it.
func (p *Processor) enqueueBlocking(e entry) {
	timer := time.NewTimer(p.cfg.blockTimeout)
	defer timer.Stop()
	for {
		if p.room == nil {
			p.room = make(chan struct{})
		}
		room := p.room
		p.pressured = true
		p.mu.Unlock()
		p.wake()
		expired := false
		select {
		case <-room:
		case <-timer.C:
			expired = true
		}
		p.mu.Lock()
		switch {
		case p.closed:
			p.dropLocked(idxAfterShutdown)
			return
		case p.fitsLocked(e.size):
			p.pushLocked(e)
			return
		case expired:
			p.dropLocked(idxQueueFull)
			return
		}
	}
}

// wake wakes the flusher.
func (p *Processor) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// notifyDrop reports n spans dropped for r to the OnDrop callback.
func (p *Processor) notifyDrop(r DropReason, n int) {
	if n > 0 && p.cfg.onDrop != nil {
		p.cfg.onDrop(r, n)
	}
}

// Stats returns a consistent snapshot of the processor's counters.
func (p *Processor) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	fast := p.fullDrops.Load()
	return Stats{
		Enqueued:    p.enqueued + fast,
		Exported:    p.exported,
		Dropped:     p.droppedLocked(fast),
		Queued:      p.queue.n,
		QueuedBytes: p.queueBytes,
		InFlight:    p.inflight,
	}
}

// droppedLocked returns the drop counts, given the fullDrops count read
// under the same lock.
func (p *Processor) droppedLocked(fast uint64) DropCounts {
	d := p.dropped
	d[idxQueueFull] += fast
	return dropCountsOf(d)
}

// Backlog reports how full the queue is: the larger of its span count and
// its estimated bytes as a share of their bounds (0 empty, 1 full), and how
// many spans have been exported so far. A producer that must not lose its
// spans (agenttrace's trace messages) waits while the backlog is high and
// exports make progress.
func (p *Processor) Backlog() (share float64, exported uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return max(float64(p.queue.n)/float64(p.cfg.maxQueueSpans),
		float64(p.queueBytes)/float64(p.cfg.maxQueueBytes)), p.exported
}

// run is the flusher goroutine: it cuts batches when a full one is queued,
// when the queue refused a span, when the interval passes, when ForceFlush
// asks and when Shutdown drains, and starts an export for each while fewer
// than MaxInFlight run. On Shutdown it drains the queue, waits for every
// export and returns.
func (p *Processor) run() {
	defer close(p.flusherExit)
	tick := time.NewTicker(p.cfg.interval)
	defer tick.Stop()
	for {
		select {
		case <-p.kick:
		case <-tick.C:
			p.flushQueued(p.tailSeqNow())
		case <-p.stop:
			p.flushQueued(math.MaxUint64)
			if p.dispatch(tick) {
				p.awaitExports()
			}
			p.dropLeftovers()
			return
		}
		if !p.dispatch(tick) {
			p.dropLeftovers()
			return
		}
		p.maybeWarn(false)
	}
}

func (p *Processor) tailSeqNow() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tailSeq
}

// flushQueued makes every span with a sequence number below target due, in
// partial batches if need be.
func (p *Processor) flushQueued(target uint64) {
	p.mu.Lock()
	p.until = max(p.until, target)
	p.mu.Unlock()
}

// dispatch starts an export for each due batch, waiting for an export slot
// before cutting each, and returns when none is due. It returns false if
// Shutdown's context ran out.
func (p *Processor) dispatch(tick *time.Ticker) bool {
	for p.due() {
		// Exports can take long: keep the interval and the warnings going.
	wait:
		for {
			select {
			case p.slots <- struct{}{}:
				break wait
			case <-p.abort:
				return false
			case <-tick.C:
				p.flushQueued(p.tailSeqNow())
				p.maybeWarn(false)
			}
		}
		select { // the slot and abort may have been ready together
		case <-p.abort:
			<-p.slots
			return false
		default:
		}
		b, tooLarge := p.cut()
		p.notifyDrop(TooLarge, tooLarge)
		if b == nil {
			<-p.slots
			continue
		}
		go p.export(b)
	}
	return true
}

// awaitExports waits until every export has returned (by taking every
// slot), or Shutdown's context runs out.
func (p *Processor) awaitExports() {
	for range cap(p.slots) {
		select {
		case p.slots <- struct{}{}:
		case <-p.abort:
			return
		}
	}
}

// due reports whether a batch is due: a full one is queued, the queue
// refused a span since the last cut, or a flush target (interval,
// ForceFlush, Shutdown) is not reached yet.
func (p *Processor) due() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.queue.n
	return n > 0 && (n >= p.cfg.maxBatchSpans || p.queueBytes >= p.cfg.maxBatchBytes ||
		p.pressured || p.headSeq < p.until)
}

// cut takes the next batch off the queue: at most MaxBatchSpans spans whose
// estimated request size (resource and scope included) stays within
// MaxBatchBytes. A span that does not fit even alone is dropped with
// too_large; cut returns their number, and a nil batch if every span it
// looked at was too large.
func (p *Processor) cut() (*exportBatch, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var (
		spans                               = make([]sdktrace.ReadOnlySpan, 0, min(p.queue.n, p.cfg.maxBatchSpans))
		used, popped, poppedBytes, tooLarge int
		lastRes                             *resource.Resource
		lastScope                           instrumentation.Scope
	)
	for p.queue.n > 0 && len(spans) < p.cfg.maxBatchSpans {
		e := p.queue.peek()
		add := e.size
		if !e.exact { // measure the slice attributes OnEnd only guessed
			add, _ = spanSize(e.span, e.span.SpanContext(), true)
		}
		res := e.span.Resource()
		newRes := len(spans) == 0 || res != lastRes
		if newRes {
			add += resourceOverhead(res)
		}
		sc := e.span.InstrumentationScope()
		if newRes || sc != lastScope {
			add += scopeOverhead(sc)
		}
		fits := used+add <= p.cfg.maxBatchBytes
		if !fits && len(spans) > 0 {
			break
		}
		ent := p.queue.pop()
		popped++
		poppedBytes += ent.size
		if !fits {
			tooLarge++ // alone too large: only while len(spans) == 0
			continue
		}
		spans = append(spans, ent.span)
		used += add
		lastRes, lastScope = res, sc
	}
	var b *exportBatch
	if len(spans) > 0 {
		b = &exportBatch{start: p.headSeq + uint64(tooLarge), spans: spans}
		p.running = append(p.running, b)
		p.inflight += len(spans)
	}
	if popped > 0 {
		p.pressured = false
		p.full.Store(false)
		if p.room != nil {
			close(p.room)
			p.room = nil
		}
	}
	p.queueBytes -= poppedBytes
	p.headSeq += uint64(popped)
	p.dropped[idxTooLarge] += uint64(tooLarge)
	p.releaseWaitersLocked()
	return b, tooLarge
}

// export runs one ExportSpans call, accounts for its outcome and frees its
// export slot.
func (p *Processor) export(b *exportBatch) {
	ctx, cancel := p.exportCtx, context.CancelFunc(func() {})
	if p.cfg.exportTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, p.cfg.exportTimeout)
	}
	err := p.exp.ExportSpans(ctx, b.spans)
	cancel()

	n, failed := len(b.spans), 0
	if err != nil {
		failed = n
		if rejected, ok := partialRejected(err); ok {
			failed = min(rejected, n)
		}
	}
	p.notifyDrop(ExportFailed, failed)
	p.mu.Lock()
	p.inflight -= n
	if i := slices.Index(p.running, b); i >= 0 {
		p.running = slices.Delete(p.running, i, i+1)
	}
	p.exported += uint64(n - failed)
	p.dropped[idxExportFailed] += uint64(failed)
	if failed > 0 {
		p.lastErr = err
	}
	p.releaseWaitersLocked()
	p.mu.Unlock()
	<-p.slots
}

// partialRejected recognises the error otlptracehttp returns when the
// collector accepted a request but rejected some of its spans (an OTLP
// partial success, "OTLP partial success: <message> (<n> spans rejected)";
// the error type is internal to otlptracehttp) and returns n. Any other error
// gives false, and the whole batch counts as failed.
func partialRejected(err error) (int, bool) {
	const marker, suffix = "OTLP partial success: ", " spans rejected)"
	msg := err.Error()
	if !strings.Contains(msg, marker) || !strings.HasSuffix(msg, suffix) {
		return 0, false
	}
	msg = strings.TrimSuffix(msg, suffix)
	i := strings.LastIndexByte(msg, '(')
	if i < 0 {
		return 0, false
	}
	n, perr := strconv.Atoi(msg[i+1:])
	if perr != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// releaseWaitersLocked ends the ForceFlush calls whose spans are all
// exported or dropped: every span below the oldest running batch's first,
// or below headSeq when none runs.
func (p *Processor) releaseWaitersLocked() {
	if len(p.waiters) == 0 {
		return
	}
	done := p.headSeq
	if len(p.running) > 0 {
		done = p.running[0].start
	}
	p.waiters = slices.DeleteFunc(p.waiters, func(w *flushWaiter) bool {
		if w.target <= done {
			close(w.done)
			return true
		}
		return false
	})
}

// dropLeftovers runs as the flusher returns: spans still queued (only when
// Shutdown's context ran out) are dropped with after_shutdown.
func (p *Processor) dropLeftovers() {
	p.mu.Lock()
	n := p.queue.n
	for p.queue.n > 0 {
		p.queue.pop()
	}
	p.queueBytes = 0
	p.headSeq += uint64(n)
	p.dropped[idxAfterShutdown] += uint64(n)
	p.leftover += n
	p.releaseWaitersLocked()
	p.mu.Unlock()
	p.notifyDrop(AfterShutdown, n)
}

// ForceFlush returns once every span that ended before the call has been
// exported or dropped with a reason, then calls the exporter's
// ForceFlush(context.Context) error method if it has one. If ctx runs out
// first it returns an [*UndeliveredError] wrapping ctx.Err(). After Shutdown
// it does nothing.
func (p *Processor) ForceFlush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	if p.finished {
		p.mu.Unlock()
		return nil
	}
	w := &flushWaiter{target: p.tailSeq, done: make(chan struct{})}
	p.waiters = append(p.waiters, w)
	p.until = max(p.until, w.target)
	p.releaseWaitersLocked()
	p.mu.Unlock()
	p.wake()

	select {
	case <-w.done:
	case <-ctx.Done():
		return p.abandonFlush(ctx, w)
	}

	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if f, ok := p.exp.(interface{ ForceFlush(context.Context) error }); ok && !closed {
		if err := f.ForceFlush(ctx); err != nil {
			return fmt.Errorf("batch: exporter flush: %w", err)
		}
	}
	return nil
}

// abandonFlush unregisters w and describes what it was still waiting for.
func (p *Processor) abandonFlush(ctx context.Context, w *flushWaiter) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waiters = slices.DeleteFunc(p.waiters, func(x *flushWaiter) bool { return x == w })
	ue := &UndeliveredError{Op: "flush", Err: ctx.Err()}
	if w.target > p.headSeq {
		ue.Queued = int(min(w.target-p.headSeq, uint64(p.queue.n)))
	}
	for _, b := range p.running {
		if b.start < w.target {
			ue.InFlight += len(b.spans)
		}
	}
	return ue
}

// Shutdown stops accepting spans (later ones are dropped with
// after_shutdown), exports everything queued, waits for running exports, then
// shuts the exporter down. If ctx runs out first, it cancels the running
// exports, drops what is still queued, and returns an [*UndeliveredError]
// wrapping ctx.Err() that says how many spans were not delivered and why. It
// also returns an *UndeliveredError (with a nil Err) when exports failed
// during the drain. Later calls wait for the first one and return its result.
func (p *Processor) Shutdown(ctx context.Context) error {
	first := false
	p.shutdownOnce.Do(func() { first = true })
	if first {
		p.shutdownErr = p.shutdown(ctx)
		close(p.shutdownDone)
		return p.shutdownErr
	}
	select {
	case <-p.shutdownDone:
		return p.shutdownErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Processor) shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.full.Store(false) // from now on OnEnd takes the lock and sees closed
	before := p.dropped
	if p.room != nil {
		close(p.room)
		p.room = nil
	}
	p.mu.Unlock()

	// A context done already drains nothing: the flusher sees abort first.
	ctxErr := ctx.Err()
	if ctxErr != nil {
		close(p.abort)
		p.cancelExports()
	}
	close(p.stop)
	if ctxErr == nil {
		select {
		case <-p.flusherExit:
		case <-ctx.Done():
			ctxErr = ctx.Err()
			close(p.abort)
			p.cancelExports()
		}
	}
	<-p.flusherExit
	expErr := p.exp.Shutdown(ctx)
	p.cancelExports()

	p.mu.Lock()
	ue := &UndeliveredError{
		Op: "shutdown",
		Dropped: DropCounts{
			TooLarge:      p.dropped[idxTooLarge] - before[idxTooLarge],
			ExportFailed:  p.dropped[idxExportFailed] - before[idxExportFailed],
			AfterShutdown: uint64(p.leftover),
		},
		InFlight: p.inflight,
		Err:      ctxErr,
	}
	p.finished = true
	for _, w := range p.waiters {
		close(w.done)
	}
	p.waiters = nil
	p.mu.Unlock()
	p.maybeWarn(true)

	var err error
	if ue.NotDelivered() > 0 || ctxErr != nil {
		err = ue
	}
	if expErr != nil {
		expErr = fmt.Errorf("batch: exporter shutdown: %w", expErr)
		if err == nil {
			return expErr
		}
		return errors.Join(err, expErr)
	}
	return err
}

// maybeWarn logs the drops since the last warning, at most once every
// warnEvery unless force is set.
func (p *Processor) maybeWarn(force bool) {
	p.mu.Lock()
	now := time.Now()
	if !force && !p.lastWarn.IsZero() && now.Sub(p.lastWarn) < warnEvery {
		p.mu.Unlock()
		return
	}
	cur := p.droppedLocked(p.fullDrops.Load())
	since := DropCounts{
		QueueFull:     cur.QueueFull - p.warned.QueueFull,
		TooLarge:      cur.TooLarge - p.warned.TooLarge,
		ExportFailed:  cur.ExportFailed - p.warned.ExportFailed,
		AfterShutdown: cur.AfterShutdown - p.warned.AfterShutdown,
	}
	if since.Total() == 0 {
		p.mu.Unlock()
		return
	}
	lastErr := p.lastErr
	p.lastErr = nil
	p.lastWarn = now
	p.warned = cur
	p.mu.Unlock()

	attrs := []slog.Attr{
		slog.Uint64("dropped", since.Total()),
		slog.Uint64(string(QueueFull), since.QueueFull),
		slog.Uint64(string(TooLarge), since.TooLarge),
		slog.Uint64(string(ExportFailed), since.ExportFailed),
		slog.Uint64(string(AfterShutdown), since.AfterShutdown),
		slog.Uint64("total_dropped", cur.Total()),
	}
	if lastErr != nil {
		attrs = append(attrs, slog.String("last_export_error", lastErr.Error()))
	}
	p.cfg.logger.LogAttrs(context.Background(), slog.LevelWarn, "agenttrace/batch: spans dropped", attrs...)
}
