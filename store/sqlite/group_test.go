package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/storetest"
)

var errInjected = errors.New("injected insert failure")

// blockWriter makes the writer wait in its next insert until the returned
// release is called, so that calls made meanwhile queue up and are written
// as one group. fail reports whether a call's insert fails.
func blockWriter(s *Store, fail func(spans []store.Span) bool) (entered <-chan struct{}, release func()) {
	in := make(chan struct{})
	gate := make(chan struct{})
	var once sync.Once
	first := true
	s.insertHook = func(spans []store.Span) error {
		if first {
			first = false
			close(in)
			<-gate
		}
		if fail != nil && fail(spans) {
			return errInjected
		}
		return nil
	}
	return in, func() { once.Do(func() { close(gate) }) }
}

// waitQueued waits until n calls wait in the writer's queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		if len(s.reqs) >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d calls queued, want %d", len(s.reqs), n)
}

func llmSpans(trace, first, n int, session string) []store.Span {
	out := make([]store.Span, n)
	for i := range out {
		sp := storetest.NewSpan(trace, first+i, "", storetest.T0.Add(time.Duration(first+i)*time.Second))
		sp.Type, sp.LLMRequest = "llm", true
		sp.InputTokens, sp.OutputTokens, sp.CostNanoUSD = 10, 1, 100
		sp.SessionID, sp.TenantID = session, "t"
		out[i] = sp
	}
	return out
}

// TestGroupCommit: calls that wait while a transaction is written are
// written together; a call whose insert fails gets the error and nothing
// of it is stored, the others are committed, their rollups exact, and a
// span sent twice in one group is stored once.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	entered, release := blockWriter(s, func(spans []store.Span) bool { return spans[0].SessionID == "bad" })
	defer release()

	type result struct {
		name string
		res  store.WriteResult
		err  error
	}
	results := make(chan result, 8)
	write := func(name string, spans []store.Span) {
		res, err := s.WriteSpans(ctx, spans)
		results <- result{name, res, err}
	}
	go write("first", llmSpans(1, 0, 3, "s"))
	<-entered // the writer is inside the first call's transaction
	go write("ok1", llmSpans(2, 100, 5, "s"))
	go write("bad", llmSpans(3, 200, 4, "bad"))
	go write("ok2", append(llmSpans(4, 300, 2, "s"), llmSpans(2, 100, 1, "s")...)) // one span of ok1 again
	waitQueued(t, s, 3)
	release()
	got := map[string]result{}
	for i := 0; i < 4; i++ {
		r := <-results
		got[r.name] = r
	}
	if r := got["first"]; r.err != nil || r.res.Inserted != 3 {
		t.Errorf("first = %+v", r)
	}
	// ok1 and ok2 share a span: whichever was queued first stored it.
	ok1, ok2 := got["ok1"], got["ok2"]
	if ok1.err != nil || ok2.err != nil || ok1.res.Inserted+ok2.res.Inserted != 7 || ok1.res.Duplicates+ok2.res.Duplicates != 1 ||
		ok1.res.Inserted+ok1.res.Duplicates != 5 || ok2.res.Inserted+ok2.res.Duplicates != 3 {
		t.Errorf("ok1 = %+v, ok2 = %+v; want 7 new spans and their shared one once a duplicate", ok1, ok2)
	}
	if r := got["bad"]; !errors.Is(r.err, errInjected) {
		t.Errorf("bad = %+v, want the injected error", r)
	}
	u, err := s.SessionUsage(ctx, store.UsageQuery{SessionID: "s", Start: storetest.T0, End: storetest.T0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if u.Spans != 10 || u.Requests != 10 || u.InputTokens != 100 || u.CostNanoUSD != 1000 {
		t.Errorf("session usage = %+v, want the 10 distinct spans", u)
	}
	if u, _ := s.SessionUsage(ctx, store.UsageQuery{SessionID: "bad", Start: storetest.T0, End: storetest.T0.Add(time.Hour)}); u.Spans != 0 {
		t.Errorf("the failed call's spans were stored: %+v", u)
	}
	if _, err := s.GetTrace(ctx, storetest.TraceID(3), ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the failed call's trace: %v, want ErrNotFound", err)
	}
	page, err := s.ListSpansByTrace(ctx, store.TraceSpansQuery{TraceID: storetest.TraceID(2)})
	if err != nil || len(page.Spans) != 5 {
		t.Errorf("trace 2: %d spans (%v), want 5", len(page.Spans), err)
	}
	tr, err := s.GetTrace(ctx, storetest.TraceID(2), "")
	if err != nil || tr.SpanCount != 5 || tr.CostNanoUSD != 500 {
		t.Errorf("trace 2 summary = %+v (%v)", tr, err)
	}
}

// TestGroupCommitAbandoned: a call whose ctx ends while it waits for the
// writer returns the ctx's error and writes nothing; Close answers the
// calls queued before it.
func TestGroupCommitAbandoned(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	entered, release := blockWriter(s, nil)
	defer release()
	errc := make(chan error, 3)
	go func() { _, err := s.WriteSpans(ctx, llmSpans(1, 0, 1, "s")); errc <- err }()
	<-entered
	cctx, cancel := context.WithCancel(ctx)
	go func() { _, err := s.WriteSpans(cctx, llmSpans(2, 10, 1, "s")); errc <- err }()
	go func() { _, err := s.WriteSpans(ctx, llmSpans(3, 20, 1, "s")); errc <- err }()
	waitQueued(t, s, 2)
	cancel()
	var abandoned, ok int
	for i := 0; i < 1; i++ {
		if err := <-errc; errors.Is(err, context.Canceled) {
			abandoned++
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	release()
	for i := 0; i < 2; i++ {
		if err := <-errc; err == nil {
			ok++
		}
	}
	if abandoned != 1 || ok != 2 {
		t.Fatalf("abandoned %d, ok %d; want 1 and 2", abandoned, ok)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteSpans(ctx, llmSpans(4, 30, 1, "s")); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	u, err := s2.SessionUsage(ctx, store.UsageQuery{SessionID: "s", Start: storetest.T0, End: storetest.T0.Add(time.Hour)})
	if err != nil || u.Spans != 2 {
		t.Fatalf("stored %+v (%v), want the two calls that were not abandoned", u, err)
	}
	if _, err := s2.GetTrace(ctx, storetest.TraceID(2), ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("abandoned trace: %v, want ErrNotFound", err)
	}
}

// TestWriterPanic: a panic while writing fails the calls of that group with
// an error and the writer goes on.
func TestWriterPanic(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.insertHook = func(spans []store.Span) error {
		if spans[0].SessionID == "boom" {
			panic("boom")
		}
		return nil
	}
	if _, err := s.WriteSpans(ctx, llmSpans(1, 0, 2, "boom")); err == nil || !strings.Contains(err.Error(), "writer panic: boom") {
		t.Fatalf("WriteSpans = %v, want the writer's panic as an error", err)
	}
	if res, err := s.WriteSpans(ctx, llmSpans(2, 10, 2, "s")); err != nil || res.Inserted != 2 {
		t.Fatalf("after the panic: %+v, %v", res, err)
	}
	if _, err := s.GetTrace(ctx, storetest.TraceID(1), ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the panicked write was stored: %v", err)
	}
}
