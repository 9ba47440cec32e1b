package budget

import (
	"context"
	"math"
	"sync"
	"sync/atomic"

	"github.com/agenttrace/agenttrace/llm"
)

// Set is the budgets that apply to the calls of one trace: its own, its
// session's and its tenant's. The trace package builds it; the provider
// middleware admits each call through it. A nil *Set admits everything.
type Set struct {
	trackers []*Tracker
}

// NewSet returns the Set of the given trackers (nil ones are skipped), or
// nil when none is left.
func NewSet(ts ...*Tracker) *Set {
	var s Set
	for _, t := range ts {
		if t != nil {
			s.trackers = append(s.trackers, t)
		}
	}
	if len(s.trackers) == 0 {
		return nil
	}
	return &s
}

// Trackers returns the Set's trackers.
func (s *Set) Trackers() []*Tracker {
	if s == nil {
		return nil
	}
	return s.trackers
}

// Call is a model call about to be sent, as the middleware sees it.
type Call struct {
	// Model is the requested model, priced with Prices.
	Model  string
	Prices *llm.PriceTable
	// InputBytes is the request body's length; the input estimate is one
	// token per BytesPerToken bytes, rounded up.
	InputBytes int64
	// MaxOutputTokens is the request's bound on output tokens; 0 means
	// none.
	MaxOutputTokens int64
}

// BytesPerToken is the ratio of the input and stream-output estimates: one
// token per three bytes of text, rounded up (tokenizers average about four
// bytes per token on English text, about three on CJK text).
const BytesPerToken = 3

// Tokens returns the token estimate of n bytes of text.
func Tokens(n int64) int64 { return (max(n, 0) + BytesPerToken - 1) / BytesPerToken }

// callCost is what a Call may cost.
type callCost struct {
	model      string
	price      llm.ModelPrice
	priceKnown bool
	input      int64 // estimated input tokens
	worst      NanoUSD
	worstKnown bool
}

func costOf(c Call) *callCost {
	cc := &callCost{model: c.Model, input: Tokens(c.InputBytes)}
	cc.price, cc.priceKnown = c.Prices.Lookup(c.Model)
	if cc.priceKnown && c.MaxOutputTokens > 0 {
		cc.worst, cc.worstKnown = cc.cost(c.MaxOutputTokens)
	}
	return cc
}

// cost returns the estimate of the call with output tokens, rounded up.
func (c *callCost) cost(output int64) (NanoUSD, bool) {
	usd, ok := c.price.Cost(llm.Usage{InputTokens: c.input, OutputTokens: output})
	if !ok {
		return 0, false
	}
	return NanoUSD(math.Ceil(usd * nanosPerUSD)), true
}

// Admit checks a call against every budget of the Set, in order (trace,
// session, tenant), and reserves its worst case on the hard ones. It
// returns the first refusal, an *ExceededError, after releasing what the
// budgets before it reserved; or an Admission to Settle when the call is
// over. A nil Set returns a nil Admission, whose methods do nothing.
func (s *Set) Admit(ctx context.Context, c Call) (*Admission, error) {
	if s == nil {
		return nil, nil
	}
	cc := costOf(c)
	a := &Admission{set: s, cost: cc, reserved: make([]NanoUSD, len(s.trackers))}
	for i, t := range s.trackers {
		r, err := t.admit(ctx, cc)
		if err != nil {
			for j := range i {
				s.trackers[j].settleReservation(a.reserved[j])
			}
			return nil, err
		}
		a.reserved[i] = r
	}
	return a, nil
}

// Charge adds the cost of a call made without Admit (an LLM span recorded
// by hand) to every budget of the Set; known=false charges it by each
// budget's unknown policy.
func (s *Set) Charge(cost NanoUSD, known bool, why string) {
	if s == nil {
		return
	}
	for _, t := range s.trackers {
		t.settle(0, cost, known, 0, false, why)
	}
}

// Admission is a call the budgets let through. Settle it once the call is
// over; methods of a nil *Admission do nothing.
type Admission struct {
	set      *Set
	cost     *callCost
	reserved []NanoUSD
	once     sync.Once
	// cut is the estimate of a stream when a budget cut it.
	cut atomic.Int64
}

// Settle releases the call's reservations and charges its cost, once;
// known=false charges the call by each budget's unknown policy (its worst
// case, when it was known), with why saying what is unknown, except for a
// stream a budget cut (StreamCheck), which is charged its estimate at the
// cut when that is more than cost.
func (a *Admission) Settle(cost NanoUSD, known bool, why string) {
	if a == nil {
		return
	}
	if c := NanoUSD(a.cut.Load()); c > 0 && (!known || c > cost) {
		// A stream cut short has no final usage (or only the start's, as
		// Anthropic's message_start gives): its estimate at the cut is the
		// best figure there is.
		cost, known = c, true
	}
	a.once.Do(func() {
		for i, t := range a.set.trackers {
			t.settle(a.reserved[i], cost, known, a.cost.worst, a.cost.worstKnown, why)
		}
	})
}

// Release releases the call's reservations and charges nothing, once (a
// call that was not sent after all).
func (a *Admission) Release() {
	if a == nil {
		return
	}
	a.once.Do(func() {
		for i, t := range a.set.trackers {
			t.settleReservation(a.reserved[i])
		}
	})
}

// CutsStreams reports whether a budget of the call cuts streams.
func (a *Admission) CutsStreams() bool {
	if a == nil || !a.cost.priceKnown {
		return false
	}
	for _, t := range a.set.trackers {
		if t.limit.cutStreams {
			return true
		}
	}
	return false
}

// StreamCheck returns an *ExceededError (ReasonStreamCut) when a stream
// whose output so far is outputBytes of text would take a CutStreams
// budget past its limit: the call's input estimate plus that output at the
// model's price, on top of the spend and the other calls' reservations.
func (a *Admission) StreamCheck(outputBytes int64) error {
	if !a.CutsStreams() {
		return nil
	}
	current, ok := a.cost.cost(Tokens(outputBytes))
	if !ok {
		return nil
	}
	for i, t := range a.set.trackers {
		if err := t.headroom(a.reserved[i], current, a.cost); err != nil {
			a.cut.Store(int64(current))
			return err
		}
	}
	return nil
}

// Estimate returns the call's worst case and whether it is known.
func (a *Admission) Estimate() (NanoUSD, bool) {
	if a == nil {
		return 0, false
	}
	return a.cost.worst, a.cost.worstKnown
}

func (t *Tracker) settleReservation(r NanoUSD) {
	if r == 0 {
		return
	}
	t.mu.Lock()
	t.reserved -= r
	t.mu.Unlock()
}
