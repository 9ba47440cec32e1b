// Package attr holds the attribute keys agenttrace writes on spans and the
// server reads back. GenAI keys come from the OpenTelemetry semantic
// conventions (semconv v1.41.0); agenttrace's own keys live under
// "agenttrace.". DESIGN.md section 3 is the source of truth for this table.
package attr

import (
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
)

// Span classification.
const (
	SpanType      = attribute.Key("agenttrace.span.type")
	OperationName = semconv.GenAIOperationNameKey
)

// Model and provider.
const (
	RequestModel     = semconv.GenAIRequestModelKey
	ResponseModel    = semconv.GenAIResponseModelKey
	ProviderName     = semconv.GenAIProviderNameKey
	ResponseID       = semconv.GenAIResponseIDKey
	FinishReasons    = semconv.GenAIResponseFinishReasonsKey
	TimeToFirstChunk = semconv.GenAIResponseTimeToFirstChunkKey
)

// Token usage. Cache tokens are included in InputTokens, reasoning tokens in
// OutputTokens.
const (
	InputTokens         = semconv.GenAIUsageInputTokensKey
	OutputTokens        = semconv.GenAIUsageOutputTokensKey
	CacheReadTokens     = semconv.GenAIUsageCacheReadInputTokensKey
	CacheCreationTokens = semconv.GenAIUsageCacheCreationInputTokensKey
	ReasoningTokens     = semconv.GenAIUsageReasoningOutputTokensKey
	TotalTokens         = attribute.Key("agenttrace.usage.total_tokens")
	CostUSD             = attribute.Key("agenttrace.usage.cost_usd")
	CostSource          = attribute.Key("agenttrace.usage.cost_source")
	PriceTableVersion   = attribute.Key("agenttrace.usage.price_table_version")
	ContextWindowTokens = attribute.Key("agenttrace.usage.context_window_tokens")
	ContextUsedTokens   = attribute.Key("agenttrace.usage.context_used_tokens")
	// UsageUnknown=true marks a model call whose usage did not arrive (a
	// stream without usage, cut short or failed): its tokens and cost are
	// unknown, not zero.
	UsageUnknown = attribute.Key("agenttrace.usage.unknown")
)

// Budgets (package budget).
const (
	// SignalBudgetExceeded names the signal of a call a budget refused.
	SignalBudgetExceeded = "budget_exceeded"
	BudgetScope          = attribute.Key("agenttrace.budget.scope")
	BudgetID             = attribute.Key("agenttrace.budget.id")
	BudgetReason         = attribute.Key("agenttrace.budget.reason")
	BudgetLimitUSD       = attribute.Key("agenttrace.budget.limit_usd")
	BudgetSpentUSD       = attribute.Key("agenttrace.budget.spent_usd")
	BudgetCostUSD        = attribute.Key("agenttrace.budget.cost_usd")
	// BudgetStreamCut=true marks an LLM span whose stream a budget cut.
	BudgetStreamCut = attribute.Key("agenttrace.budget.stream_cut")
)

// Trace-level fields, stamped on every span of a trace.
const (
	SessionID       = semconv.SessionIDKey
	UserID          = semconv.UserIDKey
	TenantID        = attribute.Key("agenttrace.tenant.id")
	ConversationID  = semconv.GenAIConversationIDKey
	ExternalTraceID = attribute.Key("agenttrace.external_trace_id")
	Tags            = attribute.Key("agenttrace.tags")
	Environment     = semconv.DeploymentEnvironmentNameKey
	// ServiceName is the resource's service.name.
	ServiceName = semconv.ServiceNameKey
	// ContextPrefix prefixes the keys of trace.WithContext fields.
	ContextPrefix = "agenttrace.context."
)

// Prompt management.
const (
	PromptSlug    = attribute.Key("agenttrace.prompt.slug")
	PromptVersion = attribute.Key("agenttrace.prompt.version")
)

// Input and output.
const (
	Input          = attribute.Key("agenttrace.input")
	Output         = attribute.Key("agenttrace.output")
	InputMessages  = semconv.GenAIInputMessagesKey
	OutputMessages = semconv.GenAIOutputMessagesKey
)

// Tools.
const (
	ToolName          = semconv.GenAIToolNameKey
	ToolCallID        = semconv.GenAIToolCallIDKey
	ToolCallArguments = semconv.GenAIToolCallArgumentsKey
	ToolCallResult    = semconv.GenAIToolCallResultKey
)

// Span events and their attribute keys.
const (
	EventMessage  = "agenttrace.message"
	EventFeedback = "agenttrace.feedback"
	EventSignal   = "agenttrace.signal"

	EventRole       = attribute.Key("role")
	EventContent    = attribute.Key("content")
	EventToolCallID = attribute.Key("tool_call_id")
	EventInternal   = attribute.Key("internal")
	EventName       = attribute.Key("name")
	EventValue      = attribute.Key("value")
	EventComment    = attribute.Key("comment")
)

// Values of SpanType.
const (
	TypeTrace     = "trace"
	TypeLLM       = "llm"
	TypeTool      = "tool"
	TypeTask      = "task"
	TypeRetrieval = "retrieval"
	TypeSpan      = "span"
)

// Values of OperationName. OpChat, OpTextCompletion, OpGenerateContent and
// OpEmbeddings are model calls: a span carrying one of them counts as an
// LLM request even without agenttrace.span.type.
const (
	OpChat            = "chat"
	OpTextCompletion  = "text_completion"
	OpGenerateContent = "generate_content"
	OpEmbeddings      = "embeddings"
	OpExecuteTool     = "execute_tool"
	OpRetrieval       = "retrieval"
	OpInvokeAgent     = "invoke_agent"
	OpInvokeWorkflow  = "invoke_workflow"
)

// Values of CostSource.
const (
	CostSourceProvider = "provider"
	CostSourceComputed = "computed"
	CostSourceUser     = "user"
)
