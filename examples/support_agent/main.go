// Command support_agent records the support-agent scenario with agenttrace:
// a user asks about an order, the agent runs a task in which a (simulated)
// model calls a refund tool, and the agent answers. No real model is called:
// the model's answers and token counts are fixed, and the cost comes from
// the embedded price table (gpt-4.1-mini).
//
//	go run ./examples/support_agent -endpoint http://127.0.0.1:4318 -session s-demo
//
// Without -endpoint it sends to OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) if set, else http://127.0.0.1:4318;
// -console prints the traces instead. SIGINT or SIGTERM stops it early;
// either way it flushes before exiting. It prints one "trace_id=..." line
// per trace and a final "session=..." line.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/agenttrace/agenttrace/exporter"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/span"
	"github.com/agenttrace/agenttrace/trace"
)

// defaultEndpoint is used when neither -endpoint nor the OTLP environment
// variables name one.
const defaultEndpoint = "http://127.0.0.1:4318"

type config struct {
	endpoint string
	apiKey   string
	session  string
	user     string
	tenant   string
	traces   int
	latency  time.Duration
	console  bool
}

func main() {
	var cfg config
	flag.StringVar(&cfg.endpoint, "endpoint", "", "OTLP/HTTP endpoint base URL (default $OTEL_EXPORTER_OTLP_ENDPOINT, else "+defaultEndpoint+")")
	flag.StringVar(&cfg.apiKey, "api-key", os.Getenv("AGENTTRACE_API_KEY"), "API key sent as a bearer token (default $AGENTTRACE_API_KEY)")
	flag.StringVar(&cfg.session, "session", "", "session id (default a random s-<hex>)")
	flag.StringVar(&cfg.user, "user", "cus_123", "end-user id")
	flag.StringVar(&cfg.tenant, "tenant", "AceTech", "tenant id")
	flag.IntVar(&cfg.traces, "traces", 1, "number of conversations to record")
	flag.DurationVar(&cfg.latency, "latency", 10*time.Millisecond, "simulated latency of each model and tool call")
	flag.BoolVar(&cfg.console, "console", false, "print the traces to stdout instead of exporting them")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "support_agent:", err)
		os.Exit(1)
	}
}

// run records cfg.traces conversations and flushes. It returns early, still
// flushing, when ctx is cancelled.
func run(ctx context.Context, cfg config, out io.Writer) (err error) {
	if cfg.traces < 1 {
		return fmt.Errorf("-traces must be at least 1, got %d", cfg.traces)
	}
	if cfg.session == "" {
		cfg.session = "s-" + randomHex(6)
	}
	opts := []trace.Option{trace.WithServiceName("support-bot")}
	switch {
	case cfg.console:
		opts = append(opts, trace.WithExporter(exporter.NewConsole(out)))
	case cfg.endpoint != "":
		opts = append(opts, trace.WithEndpoint(cfg.endpoint))
	case os.Getenv(exporter.EnvEndpoint) == "" && os.Getenv(exporter.EnvTracesEndpoint) == "":
		opts = append(opts, trace.WithEndpoint(defaultEndpoint))
	}
	if cfg.apiKey != "" {
		opts = append(opts, trace.WithAPIKey(cfg.apiKey))
	}
	// Setting up is quick and not worth interrupting; recording is.
	client, err := trace.NewClient(context.WithoutCancel(ctx), opts...)
	if err != nil {
		return err
	}
	defer func() {
		// Flush on the way out, interrupted or not, with a fresh deadline.
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if serr := client.Shutdown(sctx); serr != nil {
			err = errors.Join(err, fmt.Errorf("flush: %w", serr))
		}
	}()

	for i := range cfg.traces {
		if ctx.Err() != nil {
			fmt.Fprintf(out, "interrupted after %d traces\n", i)
			break
		}
		id := conversation(ctx, client, cfg, i)
		fmt.Fprintf(out, "trace_id=%s\n", id)
	}
	fmt.Fprintf(out, "session=%s user=%s tenant=%s\n", cfg.session, cfg.user, cfg.tenant)
	return nil
}

// Fixed token counts of the two simulated model calls.
var (
	planUsage   = llm.Usage{InputTokens: 1200, CacheReadTokens: 1000, OutputTokens: 60}
	answerUsage = llm.Usage{InputTokens: 1350, CacheReadTokens: 1200, OutputTokens: 40}
)

