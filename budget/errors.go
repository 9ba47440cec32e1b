package budget

import (
	"errors"
	"fmt"
)

// ErrExceeded is what every refusal of a budget is (test with errors.Is);
// errors.As to *ExceededError reads which budget and by how much.
var ErrExceeded = errors.New("budget exceeded")

// Scope says what a budget is for.
type Scope string

// Scopes of budgets.
const (
	ScopeTrace   Scope = "trace"
	ScopeSession Scope = "session"
	ScopeTenant  Scope = "tenant"
)

// Reason says why a call was refused.
type Reason string

// Reasons of an ExceededError.
const (
	// ReasonSpent: the budget was spent.
	ReasonSpent Reason = "spent"
	// ReasonWorstCase: the call's worst case would not fit in what is left
	// (hard mode).
	ReasonWorstCase Reason = "worst_case"
	// ReasonUnknownCost: under RefuseUnknown, the call's price or worst
	// case is unknown, an earlier call's cost is unknown, or the server's
	// spend could not be read.
	ReasonUnknownCost Reason = "unknown_cost"
	// ReasonStreamCut: a stream was ended because its output would take
	// the spend past a hard limit (CutStreams).
	ReasonStreamCut Reason = "stream_cut"
)

// ExceededError is a call refused, or a stream cut, by a budget.
type ExceededError struct {
	// Scope and ID name the budget: a trace id, session id or tenant id.
	Scope Scope
	ID    string
	// Limit is the budget's amount and Spent what it had spent when the
	// call was refused (server spend included).
	Limit NanoUSD
	Spent NanoUSD
	// Reserved is the worst case of the calls in flight (hard mode).
	Reserved NanoUSD
	// Cost is the refused call's worst case (hard mode), or what a cut
	// stream was estimated to cost; 0 when unknown.
	Cost NanoUSD
	// Model is the model of the refused call.
	Model string
	// Reason says why.
	Reason Reason
	// Detail adds a sentence for ReasonUnknownCost.
	Detail string
}

// Error describes the refusal.
func (e *ExceededError) Error() string {
	msg := fmt.Sprintf("%s budget %q exceeded (%s): spent %s of %s", e.Scope, e.ID, e.Reason, e.Spent, e.Limit)
	if e.Reserved > 0 {
		msg += fmt.Sprintf(", %s reserved by calls in flight", e.Reserved)
	}
	if e.Cost > 0 {
		msg += fmt.Sprintf(", call estimated at %s", e.Cost)
	}
	if e.Model != "" {
		msg += ", model " + e.Model
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Is reports whether target is ErrExceeded.
func (e *ExceededError) Is(target error) bool { return target == ErrExceeded }
