package budget

import (
	"context"
	"fmt"
	"time"
)

// fetch reads the server's figure for the current window unless the last
// read (or failed attempt) is younger than maxStale (0: read anyway). One
// read runs at a time; callers arriving meanwhile wait for it and use its
// answer.
func (t *Tracker) fetch(ctx context.Context, maxStale time.Duration) error {
	fresh := func() bool {
		return maxStale > 0 && !t.srvAt.IsZero() && time.Since(t.srvAt) < maxStale
	}
	t.mu.Lock()
	t.roll(time.Now())
	ok := fresh()
	t.mu.Unlock()
	if ok {
		return nil
	}
	t.fetchMu.Lock()
	defer t.fetchMu.Unlock()
	t.mu.Lock()
	now := time.Now()
	t.roll(now)
	if fresh() {
		t.mu.Unlock()
		return nil
	}
	start, local := t.winStart, t.spent
	t.mu.Unlock()

	spent, unknown, err := t.read(ctx, start, start.Add(t.limit.window))

	t.mu.Lock()
	if !t.winStart.Equal(start) { // a new window began meanwhile
		t.mu.Unlock()
		return nil
	}
	t.srvAt = now
	if err != nil {
		t.srvErr = err
		t.mu.Unlock()
		return err
	}
	t.srvErr = nil
	t.srvRead, t.srvSpent, t.srvUnknown, t.localAtSrv = true, spent, unknown, local
	crossed := t.crossedLocked()
	t.mu.Unlock()
	t.fire(crossed)
	return nil
}

// read asks the server for the spend and the calls of unknown usage of
// the session or tenant in [start, end).
func (t *Tracker) read(ctx context.Context, start, end time.Time) (NanoUSD, int64, error) {
	c := t.limit.server
	switch t.scope {
	case ScopeSession:
		u, err := c.GetSessionUsage(ctx, t.id, start, end)
		if err != nil {
			return 0, 0, fmt.Errorf("budget: reading session %q usage: %w", t.id, err)
		}
		return NanoUSD(u.TotalCostNanoUSD), u.UnknownUsageCount, nil
	case ScopeTenant:
		u, err := c.GetTenantUsage(ctx, t.id, start, end)
		if err != nil {
			return 0, 0, fmt.Errorf("budget: reading tenant %q usage: %w", t.id, err)
		}
		return NanoUSD(u.TotalCostNanoUSD), u.UnknownUsageCount, nil
	}
	return 0, 0, nil
}
