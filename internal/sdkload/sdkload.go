// Package sdkload drives the agenttrace SDK at a given rate for the ingest
// benchmarks of server and cmd/agenttrace, so both measure the same load.
package sdkload

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agenttrace/agenttrace/batch"
	"github.com/agenttrace/agenttrace/llm"
	agenttrace "github.com/agenttrace/agenttrace/trace"
)

// SpansPerTrace is how many spans each offered trace has: a root and
// SpansPerTrace-1 LLM spans.
const SpansPerTrace = 10

// NewClient returns an SDK client with default settings exporting to
// endpoint, but with a silent logger: the drop warnings would land between a
// benchmark's name and its numbers (drops are counted from Client.Stats).
func NewClient(ctx context.Context, endpoint string) (*agenttrace.Client, error) {
	return agenttrace.NewClient(ctx, agenttrace.WithEndpoint(endpoint), agenttrace.WithServiceName("bench"),
		agenttrace.WithBatchOptions(batch.WithLogger(slog.New(slog.DiscardHandler))))
}

// Offer ends spans spans through client from goroutines goroutines, in
// traces of SpansPerTrace spans (sessions of 5 traces, tenant "acme"). With
// rate > 0 trace n is not started before n*SpansPerTrace spans are due at
// rate spans/s; with rate 0 the producers run flat out. It returns the
// number of spans offered.
func Offer(ctx context.Context, client *agenttrace.Client, spans, goroutines, rate int) int64 {
	traces := (spans + SpansPerTrace - 1) / SpansPerTrace
	var next, offered atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1)) - 1
				if n >= traces {
					return
				}
				if rate > 0 {
					due := start.Add(time.Duration(float64(SpansPerTrace*n) / float64(rate) * float64(time.Second)))
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
				}
				k := min(SpansPerTrace, spans-SpansPerTrace*n)
				rctx, tr := client.Start(ctx, "agent", agenttrace.WithSessionID(fmt.Sprintf("s-%d", n/5)),
					agenttrace.WithTenantID("acme"), agenttrace.WithUserID("u-1"))
				for i := 1; i < k; i++ {
					_, call := tr.LLM(rctx, "", llm.Model("gpt-4.1-mini"), llm.Provider("openai"))
					call.SetUsage(llm.Usage{InputTokens: 1200, OutputTokens: 300})
					call.End()
				}
				tr.End()
				offered.Add(int64(k))
			}
		}()
	}
	wg.Wait()
	return offered.Load()
}
