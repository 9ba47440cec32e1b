package anthropic_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/anthropics/anthropic-sdk-go"

	"github.com/agenttrace/agenttrace/llm"
	agentanthropic "github.com/agenttrace/agenttrace/llm/anthropic"
	"github.com/agenttrace/agenttrace/trace"
)

func ExampleUsageFrom() {
	var msg anthropic.Message
	_ = json.Unmarshal([]byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",
		"content":[{"type":"text","text":"Hello!"}],"stop_reason":"end_turn",
		"usage":{"input_tokens":20,"cache_creation_input_tokens":500,"cache_read_input_tokens":1000,
		"cache_creation":{"ephemeral_5m_input_tokens":300,"ephemeral_1h_input_tokens":200},"output_tokens":50}}`), &msg)

	// Anthropic's input_tokens excludes the cache buckets; llm.Usage includes them.
	u := agentanthropic.UsageFrom(&msg)
	fmt.Printf("input %d = 20 + %d read + %d written (%d for 1h), output %d\n",
		u.InputTokens, u.CacheReadTokens, u.CacheCreationTokens, u.CacheCreation1hTokens, u.OutputTokens)
	// 20*$3 + 1000*$0.30 + 300*$3.75 + 200*$6 + 50*$15 per 1M tokens.
	cost, _ := llm.DefaultPrices().Cost(string(msg.Model), u)
	fmt.Printf("$%.6f %v\n", cost, agentanthropic.FinishReasons(&msg))
	// Output:
	// input 1520 = 20 + 1000 read + 500 written (200 for 1h), output 50
	// $0.003435 [stop]
}

func ExampleClientOptions() {
	ctx := context.Background()
	tc, err := trace.NewClient(ctx, trace.WithServiceName("support-bot"))
	if err != nil {
		panic(err)
	}
	defer tc.Shutdown(context.Background())

	client := anthropic.NewClient(agentanthropic.ClientOptions()...)
	ctx, tr := tc.Start(ctx, "support_agent")
	defer tr.End()
	msg, err := client.Messages.New(ctx, anthropic.MessageNewParams{
		Model:     anthropic.ModelClaudeSonnet4_5,
		MaxTokens: 1024,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Where is my order?"))},
	})
	if err != nil {
		tr.Fail(err)
		return
	}
	fmt.Println(msg.Content[0].Text)
}
