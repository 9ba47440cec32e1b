package sqlite_test

import (
	"context"
	"fmt"
	"time"

	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/sqlite"
)

// Write one LLM span and read the session's usage back.
func Example() {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Memory) // or a file path
	if err != nil {
		panic(err)
	}
	defer st.Close()
	start := time.Date(2025, 11, 16, 10, 30, 0, 0, time.UTC)
	_, err = st.WriteSpans(ctx, []store.Span{{
		TraceID: "5b8efff798038103d269b633813fc60c", SpanID: "eee19b7ec3c1b174",
		Name: "chat gpt-4.1-mini", Type: "llm", LLMRequest: true, Start: start, End: start.Add(time.Second),
		Tokens:      store.Tokens{InputTokens: 1200, OutputTokens: 300},
		CostNanoUSD: 1_230_000, SessionID: "s-9", TenantID: "acme",
	}})
	if err != nil {
		panic(err)
	}
	u, err := st.SessionUsage(ctx, store.UsageQuery{SessionID: "s-9", Start: start.Add(-time.Hour), End: start.Add(time.Hour)})
	if err != nil {
		panic(err)
	}
	fmt.Printf("tokens %d, requests %d, cost $%.5f\n", u.TokenCount(), u.Requests, float64(u.CostNanoUSD)/1e9)
	// Output: tokens 1500, requests 1, cost $0.00123
}
