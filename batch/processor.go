package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
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
// ([ConcurrentExporter]) and one at a time on any other. Create it with [New]; its methods are
// safe for concurrent use.
//
// The queue is split into shards, each with its own lock, so that goroutines
// ending spans at the same time rarely wait for each other: OnEnd puts a span
// in a shard picked by its span ID (or the next unlocked one) and each shard holds
// at most 1/shards of the span and byte bounds. The flusher goroutine moves
// whole shard buffers to its pending list and cuts batches from there.
type Processor struct {
	exp sdktrace.SpanExporter
	cfg config

	shards    []shard
	shardMask int
	spanCap   int64 // per shard
	byteCap   int64 // per shard
	kickSpans int   // per shard: a shard this full wakes the flusher
	kickBytes int
	kicked    atomic.Bool // the flusher has been woken and has not collected yet
	pressure  atomic.Bool // a span was refused for lack of room since the last collect

	mu          sync.Mutex // after any shard lock, never before
	pendQueued  int        // spans collected by the flusher, not yet cut into a batch
	pendBytes   int
	exported    uint64
	dropped     [numReasons]uint64 // drops decided by the flusher and exports
	inflight    int
	running     []*exportBatch // batches being exported, in dispatch order
	headSeq     uint64         // spans collected and then cut or dropped
	tailSeq     uint64         // spans collected
	until       uint64         // send partial batches until headSeq reaches this
	requests    []*flushWaiter // ForceFlush calls waiting for the flusher to collect
	waiters     []*flushWaiter // ForceFlush calls with a target
	spaceWait   chan struct{}  // closed when room is made (blocking mode)
	closed      bool           // Shutdown began
	finished    bool           // Shutdown returned
	flusherGone bool           // the flusher goroutine has returned
	idle        chan struct{}  // closed once flusherGone and nothing runs
	leftover    int            // spans dropped after_shutdown by an aborted drain
	lastErr     error          // last export error since the last warning
	shutStarted bool

	shutdownDone chan struct{}
	shutdownErr  error

	kick          chan struct{} // capacity 1: wake the flusher
	stop          chan struct{} // closed when Shutdown begins
	abort         chan struct{} // closed when Shutdown's context runs out
	flusherExit   chan struct{} // closed when the flusher goroutine returns
	sem           chan struct{} // one token per running export
	exportCtx     context.Context
	cancelExports context.CancelFunc
	slices        sync.Pool // *[]sdktrace.ReadOnlySpan

	// Guarded by cutMu (taken before any shard lock and mu): the flusher and
	// the export loops collect and cut batches under it. p.pendBytes and
	// p.headSeq are written only under cutMu (and mu), so holders of cutMu
	// read them without mu.
	cutMu     sync.Mutex
	pend      ring      // collected spans not yet cut into a batch
	spares    [][]entry // the other half of each shard's buffer
	resSizes  map[*resource.Resource]int
	pressured bool // the queue refused spans since the last cut

	dropSeen atomic.Bool // spans were dropped since the last warning check
	warnMu   sync.Mutex
	lastWarn time.Time
	warned   DropCounts
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

// shard is one lock's worth of the queue.
type shard struct {
	mu       sync.Mutex
	closed   bool
	in       []entry // spans ended since the flusher last collected, in order
	inBytes  int
	charged  int64 // spans ever accepted here
	chargedB int64
	enqueued uint64
	dropped  [numReasons]uint64 // drops decided in OnEnd
	// Spans (and bytes) accepted here that have since left the queue; added
	// by the flusher, so that charged-released is this shard's occupancy.
	releasedN atomic.Int64
	releasedB atomic.Int64
	// fullHint is set when the shard refused a span for lack of room and
	// cleared when the flusher makes room; while set, OnEnd drops without
	// locking and counts the drop in fastDrops (enqueued and queue_full).
	fullHint  atomic.Bool
	fastDrops atomic.Uint64
	_         [64]byte // keep shards on separate cache lines
}

const maxShards = 16

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
	n := shardCount(cfg, runtime.GOMAXPROCS(0))
	p := &Processor{
		exp:          exp,
		cfg:          cfg,
		shards:       make([]shard, n),
		shardMask:    n - 1,
		spanCap:      int64(cfg.maxQueueSpans / n),
		byteCap:      int64(cfg.maxQueueBytes / n),
		kickSpans:    max(1, cfg.maxBatchSpans/n),
		kickBytes:    max(1, cfg.maxBatchBytes/n),
		idle:         make(chan struct{}),
		shutdownDone: make(chan struct{}),
		kick:         make(chan struct{}, 1),
		stop:         make(chan struct{}),
		abort:        make(chan struct{}),
		flusherExit:  make(chan struct{}),
		sem:          make(chan struct{}, inFlightFor(exp, cfg.maxInFlight)),
		pend:         newRing(cfg.maxQueueSpans),
		spares:       make([][]entry, n),
		resSizes:     make(map[*resource.Resource]int),
	}
	p.exportCtx, p.cancelExports = context.WithCancel(context.Background())
	go p.run()
	return p, nil
}

