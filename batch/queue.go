package batch

import sdktrace "go.opentelemetry.io/otel/sdk/trace"

// entry is a queued span with its estimated encoded size.
type entry struct {
	span  sdktrace.ReadOnlySpan
	size  int  // estimated size, as charged to the queue's byte bound
	exact bool // size is an upper bound, not a guess for slice attributes
}

// ring is a FIFO of entries that grows by doubling up to max entries. It is
// not safe for concurrent use; the Processor guards it with its lock.
type ring struct {
	buf  []entry
	head int // index of the oldest entry
	n    int // number of entries
	max  int
}

func newRing(maxEntries int) ring {
	return ring{buf: make([]entry, min(maxEntries, 1024)), max: maxEntries}
}

// push appends e; the caller makes sure the ring holds fewer than max
// entries.
func (r *ring) push(e entry) {
	if r.n == len(r.buf) {
		r.grow()
	}
	i := r.head + r.n
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	r.buf[i] = e
	r.n++
}

func (r *ring) grow() {
	nb := make([]entry, min(max(2*len(r.buf), 16), r.max))
	k := copy(nb, r.buf[r.head:])
	copy(nb[k:], r.buf[:r.head])
	r.buf = nb
	r.head = 0
}

// peek returns the oldest entry; the caller checks n > 0.
func (r *ring) peek() *entry { return &r.buf[r.head] }

// pop removes and returns the oldest entry; the caller checks n > 0.
func (r *ring) pop() entry {
	e := r.buf[r.head]
	r.buf[r.head] = entry{}
	r.head++
	if r.head == len(r.buf) {
		r.head = 0
	}
	r.n--
	return e
}
