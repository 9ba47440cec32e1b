package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Processor is an sdktrace.SpanProcessor that queues ended spans in a bounded
// queue and exports them in batches from background goroutines, with up to
// MaxInFlight exports running at once. Create it with [New]; its methods are
// safe for concurrent use.
type Processor struct {
	exp sdktrace.SpanExporter
	cfg config

	mu       sync.Mutex
	q        ring
	qBytes   int
	enqueued uint64
	exported uint64
	dropped  [numReasons]uint64
	inflight int
	running  []*exportBatch // batches being exported, in dispatch order
	headSeq  uint64         // number of spans ever taken off the queue
	until    uint64         // send partial batches until headSeq reaches this
	kicked   bool           // a kick is pending or the flusher is dispatching
	pressure bool           // OnEnd found the queue full since the last cut
	closed   bool           // Shutdown began: OnEnd drops with after_shutdown
	finished bool           // Shutdown returned
	waiters  []*flushWaiter
	// spaceWait is closed (and reset to nil) when spans leave the queue; OnEnd
	// in blocking mode waits on it.
	spaceWait    chan struct{}
	flusherGone  bool          // the flusher goroutine has returned
	idle         chan struct{} // closed once flusherGone and nothing runs
	leftover     int           // spans dropped after_shutdown by an aborted drain
	lastErr      error         // last export error since the last warning
	shutStarted  bool
	shutdownDone chan struct{}
	shutdownErr  error
	resSizes     map[*resource.Resource]int // flusher's cache of resource overheads

	kick          chan struct{} // capacity 1: a full batch is queued
	flushReq      chan struct{} // capacity 1: ForceFlush is waiting
	stop          chan struct{} // closed when Shutdown begins
	abort         chan struct{} // closed when Shutdown's context runs out
	flusherExit   chan struct{} // closed when the flusher goroutine returns
	sem           chan struct{} // one token per running export
	exportCtx     context.Context
	cancelExports context.CancelFunc
	slices        sync.Pool // *[]sdktrace.ReadOnlySpan

	warnMu   sync.Mutex
	lastWarn time.Time
	warned   [numReasons]uint64
}

var _ sdktrace.SpanProcessor = (*Processor)(nil)

type exportBatch struct {
	start uint64 // sequence number of the first span
	spans []sdktrace.ReadOnlySpan
	buf   *[]sdktrace.ReadOnlySpan
}

type flushWaiter struct {
	target uint64 // done once every span with a smaller sequence number is
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
		q:            newRing(cfg.maxQueueSpans),
		idle:         make(chan struct{}),
		shutdownDone: make(chan struct{}),
		resSizes:     make(map[*resource.Resource]int),
		kick:         make(chan struct{}, 1),
		flushReq:     make(chan struct{}, 1),
		stop:         make(chan struct{}),
		abort:        make(chan struct{}),
		flusherExit:  make(chan struct{}),
		sem:          make(chan struct{}, cfg.maxInFlight),
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
	if s == nil || !s.SpanContext().IsSampled() {
		return
	}
	size := spanSize(s)

	p.mu.Lock()
	if p.closed {
		p.enqueued++
		p.dropped[idxAfterShutdown]++
		p.mu.Unlock()
		p.notifyDrop(AfterShutdown, 1)
		return
	}
	if size > p.cfg.maxBatchBytes {
		p.enqueued++
		p.dropped[idxTooLarge]++
		p.mu.Unlock()
		p.notifyDrop(TooLarge, 1)
		return
	}
	if p.q.full() || p.qBytes+size > p.cfg.maxQueueBytes {
		if p.cfg.blocking {
			p.enqueueBlocking(s, size) // unlocks
			return
		}
		p.enqueued++
		p.dropped[idxQueueFull]++
		p.pressure = true
		kick := p.armKickLocked()
		p.mu.Unlock()
		if kick {
			p.signal(p.kick)
		}
		p.notifyDrop(QueueFull, 1)
		return
	}
	p.pushLocked(s, size)
	kick := (p.q.n >= p.cfg.maxBatchSpans || p.qBytes >= p.cfg.maxBatchBytes) && p.armKickLocked()
	p.mu.Unlock()
	if kick {
		p.signal(p.kick)
	}
}