const model = "gpt-4.1-mini"

// conversation records one support conversation and returns its trace id.
func conversation(ctx context.Context, client *trace.Client, cfg config, n int) string {
	order := fmt.Sprint(4421 + n)
	ctx, tr := client.Start(ctx, "support_agent",
		trace.WithUserID(cfg.user), trace.WithSessionID(cfg.session), trace.WithTenantID(cfg.tenant),
		trace.WithConversationID(fmt.Sprintf("thread_%s_%d", cfg.session, n)),
		trace.WithExternalID("order-"+order), trace.WithTags("demo", "refunds"),
		trace.WithEnvironment("development"))
	defer tr.End()

	question := fmt.Sprintf("Where is my order #%s? I'd like a refund if it is late.", order)
	tr.Message(llm.User, question)
	tr.RecordInput(question)

	var answer string
	_ = trace.Task(ctx, "resolve_ticket", func(ctx context.Context, task *span.Span) error {
		task.RecordInput(map[string]string{"ticket_id": fmt.Sprintf("T-%d", 42+n), "order": order})
		history := []llm.Message{
			llm.TextMessage(llm.System, "You are a support agent. Use tools to act on orders."),
			llm.TextMessage(llm.User, question),
		}

		// 1. The model decides to issue a refund.
		call := llm.ToolCall{ID: fmt.Sprintf("call_%d", n+1), Name: "issue_refund",
			Arguments: json.RawMessage(fmt.Sprintf(`{"order":%q}`, order))}
		modelCall(ctx, tr, "openai.responses", history,
			llm.Message{Role: llm.Assistant, Parts: []llm.Part{llm.ToolCallPart(call)}, FinishReason: llm.FinishToolCall},
			planUsage, cfg.latency)

		// 2. The tool runs.
		tctx, tool := tr.Tool(ctx, call.Name, span.Arguments(call.Arguments), span.ToolCallID(call.ID))
		result := issueRefund(tctx, order, cfg.latency)
		tool.RecordOutput(result)
		tool.End()
		resultJSON, _ := json.Marshal(result)
		tr.Message(llm.Tool, string(resultJSON), llm.ToolCallID(call.ID))

		// 3. The model answers.
		answer = fmt.Sprintf("Your order #%s was late, so I issued a refund of $%.2f.", order, result.AmountUSD)
		history = append(history,
			llm.Message{Role: llm.Assistant, Parts: []llm.Part{llm.ToolCallPart(call)}},
			llm.Message{Role: llm.Tool, Parts: []llm.Part{llm.ToolResultPart(call.ID, resultJSON)}})
		modelCall(ctx, tr, "openai.responses", history,
			llm.Message{Role: llm.Assistant, Parts: []llm.Part{llm.Text(answer)}, FinishReason: llm.FinishStop},
			answerUsage, cfg.latency)

		task.RecordOutput(map[string]any{"resolution": "refunded", "order": order})
		return nil
	})

	tr.Message(llm.Assistant, answer)
	tr.RecordOutput(answer)
	tr.Feedback("helpful", 1, "resolved in one turn")
	tr.Signal("refund_issued")
	return tr.ID()
}

// modelCall records a simulated model call with a fixed answer and usage.
func modelCall(ctx context.Context, tr *trace.Trace, name string, in []llm.Message, out llm.Message, u llm.Usage, latency time.Duration) {
	ctx, s := tr.LLM(ctx, name, llm.Model(model), llm.Provider("openai"), llm.Prompt("support-triage", "v3"))
	defer s.End()
	s.RecordInput(in)
	sleep(ctx, latency)
	s.SetResponseModel(model)
	s.SetResponseID("resp_" + randomHex(8))
	s.SetFinishReasons(out.FinishReason)
	s.RecordOutput(out)
	s.SetUsage(u) // no cost given: computed from the price table
}

type refund struct {
	Order     string  `json:"order"`
	Refunded  bool    `json:"refunded"`
	AmountUSD float64 `json:"amount_usd"`
}

func issueRefund(ctx context.Context, order string, latency time.Duration) refund {
	sleep(ctx, latency)
	return refund{Order: order, Refunded: true, AmountUSD: 42.50}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
