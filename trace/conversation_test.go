package trace_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"

	"github.com/agenttrace/agenttrace/batch"
	"github.com/agenttrace/agenttrace/exporter"
	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/servertest"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/sqlite"
	"github.com/agenttrace/agenttrace/trace"
	"github.com/agenttrace/agenttrace/usage"
)

// serverClient returns a client sending to ts, shut down with the test.
func serverClient(t *testing.T, ts *servertest.Server, opts ...trace.Option) *trace.Client {
	t.Helper()
	t.Setenv(exporter.EnvEndpoint, "")
	t.Setenv(exporter.EnvTracesEndpoint, "")
	client, err := trace.NewClient(context.Background(), append([]trace.Option{
		trace.WithEndpoint(ts.URL), trace.WithServiceName("support-bot")}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Shutdown(context.Background()) })
	return client
}

// TestLongConversationArrivesWhole: a trace with 10,000 messages of
// 32 KiB each (320 MiB in all) reaches a real server whole, root span
// included, while the client holds a bounded amount of memory: messages
// are exported as they are recorded, not held on the root until the end.
func TestLongConversationArrivesWhole(t *testing.T) {
	// The server runs in a child process so that the heap sampled below
	// is the client's alone. The client waits for room in its queue and
	// out any 429 back-pressure rather than drop (a server storing 312 MiB
	// is slower than a loop recording it): this test is about the client
	// keeping every message in bounded memory.
	srv, stopServer := startChildServer(t)
	t.Setenv(exporter.EnvEndpoint, "")
	t.Setenv(exporter.EnvTracesEndpoint, "")
	client, err := trace.NewClient(context.Background(),
		trace.WithEndpoint(srv.URL), trace.WithServiceName("support-bot"),
		trace.WithExporterOptions(exporter.WithRetry(otlptracehttp.RetryConfig{
			Enabled: true, InitialInterval: 100 * time.Millisecond,
			MaxInterval: time.Second, MaxElapsedTime: 10 * time.Minute}),
			// A loaded machine (make test runs packages in parallel) may
			// take the server well past the default 10 s per request and
			// 30 s per export to store 4 MiB of messages: no bound but
			// the retry policy's.
			exporter.WithTimeout(2*time.Minute)),
		trace.WithBatchOptions(batch.WithBlocking(10*time.Minute), batch.WithExportTimeout(0)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Shutdown(context.Background()) })
	const n = 10_000
	// The content attribute, [{"type":"text","content":"..."}], is 32 KiB.
	text := strings.Repeat("x", 32<<10-len(`[{"type":"text","content":""}]`))

	// The live heap (after a GC) is sampled every 500 messages; the peak
	// of the second half of the conversation must not exceed the first's
	// by more than the batch queue could hold: memory does not grow with
	// the conversation. (The in-process server shares the heap.)
	var ms runtime.MemStats
	var peak [2]uint64
	ctx, tr := client.Start(context.Background(), "long_chat", trace.WithSessionID("s-long"))
	tr.RecordInput("a long conversation")
	for i := range n {
		tr.Message(llm.User, fmt.Sprintf("%05d", i)+text[5:])
		if i%500 == 499 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak[2*i/n] = max(peak[2*i/n], ms.HeapAlloc)
		}
	}
	tr.End()
	require.NoError(t, client.Shutdown(ctx))
	st := client.Stats()
	assert.Zero(t, st.Dropped.Total(), "dropped %+v", st.Dropped)
	assert.EqualValues(t, n+1, st.Exported)
	t.Logf("live heap: at most %d MiB over the first %d messages, %d MiB over the last %d (%d MiB of messages in all)",
		peak[0]>>20, n/2, peak[1]>>20, n/2, n*len(text)>>20)
	assert.Less(t, peak[1], peak[0]+64<<20, "memory grows with the conversation")

	uc, err := usage.NewClient(srv.URL, usage.WithAPIKey(""))
	require.NoError(t, err)
	sum, err := uc.GetTrace(context.Background(), tr.ID())
	uc.CloseIdleConnections()
	require.NoError(t, err)
	assert.True(t, sum.HasRoot, "the root span arrived")
	assert.Equal(t, "long_chat", sum.Name)
	assert.Equal(t, "s-long", sum.SessionID)
	assert.EqualValues(t, n+1, sum.SpanCount)

	// The stored message, read from the server's file once it stopped.
	stopServer()
	db, err := sqlite.Open(context.Background(), srv.DB)
	require.NoError(t, err)
	defer func() { assert.NoError(t, db.Close()) }()
	page, err := db.ListSpansByTrace(context.Background(), store.TraceSpansQuery{TraceID: tr.ID(), Limit: 3})
	require.NoError(t, err)
	require.Len(t, page.Spans, 3)
	first := page.Spans[1] // the root starts first
	assert.Equal(t, attr.TypeMessage, first.Type)
	var events []struct {
		Name       string         `json:"name"`
		Attributes map[string]any `json:"attributes"`
	}
	require.NoError(t, json.Unmarshal(first.Events, &events))
	require.Len(t, events, 1)
	var parts []llm.Part
	content, _ := events[0].Attributes["content"].(string)
	require.NoError(t, json.Unmarshal([]byte(content), &parts))
	require.Len(t, parts, 1)
	assert.Equal(t, "00000"+text[5:], parts[0].Content, "the message arrived whole")
}