func (p *Processor) pushLocked(s sdktrace.ReadOnlySpan, size int) {
	p.q.push(entry{span: s, size: size})
	p.qBytes += size
	p.enqueued++
}

// armKickLocked reports whether the caller should kick the flusher: only the
// first caller after the flusher last found nothing to do does.
func (p *Processor) armKickLocked() bool {
	if p.kicked {
		return false
	}
	p.kicked = true
	return true
}

func (*Processor) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// enqueueBlocking waits for room in the queue, at most the blocking timeout.
// It is called with p.mu held and the queue full, and unlocks it.
func (p *Processor) enqueueBlocking(s sdktrace.ReadOnlySpan, size int) {
	var timer *time.Timer
	expired := false
	for {
		switch {
		case p.closed:
			p.enqueued++
			p.dropped[idxAfterShutdown]++
			p.mu.Unlock()
			p.notifyDrop(AfterShutdown, 1)
			return
		case !p.q.full() && p.qBytes+size <= p.cfg.maxQueueBytes:
			p.pushLocked(s, size)
			kick := (p.q.n >= p.cfg.maxBatchSpans || p.qBytes >= p.cfg.maxBatchBytes) && p.armKickLocked()
			p.mu.Unlock()
			if kick {
				p.signal(p.kick)
			}
			return
		case expired:
			p.enqueued++
			p.dropped[idxQueueFull]++
			p.mu.Unlock()
			p.notifyDrop(QueueFull, 1)
			return
		}
		p.pressure = true
		kick := p.armKickLocked()
		if p.spaceWait == nil {
			p.spaceWait = make(chan struct{})
		}
		ch := p.spaceWait
		p.mu.Unlock()
		if kick {
			p.signal(p.kick)
		}
		if timer == nil {
			timer = time.NewTimer(p.cfg.blockTimeout)
			defer timer.Stop()
		}
		select {
		case <-ch:
		case <-timer.C:
			expired = true
		}
		p.mu.Lock()
	}
}

func (p *Processor) notifyDrop(r DropReason, n int) {
	if p.cfg.onDrop != nil && n > 0 {
		p.cfg.onDrop(r, n)
	}
}

// Stats returns a consistent snapshot of the processor's counters.
func (p *Processor) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		Enqueued:    p.enqueued,
		Exported:    p.exported,
		Dropped:     dropCountsOf(p.dropped),
		Queued:      p.q.n,
		QueuedBytes: p.qBytes,
		InFlight:    p.inflight,
	}
}

// run is the flusher goroutine: it cuts batches off the queue when a full one
// is queued, when the interval passes, when ForceFlush asks and when Shutdown
// drains, and starts an export for each while fewer than MaxInFlight run.
func (p *Processor) run() {
	defer close(p.flusherExit)
	timer := time.NewTimer(p.cfg.interval)
	defer timer.Stop()
	for {
		draining := false
		select {
		case <-p.kick:
		case <-p.flushReq:
		case <-timer.C:
			p.mu.Lock()
			p.until = max(p.until, p.headSeq+uint64(p.q.n))
			p.mu.Unlock()
			timer.Reset(p.cfg.interval)
		case <-p.stop:
			draining = true
			p.mu.Lock()
			p.until = math.MaxUint64
			p.mu.Unlock()
		}
		ok := p.dispatch()
		if draining || !ok {
			p.finishFlusher()
			return
		}
		p.maybeWarn(false)
	}
}

// dispatch starts exports while a full batch is queued or partial batches are
// due. It returns false if Shutdown aborted it.
func (p *Processor) dispatch() bool {
	for {
		p.mu.Lock()
		n := p.q.n
		due := n > 0 && (n >= p.cfg.maxBatchSpans || p.qBytes >= p.cfg.maxBatchBytes ||
			p.pressure || p.headSeq < p.until)
		if !due {
			p.kicked = false
			p.pressure = false
			p.mu.Unlock()
			return true
		}
		p.mu.Unlock()

		select {
		case p.sem <- struct{}{}:
		case <-p.abort:
			return false
		}

		p.mu.Lock()
		b, tooLarge := p.cutLocked()
		p.mu.Unlock()
		p.notifyDrop(TooLarge, tooLarge)
		if b == nil {
			<-p.sem
			continue
		}
		go p.export(b)
	}
}

