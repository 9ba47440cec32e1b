// Package ingestlog is agenttrace serve's ingest log: an append-only file
// of request bodies, written before a request is answered and released
// once the store holds its spans, so that an answered request survives a
// crash of the process even while its spans are still being indexed.
//
// A record is one write(2) of a 12-byte header (payload length, CRC-32C,
// flags, tenant length), the tenant and the payload. A record is durable
// against a killed process once Append returns (it is in the kernel's page
// cache); with WithSync it is fsynced first, so it also survives a power
// loss. Open returns the records of an earlier run, oldest first; a torn or
// corrupt tail (a power loss during a write) ends a segment's records.
//
// The log is kept in numbered segment files in one directory. Release
// drops the segments whose records are all applied, and empties the
// current one when everything appended is.
package ingestlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ErrClosed is returned by Append on a closed Log.
var ErrClosed = errors.New("ingestlog: closed")

// ErrLocked is returned by Open when another process has the log open.
var ErrLocked = errors.New("ingestlog: the log is open in another process")

// ErrTooLarge is returned by Append for a record that cannot be logged.
var ErrTooLarge = errors.New("ingestlog: record too large")

const (
	headerSize = 12
	maxPayload = 1<<32 - 1
	maxTenant  = 1<<16 - 1
	// DefaultSegmentBytes is the size at which a segment is closed and a
	// new one started.
	DefaultSegmentBytes = 64 << 20
	suffix              = ".log"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record is one logged request.
type Record struct {
	// Seq numbers the records of a Log in append order, from 1 on; the
	// records Open returns are numbered first.
	Seq uint64
	// Flags are the caller's (8 bits).
	Flags uint8
	// Tenant is the caller's (at most 65535 bytes).
	Tenant string
	// Payload is the caller's bytes.
	Payload []byte
}

// Log is an open ingest log. Its methods are safe for concurrent use.
type Log struct {
	dir      string
	sync     bool
	segBytes int64

	lockf *os.File // holds the directory's lock file open (and locked)

	mu     sync.Mutex
	f      *os.File // current segment; nil once closed
	cur    int      // current segment's number
	size   int64    // current segment's size
	closed []segment
	seq    uint64 // last seq appended
	buf    []byte
}

// segment is a closed segment: its number and the seq of its last record.
type segment struct {
	n    int
	last uint64
}

// Option configures Open.
type Option func(*Log)

// WithSync makes Append fsync each record before it returns, so logged
// records survive a power loss, not only a killed process.
func WithSync() Option { return func(l *Log) { l.sync = true } }

// WithSegmentBytes sets the size at which a segment is closed (default
// DefaultSegmentBytes).
func WithSegmentBytes(n int64) Option {
	return func(l *Log) {
		if n > 0 {
			l.segBytes = n
		}
	}
}

// Open opens the log in dir, creating dir if needed, and returns the
// records an earlier run left there, oldest first, numbered from 1. The
// caller applies them and then calls Release with the last one's Seq.
func Open(dir string, opts ...Option) (*Log, []Record, error) {
	if dir == "" {
		return nil, nil, errors.New("ingestlog: empty directory")
	}
	l := &Log{dir: dir, segBytes: DefaultSegmentBytes}
	for _, o := range opts {
		o(l)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("ingestlog: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("ingestlog: %w", err)
	}
	if err := lock(lf); err != nil {
		lf.Close()
		return nil, nil, err
	}
	l.lockf = lf
	recs, err := l.load()
	if err != nil {
		lf.Close()
		return nil, nil, err
	}
	return l, recs, nil
}

// load reads the segments an earlier run left and starts a new one.
func (l *Log) load() ([]Record, error) {
	nums, err := segments(l.dir)
	if err != nil {
		return nil, err
	}
	var recs []Record
	for _, n := range nums {
		b, err := os.ReadFile(l.path(n))
		if err != nil {
			return nil, fmt.Errorf("ingestlog: %w", err)
		}
		for len(b) > 0 {
			r, rest, ok := parse(b)
			if !ok {
				break // torn or corrupt tail: what follows is not trusted
			}
			l.seq++
			r.Seq = l.seq
			recs = append(recs, r)
			b = rest
		}
		l.closed = append(l.closed, segment{n: n, last: l.seq})
		l.cur = n
	}
	if err := l.startSegment(); err != nil {
		return nil, err
	}
	return recs, nil
}

// segments returns the numbers of the segment files in dir, ascending.
func segments(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ingestlog: %w", err)
	}
	var nums []int
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), suffix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if n, err := strconv.Atoi(name); err == nil && n > 0 {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return nums, nil
}

func (l *Log) path(n int) string { return filepath.Join(l.dir, fmt.Sprintf("%08d%s", n, suffix)) }

// startSegment opens segment cur+1 as the current one.
func (l *Log) startSegment() error {
	l.cur++
	f, err := os.OpenFile(l.path(l.cur), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("ingestlog: %w", err)
	}
	l.f, l.size = f, 0
	return nil
}

// parse reads one record from b.
func parse(b []byte) (Record, []byte, bool) {
	if len(b) < headerSize {
		return Record{}, nil, false
	}
	n := int(binary.LittleEndian.Uint32(b[0:]))
	sum := binary.LittleEndian.Uint32(b[4:])
	t := int(binary.LittleEndian.Uint16(b[10:]))
	end := headerSize + t + n
	if end > len(b) || crc32.Checksum(b[8:end], castagnoli) != sum {
		return Record{}, nil, false
	}
	return Record{Flags: b[8], Tenant: string(b[headerSize : headerSize+t]), Payload: b[headerSize+t : end]}, b[end:], true
}

// Append logs a record in one write and returns its seq. On an error
// (a full disk, say) nothing of the record stays in the log.
func (l *Log) Append(flags uint8, tenant string, payload []byte) (uint64, error) {
	if len(payload) > maxPayload || len(tenant) > maxTenant {
		return 0, ErrTooLarge
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, ErrClosed
	}
	if l.size >= l.segBytes {
		if err := l.rotate(); err != nil {
			return 0, err
		}
	}
	end := headerSize + len(tenant) + len(payload)
	if cap(l.buf) < end {
		l.buf = make([]byte, end)
	}
	b := l.buf[:end]
	binary.LittleEndian.PutUint32(b[0:], uint32(len(payload)))
	b[8], b[9] = flags, 0
	binary.LittleEndian.PutUint16(b[10:], uint16(len(tenant)))
	copy(b[headerSize:], tenant)
	copy(b[headerSize+len(tenant):], payload)
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[8:], castagnoli))
	if cap(l.buf) > 4<<20 {
		defer func() { l.buf = nil }() // do not pin a huge buffer
	}
	_, err := l.f.Write(b)
	if err == nil && l.sync {
		err = l.f.Sync()
	}
	if err != nil {
		// Take back what was written of it, so that the log holds only
		// whole records answered as logged.
		if terr := l.f.Truncate(l.size); terr != nil {
			err = errors.Join(err, terr)
		}
		return 0, fmt.Errorf("ingestlog: append: %w", err)
	}
	l.size += int64(end)
	l.seq++
	return l.seq, nil
}

// rotate closes the current segment and starts the next.
func (l *Log) rotate() error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("ingestlog: %w", err)
	}
	l.closed = append(l.closed, segment{n: l.cur, last: l.seq})
	l.f = nil
	return l.startSegment()
}

// Release tells the log that every record up to seq is applied: it
// removes the segments holding only such records, and empties the current
// segment when seq is the last record appended.
func (l *Log) Release(seq uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	i := 0
	for ; i < len(l.closed) && l.closed[i].last <= seq; i++ {
		if err := os.Remove(l.path(l.closed[i].n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	l.closed = l.closed[i:]
	if l.f != nil && seq >= l.seq && l.size > 0 {
		if err := l.f.Truncate(0); err != nil {
			errs = append(errs, err)
		} else {
			l.size = 0
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ingestlog: release: %w", err)
	}
	return nil
}

// Last returns the seq of the last record appended (0 if none).
func (l *Log) Last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

// Close closes the log. Records not released stay in its files, for the
// next Open to return.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := errors.Join(l.f.Close(), l.lockf.Close()) // closing drops the lock
	l.f = nil
	if err != nil {
		return fmt.Errorf("ingestlog: %w", err)
	}
	return nil
}
