package trace_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agenttrace/agenttrace/batch"
	"github.com/agenttrace/agenttrace/budget"
	"github.com/agenttrace/agenttrace/exporter"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/span"
	"github.com/agenttrace/agenttrace/trace"
)

// consoleClient returns a client printing to stdout without ids and
// durations, so that examples have stable output. Real programs use
// trace.WithEndpoint (or the OTEL_EXPORTER_OTLP_* variables) instead.
func consoleClient() *trace.Client {
	client, err := trace.NewClient(context.Background(),
		trace.WithServiceName("support-bot"),
		trace.WithExporter(exporter.NewConsole(os.Stdout, exporter.HideIDs(), exporter.HideDurations())))
	if err != nil {
		panic(err)
	}
	return client
}

// The support-agent scenario: a user message, a task with a model call and
// a tool call, and the assistant's answer.
func ExampleNewClient() {
	ctx := context.Background()
	client, err := trace.NewClient(ctx,
		trace.WithServiceName("support-bot"),
		// Printing here; use trace.WithEndpoint("http://127.0.0.1:4318") to
		// send to agenttrace serve or any OTLP/HTTP collector.
		trace.WithExporter(exporter.NewConsole(os.Stdout, exporter.HideIDs(), exporter.HideDurations())))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Shutdown(context.Background()) // flushes

	ctx, tr := client.Start(ctx, "support_agent",
		trace.WithUserID("cus_123"), trace.WithSessionID("s-9"), trace.WithTenantID("AceTech"))
	defer tr.End()
	tr.Message(llm.User, "Where is my order?")

	_ = trace.Task(ctx, "resolve_ticket", func(ctx context.Context, task *span.Span) error {
		task.RecordInput(map[string]string{"ticket": "T-42"})
		ctx, g := tr.LLM(ctx, "", llm.Model("gpt-4.1-mini"), llm.Provider("openai"))
		g.SetUsage(llm.Usage{InputTokens: 1200, OutputTokens: 80})
		_, call := tr.Tool(ctx, "lookup_order", span.Arguments(map[string]string{"order": "4421"}))
		call.RecordOutput(map[string]string{"status": "shipped"})
		call.End()
		g.End()
		return nil
	})
	tr.Message(llm.Assistant, "Your order has shipped.")
	// Output:
	// trace
	// └─ support_agent [trace]  session=s-9 user=cus_123 tenant=AceTech
	//    │  · user: Where is my order?
	//    │  · assistant: Your order has shipped.
	//    └─ resolve_ticket [task]  input={"ticket":"T-42"}
	//       └─ chat gpt-4.1-mini [llm]  model=gpt-4.1-mini tokens=1200+80 cost=$0.000608
	//          └─ lookup_order [tool]  input={"order":"4421"} output={"status":"shipped"}
}

// Spans of any kind, messages, feedback and signals inside one trace.
func ExampleClient_Start() {
	client := consoleClient()
	defer client.Shutdown(context.Background())

	ctx, tr := client.Start(context.Background(), "support_agent",
		trace.WithSessionID("s-9"),
		trace.WithTags("beta", "refunds"),
		trace.WithEnvironment("production"),
		trace.WithAttributes(attribute.String("plan", "pro")),
		trace.WithContext(map[string]any{"region": "eu"}))
	tr.Message(llm.User, "Refund order 4421, please.")

	_, s := tr.Span(ctx, span.Retrieval, "search_docs")
	s.RecordInput(map[string]any{"query": "refund policy"})
	s.RecordOutput(map[string]any{"hits": 3})
	s.End()

	tr.Feedback("helpful", 1, "resolved in one turn")
	tr.Signal("refund_issued", attribute.String("order", "4421"))
	tr.End()
	// Output:
	// trace
	// └─ support_agent [trace]  session=s-9 environment=production tags=beta,refunds
	//    │  · user: Refund order 4421, please.
	//    │  · feedback helpful=1 resolved in one turn
	//    │  · signal refund_issued
	//    └─ search_docs [retrieval]  input={"query":"refund policy"} output={"hits":3}
}

// Span, LLM and Tool nest through the context they are given: a child of
// the span the context carries, or of the root for a context that carries
// none (here a goroutine's fresh context).
func ExampleTrace_Span() {
	client := consoleClient()
	defer client.Shutdown(context.Background())
	ctx, tr := client.Start(context.Background(), "research_agent")

	ctx, plan := tr.Span(ctx, span.Task, "plan")
	_, g := tr.LLM(ctx, "", llm.Model("gpt-4.1-mini"))
	g.End()
	plan.End()

	done := make(chan struct{})
	go func() { // a background job that was handed tr, not ctx
		defer close(done)
		_, s := tr.Span(context.Background(), span.Retrieval, "refresh_index")
		s.End()
	}()
	<-done
	tr.End()
	// Output:
	// trace
	// └─ research_agent [trace]
	//    ├─ plan [task]
	//    │  └─ chat gpt-4.1-mini [llm]  model=gpt-4.1-mini
	//    └─ refresh_index [retrieval]
}