// shardCount picks a power of two, at most 4 per CPU and 16, such that each
// shard can still hold a full batch by spans and by bytes.
func shardCount(c config, procs int) int {
	n := 1
	for next := n * 2; next <= min(maxShards, 4*procs) &&
		c.maxQueueSpans/next >= c.maxBatchSpans && c.maxQueueBytes/next >= c.maxBatchBytes; next *= 2 {
		n = next
	}
	return n
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
	sid := sc.SpanID()
	i := int(sid[7]^sid[6]) & p.shardMask
	if !p.cfg.blocking && p.shards[i].fullHint.Load() {
		p.fastDrop(&p.shards[i]) // the queue is full: no lock, no sizing
		return
	}
	i = p.lockShard(i)
	sh := &p.shards[i]
	if sh.closed {
		p.dropLocked(sh, idxAfterShutdown)
		return
	}
	if sh.charged-sh.releasedN.Load() >= p.spanCap && !p.cfg.blocking {
		p.full(sh) // without sizing the span: the cheapest way out of a flood
		return
	}
	size, exact := spanSize(s, sc, false)
	switch {
	case size > p.cfg.maxBatchBytes && exact:
		p.dropLocked(sh, idxTooLarge)
	case p.fitsLocked(sh, size):
		p.pushLocked(sh, entry{span: s, size: size, shard: i, exact: exact})
	case p.cfg.blocking:
		sh.mu.Unlock()
		p.enqueueBlocking(entry{span: s, size: size, exact: exact}, i)
	default:
		p.full(sh)
	}
}

// full drops a span for lack of room in a locked shard and unlocks it. Until
// the flusher makes room, further spans for this shard take fastDrop.
func (p *Processor) full(sh *shard) {
	sh.fullHint.Store(true)
	p.dropLocked(sh, idxQueueFull)
	p.pressureWake()
}

// fastDrop drops a span with queue_full without taking the shard's lock.
func (p *Processor) fastDrop(sh *shard) {
	sh.fastDrops.Add(1)
	p.notifyDrop(QueueFull, 1)
	p.pressureWake()
}

// pressureWake tells the flusher the queue is full, so that it sends even a
// partial batch.
func (p *Processor) pressureWake() {
	if !p.pressure.Load() {
		p.pressure.Store(true)
	}
	p.wake()
}

// lockShard locks shard i, or the first of the following ones that is free,
// and returns the index it locked.
func (p *Processor) lockShard(i int) int {
	for k := range len(p.shards) {
		j := (i + k) & p.shardMask
		if p.shards[j].mu.TryLock() {
			return j
		}
	}
	p.shards[i].mu.Lock()
	return i
}

func (p *Processor) fitsLocked(sh *shard, size int) bool {
	return sh.charged-sh.releasedN.Load() < p.spanCap &&
		sh.chargedB-sh.releasedB.Load()+int64(size) <= p.byteCap
}

// pushLocked queues e in shard sh (e.shard) and unlocks it.
func (p *Processor) pushLocked(sh *shard, e entry) {
	sh.in = append(sh.in, e)
	sh.inBytes += e.size
	sh.charged++
	sh.chargedB += int64(e.size)
	sh.enqueued++
	kick := len(sh.in) >= p.kickSpans || sh.inBytes >= p.kickBytes
	sh.mu.Unlock()
	if kick {
		p.wake()
	}
}

// dropLocked counts one span dropped by OnEnd and unlocks the shard.
func (p *Processor) dropLocked(sh *shard, reason int) {
	sh.enqueued++
	sh.dropped[reason]++
	sh.mu.Unlock()
	p.notifyDrop(reasons[reason], 1)
}

// wake wakes the flusher unless it is already awake and has not collected.
func (p *Processor) wake() {
	if !p.kicked.Load() && p.kicked.CompareAndSwap(false, true) {
		p.signal(p.kick)
	}
}