// cutLocked takes the next batch off the queue: at most MaxBatchSpans spans
// whose estimated request size stays within MaxBatchBytes. A span that does
// not fit even alone is dropped with too_large. It returns nil if every span
// it looked at was too large.
func (p *Processor) cutLocked() (*exportBatch, int) {
	bp, _ := p.slices.Get().(*[]sdktrace.ReadOnlySpan)
	if bp == nil {
		s := make([]sdktrace.ReadOnlySpan, 0, p.cfg.maxBatchSpans)
		bp = &s
	}
	spans := (*bp)[:0]
	var (
		start     uint64
		used      int
		tooLarge  int
		lastRes   *resource.Resource
		lastScope instrumentation.Scope
	)
	popped := false
	for p.q.n > 0 && len(spans) < p.cfg.maxBatchSpans {
		e := p.q.peek()
		add := e.size
		res := e.span.Resource()
		newRes := len(spans) == 0 || res != lastRes
		if newRes {
			add += p.resourceOverhead(res)
		}
		sc := e.span.InstrumentationScope()
		if newRes || sc != lastScope {
			add += scopeOverhead(sc)
		}
		if used+add > p.cfg.maxBatchBytes {
			if len(spans) > 0 {
				break
			}
			p.q.pop()
			p.qBytes -= e.size
			p.headSeq++
			p.dropped[idxTooLarge]++
			tooLarge++
			popped = true
			continue
		}
		if len(spans) == 0 {
			start = p.headSeq
		}
		ent := p.q.pop()
		p.qBytes -= ent.size
		p.headSeq++
		popped = true
		spans = append(spans, ent.span)
		used += add
		lastRes, lastScope = res, sc
	}
	if popped {
		p.pressure = false
		if p.spaceWait != nil {
			close(p.spaceWait)
			p.spaceWait = nil
		}
	}
	if len(spans) == 0 {
		*bp = spans
		p.slices.Put(bp)
		p.releaseWaitersLocked()
		return nil, tooLarge
	}
	b := &exportBatch{start: start, spans: spans, buf: bp}
	p.running = append(p.running, b)
	p.inflight += len(spans)
	p.releaseWaitersLocked()
	return b, tooLarge
}

func (p *Processor) resourceOverhead(r *resource.Resource) int {
	if n, ok := p.resSizes[r]; ok {
		return n
	}
	if len(p.resSizes) >= 64 {
		clear(p.resSizes)
	}
	n := resourceOverhead(r)
	p.resSizes[r] = n
	return n
}

// export runs one ExportSpans call and accounts for its outcome.
func (p *Processor) export(b *exportBatch) {
	ctx, cancel := p.exportCtx, context.CancelFunc(func() {})
	if p.cfg.exportTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, p.cfg.exportTimeout)
	}
	err := p.exp.ExportSpans(ctx, b.spans)
	cancel()

	n := len(b.spans)
	p.mu.Lock()
	p.inflight -= n
	if i := slices.Index(p.running, b); i >= 0 {
		p.running = slices.Delete(p.running, i, i+1)
	}
	if err == nil {
		p.exported += uint64(n)
	} else {
		p.dropped[idxExportFailed] += uint64(n)
		p.lastErr = err
	}
	p.releaseWaitersLocked()
	p.checkIdleLocked()
	p.mu.Unlock()
	<-p.sem

	if err != nil {
		p.notifyDrop(ExportFailed, n)
	}
	clear(b.spans)
	*b.buf = b.spans[:0]
	p.slices.Put(b.buf)
}

// watermarkLocked is the sequence number below which every span is exported
// or dropped.
func (p *Processor) watermarkLocked() uint64 {
	if len(p.running) > 0 {
		return p.running[0].start
	}
	return p.headSeq
}

func (p *Processor) releaseWaitersLocked() {
	if len(p.waiters) == 0 {
		return
	}
	wm := p.watermarkLocked()
	p.waiters = slices.DeleteFunc(p.waiters, func(w *flushWaiter) bool {
		if w.target <= wm {
			close(w.done)
			return true
		}
		return false
	})
}

