package ingestlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestAppendReopen(t *testing.T) {
	dir := t.TempDir()
	l, recs, err := Open(dir, WithSegmentBytes(100))
	if err != nil || len(recs) != 0 {
		t.Fatalf("open: %v %d", err, len(recs))
	}
	for i := 0; i < 10; i++ {
		seq, err := l.Append(uint8(i%2), fmt.Sprint("tenant-", i%3), bytes.Repeat([]byte{byte(i)}, 40))
		if err != nil || seq != uint64(i+1) {
			t.Fatalf("append %d: %d %v", i, seq, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(0, "", nil); err != ErrClosed {
		t.Fatalf("append after close: %v", err)
	}
	l, recs, err = Open(dir, WithSegmentBytes(100))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 10 {
		t.Fatalf("reopened: %d records, want 10", len(recs))
	}
	for i, r := range recs {
		if r.Seq != uint64(i+1) || r.Flags != uint8(i%2) || r.Tenant != fmt.Sprint("tenant-", i%3) || !bytes.Equal(r.Payload, bytes.Repeat([]byte{byte(i)}, 40)) {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	// New records continue the numbering.
	if seq, err := l.Append(0, "", []byte("x")); err != nil || seq != 11 {
		t.Fatalf("append after reopen: %d %v", seq, err)
	}
	// Releasing the replayed records removes their segments; releasing
	// everything empties the current one.
	if err := l.Release(10); err != nil {
		t.Fatal(err)
	}
	if n := files(t, dir); n != 1 {
		t.Fatalf("%d segment files after releasing the replayed records, want 1", n)
	}
	if err := l.Release(11); err != nil {
		t.Fatal(err)
	}
	l.Close()
	_, recs, err = Open(dir)
	if err != nil || len(recs) != 0 {
		t.Fatalf("after releasing everything: %d records, %v", len(recs), err)
	}
}

// files counts the segment files in dir.
func files(t *testing.T, dir string) int {
	n, err := segments(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(n)
}

// A torn or corrupt tail ends the records: what precedes it is returned.
func TestTornTail(t *testing.T) {
	for _, damage := range []struct {
		name string
		f    func(b []byte) []byte
	}{
		{"torn", func(b []byte) []byte { return b[:len(b)-3] }},
		{"flipped", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"header only", func(b []byte) []byte { return append(b, 1, 2, 3) }},
	} {
		t.Run(damage.name, func(t *testing.T) {
			dir := t.TempDir()
			l, _, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				if _, err := l.Append(0, "t", []byte("payload")); err != nil {
					t.Fatal(err)
				}
			}
			l.Close()
			path := filepath.Join(dir, "00000001.log")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, damage.f(b), 0o600); err != nil {
				t.Fatal(err)
			}
			_, recs, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			want := 2
			if damage.name == "header only" {
				want = 3
			}
			if len(recs) != want {
				t.Fatalf("%d records, want %d", len(recs), want)
			}
		})
	}
}

func TestBadArguments(t *testing.T) {
	if _, _, err := Open(""); err == nil {
		t.Fatal("Open(\"\") succeeded")
	}
	l, _, err := Open(t.TempDir(), WithSync())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(0, string(make([]byte, 70000)), nil); err != ErrTooLarge {
		t.Fatalf("tenant of 70000 bytes: %v", err)
	}
	if seq, err := l.Append(0, "", []byte("synced")); err != nil || seq != 1 || l.Last() != 1 {
		t.Fatalf("synced append: %d %v", seq, err)
	}
}

// One process at a time: a second Open of the same directory fails until
// the first Log is closed.
func TestLocked(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("no flock(2) here: the caller keeps one process per log")
	}
	dir := t.TempDir()
	l, _, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, _, err = Open(dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	l.Close()
}
