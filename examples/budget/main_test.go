package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/agenttrace/agenttrace/budget"
	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/trace"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// keepSpans keeps the in-memory exporter's spans past the client's
// Shutdown, which run calls.
type keepSpans struct{ *tracetest.InMemoryExporter }

func (keepSpans) Shutdown(context.Context) error { return nil }

func TestLoopStoppedByBudget(t *testing.T) {
	mem := tracetest.NewInMemoryExporter()
	var out bytes.Buffer
	res, err := run(context.Background(), config{Budget: 0.05, Session: "s-test", Out: &out,
		Trace: []trace.Option{trace.WithExporter(keepSpans{mem})}})
	require.NoError(t, err)
	// $0.009 a call: five calls spend $0.045; the sixth's worst case
	// ($0.004 of output and its input) does not fit in $0.005.
	assert.Equal(t, 5, res.Calls, "the refused call never reached the model")
	assert.Equal(t, budget.NanoUSD(45_000_000), res.Spent)
	require.NotNil(t, res.Refusal)
	assert.Equal(t, budget.ReasonWorstCase, res.Refusal.Reason)
	assert.Contains(t, out.String(), "warning: 50%")
	assert.Contains(t, out.String(), "warning: 80%")
	assert.Contains(t, out.String(), "stopped by the budget after 5 model calls")

	var llmSpans, signals int
	for _, s := range mem.GetSpans() {
		for _, kv := range s.Attributes {
			if kv.Key == attr.SpanType && kv.Value.AsString() == attr.TypeLLM {
				llmSpans++
			}
		}
		for _, e := range s.Events {
			for _, kv := range e.Attributes {
				if e.Name == attr.EventSignal && kv.Key == attr.EventName && kv.Value.AsString() == attr.SignalBudgetExceeded {
					signals++
				}
			}
		}
	}
	assert.Equal(t, 5, llmSpans)
	assert.Equal(t, 1, signals)
}
