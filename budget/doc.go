// Package budget stops a runaway agent before it spends: limits on what
// the model calls of a trace, a session or a tenant may cost, enforced by
// the provider middleware (llm/openai, llm/anthropic) before a call is
// sent.
//
// A Limit is made once with New (in US dollars, kept as an exact integer
// of nano-USD, the unit the server sums in) and options:
//
//	perRun, err := budget.New(0.50, budget.Hard())
//	ctx, tr := client.Start(ctx, "agent", trace.WithBudget(perRun))
//	_, err = oai.Chat.Completions.New(ctx, params)
//	if errors.Is(err, budget.ErrExceeded) { ... } // the call was never sent
//
// Session and tenant limits are client options (trace.WithSessionBudget,
// trace.WithTenantBudget): every trace started with that session or tenant
// id shares one Tracker per id.
//
// # What counts as spent
//
// Every LLM span of the trace (or of the session's or tenant's traces) that
// ends in this process adds its cost as recorded: provider-reported,
// computed from the client's price table, or given by the caller. A limit
// made with FromServer also counts what the agenttrace server holds for the
// session or tenant in the limit's window (see FromServer for how stale
// that may be), so it holds across processes and restarts.
//
// # When a call is refused
//
// Before a call is sent, every budget that applies is checked:
//
//   - Soft (the default): the call is refused when what was spent has
//     reached the limit.
//   - Hard: the call is also refused when its worst case would not fit in
//     what is left: its input estimate (one token per three bytes of the
//     request body) plus its maximum output tokens (max_tokens,
//     max_completion_tokens, max_output_tokens), at the model's price, on
//     top of what was spent and the worst cases of the calls in flight.
//
// The refusal is an *ExceededError (errors.As) that is ErrExceeded
// (errors.Is); it names the budget (Scope, ID), its limit and spend. The
// refused call never reaches the provider; it is recorded on the trace as
// a "budget_exceeded" signal (an agenttrace.signal event of the root span
// with the budget's scope, id, limit, spent and the refused model).
//
// # Unknown cost
//
// A call whose cost cannot be known is never taken as free. That is a call
// to a model the price table does not list (without a cost reported by the
// provider), a call whose usage did not arrive (a stream read without
// usage, cut short or failed), and, in hard mode, a call without a maximum
// output to bound its worst case. Each Limit has a policy for them
// (OnUnknown): RefuseUnknown (the default) refuses a call whose price is
// unknown before sending it, and charges a finished call of unknown cost
// with its worst case when that was known, or otherwise holds further calls
// (Reason ReasonUnknownCost) until the limit's window ends; AllowUnknown
// lets them through, counts them (Tracker.UnknownCalls) and charges
// nothing for them.
//
// # Concurrency
//
// A Tracker is safe for concurrent use, and checking a call and reserving
// its worst case is one atomic step. The guarantee, with G calls in flight
// at once on one budget:
//
//   - Hard: the limit is never exceeded by calls that cost at most their
//     worst case (which holds when the output is bounded and the input is
//     text); calls in flight hold their worst case until they end.
//   - Soft: each call is admitted only while spent < limit, so the limit is
//     exceeded at most by the calls already in flight when it was reached:
//     spent < limit + G × (the most one call costs).
//
// Thresholds (OnThreshold, by default 50%, 80% and 100% of the limit) fire
// once each per Tracker and window, from the goroutine whose call crossed
// them.
//
// # Streams
//
// A streamed call is admitted like any other. With CutStreams on a hard
// limit, the middleware also follows the stream's output as it is read and
// ends the stream with an *ExceededError (Reason ReasonStreamCut) once the
// input estimate plus the output so far (one token per three bytes of text)
// would exceed what is left; the span records the cut
// (agenttrace.budget.stream_cut=true).
package budget
