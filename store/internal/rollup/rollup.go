// Package rollup is the arithmetic of hourly usage rollups that every
// store shares: which Unix hour a time falls in, and how a usage window
// splits into the whole hours the rollups serve and the partial hours at
// its edges, read from raw spans.
package rollup

// HourNS is the width of a rollup bucket, in nanoseconds.
const HourNS = int64(3600e9)

// FloorDiv is a / b rounded down (toward negative infinity).
func FloorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// CeilDiv is a / b rounded up.
func CeilDiv(a, b int64) int64 { return -FloorDiv(-a, b) }

// HourOf returns the Unix hour holding ns.
func HourOf(ns int64) int64 { return FloorDiv(ns, HourNS) }

// Window is a usage window [Start, End) in Unix nanoseconds, split into
// the whole hours [H0, H1) (none when H0 >= H1) and the raw edges before
// and after them.
type Window struct {
	Start, End int64
	H0, H1     int64
	Edges      [][2]int64
}

// SplitWindow splits [start, end).
func SplitWindow(start, end int64) Window {
	w := Window{Start: start, End: end, H0: CeilDiv(start, HourNS), H1: FloorDiv(end, HourNS)}
	if w.H0 >= w.H1 {
		w.H0, w.H1 = 0, 0
		w.Edges = append(w.Edges, [2]int64{start, end})
		return w
	}
	if a, b := start, w.H0*HourNS; a < b {
		w.Edges = append(w.Edges, [2]int64{a, b})
	}
	if a, b := w.H1*HourNS, end; a < b {
		w.Edges = append(w.Edges, [2]int64{a, b})
	}
	return w
}
