package llmcall

import (
	"context"
	"errors"
	"net/http"

	"go.opentelemetry.io/otel/attribute"

	"github.com/agenttrace/agenttrace/budget"
	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/recording"
)

// admit checks a new call against the budgets of ctx's trace. A refusal
// is recorded on the trace as a budget_exceeded signal.
func admit(ctx context.Context, r Request, bodyLen int) (*budget.Admission, error) {
	st := recording.NodeFrom(ctx).State
	if st.Budgets == nil {
		return nil, nil
	}
	adm, err := st.Budgets.Admit(ctx, budget.Call{
		Model: r.Model, Prices: st.Settings.Prices,
		InputBytes: int64(bodyLen), MaxOutputTokens: r.MaxOutputTokens,
	})
	if err != nil {
		signal(ctx, err)
	}
	return adm, err
}

// signaler is what *trace.Trace offers to record a signal.
type signaler interface {
	Signal(name string, kv ...attribute.KeyValue)
}

// signal records a budget's refusal (or stream cut) err on the trace of
// ctx as a budget_exceeded signal.
func signal(ctx context.Context, err error) {
	n := recording.NodeFrom(ctx)
	if n == nil {
		return
	}
	sg, ok := n.State.Owner.(signaler)
	if !ok {
		return
	}
	var e *budget.ExceededError
	if !errors.As(err, &e) {
		return
	}
	kv := []attribute.KeyValue{
		attr.BudgetScope.String(string(e.Scope)),
		attr.BudgetID.String(e.ID),
		attr.BudgetReason.String(string(e.Reason)),
		attr.BudgetLimitUSD.Float64(e.Limit.USD()),
		attr.BudgetSpentUSD.Float64(e.Spent.USD()),
	}
	if e.Cost > 0 {
		kv = append(kv, attr.BudgetCostUSD.Float64(e.Cost.USD()))
	}
	if e.Model != "" {
		kv = append(kv, attr.RequestModel.String(e.Model))
	}
	sg.Signal(attr.SignalBudgetExceeded, kv...)
}

// refused returns a budget's refusal to the SDK: the error, with a
// response that says not to retry (both SDKs retry a call whose attempt
// failed without a response, and honour x-should-retry: false). The SDK
// returns the error itself to the caller; the response, which never came
// from the provider, only stops the retries.
func refused(req *http.Request, err error) (*http.Response, error) {
	h := make(http.Header)
	h.Set("X-Should-Retry", "false")
	return &http.Response{
		Status: "402 Payment Required (refused by an agenttrace budget; not sent)", StatusCode: http.StatusPaymentRequired,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: http.NoBody, Request: req,
	}, err
}