// TestScoreAfterTheTrace: a score recorded for a trace id hours after it
// ended, by another client (another process), reaches the trace's summary
// on the server; bad scores are refused with a clear error.
func TestScoreAfterTheTrace(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()

	agent := serverClient(t, ts)
	_, tr := agent.Start(ctx, "support_agent")
	tr.Message(llm.User, "Where is my order?")
	require.NoError(t, tr.Feedback("helpful", 1, "in the run"))
	tr.End()
	require.NoError(t, agent.Shutdown(ctx))
	id := tr.ID()

	// Later, a web handler of another service knows only the trace id.
	web := serverClient(t, ts)
	require.NoError(t, web.Score(ctx, id, "helpful", 0, "not really"))
	require.NoError(t, web.Score(ctx, strings.ToUpper(id), "accuracy", 0.75, ""))
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		err := web.Score(ctx, id, "helpful", v, "")
		require.ErrorIs(t, err, trace.ErrInvalidScore)
		assert.Contains(t, err.Error(), "not a finite number")
	}
	for _, bad := range []string{"", "xyz", strings.Repeat("0", 32)} {
		assert.ErrorIs(t, web.Score(ctx, bad, "helpful", 1, ""), trace.ErrInvalidScore, bad)
	}
	assert.ErrorIs(t, web.Score(ctx, id, " ", 1, ""), trace.ErrInvalidScore)
	assert.ErrorIs(t, tr.Feedback("helpful", math.NaN(), ""), trace.ErrInvalidScore)
	// A score for a trace the server has not seen (yet) is stored.
	unknown := strings.Repeat("ab", 16)
	require.NoError(t, web.Score(ctx, unknown, "helpful", 1, ""))
	require.NoError(t, web.Flush(ctx))

	uc, err := usage.NewClient(ts.URL, usage.WithAPIKey(""))
	require.NoError(t, err)
	defer uc.CloseIdleConnections()
	sum, err := uc.GetTrace(ctx, id)
	require.NoError(t, err)
	assert.True(t, sum.HasRoot)
	assert.Equal(t, "support_agent", sum.Name, "a score is not taken for the root")
	assert.Equal(t, []usage.Score{
		{Name: "accuracy", Count: 1, Mean: 0.75, Min: 0.75, Max: 0.75, Last: 0.75},
		{Name: "helpful", Count: 2, Mean: 0.5, Min: 0, Max: 1, Last: 0},
	}, sum.Scores)

	pending, err := uc.GetTrace(ctx, unknown)
	require.NoError(t, err)
	assert.False(t, pending.HasRoot)
	assert.Equal(t, []usage.Score{{Name: "helpful", Count: 1, Mean: 1, Min: 1, Max: 1, Last: 1}}, pending.Scores)

	// The wire JSON names them "scores".
	var wire map[string]json.RawMessage
	b, _ := json.Marshal(sum)
	require.NoError(t, json.Unmarshal(b, &wire))
	assert.Contains(t, wire, "scores")
}