func (*Processor) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// enqueueBlocking waits for room, at most the blocking timeout.
func (p *Processor) enqueueBlocking(e entry, i int) {
	var timer *time.Timer
	expired := false
	for {
		p.mu.Lock()
		if p.spaceWait == nil {
			p.spaceWait = make(chan struct{})
		}
		ch := p.spaceWait
		p.mu.Unlock()

		j := p.lockShard(i)
		sh := &p.shards[j]
		switch {
		case sh.closed:
			p.dropLocked(sh, idxAfterShutdown)
			return
		case p.fitsLocked(sh, e.size):
			e.shard = j
			p.pushLocked(sh, e)
			return
		case expired:
			p.dropLocked(sh, idxQueueFull)
			return
		}
		sh.mu.Unlock()
		p.pressureWake()
		if timer == nil {
			timer = time.NewTimer(p.cfg.blockTimeout)
			defer timer.Stop()
		}
		select {
		case <-ch:
		case <-timer.C:
			expired = true
		}
	}
}

// notifyDrop reports n spans dropped for r to the OnDrop callback and marks
// that there is something to log.
func (p *Processor) notifyDrop(r DropReason, n int) {
	if n <= 0 {
		return
	}
	if !p.dropSeen.Load() {
		p.dropSeen.Store(true)
	}
	if p.cfg.onDrop != nil {
		p.cfg.onDrop(r, n)
	}
}

// Stats returns a consistent snapshot of the processor's counters.
func (p *Processor) Stats() Stats {
	for i := range p.shards {
		p.shards[i].mu.Lock()
	}
	p.mu.Lock()
	st := Stats{
		Exported:    p.exported,
		Queued:      p.pendQueued,
		QueuedBytes: p.pendBytes,
		InFlight:    p.inflight,
	}
	dropped := p.dropped
	p.mu.Unlock()
	for i := range p.shards {
		sh := &p.shards[i]
		fast := sh.fastDrops.Load()
		st.Enqueued += sh.enqueued + fast
		st.Queued += len(sh.in)
		st.QueuedBytes += sh.inBytes
		for r := range dropped {
			dropped[r] += sh.dropped[r]
		}
		dropped[idxQueueFull] += fast
		sh.mu.Unlock()
	}
	st.Dropped = dropCountsOf(dropped)
	return st
}

// run is the flusher goroutine: it cuts batches when a shard is full enough,
// when the interval passes, when ForceFlush asks and when Shutdown drains, and
// starts an export for each while fewer than MaxInFlight run.
func (p *Processor) run() {
	defer close(p.flusherExit)
	timer := time.NewTimer(p.cfg.interval)
	defer timer.Stop()
	for {
		var all uint64 // send partial batches up to everything collected
		draining := false
		select {
		case <-p.kick:
		case <-timer.C:
			all = 1
			timer.Reset(p.cfg.interval)
		case <-p.stop:
			draining = true
			all = math.MaxUint64
		}
		ok := p.dispatch(all, timer)
		if draining || !ok {
			p.finishFlusher()
			return
		}
		p.maybeWarn(false)
	}
}

// dispatch starts exports while a full batch is pending or partial batches are
// due: all=1 makes everything its first collect finds due, all=MaxUint64
// everything from now on. It returns false if Shutdown aborted it.
//
// Each export runs in exportLoop, which after its export takes the next due
// batch itself: when the program keeps every CPU busy, handing each batch back
// through the flusher would add a scheduling delay per export.
func (p *Processor) dispatch(all uint64, timer *time.Timer) bool {
	for {
		p.cutMu.Lock()
		due := p.collectDue(all)
		p.cutMu.Unlock()
		all = 0 // the targets it set persist in p.until
		if !due {
			return true
		}
	wait: // for an export slot; exports can take long, so keep the interval
		for {
			select {
			case p.sem <- struct{}{}:
				break wait
			case <-p.abort:
				return false
			case <-timer.C:
				timer.Reset(p.cfg.interval)
				all = 1
				p.maybeWarn(false)
			}
		}
		b := p.next(all)
		if b == nil {
			<-p.sem
			continue
		}
		// Hand the processor to the new goroutine at once (a new goroutine
		// runs next on this P once the flusher blocks): when the program keeps
		// every CPU busy, it would otherwise wait behind the program's
		// goroutines for a time slice while holding an export slot.
		started := make(chan struct{})
		go p.exportLoop(b, started)
		<-started
	}
}

// exportLoop exports b, then keeps exporting due batches while there are any,
// holding one export slot throughout.
func (p *Processor) exportLoop(b *exportBatch, started chan struct{}) {
	close(started)
	for b != nil {
		p.export(b)
		b = p.next(0)
	}
	<-p.sem
}

