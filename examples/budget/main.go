// Command budget is an agent loop stopped by its budget: a model that
// keeps asking for one more tool call would spend without end, and the
// trace's budget refuses the call that would break it, before it is sent.
//
// The model is a local scripted OpenAI-compatible server started by the
// program (no key, no network): every answer asks for another search and
// reports 2,000 input and 400 output tokens of gpt-4o ($0.009 a call). With
// the default hard budget of $0.05, the sixth call's worst case does not
// fit and the loop stops:
//
//	go run ./examples/budget -console
//	go run ./examples/budget -endpoint http://127.0.0.1:4318 -session s-budget
//
// The refused call is on the trace as a budget_exceeded signal; the spans
// go to an agenttrace server (-endpoint, default $OTEL_EXPORTER_OTLP_ENDPOINT,
// else http://127.0.0.1:4318) or, with -console, to stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/agenttrace/agenttrace/budget"
	"github.com/agenttrace/agenttrace/exporter"
	agentopenai "github.com/agenttrace/agenttrace/llm/openai"
	"github.com/agenttrace/agenttrace/trace"
)

// maxTurns bounds the loop should the budget never stop it.
const maxTurns = 100

func main() {
	endpoint := flag.String("endpoint", "", "agenttrace server (default $OTEL_EXPORTER_OTLP_ENDPOINT, else http://127.0.0.1:4318)")
	console := flag.Bool("console", false, "print spans to stdout instead of exporting them")
	usd := flag.Float64("budget", 0.05, "the run's budget in US dollars")
	session := flag.String("session", "s-budget", "session id")
	flag.Parse()

	cfg := config{Budget: *usd, Session: *session, Out: os.Stdout}
	if *console {
		cfg.Trace = append(cfg.Trace, trace.WithExporter(exporter.NewConsole(os.Stdout)))
	} else if *endpoint != "" {
		cfg.Trace = append(cfg.Trace, trace.WithEndpoint(*endpoint))
	} else if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
		cfg.Trace = append(cfg.Trace, trace.WithEndpoint("http://127.0.0.1:4318"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "budget:", err)
		os.Exit(1)
	}
}

// config is what run needs.
type config struct {
	Budget  float64
	Session string
	Trace   []trace.Option
	Out     io.Writer
}

// result is what a run did.
type result struct {
	Calls   int // calls that reached the model
	Spent   budget.NanoUSD
	Refusal *budget.ExceededError
	TraceID string
}

// run starts the scripted model, then loops until the budget stops it.
func run(ctx context.Context, cfg config) (result, error) {
	var res result
	lim, err := budget.New(cfg.Budget, budget.Hard(), budget.OnThreshold(func(c budget.Crossing) {
		fmt.Fprintf(cfg.Out, "warning: %v%% of the run's budget spent (%s)\n", c.Percent, c.Spent)
	}))
	if err != nil {
		return res, err
	}
	model, calls, err := startModel()
	if err != nil {
		return res, err
	}
	defer model.Close()

	client, err := trace.NewClient(ctx, append([]trace.Option{trace.WithServiceName("budget-example")}, cfg.Trace...)...)
	if err != nil {
		return res, err
	}
	defer client.Shutdown(context.Background())
	oai := openai.NewClient(option.WithBaseURL("http://"+model.Addr+"/v1"), option.WithAPIKey("local"),
		option.WithMiddleware(agentopenai.Middleware()))

	ctx, tr := client.Start(ctx, "research_agent", trace.WithSessionID(cfg.Session), trace.WithBudget(lim))
	res.TraceID = tr.ID()
	msgs := []openai.ChatCompletionMessageParamUnion{
		openai.SystemMessage("Research until you are sure."),
		openai.UserMessage("Which Go tracing SDK stops a runaway agent?"),
	}
	tools := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
		Name: "search", Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}},
	})}
	for turn := 0; turn < maxTurns; turn++ {
		resp, err := oai.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: openai.ChatModelGPT4o, Messages: msgs, Tools: tools, MaxCompletionTokens: openai.Int(400),
		})
		if errors.As(err, &res.Refusal) {
			break // stopped by the budget: the call was not sent
		}
		if err != nil {
			tr.Fail(err)
			tr.End()
			return res, err
		}
		msgs = append(msgs, resp.Choices[0].Message.ToParam())
		for _, tc := range resp.Choices[0].Message.ToolCalls {
			_, s := tr.Tool(ctx, tc.Function.Name)
			s.RecordOutput("more results")
			s.End()
			msgs = append(msgs, openai.ToolMessage("more results", tc.ID))
		}
	}
	res.Spent, res.Calls = tr.Spent(), int(calls.Load())
	tr.End()
	if res.Refusal == nil {
		return res, fmt.Errorf("the budget did not stop the loop in %d turns", maxTurns)
	}
	fmt.Fprintf(cfg.Out, "trace_id=%s\nstopped by the budget after %d model calls: %v\nspent %s of %s\n",
		res.TraceID, res.Calls, res.Refusal, res.Spent, lim.Amount())
	return res, client.Shutdown(ctx)
}

// model is the scripted OpenAI-compatible server.
type model struct {
	Addr string
	srv  *http.Server
	done chan struct{}
}

func (m *model) Close() {
	_ = m.srv.Close()
	<-m.done
}

// startModel serves, on 127.0.0.1, a chat model that always asks for one
// more search.
func startModel() (*model, *atomic.Int32, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	var calls atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": fmt.Sprintf("chatcmpl-%d", n), "object": "chat.completion", "created": time.Now().Unix(), "model": "gpt-4o-2024-08-06",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "tool_calls", "message": map[string]any{
				"role": "assistant", "content": nil,
				"tool_calls": []any{map[string]any{"id": fmt.Sprintf("call_%d", n), "type": "function",
					"function": map[string]any{"name": "search", "arguments": fmt.Sprintf(`{"q":"attempt %d"}`, n)}}},
			}}},
			"usage": map[string]any{"prompt_tokens": 2000, "completion_tokens": 400, "total_tokens": 2400},
		})
	})
	m := &model{Addr: ln.Addr().String(), srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		_ = m.srv.Serve(ln)
	}()
	return m, &calls, nil
}
