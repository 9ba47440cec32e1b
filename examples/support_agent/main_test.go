package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/otlptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun sends the scenario to a collector on 127.0.0.1 and checks what
// arrives.
func TestRun(t *testing.T) {
	col := otlptest.New()
	t.Cleanup(col.Close)
	var out bytes.Buffer
	err := run(context.Background(), config{endpoint: col.URL, session: "s-test", user: "u1", tenant: "t1", traces: 2}, &out)
	require.NoError(t, err)

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, "session=s-test user=u1 tenant=t1", lines[2])

	spans := col.Spans()
	require.Len(t, spans, 2*9, "per trace: root, task, 2 LLM calls, 1 tool, 3 messages, 1 score")
	var llmSpans, costed int
	for _, s := range spans {
		assert.Equal(t, "s-test", s.Attr(string(attr.SessionID)))
		assert.Equal(t, "t1", s.Attr(string(attr.TenantID)))
		if s.Attr(string(attr.SpanType)) == "llm" {
			llmSpans++
			if s.Attr(string(attr.CostSource)) == "computed" {
				costed++
			}
		}
	}
	assert.Equal(t, 4, llmSpans)
	assert.Equal(t, 4, costed)
	for _, l := range lines[:2] {
		assert.Regexp(t, `^trace_id=[0-9a-f]{32}$`, l)
	}
}

func TestRunCancelled(t *testing.T) {
	col := otlptest.New()
	t.Cleanup(col.Close)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, config{endpoint: col.URL, traces: 3}, &out))
	assert.Contains(t, out.String(), "interrupted after 0 traces")
}

func TestRunConsole(t *testing.T) {
	var out bytes.Buffer
	// An API key (AGENTTRACE_API_KEY, say) does not matter to the console.
	require.NoError(t, run(context.Background(), config{console: true, apiKey: "k", traces: 1, session: "s-c"}, &out))
	assert.Contains(t, out.String(), "issue_refund [tool]")
	assert.Contains(t, out.String(), "openai.responses [llm]")
}

func TestRunBadInput(t *testing.T) {
	require.Error(t, run(context.Background(), config{traces: 0}, &bytes.Buffer{}))
	require.Error(t, run(context.Background(), config{traces: 1, endpoint: "nope"}, &bytes.Buffer{}))
	err := run(context.Background(), config{traces: 1, console: true, endpoint: "http://127.0.0.1:4318"}, &bytes.Buffer{})
	require.ErrorContains(t, err, "-endpoint")
}