// next collects and cuts the next due batch, or returns nil if none is due or
// Shutdown aborted. all is as for dispatch.
func (p *Processor) next(all uint64) *exportBatch {
	tooLarge := 0
	defer func() { p.notifyDrop(TooLarge, tooLarge) }()
	p.cutMu.Lock()
	defer p.cutMu.Unlock()
	for {
		select {
		case <-p.abort:
			return nil
		default:
		}
		if !p.collectDue(all) {
			return nil
		}
		all = 0
		b, n := p.cut()
		tooLarge += n
		if b != nil {
			return b
		}
	}
}

// collectDue collects and reports whether a batch is due: a full one is
// pending, the queue refused spans since the last cut, or a flush target
// (interval, ForceFlush, Shutdown) is not reached yet. Called with cutMu held.
func (p *Processor) collectDue(all uint64) bool {
	pressure, until := p.collect(all)
	p.pressured = p.pressured || pressure
	n := p.pend.n
	return n > 0 && (n >= p.cfg.maxBatchSpans || p.pendBytes >= p.cfg.maxBatchBytes ||
		p.pressured || p.headSeq < until)
}

// collect moves every shard's buffer to p.pend (swapping in a spare, so each
// shard lock is held only briefly), gives pending ForceFlush calls their
// target, and returns the pressure flag and the partial-batch target. all=1
// raises the target to everything collected; all=MaxUint64 to everything.
func (p *Processor) collect(all uint64) (pressure bool, until uint64) {
	p.kicked.Store(false)
	pressure = p.pressure.Swap(false)
	p.mu.Lock()
	reqs := p.requests
	p.requests = nil
	p.mu.Unlock()

	for j := range p.shards {
		sh := &p.shards[j]
		sh.mu.Lock()
		got := sh.in
		if len(got) == 0 {
			sh.mu.Unlock()
			continue
		}
		gotBytes := sh.inBytes
		sh.in, sh.inBytes = p.spares[j], 0
		p.mu.Lock()
		p.pendQueued += len(got)
		p.pendBytes += gotBytes
		p.tailSeq += uint64(len(got))
		p.mu.Unlock()
		sh.mu.Unlock()
		for _, e := range got {
			p.pend.push(e)
		}
		clear(got)
		p.spares[j] = got[:0]
	}

	p.mu.Lock()
	for _, w := range reqs {
		w.target = p.tailSeq
		p.until = max(p.until, w.target)
		p.waiters = append(p.waiters, w)
	}
	switch all {
	case 0:
	case math.MaxUint64:
		p.until = all
	default:
		p.until = max(p.until, p.tailSeq)
	}
	p.releaseWaitersLocked()
	until = p.until
	p.mu.Unlock()
	return pressure, until
}

// cut takes the next batch off p.pend: at most MaxBatchSpans spans whose
// estimated request size stays within MaxBatchBytes. A span that does not fit
// even alone is dropped with too_large. It returns nil if every span it looked
// at was too large.
func (p *Processor) cut() (*exportBatch, int) {
	bp, _ := p.slices.Get().(*[]sdktrace.ReadOnlySpan)
	if bp == nil {
		s := make([]sdktrace.ReadOnlySpan, 0, p.cfg.maxBatchSpans)
		bp = &s
	}
	spans := (*bp)[:0]
	var (
		used, popped, poppedBytes, tooLarge int
		lastRes                             *resource.Resource
		lastScope                           instrumentation.Scope
		relN, relB                          [maxShards]int64
	)
	for p.pend.n > 0 && len(spans) < p.cfg.maxBatchSpans {
		e := p.pend.peek()
		add := e.size
		if !e.exact { // measure the slice attributes OnEnd only guessed
			add, _ = spanSize(e.span, e.span.SpanContext(), true)
		}
		res := e.span.Resource()
		newRes := len(spans) == 0 || res != lastRes
		if newRes {
			add += p.resourceOverhead(res)
		}
		sc := e.span.InstrumentationScope()
		if newRes || sc != lastScope {
			add += scopeOverhead(sc)
		}
		fits := used+add <= p.cfg.maxBatchBytes
		if !fits && len(spans) > 0 {
			break
		}
		ent := p.pend.pop()
		popped++
		poppedBytes += ent.size
		relN[ent.shard]++
		relB[ent.shard] += int64(ent.size)
		if !fits {
			tooLarge++ // alone too large: only possible while len(spans) == 0
			continue
		}
		spans = append(spans, ent.span)
		used += add
		lastRes, lastScope = res, sc
	}
	for j := range p.shards {
		if relN[j] > 0 {
			sh := &p.shards[j]
			sh.releasedB.Add(relB[j])
			sh.releasedN.Add(relN[j])
			sh.fullHint.Store(false)
		}
	}

	var b *exportBatch
	p.mu.Lock()
	if len(spans) > 0 {
		b = &exportBatch{start: p.headSeq + uint64(tooLarge), spans: spans, buf: bp}
		p.running = append(p.running, b)
		p.inflight += len(spans)
	}
	if popped > 0 {
		p.pressured = false
	}
	p.pendQueued -= popped
	p.pendBytes -= poppedBytes
	p.headSeq += uint64(popped)
	p.dropped[idxTooLarge] += uint64(tooLarge)
	if p.spaceWait != nil {
		close(p.spaceWait)
		p.spaceWait = nil
	}
	p.releaseWaitersLocked()
	p.mu.Unlock()
	if b == nil {
		*bp = spans
		p.slices.Put(bp)
	}
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

	n, failed := len(b.spans), 0
	if err != nil {
		failed = n
		if rejected, ok := partialRejected(err); ok {
			failed = min(rejected, n)
		}
	}
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
	p.checkIdleLocked()
	p.mu.Unlock()

	p.notifyDrop(ExportFailed, failed)
	clear(b.spans)
	*b.buf = b.spans[:0]
	p.slices.Put(b.buf)
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

// watermarkLocked is the sequence number below which every collected span is
// exported or dropped.
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
	n := p.dropLeftovers()
	p.notifyDrop(AfterShutdown, n)
}