func (p *Processor) checkIdleLocked() {
	if p.flusherGone && len(p.running) == 0 {
		select {
		case <-p.idle:
		default:
			close(p.idle)
		}
	}
}

// finishFlusher runs as the flusher returns: spans still queued (only when
// Shutdown's context ran out) are dropped with after_shutdown.
func (p *Processor) finishFlusher() {
	p.mu.Lock()
	n := p.q.n
	for p.q.n > 0 {
		p.q.pop()
	}
	p.qBytes = 0
	p.headSeq += uint64(n)
	p.dropped[idxAfterShutdown] += uint64(n)
	p.leftover += n
	p.flusherGone = true
	p.releaseWaitersLocked()
	p.checkIdleLocked()
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
	target := p.headSeq + uint64(p.q.n)
	var w *flushWaiter
	if p.watermarkLocked() < target {
		w = &flushWaiter{target: target, done: make(chan struct{})}
		p.waiters = append(p.waiters, w)
		p.until = max(p.until, target)
	}
	p.mu.Unlock()

	if w != nil {
		p.signal(p.flushReq)
		select {
		case <-w.done:
		case <-ctx.Done():
			p.mu.Lock()
			p.waiters = slices.DeleteFunc(p.waiters, func(x *flushWaiter) bool { return x == w })
			ue := &UndeliveredError{Op: "flush", Err: ctx.Err()}
			if target > p.headSeq {
				ue.Queued = int(min(target-p.headSeq, uint64(p.q.n)))
			}
			for _, b := range p.running {
				if b.start < target {
					ue.InFlight += len(b.spans)
				}
			}
			p.mu.Unlock()
			return ue
		}
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

// Shutdown stops accepting spans (later ones are dropped with
// after_shutdown), exports everything queued, waits for running exports, then
// shuts the exporter down. If ctx runs out first, it cancels the running
// exports, drops what is still queued, and returns an [*UndeliveredError]
// wrapping ctx.Err() that says how many spans were not delivered and why. It
// also returns an *UndeliveredError (with a nil Err) when exports failed
// during the drain. Later calls wait for the first one and return its result.
func (p *Processor) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	first := !p.shutStarted
	p.shutStarted = true
	p.mu.Unlock()
	if !first {
		select {
		case <-p.shutdownDone:
			return p.shutdownErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.shutdownErr = p.shutdown(ctx)
	close(p.shutdownDone)
	return p.shutdownErr
}

func (p *Processor) shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	before := p.dropped
	if p.spaceWait != nil {
		close(p.spaceWait)
		p.spaceWait = nil
	}
	p.mu.Unlock()
	close(p.stop)

	var ctxErr error
	select {
	case <-p.idle:
	case <-ctx.Done():
		ctxErr = ctx.Err()
		close(p.abort)
		p.cancelExports()
		<-p.flusherExit
	}
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
	p.warnMu.Lock()
	defer p.warnMu.Unlock()
	now := time.Now()
	if !force && !p.lastWarn.IsZero() && now.Sub(p.lastWarn) < warnEvery {
		return
	}
	p.mu.Lock()
	cur := p.dropped
	var since [numReasons]uint64
	var n uint64
	for i := range cur {
		since[i] = cur[i] - p.warned[i]
		n += since[i]
	}
	if n == 0 {
		p.mu.Unlock()
		return
	}
	lastErr := p.lastErr
	p.lastErr = nil
	total := dropCountsOf(cur).Total()
	p.mu.Unlock()

	p.lastWarn = now
	p.warned = cur
	attrs := []slog.Attr{
		slog.Uint64("dropped", n),
		slog.Uint64(string(QueueFull), since[idxQueueFull]),
		slog.Uint64(string(TooLarge), since[idxTooLarge]),
		slog.Uint64(string(ExportFailed), since[idxExportFailed]),
		slog.Uint64(string(AfterShutdown), since[idxAfterShutdown]),
		slog.Uint64("total_dropped", total),
	}
	if lastErr != nil {
		attrs = append(attrs, slog.String("last_export_error", lastErr.Error()))
	}
	p.cfg.logger.LogAttrs(context.Background(), slog.LevelWarn, "agenttrace/batch: spans dropped", attrs...)
}
