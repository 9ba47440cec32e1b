package storetest

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/agenttrace/agenttrace/store"
)

// retentionData is usageData over three days (T0, T0+24h, T0+48h), one
// trace per span.
func retentionData(r *rand.Rand, n int) []store.Span {
	data := usageData(r, n)
	for i := range data {
		d := time.Duration(i%3) * 24 * time.Hour
		data[i].Start, data[i].End = data[i].Start.Add(d), data[i].End.Add(d)
	}
	return data
}

// checkRemaining compares usage over windows around cutoff, the span list
// and trace summaries with what is left of data after expiry at cutoff.
func checkRemaining(t *testing.T, st store.Store, data []store.Span, cutoff time.Time) {
	t.Helper()
	ctx := context.Background()
	var left []store.Span
	for _, sp := range data {
		if !sp.Start.Before(cutoff) {
			left = append(left, sp)
		}
	}
	wins := [][2]time.Time{
		{T0.Add(-time.Hour), T0.Add(80 * time.Hour)},
		{cutoff.Add(-time.Hour), cutoff.Add(time.Hour)},               // whole hours across the edge
		{cutoff.Add(-30 * time.Minute), cutoff.Add(30 * time.Minute)}, // partial hours across it
		{cutoff, cutoff.Add(90 * time.Minute)},
		{cutoff.Add(-time.Nanosecond), cutoff.Add(time.Nanosecond)},
		{T0, cutoff}, // all expired
	}
	for _, w := range wins {
		for _, s := range []string{"s1", "s2", "s4"} {
			for _, tn := range []string{"acme", "globex"} {
				want := bruteUsage(left, func(sp *store.Span) bool { return sp.SessionID == s && sp.TenantID == tn }, w[0], w[1])
				want.Sessions = 0
				if got := sessionUsage(t, st, s, tn, w[0], w[1]); got != want {
					t.Fatalf("after expiry at %v: SessionUsage(%s of %s, [%v, %v))\n got %+v\nwant %+v", cutoff, s, tn, w[0], w[1], got, want)
				}
			}
		}
		for _, tn := range []string{"acme", "globex"} {
			want := bruteUsage(left, func(sp *store.Span) bool { return sp.TenantID == tn }, w[0], w[1])
			if got := tenantUsage(t, st, tn, w[0], w[1]); got != want {
				t.Fatalf("after expiry at %v: TenantUsage(%s, [%v, %v))\n got %+v\nwant %+v", cutoff, tn, w[0], w[1], got, want)
			}
		}
	}
	n := 0
	q := store.SpanQuery{Limit: store.MaxLimit}
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("span pagination does not end")
		}
		p, err := st.ListSpans(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, sp := range p.Spans {
			if sp.Start.Before(cutoff) {
				t.Fatalf("span %s of %v is still listed after expiry at %v", sp.SpanID, sp.Start, cutoff)
			}
		}
		n += len(p.Spans)
		if !p.HasMore {
			break
		}
		pos := p.Spans[len(p.Spans)-1].Position()
		q.Cursor = &pos
	}
	if n != len(left) {
		t.Fatalf("after expiry at %v: %d spans listed, want %d", cutoff, n, len(left))
	}
	for _, sp := range data[:60] {
		_, err := st.GetTrace(ctx, sp.TraceID, sp.TenantID)
		if sp.Start.Before(cutoff) && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("trace of %v after expiry at %v: %v, want ErrNotFound", sp.Start, cutoff, err)
		}
		if !sp.Start.Before(cutoff) && err != nil {
			t.Fatalf("trace of %v after expiry at %v: %v", sp.Start, cutoff, err)
		}
	}
}

// testRetention: DeleteBefore removes what started before its (rounded)
// cutoff, and usage over what remains stays exact, at an hour edge and
// across it; a second call removes nothing more; ingest goes on after.
func testRetention(t *testing.T, st store.Store) {
	ret, ok := st.(store.Retainer)
	if !ok {
		t.Fatalf("%T does not implement store.Retainer", st)
	}
	ctx := context.Background()
	data := retentionData(rand.New(rand.NewPCG(7, 8)), 900)
	for i := 0; i < len(data); i += 128 {
		write(t, st, data[i:min(i+128, len(data))]...)
	}
	count := func(cutoff time.Time) int64 {
		var n int64
		for _, sp := range data {
			if sp.Start.Before(cutoff) {
				n++
			}
		}
		return n
	}
	// Not on an hour: the store rounds down, never up.
	asked := T0.Add(36*time.Hour + 20*time.Minute)
	exp, err := ret.DeleteBefore(ctx, asked)
	if err != nil {
		t.Fatalf("DeleteBefore: %v", err)
	}
	if exp.Cutoff.After(asked) || !exp.Cutoff.After(asked.Add(-24*time.Hour)) || exp.Cutoff.UnixNano()%int64(time.Hour) != 0 {
		t.Fatalf("DeleteBefore(%v) cut at %v, want an hour at or before it, within a day", asked, exp.Cutoff)
	}
	if exp.Spans != count(exp.Cutoff) {
		t.Fatalf("DeleteBefore(%v) = %+v, want %d spans removed", asked, exp, count(exp.Cutoff))
	}
	checkRemaining(t, st, data, exp.Cutoff)

	// On a day's edge (hence an hour's): exact.
	edge := T0.Add(48 * time.Hour)
	prev := exp.Cutoff
	exp, err = ret.DeleteBefore(ctx, edge)
	if err != nil {
		t.Fatalf("DeleteBefore: %v", err)
	}
	if !exp.Cutoff.Equal(edge) || exp.Spans != count(edge)-count(prev) {
		t.Fatalf("DeleteBefore(%v) = %+v, want cutoff %v and %d spans", edge, exp, edge, count(edge)-count(prev))
	}
	checkRemaining(t, st, data, edge)
	if again, err := ret.DeleteBefore(ctx, edge); err != nil || again.Spans != 0 || again.Traces != 0 {
		t.Fatalf("DeleteBefore again = %+v, %v; want nothing removed", again, err)
	}
	// Ingest goes on, around the edge and into expired hours (a late
	// span is stored and counted like any other until the next expiry).
	more := retentionData(rand.New(rand.NewPCG(9, 10)), 90)
	for i := range more {
		more[i].TraceID, more[i].SpanID = TraceID(5000+i), SpanID(5000+i)
	}
	write(t, st, more...)
	var left []store.Span
	for _, sp := range data {
		if !sp.Start.Before(edge) {
			left = append(left, sp)
		}
	}
	all := append(left, more...)
	for _, w := range [][2]time.Time{{T0, T0.Add(80 * time.Hour)}, {edge.Add(-90 * time.Minute), edge.Add(30 * time.Minute)}} {
		want := bruteUsage(all, func(sp *store.Span) bool { return sp.TenantID == "acme" }, w[0], w[1])
		if got := tenantUsage(t, st, "acme", w[0], w[1]); got != want {
			t.Fatalf("after expiry and more ingest: TenantUsage [%v, %v)\n got %+v\nwant %+v", w[0], w[1], got, want)
		}
	}
}
