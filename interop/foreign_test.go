package interop

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/usage"
)

// Keys another instrumentation library would write: the GenAI semantic
// conventions straight from semconv, nothing of agenttrace's except the
// tenant (on the resource, as OTEL_RESOURCE_ATTRIBUTES would put it) and
// the cost (see TestForeignOTelSDK).
const (
	keyTenant = attribute.Key("agenttrace.tenant.id")
	keyCost   = attribute.Key("agenttrace.usage.cost_usd")
)

// TestForeignOTelSDK sends spans made with the plain OpenTelemetry Go SDK
// and its OTLP/HTTP exporter, no agenttrace code, with GenAI attributes set
// by hand, straight to agenttrace serve, and finds their tokens, requests
// and cost in the usage API.
//
// One chat span carries a cost set by hand (agenttrace.usage.cost_usd),
// which the server keeps. Another carries no cost, only a model the
// embedded price table knows and its tokens: the server prices it
// (cost_source "computed"). The spans of models the table does not know
// keep their tokens and cost nothing.
func TestForeignOTelSDK(t *testing.T) {
	srv := startServe(t, t.TempDir())
	serveURL := srv.URL
	ctx := context.Background()
	run := randomHex(4)
	session, other, tenant := "s-foreign-"+run, "s-foreign-other-"+run, "t-foreign-"+run

	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(serveURL+"/v1/traces"))
	require.NoError(t, err)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewWithAttributes(semconv.SchemaURL,
			semconv.ServiceName("foreign-chat-app"), keyTenant.String(tenant))))
	tracer := tp.Tracer("example.com/genai-instrumentation")

	start := time.Now()
	ctx, root := tracer.Start(ctx, "POST /chat", oteltrace.WithSpanKind(oteltrace.SpanKindServer),
		oteltrace.WithAttributes(attribute.String("http.request.method", "POST"), semconv.SessionID(session)))
	// A chat call, instrumented as the GenAI conventions say, with a cost.
	_, chat := tracer.Start(ctx, "chat gpt-4o-mini", oteltrace.WithSpanKind(oteltrace.SpanKindClient),
		oteltrace.WithAttributes(
			semconv.GenAIOperationNameChat, semconv.GenAIProviderNameOpenAI,
			semconv.GenAIRequestModel("gpt-4o-mini"), semconv.SessionID(session)))
	chat.SetAttributes(semconv.GenAIResponseModel("gpt-4o-mini-2024-07-18"),
		semconv.GenAIUsageInputTokens(820), semconv.GenAIUsageOutputTokens(140),
		semconv.GenAIUsageCacheReadInputTokens(512), keyCost.Float64(0.000207))
	chat.End()
	// A chat call with no cost attribute at all, of a model the server's
	// price table knows (gpt-4.1-mini: $0.40 input, $0.10 cached input,
	// $1.60 output per million tokens): the server computes
	// (600*0.40 + 400*0.10 + 200*1.60) / 1e6 = $0.000600.
	_, priced := tracer.Start(ctx, "chat gpt-4.1-mini", oteltrace.WithSpanKind(oteltrace.SpanKindClient),
		oteltrace.WithAttributes(
			semconv.GenAIOperationNameChat, semconv.GenAIProviderNameOpenAI,
			semconv.GenAIRequestModel("gpt-4.1-mini"), semconv.SessionID(session)))
	priced.SetAttributes(semconv.GenAIResponseModel("gpt-4.1-mini-2025-04-14"),
		semconv.GenAIUsageInputTokens(1000), semconv.GenAIUsageOutputTokens(200),
		semconv.GenAIUsageCacheReadInputTokens(400))
	priced.End()
	// Embeddings, no cost, no output tokens.
	_, emb := tracer.Start(ctx, "embeddings acme-embed-1", oteltrace.WithSpanKind(oteltrace.SpanKindClient),
		oteltrace.WithAttributes(semconv.GenAIOperationNameEmbeddings, semconv.GenAIRequestModel("acme-embed-1"),
			semconv.GenAIUsageInputTokens(64), semconv.SessionID(session)))
	emb.End()
	// Token counts as doubles, as some instrumentations (JavaScript
	// numbers) send them.
	_, gen := tracer.Start(ctx, "generate_content acme-gen-2", oteltrace.WithSpanKind(oteltrace.SpanKindClient),
		oteltrace.WithAttributes(semconv.GenAIOperationNameGenerateContent, semconv.GenAIRequestModel("acme-gen-2"),
			attribute.Float64(string(semconv.GenAIUsageInputTokensKey), 300),
			attribute.Float64(string(semconv.GenAIUsageOutputTokensKey), 50), semconv.SessionID(session)))
	gen.SetStatus(codes.Error, "rate limited")
	gen.End()
	// A tool call: not a model request.
	_, tool := tracer.Start(ctx, "execute_tool get_weather", oteltrace.WithAttributes(
		semconv.GenAIOperationNameExecuteTool, semconv.GenAIToolName("get_weather"), semconv.SessionID(session)))
	tool.End()
	root.End()
	// Another session of the same tenant.
	_, o := tracer.Start(context.Background(), "chat gpt-4o-mini", oteltrace.WithSpanKind(oteltrace.SpanKindClient),
		oteltrace.WithAttributes(semconv.GenAIOperationNameChat, semconv.GenAIRequestModel("gpt-4o-mini"),
			semconv.GenAIUsageInputTokens(10), semconv.GenAIUsageOutputTokens(5), semconv.SessionID(other),
			keyCost.Float64(0.000003)))
	o.End()

	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The server answers only once the spans are committed, so they are
	// queryable as soon as Shutdown returns.
	if err := tp.Shutdown(sctx); err != nil {
		t.Fatalf("step failed: sending the spans to agenttrace serve: %v\n%s", err, srv.logTail())
	}

	uc, err := usage.NewClient(serveURL, usage.WithAPIKey(""))
	require.NoError(t, err)
	defer uc.CloseIdleConnections()
	from, to := start.Add(-time.Hour), time.Now().Add(time.Hour)

	su, err := uc.GetSessionUsage(context.Background(), session, from, to)
	require.NoError(t, err)
	assert.Equal(t, int64(4), su.RequestCount, "the two chats, embeddings and generate_content are requests; the tool is not")
	assert.Equal(t, usage.Tokens{InputTokens: 820 + 1000 + 64 + 300, OutputTokens: 140 + 200 + 50, CacheReadTokens: 512 + 400}, su.Tokens)
	assert.Equal(t, int64(820+1000+64+300+140+200+50), su.TokenCount)
	assert.Equal(t, int64(207000+600000), su.TotalCostNanoUSD, "the cost sent plus the one the server computed")
	assert.InDelta(t, 0.000807, su.TotalCost, 1e-12)

	tu, err := uc.GetTenantUsage(context.Background(), tenant, from, to)
	require.NoError(t, err)
	assert.Equal(t, int64(2), tu.SessionCount)
	assert.Equal(t, int64(5), tu.RequestCount)
	assert.Equal(t, int64(820+1000+64+300+140+200+50+10+5), tu.TokenCount)
	assert.Equal(t, int64(207000+600000+3000), tu.TotalCostNanoUSD)

	// The spans were read the way the conventions mean them.
	types := map[string]string{}
	costs := map[string]string{}
	for s, err := range uc.IterSpansByTraceID(context.Background(), root.SpanContext().TraceID().String(), usage.SpanQuery{}) {
		require.NoError(t, err)
		types[s.Name] = s.Type + " " + s.Model + " " + string(s.Status)
		costs[s.Name] = fmt.Sprintf("%d %s", s.CostNanoUSD, s.CostSource)
		assert.Equal(t, session, s.SessionID, s.Name)
		assert.Equal(t, tenant, s.TenantID, s.Name)
		assert.Equal(t, "foreign-chat-app", s.ServiceName, s.Name)
	}
	assert.Equal(t, map[string]string{
		"POST /chat":                  "span  ok",
		"chat gpt-4o-mini":            "llm gpt-4o-mini-2024-07-18 ok",
		"chat gpt-4.1-mini":           "llm gpt-4.1-mini-2025-04-14 ok",
		"embeddings acme-embed-1":     "llm acme-embed-1 ok",
		"generate_content acme-gen-2": "llm acme-gen-2 error",
		"execute_tool get_weather":    "tool  ok",
	}, types)
	assert.Equal(t, map[string]string{
		"POST /chat":                  "0 ",
		"chat gpt-4o-mini":            "207000 ", // sent with its own cost, no source
		"chat gpt-4.1-mini":           "600000 computed",
		"embeddings acme-embed-1":     "0 ", // a model no price table knows: tokens, no cost
		"generate_content acme-gen-2": "0 ",
		"execute_tool get_weather":    "0 ",
	}, costs)
	t.Logf("plain OpenTelemetry SDK -> agenttrace serve: session %s: %d requests, %d tokens, $%.6f; tenant %s: %d sessions, %d requests",
		session, su.RequestCount, su.TokenCount, su.TotalCost, tenant, tu.SessionCount, tu.RequestCount)
}
