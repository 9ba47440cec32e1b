// Package agent is the support-agent scenario of examples/support_agent as
// an importable package, so that the example command and the interop tests
// record exactly the same traces: a user asks about an order, the agent runs
// a resolve_ticket task in which a (simulated) model calls the issue_refund
// tool, and the agent answers. No real model is called: the model's answers
// and token counts are fixed, and the cost comes from the client's price
// table (gpt-4.1-mini).
//
// Each conversation is one trace of five spans: the root (support_agent),
// the task (resolve_ticket), two LLM calls (openai.responses) and one tool
// call (issue_refund). The root carries two messages, the tool result
// message, feedback and a signal as span events.
package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/span"
	"github.com/agenttrace/agenttrace/trace"
)

// Model is the model the simulated calls report.
const Model = "gpt-4.1-mini"

// SpansPerConversation and RequestsPerConversation count what one
// conversation records: spans in all, and LLM calls among them.
const (
	// Root, task, 2 LLM calls, 1 tool, 3 message spans and 1 score span.
	SpansPerConversation    = 9
	RequestsPerConversation = 2
)

// Fixed token counts of the two simulated model calls of a conversation.
var (
	PlanUsage   = llm.Usage{InputTokens: 1200, CacheReadTokens: 1000, OutputTokens: 60}
	AnswerUsage = llm.Usage{InputTokens: 1350, CacheReadTokens: 1200, OutputTokens: 40}
)

// Defaults of Config's empty fields (Run only; Conversation uses the fields
// as given).
const (
	DefaultUser   = "cus_123"
	DefaultTenant = "AceTech"
)

// ErrInvalidConfig means a Config field has an invalid value; the error
// names it.
var ErrInvalidConfig = errors.New("support agent: invalid config")

// Config describes the conversations to record. Its zero value records one
// conversation for a random session of DefaultUser at DefaultTenant with
// no simulated latency.
type Config struct {
	// Session is the session id; Run picks a random "s-<hex>" when empty.
	Session string
	// User and Tenant are the end user and tenant ids (Run defaults:
	// DefaultUser, DefaultTenant).
	User   string
	Tenant string
	// Traces is the number of conversations Run records (0 means 1).
	Traces int
	// Latency is the simulated time of each model and tool call.
	Latency time.Duration
}

// Totals is the usage a set of conversations records, as the server's
// usage API reports it: tokens (input + output, with the breakdown), LLM
// requests and cost.
type Totals struct {
	InputTokens     int64
	OutputTokens    int64
	CacheReadTokens int64
	Requests        int64
	// CostUSD is priced with llm.DefaultPrices(), the client's default
	// price table.
	CostUSD float64
}

// TokenCount returns input + output tokens, the usage API's token_count.
func (t Totals) TokenCount() int64 { return t.InputTokens + t.OutputTokens }

// Expected returns the totals that n complete conversations record.
func Expected(n int) Totals {
	var t Totals
	for range n {
		for _, u := range []llm.Usage{PlanUsage, AnswerUsage} {
			t.InputTokens += u.InputTokens
			t.OutputTokens += u.OutputTokens
			t.CacheReadTokens += u.CacheReadTokens
			t.Requests++
			c, _ := llm.DefaultPrices().Cost(Model, u)
			t.CostUSD += c
		}
	}
	return t
}

// Result is what Run recorded.
type Result struct {
	// Session, User and Tenant are the ids used, defaults filled in.
	Session, User, Tenant string
	// TraceIDs holds one trace id (32 hex digits) per recorded
	// conversation, in order.
	TraceIDs []string
	// Interrupted is true when ctx was done before every conversation was
	// recorded.
	Interrupted bool
	// Expected is the usage of the recorded conversations.
	Expected Totals
}

// Run records cfg.Traces conversations with client and returns their trace
// ids. It stops early, with Result.Interrupted set, once ctx is done. It does
// not flush: call client.Flush or client.Shutdown afterwards. A negative
// cfg.Traces is an error wrapping ErrInvalidConfig.
func Run(ctx context.Context, client *trace.Client, cfg Config) (Result, error) {
	if cfg.Traces < 0 {
		return Result{}, fmt.Errorf("%w: Traces must not be negative, got %d", ErrInvalidConfig, cfg.Traces)
	}
	if cfg.Traces == 0 {
		cfg.Traces = 1
	}
	if cfg.Session == "" {
		cfg.Session = "s-" + randomHex(6)
	}
	if cfg.User == "" {
		cfg.User = DefaultUser
	}
	if cfg.Tenant == "" {
		cfg.Tenant = DefaultTenant
	}
	res := Result{Session: cfg.Session, User: cfg.User, Tenant: cfg.Tenant}
	for i := range cfg.Traces {
		if ctx.Err() != nil {
			res.Interrupted = true
			break
		}
		res.TraceIDs = append(res.TraceIDs, Conversation(ctx, client, cfg, i))
	}
	res.Expected = Expected(len(res.TraceIDs))
	return res, nil
}

// Conversation records the n-th conversation (n picks the order number,
// ticket and tool call ids) of cfg's session, user and tenant, used as
// given, and returns its trace id. With a disabled client it records
// nothing and returns "".
func Conversation(ctx context.Context, client *trace.Client, cfg Config, n int) string {
	order := fmt.Sprint(4421 + n)
	ctx, tr := client.Start(ctx, "support_agent",
		trace.WithUserID(cfg.User), trace.WithSessionID(cfg.Session), trace.WithTenantID(cfg.Tenant),
		trace.WithConversationID(fmt.Sprintf("thread_%s_%d", cfg.Session, n)),
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
			PlanUsage, cfg.Latency)

		// 2. The tool runs.
		tctx, tool := tr.Tool(ctx, call.Name, span.Arguments(call.Arguments), span.ToolCallID(call.ID))
		result := issueRefund(tctx, order, cfg.Latency)
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
			AnswerUsage, cfg.Latency)

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
	ctx, s := tr.LLM(ctx, name, llm.Model(Model), llm.Provider("openai"), llm.Prompt("support-triage", "v3"))
	defer s.End()
	s.RecordInput(in)
	sleep(ctx, latency)
	s.SetResponseModel(Model)
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
