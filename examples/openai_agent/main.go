// Command openai_agent is a small tool-calling agent recorded with
// agenttrace: the OpenAI SDK client carries agentopenai.Middleware, so every
// model call becomes an LLM span (messages, usage, cost, finish reason) with
// no code around the calls; the tools are recorded as tool spans.
//
// It talks to any OpenAI-compatible endpoint:
//
//	OPENAI_API_KEY=sk-... go run ./examples/openai_agent "What's the weather in Oslo?"
//	OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_MODEL=llama3.1 go run ./examples/openai_agent
//
// Traces go to an agenttrace server (OTEL_EXPORTER_OTLP_ENDPOINT, default
// http://localhost:4318); -console prints them instead.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/agenttrace/agenttrace/exporter"
	"github.com/agenttrace/agenttrace/llm"
	agentopenai "github.com/agenttrace/agenttrace/llm/openai"
	"github.com/agenttrace/agenttrace/span"
	"github.com/agenttrace/agenttrace/trace"
)

// maxTurns bounds the agent loop.
const maxTurns = 6

func main() {
	console := flag.Bool("console", false, "print traces to stdout instead of exporting them")
	flag.Parse()
	question := strings.Join(flag.Args(), " ")
	if question == "" {
		question = "What's the weather in Oslo and in Paris, and which is warmer?"
	}
	if os.Getenv("OPENAI_API_KEY") == "" && os.Getenv("OPENAI_BASE_URL") == "" {
		fmt.Fprintln(os.Stderr, "openai_agent: set OPENAI_API_KEY (and optionally OPENAI_BASE_URL for another OpenAI-compatible endpoint)")
		os.Exit(2)
	}
	cfg := config{
		Model:    envOr("OPENAI_MODEL", openai.ChatModelGPT4oMini),
		Question: question,
		Out:      os.Stdout,
	}
	if *console {
		cfg.Trace = append(cfg.Trace, trace.WithExporter(exporter.NewConsole(os.Stdout)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "openai_agent:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

type config struct {
	Model    string
	Question string
	Out      io.Writer
	// Trace are the agenttrace client options (exporter, endpoint).
	Trace []trace.Option
	// OpenAI are extra SDK client options (base URL, key); the SDK also
	// reads OPENAI_API_KEY and OPENAI_BASE_URL.
	OpenAI []option.RequestOption
}

// run answers cfg.Question with a tool-calling loop, inside one trace.
func run(ctx context.Context, cfg config) (err error) {
	tc, err := trace.NewClient(ctx, append([]trace.Option{trace.WithServiceName("openai-agent-example")}, cfg.Trace...)...)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if serr := tc.Shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("exporting the trace: %w", serr)
		}
	}()

	client := openai.NewClient(append([]option.RequestOption{
		option.WithMiddleware(agentopenai.Middleware()),
	}, cfg.OpenAI...)...)

	ctx, tr := tc.Start(ctx, "weather_agent", trace.WithSessionID("example-session"), trace.WithTags("example"))
	defer tr.End()
	tr.Message(llm.User, cfg.Question)

	params := openai.ChatCompletionNewParams{
		Model: cfg.Model,
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You answer weather questions. Use the get_weather tool for every city you need."),
			openai.UserMessage(cfg.Question),
		},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
			Name:        "get_weather",
			Description: openai.String("Current weather in a city"),
			Parameters: openai.FunctionParameters{
				"type":       "object",
				"properties": map[string]any{"city": map[string]string{"type": "string"}},
				"required":   []string{"city"},
			},
		})},
	}
	for turn := 0; turn < maxTurns; turn++ {
		resp, err := client.Chat.Completions.New(ctx, params) // recorded by the middleware
		if err != nil {
			tr.Fail(err)
			return err
		}
		if len(resp.Choices) == 0 {
			return errors.New("the model returned no choice")
		}
		msg := resp.Choices[0].Message
		params.Messages = append(params.Messages, msg.ToParam())
		if len(msg.ToolCalls) == 0 {
			tr.Message(llm.Assistant, msg.Content)
			tr.RecordOutput(msg.Content)
			fmt.Fprintln(cfg.Out, msg.Content)
			return nil
		}
		for _, call := range msg.ToolCalls {
			result := runTool(ctx, tr, call.ID, call.Function.Name, call.Function.Arguments)
			params.Messages = append(params.Messages, openai.ToolMessage(result, call.ID))
		}
	}
	err = fmt.Errorf("no answer after %d turns", maxTurns)
	tr.Fail(err)
	return err
}

// runTool runs one tool call in a tool span and returns its result as JSON.
func runTool(ctx context.Context, tr *trace.Trace, id, name, arguments string) string {
	var args struct {
		City string `json:"city"`
	}
	_, s := tr.Tool(ctx, name, span.ToolCallID(id))
	defer s.End()
	s.RecordInput(json.RawMessage(arguments))
	var out any
	switch err := json.Unmarshal([]byte(arguments), &args); {
	case name != "get_weather":
		out = map[string]string{"error": "unknown tool " + name}
	case err != nil || args.City == "":
		out = map[string]string{"error": "arguments must be {\"city\": string}"}
	default:
		out = weather(args.City)
	}
	b, _ := json.Marshal(out)
	s.RecordOutput(json.RawMessage(b))
	tr.Message(llm.Tool, string(b), llm.ToolCallID(id))
	return string(b)
}

// weather is a stand-in for a real weather service.
func weather(city string) map[string]any {
	temps := map[string]int{"oslo": 4, "paris": 12, "london": 9, "tokyo": 15}
	t, ok := temps[strings.ToLower(city)]
	if !ok {
		t = 20
	}
	return map[string]any{"city": city, "temperature_c": t, "conditions": "cloudy"}
}