// The exporter is configured in one place: options for the exporter the
// client builds and an exporter of your own cannot be combined.
func ExampleWithExporter() {
	_, err := trace.NewClient(context.Background(),
		trace.WithExporter(exporter.NewConsole(os.Stdout)),
		trace.WithAPIKey("secret"))
	fmt.Println(errors.Is(err, trace.ErrConflictingOptions))
	fmt.Println(err)
	// Output:
	// true
	// agenttrace: invalid option: conflicting options: WithAPIKey and WithExporter (WithAPIKey configures the exporter the client builds; configure the exporter given to WithExporter where it is built)
}

// Task runs a function in a task span; its error marks the span failed.
func ExampleTask() {
	client := consoleClient()
	defer client.Shutdown(context.Background())
	ctx, tr := client.Start(context.Background(), "nightly_sync")
	defer tr.End()

	err := trace.Task(ctx, "fetch_tickets", func(ctx context.Context, s *span.Span) error {
		return errors.New("helpdesk API unavailable")
	})
	fmt.Println("task error:", err)
	// Output:
	// task error: helpdesk API unavailable
	// trace
	// └─ nightly_sync [trace]
	//    └─ fetch_tickets [task]  ERROR=helpdesk API unavailable
	//          · exception *errors.errorString: helpdesk API unavailable
}

// FromContext reaches the current trace deep in the call stack.
func ExampleFromContext() {
	client := consoleClient()
	defer client.Shutdown(context.Background())
	ctx, tr := client.Start(context.Background(), "support_agent")
	defer tr.End()

	escalate(ctx)
	// Output:
	// trace
	// └─ support_agent [trace]
	//       · signal escalated
}

func escalate(ctx context.Context) {
	trace.FromContext(ctx).Signal("escalated", attribute.String("to", "tier2"))
}

// A disabled client records nothing; the same code runs unchanged.
func ExampleWithDisabled() {
	client, _ := trace.NewClient(context.Background(), trace.WithDisabled())
	ctx, tr := client.Start(context.Background(), "support_agent")
	_, g := tr.LLM(ctx, "", llm.Model("gpt-4.1-mini"))
	g.SetUsage(llm.Usage{InputTokens: 10})
	g.End()
	tr.End()
	fmt.Println(tr == nil, g == nil)
	// Output: true true
}

// Every span goes through the client's batch processor, which accounts for
// it: exported, or dropped with a reason.
func ExampleClient_Stats() {
	client, err := trace.NewClient(context.Background(),
		trace.WithExporter(exporter.NewConsole(io.Discard)))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, tr := client.Start(context.Background(), "support_agent")
	_, g := tr.LLM(ctx, "", llm.Model("gpt-4.1-mini"))
	g.End()
	tr.End()

	if err := client.Shutdown(context.Background()); err != nil {
		var ue *batch.UndeliveredError
		if errors.As(err, &ue) {
			fmt.Println("not delivered:", ue.NotDelivered())
		}
	}
	st := client.Stats()
	fmt.Printf("enqueued %d, exported %d, dropped %d (%s)\n", st.Enqueued, st.Exported, st.Dropped.Total(), st.Dropped)
	// Output:
	// enqueued 2, exported 2, dropped 0 (none)
}

// A trace's budget counts the cost of its LLM spans; with the provider
// middleware (llm/openai, llm/anthropic) it also refuses the call that
// would exceed it, before it is sent (see package budget and
// examples/budget).
func ExampleWithBudget() {
	client, err := trace.NewClient(context.Background(), trace.WithExporter(tracetest.NewNoopExporter()))
	if err != nil {
		panic(err)
	}
	defer client.Shutdown(context.Background())

	perRun, err := budget.New(0.50)
	if err != nil {
		panic(err)
	}
	ctx, tr := client.Start(context.Background(), "support_agent", trace.WithBudget(perRun))
	defer tr.End()

	_, g := tr.LLM(ctx, "", llm.Model("gpt-4o"))
	g.SetUsage(llm.Usage{InputTokens: 1000, OutputTokens: 1000}) // priced from the table: $0.0125
	g.End()
	fmt.Println(tr.Spent(), tr.Remaining())
	// Output: $0.012500000 $0.487500000
}

// Session and tenant budgets are client options: the traces of one session
// (or tenant) share one Tracker.
func ExampleWithSessionBudget() {
	perSession, err := budget.New(5)
	if err != nil {
		panic(err)
	}
	client, err := trace.NewClient(context.Background(), trace.WithExporter(tracetest.NewNoopExporter()),
		trace.WithSessionBudget(perSession))
	if err != nil {
		panic(err)
	}
	defer client.Shutdown(context.Background())

	for range 2 {
		ctx, tr := client.Start(context.Background(), "turn", trace.WithSessionID("s-9"))
		_, g := tr.LLM(ctx, "", llm.Model("gpt-4o"))
		g.SetUsage(llm.Usage{InputTokens: 1000, OutputTokens: 1000, CostUSD: 0.25, CostSource: llm.CostProvider})
		g.End()
		tr.End()
	}
	s := client.SessionBudget("s-9")
	fmt.Println(s.Spent(), s.Remaining())
	// Output: $0.500000000 $4.500000000
}
