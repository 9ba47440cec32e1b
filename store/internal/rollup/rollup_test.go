package rollup

import (
	"slices"
	"testing"
)

func TestSplitWindow(t *testing.T) {
	h := HourNS
	for _, tc := range []struct {
		start, end int64
		h0, h1     int64
		edges      [][2]int64
	}{
		{0, 2 * h, 0, 2, nil},
		{1, 2 * h, 1, 2, [][2]int64{{1, h}}},
		{1, 2*h + 1, 1, 2, [][2]int64{{1, h}, {2 * h, 2*h + 1}}},
		{1, h - 1, 0, 0, [][2]int64{{1, h - 1}}},
		{-h - 1, -1, 0, 0, [][2]int64{{-h - 1, -1}}},
		{-2 * h, 0, -2, 0, nil},
	} {
		w := SplitWindow(tc.start, tc.end)
		if w.H0 != tc.h0 || w.H1 != tc.h1 || !slices.Equal(w.Edges, tc.edges) {
			t.Errorf("SplitWindow(%d, %d) = %+v, want hours [%d, %d) edges %v", tc.start, tc.end, w, tc.h0, tc.h1, tc.edges)
		}
	}
	if HourOf(-1) != -1 || HourOf(0) != 0 || HourOf(h) != 1 {
		t.Errorf("HourOf(-1, 0, h) = %d %d %d", HourOf(-1), HourOf(0), HourOf(h))
	}
}
