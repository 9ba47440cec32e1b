package llm

// CostSource says where a Usage's cost came from.
type CostSource string

// Cost sources, recorded as agenttrace.usage.cost_source.
const (
	// CostUnknown means no cost is known; none is recorded.
	CostUnknown CostSource = ""
	// CostProvider is a cost the model provider reported.
	CostProvider CostSource = "provider"
	// CostComputed is a cost computed from the embedded price table.
	CostComputed CostSource = "computed"
	// CostUser is a cost the caller set.
	CostUser CostSource = "user"
)

// Usage is the token usage and cost of one model call.
//
// The conventions follow the OpenTelemetry GenAI semantic conventions:
// InputTokens includes CacheReadTokens and CacheCreationTokens, and
// OutputTokens includes ReasoningTokens. Adapters for providers that report
// disjoint buckets (Anthropic) normalise to this convention.
type Usage struct {
	// InputTokens is every prompt token, cached or not.
	InputTokens int64
	// OutputTokens is every generated token, reasoning included.
	OutputTokens int64
	// CacheReadTokens is the part of InputTokens served from a prompt cache.
	CacheReadTokens int64
	// CacheCreationTokens is the part of InputTokens written to a prompt cache.
	CacheCreationTokens int64
	// CacheCreation1hTokens is the part of CacheCreationTokens written with a
	// one-hour lifetime (Anthropic); the rest is priced as five-minute writes.
	CacheCreation1hTokens int64
	// ReasoningTokens is the part of OutputTokens spent on reasoning.
	ReasoningTokens int64
	// TotalTokens is the total the provider reported; zero means
	// InputTokens + OutputTokens.
	TotalTokens int64

	// CostUSD is the cost of the call in US dollars. It is meaningful only
	// when CostSource is not CostUnknown; a nonzero CostUSD with an empty
	// CostSource is treated as CostUser.
	CostUSD float64
	// CostSource says where CostUSD came from.
	CostSource CostSource

	// ContextWindowTokens is the model's context window size, if known.
	ContextWindowTokens int64
	// ContextUsedTokens is how much of the context window the call used.
	ContextUsedTokens int64
}

// Total returns TotalTokens, or InputTokens + OutputTokens when it is unset.
func (u Usage) Total() int64 {
	if u.TotalTokens > 0 {
		return u.TotalTokens
	}
	return u.InputTokens + u.OutputTokens
}

// HasCost reports whether u carries a cost.
func (u Usage) HasCost() bool {
	return u.CostSource != CostUnknown || u.CostUSD != 0
}
