package budget

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Tracker is the spend of one budget: a trace's, or one session's or
// tenant's. The trace package makes them (trace.WithBudget,
// trace.WithSessionBudget, trace.WithTenantBudget); read them with
// Trace.Spent and Trace.Remaining, or Client.SessionBudget and
// Client.TenantBudget. A Tracker is safe for concurrent use; the methods of
// a nil *Tracker report no spend and no limit.
type Tracker struct {
	limit *Limit
	scope Scope
	id    string

	mu       sync.Mutex
	winStart time.Time
	spent    NanoUSD // local spend in the window
	reserved NanoUSD // worst cases of calls in flight (hard)
	unknown  int64   // calls of unknown cost in the window
	held     string  // why unknown cost holds the budget; "" when not held
	fired    []bool  // thresholds fired in the window

	// The server's figure (FromServer).
	srvRead    bool
	srvSpent   NanoUSD
	srvUnknown int64
	srvAt      time.Time
	localAtSrv NanoUSD // local spend when the read started
	fetchMu    sync.Mutex
	srvErr     error
}

// NewTracker returns a Tracker of l for the budget scope and id; nil when
// l is nil.
func NewTracker(l *Limit, scope Scope, id string) *Tracker {
	if l == nil {
		return nil
	}
	t := &Tracker{limit: l, scope: scope, id: id, fired: make([]bool, len(l.thresholds))}
	if l.window > 0 {
		t.winStart = time.Now().UTC().Truncate(l.window)
	}
	return t
}

// Scope returns the budget's scope.
func (t *Tracker) Scope() Scope {
	if t == nil {
		return ""
	}
	return t.scope
}

// ID returns the trace, session or tenant id the budget is for.
func (t *Tracker) ID() string {
	if t == nil {
		return ""
	}
	return t.id
}

// Limit returns the budget's amount (Unlimited for a nil Tracker).
func (t *Tracker) Limit() NanoUSD {
	if t == nil {
		return Unlimited
	}
	return t.limit.amount
}

// Spent returns what the budget has spent in its current window: the
// costs of this process's calls, or, with FromServer, the larger of that
// and the server's last figure plus this process's spend since.
func (t *Tracker) Spent() NanoUSD {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.roll(time.Now())
	return t.spentLocked()
}

// Remaining returns what is left: Limit - Spent, never below zero
// (Unlimited for a nil Tracker). Worst cases reserved by calls in flight
// are not subtracted.
func (t *Tracker) Remaining() NanoUSD {
	if t == nil {
		return Unlimited
	}
	return max(t.limit.amount-t.Spent(), 0)
}

// UnknownCalls returns how many calls of unknown cost ended in the current
// window in this process.
func (t *Tracker) UnknownCalls() int64 {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.roll(time.Now())
	return t.unknown
}

// Refresh reads the server's figure now (FromServer), whatever its age.
// It returns nil at once for a budget without FromServer.
func (t *Tracker) Refresh(ctx context.Context) error {
	if !t.usesServer() {
		return nil
	}
	return t.fetch(ctx, 0)
}

// usesServer reports whether the server's figure counts (FromServer on a
// session or tenant budget).
func (t *Tracker) usesServer() bool {
	return t != nil && t.limit.server != nil && t.scope != ScopeTrace
}

// roll starts a new window when now is past the current one.
func (t *Tracker) roll(now time.Time) {
	if t.limit.window <= 0 {
		return
	}
	w := now.UTC().Truncate(t.limit.window)
	if !w.After(t.winStart) {
		return
	}
	t.winStart = w
	t.spent, t.unknown, t.held = 0, 0, ""
	clear(t.fired)
	t.srvRead, t.srvSpent, t.srvUnknown, t.localAtSrv = false, 0, 0, 0
	t.srvAt = time.Time{}
}

func (t *Tracker) spentLocked() NanoUSD {
	if !t.srvRead {
		return t.spent
	}
	return max(t.spent, t.srvSpent+t.spent-t.localAtSrv)
}