// dropLeftovers drops what is still queued and marks the flusher gone.
func (p *Processor) dropLeftovers() int {
	p.cutMu.Lock()
	defer p.cutMu.Unlock()
	for p.pend.n > 0 {
		p.pend.pop()
	}
	n := 0
	for j := range p.shards {
		sh := &p.shards[j]
		sh.mu.Lock()
		k := len(sh.in)
		clear(sh.in)
		sh.in, sh.inBytes = sh.in[:0], 0
		p.mu.Lock()
		p.dropped[idxAfterShutdown] += uint64(k)
		p.mu.Unlock()
		sh.mu.Unlock()
		n += k
	}
	p.mu.Lock()
	k := p.pendQueued
	p.dropped[idxAfterShutdown] += uint64(k)
	p.headSeq += uint64(k)
	p.pendQueued, p.pendBytes = 0, 0
	n += k
	p.leftover += n
	p.flusherGone = true
	p.releaseWaitersLocked()
	p.checkIdleLocked()
	p.mu.Unlock()
	return n
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
	w := &flushWaiter{target: math.MaxUint64, done: make(chan struct{})}
	p.requests = append(p.requests, w)
	p.mu.Unlock()
	p.signal(p.kick)

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
	st := p.Stats()
	p.mu.Lock()
	defer p.mu.Unlock()
	del := func(x *flushWaiter) bool { return x == w }
	p.requests = slices.DeleteFunc(p.requests, del)
	p.waiters = slices.DeleteFunc(p.waiters, del)
	ue := &UndeliveredError{Op: "flush", Err: ctx.Err()}
	if w.target == math.MaxUint64 { // the flusher never collected for it
		ue.Queued, ue.InFlight = st.Queued, st.InFlight
		return ue
	}
	if w.target > p.headSeq {
		ue.Queued = int(min(w.target-p.headSeq, uint64(p.pendQueued)))
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
	for i := range p.shards {
		sh := &p.shards[i]
		sh.mu.Lock()
		sh.closed = true
		sh.fullHint.Store(false)
		sh.mu.Unlock()
	}
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
	for _, w := range p.requests {
		close(w.done)
	}
	p.waiters, p.requests = nil, nil
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
	if !p.dropSeen.Swap(false) && !force {
		return
	}
	cur := p.Stats().Dropped
	since := DropCounts{
		QueueFull:     cur.QueueFull - p.warned.QueueFull,
		TooLarge:      cur.TooLarge - p.warned.TooLarge,
		ExportFailed:  cur.ExportFailed - p.warned.ExportFailed,
		AfterShutdown: cur.AfterShutdown - p.warned.AfterShutdown,
	}
	if since.Total() == 0 {
		return
	}
	p.mu.Lock()
	lastErr := p.lastErr
	p.lastErr = nil
	p.mu.Unlock()

	p.lastWarn = now
	p.warned = cur
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
