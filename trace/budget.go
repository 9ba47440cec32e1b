package trace

import (
	"container/list"
	"sync"

	"github.com/agenttrace/agenttrace/budget"
)

// MaxTrackedBudgets bounds the session and the tenant Trackers a client
// keeps (each kind separately). Past it, the least recently used one is
// forgotten: its session or tenant starts again from what the server holds
// (FromServer) or from zero.
const MaxTrackedBudgets = 100_000

// WithBudget gives the trace a budget: the model calls of the trace made
// through the provider middleware (llm/openai, llm/anthropic) are refused
// once it is spent, or, with budget.Hard, when their worst case would not
// fit (see package budget). Make l with budget.New, which refuses a zero,
// negative or non-finite amount; a nil l is no budget. Trace.Spent and
// Trace.Remaining read it.
func WithBudget(l *budget.Limit) StartOption { return StartOption{kind: startBudget, budget: l} }

// WithSessionBudget gives every session its own budget l: the traces
// started with the same WithSessionID share one budget.Tracker (see
// Client.SessionBudget). With budget.FromServer the server's spend for the
// session counts too, so two clients (or two processes) share the budget.
func WithSessionBudget(l *budget.Limit) Option {
	return func(c *clientConfig) { c.sessionBudget = l }
}

// WithTenantBudget gives every tenant its own budget l, as
// WithSessionBudget does for sessions (traces started with WithTenantID).
func WithTenantBudget(l *budget.Limit) Option {
	return func(c *clientConfig) { c.tenantBudget = l }
}

// Spent returns what the trace's budget (WithBudget) has spent: the cost
// of every LLM span of the trace that has ended. Without a budget it is 0.
func (t *Trace) Spent() budget.NanoUSD {
	if t == nil {
		return 0
	}
	return t.budget.Spent()
}

// Remaining returns what is left of the trace's budget, never below zero;
// budget.Unlimited without one.
func (t *Trace) Remaining() budget.NanoUSD {
	if t == nil {
		return budget.Unlimited
	}
	return t.budget.Remaining()
}

// SessionBudget returns the Tracker of the session's budget
// (WithSessionBudget), created if needed; nil when the client has no
// session budget, is disabled, or id is empty. Its Spent and Remaining
// methods read it.
func (c *Client) SessionBudget(id string) *budget.Tracker {
	if c.Disabled() {
		return nil
	}
	return c.sessions.get(id)
}

// TenantBudget returns the Tracker of the tenant's budget
// (WithTenantBudget), as SessionBudget does.
func (c *Client) TenantBudget(id string) *budget.Tracker {
	if c.Disabled() {
		return nil
	}
	return c.tenants.get(id)
}

// trackers holds the Trackers of one kind of budget, by id, least recently
// used first out past max.
type trackers struct {
	limit *budget.Limit
	scope budget.Scope
	max   int

	mu  sync.Mutex
	m   map[string]*list.Element
	lru list.List // of *budget.Tracker, most recent first
}

func newTrackers(l *budget.Limit, scope budget.Scope) *trackers {
	if l == nil {
		return nil
	}
	return &trackers{limit: l, scope: scope, max: MaxTrackedBudgets, m: make(map[string]*list.Element)}
}

func (r *trackers) get(id string) *budget.Tracker {
	if r == nil || id == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.m[id]; ok {
		r.lru.MoveToFront(e)
		return e.Value.(*budget.Tracker)
	}
	t := budget.NewTracker(r.limit, r.scope, id)
	r.m[id] = r.lru.PushFront(t)
	if r.lru.Len() > r.max {
		old := r.lru.Back()
		r.lru.Remove(old)
		delete(r.m, old.Value.(*budget.Tracker).ID())
	}
	return t
}