// refuse builds the error of a refusal; t.mu is held.
func (t *Tracker) refuse(reason Reason, c *callCost, detail string) *ExceededError {
	e := &ExceededError{
		Scope: t.scope, ID: t.id, Limit: t.limit.amount, Spent: t.spentLocked(),
		Reserved: t.reserved, Reason: reason, Detail: detail,
	}
	if c != nil {
		e.Model = c.model
		if c.worstKnown {
			e.Cost = c.worst
		}
	}
	return e
}

// admit checks a call against the budget and, in hard mode, reserves its
// worst case. It returns what was reserved.
func (t *Tracker) admit(ctx context.Context, c *callCost) (NanoUSD, error) {
	l := t.limit
	if t.usesServer() {
		if err := t.fetch(ctx, l.maxStale); err != nil && ctx.Err() != nil {
			return 0, err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.roll(time.Now())
	spent := t.spentLocked()
	refuseUnknown := l.unknown == RefuseUnknown
	switch {
	case spent >= l.amount:
		return 0, t.refuse(ReasonSpent, c, "")
	case t.held != "" && refuseUnknown:
		return 0, t.refuse(ReasonUnknownCost, c, t.held)
	case t.usesServer() && !t.srvRead && refuseUnknown:
		detail := "the server's spend could not be read"
		if t.srvErr != nil {
			detail += ": " + t.srvErr.Error()
		}
		return 0, t.refuse(ReasonUnknownCost, c, detail)
	case t.srvUnknown > 0 && refuseUnknown:
		return 0, t.refuse(ReasonUnknownCost, c, fmt.Sprintf("the server holds %d calls of unknown usage in the window", t.srvUnknown))
	case !c.priceKnown && refuseUnknown:
		return 0, t.refuse(ReasonUnknownCost, c, "the price table does not list the model")
	}
	if l.mode != ModeHard {
		return 0, nil
	}
	if !c.worstKnown {
		if refuseUnknown {
			return 0, t.refuse(ReasonUnknownCost, c, "no maximum output tokens bound the call's worst case")
		}
		return 0, nil
	}
	if spent+t.reserved+c.worst > l.amount {
		return 0, t.refuse(ReasonWorstCase, c, "")
	}
	t.reserved += c.worst
	return c.worst, nil
}

// settle releases a call's reservation and charges its cost; a cost that
// is not known is charged by the unknown policy: the call's worst case
// when it is known, else a hold. It returns the thresholds crossed.
func (t *Tracker) settle(reserved, cost NanoUSD, known bool, worst NanoUSD, worstKnown bool, why string) []Crossing {
	t.mu.Lock()
	t.roll(time.Now())
	t.reserved -= reserved
	switch {
	case known:
		t.spent += max(cost, 0)
	default:
		t.unknown++
		if t.limit.unknown == RefuseUnknown {
			if worstKnown {
				t.spent += worst
			} else if t.held == "" {
				t.held = why
			}
		}
	}
	crossed := t.crossedLocked()
	t.mu.Unlock()
	t.fire(crossed)
	return crossed
}

// crossedLocked marks and returns the thresholds the spend has reached.
func (t *Tracker) crossedLocked() []Crossing {
	l := t.limit
	if l.onCross == nil {
		return nil
	}
	spent := t.spentLocked()
	var out []Crossing
	for i, p := range l.thresholds {
		if t.fired[i] || float64(spent) < float64(l.amount)*p/100 {
			continue
		}
		t.fired[i] = true
		out = append(out, Crossing{Scope: t.scope, ID: t.id, Percent: p, Limit: l.amount, Spent: spent})
	}
	return out
}

func (t *Tracker) fire(cs []Crossing) {
	for _, c := range cs {
		t.limit.onCross(c)
	}
}

// headroom reports whether a stream of the call whose cost so far is
// current still fits: spend plus the other calls' reservations plus
// current, against the limit.
func (t *Tracker) headroom(reserved, current NanoUSD, c *callCost) error {
	if !t.limit.cutStreams {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.roll(time.Now())
	if t.spentLocked()+t.reserved-reserved+current > t.limit.amount {
		e := t.refuse(ReasonStreamCut, c, "")
		e.Cost = current
		return e
	}
	return nil
}
