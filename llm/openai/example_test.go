package openai_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/agenttrace/agenttrace/llm"
	agentopenai "github.com/agenttrace/agenttrace/llm/openai"
	"github.com/agenttrace/agenttrace/trace"
)

func ExampleUsageFrom() {
	var resp openai.ChatCompletion
	_ = json.Unmarshal([]byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,
		"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}],
		"usage":{"prompt_tokens":120,"completion_tokens":50,"total_tokens":170,
		"prompt_tokens_details":{"cached_tokens":100},"completion_tokens_details":{"reasoning_tokens":30}}}`), &resp)

	u := agentopenai.UsageFrom(&resp)
	fmt.Printf("input %d (cached %d), output %d (reasoning %d)\n", u.InputTokens, u.CacheReadTokens, u.OutputTokens, u.ReasoningTokens)
	// 20 uncached * $2.50 + 100 cached * $1.25 + 50 output * $10 per 1M tokens.
	cost, ok := llm.DefaultPrices().Cost(resp.Model, u)
	fmt.Printf("$%.6f %v\n", cost, ok)
	fmt.Println(agentopenai.FinishReasons(&resp))
	// Output:
	// input 120 (cached 100), output 50 (reasoning 30)
	// $0.000675 true
	// [stop]
}

func ExampleMiddleware() {
	ctx := context.Background()
	tc, err := trace.NewClient(ctx, trace.WithServiceName("support-bot"))
	if err != nil {
		panic(err)
	}
	defer tc.Shutdown(context.Background())

	// Every Chat Completions and Responses call of this client made inside
	// a trace becomes an LLM span, streams and retries included.
	client := openai.NewClient(option.WithMiddleware(agentopenai.Middleware()))

	ctx, tr := tc.Start(ctx, "support_agent")
	defer tr.End()
	resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    openai.ChatModelGPT4oMini,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Where is my order?")},
	})
	if err != nil {
		tr.Fail(err)
		return
	}
	fmt.Println(resp.Choices[0].Message.Content)
}

func ExampleWrapStream() {
	client := openai.NewClient()
	params := openai.ChatCompletionNewParams{
		Model:         openai.ChatModelGPT4oMini,
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me a story")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}
	// ctx carries a trace (see trace.Client.Start).
	ctx := context.Background()
	ctx, s := agentopenai.StartSpan(ctx, params)
	stream := agentopenai.WrapStream(s, client.Chat.Completions.NewStreaming(ctx, params))
	defer stream.Close() // ends the span even if the loop stops early
	for stream.Next() {
		if ch := stream.Current(); len(ch.Choices) > 0 {
			fmt.Print(ch.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		fmt.Println("stream failed:", err)
	}
}
