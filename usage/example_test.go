package usage_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/store/sqlite"
	"github.com/agenttrace/agenttrace/trace"
	"github.com/agenttrace/agenttrace/usage"
)

// The whole loop on one machine: an agenttrace server on 127.0.0.1 over a
// SQLite file, a trace recorded with the SDK, then its session's
// usage, the trace and its spans read back with the usage client.
func Example() {
	ctx := context.Background()

	// The server (what "agenttrace serve" runs), over a temporary database.
	dir, err := os.MkdirTemp("", "agenttrace-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "agenttrace.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(st, server.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	defer func() { stop(); <-served }()

	// Record one agent run.
	rec, err := trace.NewClient(ctx, trace.WithEndpoint(url), trace.WithServiceName("support-bot"))
	if err != nil {
		log.Fatal(err)
	}
	tctx, tr := rec.Start(ctx, "support_agent", trace.WithSessionID("s-9"), trace.WithTenantID("AceTech"))
	_, g := tr.LLM(tctx, "", llm.Model("gpt-4.1-mini"), llm.Provider("openai"))
	g.SetUsage(llm.Usage{InputTokens: 1200, OutputTokens: 300, CostUSD: 0.00096, CostSource: llm.CostUser})
	g.End()
	tr.End()
	if err := rec.Shutdown(ctx); err != nil { // flushes: the spans are stored when it returns
		log.Fatal(err)
	}

	// Query it.
	c, err := usage.NewClient(url, usage.WithAPIKey(""))
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseIdleConnections()
	end := time.Now().Add(time.Minute)
	start := end.Add(-time.Hour)
	u, err := c.GetSessionUsage(ctx, "s-9", start, end)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("session %s: %d tokens (%d in, %d out), %d request, $%.5f\n",
		u.SessionID, u.TokenCount, u.InputTokens, u.OutputTokens, u.RequestCount, u.TotalCost)

	for t, err := range c.IterTraces(ctx, usage.TraceQuery{Start: start, End: end, TenantID: "AceTech"}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("trace %s: %d spans, models %v\n", t.Name, t.SpanCount, t.Models)
		for s, err := range c.IterSpansByTraceID(ctx, t.ID, usage.SpanQuery{}) {
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("  %-5s %-17s %4d tokens\n", s.Type, s.Name, s.TotalTokens)
		}
	}
	// Output:
	// session s-9: 1500 tokens (1200 in, 300 out), 1 request, $0.00096
	// trace support_agent: 2 spans, models [gpt-4.1-mini]
	//   trace support_agent        0 tokens
	//   llm   chat gpt-4.1-mini 1500 tokens
}

func ExampleNewClient() {
	// The base URL defaults to AGENTTRACE_URL, then http://127.0.0.1:4318;
	// the key to AGENTTRACE_API_KEY.
	c, err := usage.NewClient("https://agenttrace.internal.example",
		usage.WithAPIKey("reporting-key"),
		usage.WithTimeout(10*time.Second),
		usage.WithRetry(5, 500*time.Millisecond),
		usage.WithUserAgent("billing-job/1.4"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.BaseURL())
	// Output: https://agenttrace.internal.example
}

func ExampleClient_GetTenantUsage() {
	c, err := usage.NewClient("")
	if err != nil {
		log.Fatal(err)
	}
	end := time.Now().UTC().Truncate(time.Hour)
	u, err := c.GetTenantUsage(context.Background(), "AceTech", end.Add(-30*24*time.Hour), end)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s/%s: %d tokens, %d requests, %d sessions, $%.2f\n",
		u.OrganisationID, u.TenantID, u.TokenCount, u.RequestCount, u.SessionCount, u.TotalCost)
}

func ExampleClient_ListTraces() {
	c, err := usage.NewClient("")
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	end := time.Now()
	q := usage.TraceQuery{Start: end.Add(-24 * time.Hour), End: end, UserID: "cus_123",
		SortField: usage.SortTotalCost, SortOrder: usage.OrderDesc, Limit: 20}
	for {
		page, err := c.ListTraces(ctx, q)
		if err != nil {
			log.Fatal(err)
		}
		for _, t := range page.Traces {
			fmt.Println(t.ID, t.Name, t.TotalTokens, t.TotalCost)
		}
		if !page.HasNextPage {
			break
		}
		q.Cursor = page.NextCursor
	}
}

func ExampleClient_IterTraces() {
	c, err := usage.NewClient("")
	if err != nil {
		log.Fatal(err)
	}
	end := time.Now()
	// The 10 most recent failed traces of a session; breaking sends no
	// further request.
	n := 0
	for t, err := range c.IterTraces(context.Background(), usage.TraceQuery{
		Start: end.Add(-7 * 24 * time.Hour), End: end, SessionID: "s-9", Status: usage.StatusError, Limit: 10,
	}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(t.ID, t.Name, t.StartTime.Format(time.RFC3339))
		if n++; n == 10 {
			break
		}
	}
}

func ExampleAPIError() {
	c, err := usage.NewClient("")
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.GetTrace(context.Background(), "4bf92f3577b34da6a3ce929d0e0e4736")
	var ae *usage.APIError
	switch {
	case errors.Is(err, usage.ErrNotFound):
		fmt.Println("no such trace")
	case errors.Is(err, usage.ErrUnauthorized):
		fmt.Println("set AGENTTRACE_API_KEY")
	case errors.As(err, &ae):
		fmt.Println("server said", ae.StatusCode, ae.Code, ae.Message)
	case err != nil:
		fmt.Println("no answer:", err)
	}
}
