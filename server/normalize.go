package server

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/internal/jsonenc"
	"github.com/agenttrace/agenttrace/store"
)

// This file is the one place where the attributes of other GenAI
// instrumentations are normalised to ours (DESIGN.md section 3) before the
// store sees a span. It is a table: every key read names the slot it
// fills, its priority and the library source or document it comes from.
//
// Priority: a slot keeps the value of the key with the lowest priority
// number (prioGenAI beats prioLegacy beats prioForeign beats
// prioFlattened); between keys of equal priority the first one on the
// wire wins. A value that cannot be read (a string where a count belongs,
// a negative or non-finite count or cost) is ignored, so a lower-priority
// key may still fill the slot, and counted (fields.ignored) for the
// server's log.

// Sources cited by the table. Paths are in the libraries' repositories at
// the commits read for this table (August 2026).
const (
	srcDesign = "DESIGN.md section 3; go.opentelemetry.io/otel/semconv/v1.41.0"
	// OpenTelemetry GenAI semantic conventions, deprecated attributes
	// (open-telemetry/semantic-conventions, model/gen-ai/deprecated/registry-deprecated.yaml).
	srcSemconvDeprecated = "semantic-conventions model/gen-ai/deprecated; model/deployment/deprecated"
	// Arize-ai/openinference python/openinference-semantic-conventions/src/openinference/semconv/trace/__init__.py
	// and js/packages/openinference-semantic-conventions/src/trace/SemanticConventions.ts.
	srcOpenInference = "openinference semconv/trace SpanAttributes"
	// traceloop/openllmetry-js packages/ai-semantic-conventions/src/SemanticAttributes.ts
	// (before 8e05349a: gen_ai.usage.prompt_tokens, llm.request.type, gen_ai.prompt.N.*) and
	// packages/traceloop-sdk/src/lib/associations/associations.ts (customer_id, user_id, session_id).
	srcTraceloop = "openllmetry-js ai-semantic-conventions SpanAttributes; traceloop-sdk AssociationProperty"
	// vercel/ai packages/otel/src/open-telemetry.ts (invoke_agent / agent_step / chat spans),
	// packages/otel/src/supplemental-attributes.ts (ai.settings.context.*, ai.usage.*TokenDetails.*).
	srcVercel = "vercel/ai packages/otel/src/open-telemetry.ts, supplemental-attributes.ts"
	// vercel/ai packages/otel/src/legacy-open-telemetry.ts, get-base-telemetry-attributes.ts,
	// assemble-operation-name.ts; ai.telemetry.metadata.* and ai.usage.promptTokens from AI SDK 4/5
	// (packages/ai/core/telemetry/get-base-telemetry-attributes.ts, content/docs/03-ai-sdk-core/60-telemetry.mdx).
	srcVercelLegacy = "vercel/ai packages/otel/src/legacy-open-telemetry.ts; AI SDK 4/5 telemetry docs"
	// langfuse/langfuse-js packages/core/src/constants.ts (LangfuseOtelSpanAttributes),
	// packages/tracing/src/attributes.ts, packages/openai/src/parseOpenAI.ts (usage_details keys).
	srcLangfuse = "langfuse-js packages/core/src/constants.ts LangfuseOtelSpanAttributes"
)

// Priorities, lowest wins.
const (
	prioGenAI     uint8 = iota // ours and the current OTel GenAI keys
	prioLegacy                 // deprecated OTel GenAI keys
	prioForeign                // a library's own keys
	prioFlattened              // previews rebuilt from flattened message keys
)

// slot is what a key fills.
type slot uint8

const (
	slotNone slot = iota
	slotType
	slotOp
	slotReqModel
	slotRespModel
	slotProvider
	slotProviderPrefix // a provider written as "openai.chat": the part before the first dot
	slotSlug
	slotVersion
	slotIn
	slotOut
	slotCacheRead
	slotCacheCreation
	slotReasoning
	slotTotal
	slotCost
	slotCostSource
	slotPriceVersion
	slotSession
	slotUser
	slotTenant
	slotConversation
	slotEnv
	slotService
	slotTags
	slotInput
	slotOutput
	slotInMsgs
	slotOutMsgs
	// Foreign span classifications, resolved by classify.
	slotOIKind        // openinference.span.kind
	slotTraceloopKind // traceloop.span.kind
	slotLLMRequest    // llm.request.type (OpenLLMetry before the GenAI operation name)
	slotLangfuseType  // langfuse.observation.type
	slotVercelOp      // ai.operationId (Vercel legacy)
	// Langfuse's JSON-encoded usage and cost maps.
	slotLangfuseUsage
	slotLangfuseCost
	nSlots
)

// keyRule says which slot a key fills, at which priority, and where the key
// comes from.
type keyRule struct {
	slot slot
	prio uint8
	src  string
}

// keyRules is the normalisation table for exact keys.
var keyRules = map[string]keyRule{
	// Ours and the OpenTelemetry GenAI conventions (DESIGN.md section 3).
	string(attr.SpanType):            {slotType, prioGenAI, srcDesign},
	string(attr.OperationName):       {slotOp, prioGenAI, srcDesign},
	string(attr.RequestModel):        {slotReqModel, prioGenAI, srcDesign},
	string(attr.ResponseModel):       {slotRespModel, prioGenAI, srcDesign},
	string(attr.ProviderName):        {slotProvider, prioGenAI, srcDesign},
	string(attr.PromptSlug):          {slotSlug, prioGenAI, srcDesign},
	string(attr.PromptVersion):       {slotVersion, prioGenAI, srcDesign},
	string(attr.InputTokens):         {slotIn, prioGenAI, srcDesign},
	string(attr.OutputTokens):        {slotOut, prioGenAI, srcDesign},
	string(attr.CacheReadTokens):     {slotCacheRead, prioGenAI, srcDesign},
	string(attr.CacheCreationTokens): {slotCacheCreation, prioGenAI, srcDesign},
	string(attr.ReasoningTokens):     {slotReasoning, prioGenAI, srcDesign},
	string(attr.TotalTokens):         {slotTotal, prioGenAI, srcDesign},
	string(attr.CostUSD):             {slotCost, prioGenAI, srcDesign},
	string(attr.CostSource):          {slotCostSource, prioGenAI, srcDesign},
	string(attr.PriceTableVersion):   {slotPriceVersion, prioGenAI, srcDesign},
	string(attr.SessionID):           {slotSession, prioGenAI, srcDesign},
	string(attr.UserID):              {slotUser, prioGenAI, srcDesign},
	string(attr.TenantID):            {slotTenant, prioGenAI, srcDesign},
	string(attr.ConversationID):      {slotConversation, prioGenAI, srcDesign},
	string(attr.Environment):         {slotEnv, prioGenAI, srcDesign},
	string(attr.ServiceName):         {slotService, prioGenAI, srcDesign},
	string(attr.Tags):                {slotTags, prioGenAI, srcDesign},
	string(attr.Input):               {slotInput, prioGenAI, srcDesign},
	string(attr.Output):              {slotOutput, prioGenAI, srcDesign},
	string(attr.InputMessages):       {slotInMsgs, prioGenAI, srcDesign},
	string(attr.OutputMessages):      {slotOutMsgs, prioGenAI, srcDesign},

	// Deprecated GenAI semconv, still written by OpenLLMetry, the Vercel
	// AI SDK's legacy spans and many vendors.
	"gen_ai.system":                            {slotProvider, prioLegacy, srcSemconvDeprecated},
	"gen_ai.usage.prompt_tokens":               {slotIn, prioLegacy, srcSemconvDeprecated},
	"gen_ai.usage.completion_tokens":           {slotOut, prioLegacy, srcSemconvDeprecated},
	"gen_ai.usage.cache_read_input_tokens":     {slotCacheRead, prioLegacy, srcTraceloop},
	"gen_ai.usage.cache_creation_input_tokens": {slotCacheCreation, prioLegacy, srcTraceloop},
	"gen_ai.usage.reasoning_tokens":            {slotReasoning, prioLegacy, srcTraceloop},
	"gen_ai.usage.total_tokens":                {slotTotal, prioLegacy, srcTraceloop},
	"deployment.environment":                   {slotEnv, prioLegacy, srcSemconvDeprecated},

	// OpenInference.
	"openinference.span.kind":                      {slotOIKind, prioForeign, srcOpenInference},
	"llm.model_name":                               {slotReqModel, prioForeign, srcOpenInference},
	"llm.request.model_name":                       {slotReqModel, prioForeign, srcOpenInference},
	"llm.response.model_name":                      {slotRespModel, prioForeign, srcOpenInference},
	"embedding.model_name":                         {slotReqModel, prioForeign, srcOpenInference},
	"reranker.model_name":                          {slotReqModel, prioForeign, srcOpenInference},
	"llm.provider":                                 {slotProvider, prioForeign, srcOpenInference},
	"llm.system":                                   {slotProvider, prioForeign + 1, srcOpenInference},
	"llm.token_count.prompt":                       {slotIn, prioForeign, srcOpenInference},
	"llm.token_count.completion":                   {slotOut, prioForeign, srcOpenInference},
	"llm.token_count.total":                        {slotTotal, prioForeign, srcOpenInference},
	"llm.token_count.prompt_details.cache_read":    {slotCacheRead, prioForeign, srcOpenInference},
	"llm.token_count.prompt_details.cache_write":   {slotCacheCreation, prioForeign, srcOpenInference},
	"llm.token_count.completion_details.reasoning": {slotReasoning, prioForeign, srcOpenInference},
	"llm.cost.total":                               {slotCost, prioForeign, srcOpenInference},
	"input.value":                                  {slotInput, prioForeign, srcOpenInference},
	"output.value":                                 {slotOutput, prioForeign, srcOpenInference},
	"tag.tags":                                     {slotTags, prioForeign, srcOpenInference},
	"llm.prompt_template.version":                  {slotVersion, prioForeign, srcOpenInference},

	// OpenLLMetry / Traceloop.
	"traceloop.span.kind":     {slotTraceloopKind, prioForeign, srcTraceloop},
	"llm.request.type":        {slotLLMRequest, prioForeign, srcTraceloop},
	"llm.usage.total_tokens":  {slotTotal, prioForeign, srcTraceloop},
	"traceloop.entity.input":  {slotInput, prioForeign, srcTraceloop},
	"traceloop.entity.output": {slotOutput, prioForeign, srcTraceloop},

	// Vercel AI SDK, OpenTelemetry integration: gen_ai.* above, plus its
	// detailed usage (the `usage` option).
	"ai.usage.outputTokenDetails.reasoningTokens": {slotReasoning, prioForeign, srcVercel},
	"ai.usage.inputTokenDetails.cacheReadTokens":  {slotCacheRead, prioForeign, srcVercel},
	"ai.usage.inputTokenDetails.cacheWriteTokens": {slotCacheCreation, prioForeign, srcVercel},

	// Vercel AI SDK, legacy integration.
	"ai.operationId":             {slotVercelOp, prioForeign, srcVercelLegacy},
	"ai.model.id":                {slotReqModel, prioForeign, srcVercelLegacy},
	"ai.response.model":          {slotRespModel, prioForeign, srcVercelLegacy},
	"ai.model.provider":          {slotProviderPrefix, prioForeign, srcVercelLegacy},
	"ai.usage.inputTokens":       {slotIn, prioForeign, srcVercelLegacy},
	"ai.usage.outputTokens":      {slotOut, prioForeign, srcVercelLegacy},
	"ai.usage.promptTokens":      {slotIn, prioForeign, srcVercelLegacy},
	"ai.usage.completionTokens":  {slotOut, prioForeign, srcVercelLegacy},
	"ai.usage.totalTokens":       {slotTotal, prioForeign, srcVercelLegacy},
	"ai.usage.cachedInputTokens": {slotCacheRead, prioForeign, srcVercelLegacy},
	"ai.usage.reasoningTokens":   {slotReasoning, prioForeign, srcVercelLegacy},
	"ai.prompt.messages":         {slotInput, prioForeign, srcVercelLegacy},
	"ai.prompt":                  {slotInput, prioForeign + 1, srcVercelLegacy},
	"ai.response.text":           {slotOutput, prioForeign, srcVercelLegacy},
	"ai.response.object":         {slotOutput, prioForeign, srcVercelLegacy},
	"ai.response.toolCalls":      {slotOutput, prioForeign + 1, srcVercelLegacy},

	// Langfuse.
	"langfuse.session.id":                 {slotSession, prioForeign, srcLangfuse},
	"langfuse.user.id":                    {slotUser, prioForeign, srcLangfuse},
	"langfuse.trace.tags":                 {slotTags, prioForeign, srcLangfuse},
	"langfuse.environment":                {slotEnv, prioForeign, srcLangfuse},
	"langfuse.observation.type":           {slotLangfuseType, prioForeign, srcLangfuse},
	"langfuse.observation.model.name":     {slotReqModel, prioForeign, srcLangfuse},
	"langfuse.observation.usage_details":  {slotLangfuseUsage, prioForeign, srcLangfuse},
	"langfuse.observation.cost_details":   {slotLangfuseCost, prioForeign, srcLangfuse},
	"langfuse.observation.input":          {slotInput, prioForeign, srcLangfuse},
	"langfuse.observation.output":         {slotOutput, prioForeign, srcLangfuse},
	"langfuse.trace.input":                {slotInput, prioForeign + 1, srcLangfuse},
	"langfuse.trace.output":               {slotOutput, prioForeign + 1, srcLangfuse},
	"langfuse.observation.prompt.name":    {slotSlug, prioForeign, srcLangfuse},
	"langfuse.observation.prompt.version": {slotVersion, prioForeign, srcLangfuse},
}

// prefixRule maps the keys under a prefix (association properties, user
// metadata) whose rest names a trace-level field.
type prefixRule struct {
	prefix string
	rest   map[string]slot
	src    string
}

// idKeys are the spellings of session, user and tenant ids under metadata
// prefixes: the libraries document snake_case (Traceloop) and camelCase
// (the Vercel AI SDK's examples), users write both.
var idKeys = map[string]slot{
	"session_id": slotSession, "sessionId": slotSession,
	"user_id": slotUser, "userId": slotUser,
	"tenant_id": slotTenant, "tenantId": slotTenant,
	// Traceloop's AssociationProperty.CUSTOMER_ID is its tenant.
	"customer_id": slotTenant, "customerId": slotTenant,
}

var prefixRules = []prefixRule{
	{"traceloop.association.properties.", idKeys, srcTraceloop},
	{"ai.settings.context.", idKeys, srcVercel},         // runtimeContext, both integrations
	{"ai.telemetry.metadata.", idKeys, srcVercelLegacy}, // telemetry.metadata, AI SDK 4/5
	{"langfuse.trace.metadata.", idKeys, srcLangfuse},
}

// Flattened message prefixes: KEY.N.REST, role and content.
var flatMsgRules = []struct {
	prefix        string
	out           bool
	role, content string
}{
	{"llm.input_messages.", false, "message.role", "message.content"}, // OpenInference
	{"llm.output_messages.", true, "message.role", "message.content"}, // OpenInference
	{"gen_ai.prompt.", false, "role", "content"},                      // OpenLLMetry before the GenAI messages
	{"gen_ai.completion.", true, "role", "content"},                   // OpenLLMetry before the GenAI messages
}

// maxFlatMsgs bounds the flattened messages kept per span and side.
const maxFlatMsgs = 32

type flatMsg struct {
	idx           int
	role, content string
}

// read reads one attribute into f.
func (f *fields) read(k string, v pcommon.Value) {
	if r, ok := keyRules[k]; ok {
		f.set(r.slot, r.prio, k, v)
		return
	}
	for i := range prefixRules {
		p := &prefixRules[i]
		if rest, ok := strings.CutPrefix(k, p.prefix); ok {
			if s, ok := p.rest[rest]; ok {
				f.set(s, prioForeign, k, v)
			}
			return
		}
	}
	for _, r := range flatMsgRules {
		if rest, ok := strings.CutPrefix(k, r.prefix); ok {
			f.readFlat(r.out, rest, r.role, r.content, v)
			return
		}
	}
}

// claim reports whether a value of priority p may fill s, and records it.
func (f *fields) claim(s slot, p uint8) bool {
	if f.prio[s] != 0 && f.prio[s] <= p+1 {
		return false
	}
	f.prio[s] = p + 1
	return true
}

// has reports whether s is filled.
func (f *fields) has(s slot) bool { return f.prio[s] != 0 }

func (f *fields) ignore(k, why string) {
	f.ignored++
	if f.ignoredWhy == "" {
		f.ignoredWhy = k + ": " + why
	}
}

// set fills slot s from v at priority p.
func (f *fields) set(s slot, p uint8, k string, v pcommon.Value) {
	switch s {
	case slotIn, slotOut, slotCacheRead, slotCacheCreation, slotReasoning, slotTotal:
		n, ok := countValue(v)
		if !ok {
			f.ignore(k, "not a non-negative integer count")
			return
		}
		f.setCount(s, p, n)
	case slotCost:
		c, ok := floatValue(v)
		if !ok {
			f.ignore(k, "not a non-negative finite cost")
			return
		}
		f.setCost(p, c)
	case slotTags:
		if t := tagsValue(v); len(t) > 0 && f.claim(s, p) {
			f.tags = t
		}
	case slotInput, slotOutput, slotInMsgs, slotOutMsgs:
		if pv := previewValue(v); pv != "" && f.claim(s, p) {
			*f.preview(s) = pv
		}
	case slotLangfuseUsage:
		f.langfuseUsage(k, v.AsString())
	case slotLangfuseCost:
		f.langfuseCost(k, v.AsString())
	case slotProviderPrefix:
		str := v.AsString()
		if i := strings.IndexByte(str, '.'); i > 0 {
			str = str[:i]
		}
		if str != "" && f.claim(slotProvider, p) {
			f.provider = str
		}
	default:
		str := v.AsString()
		if str == "" || !f.claim(s, p) {
			return
		}
		*f.str(s) = str
	}
}

func (f *fields) setCount(s slot, p uint8, n int64) {
	if !f.claim(s, p) {
		return
	}
	switch s {
	case slotIn:
		f.in = n
	case slotOut:
		f.out = n
	case slotCacheRead:
		f.cacheRead = n
	case slotCacheCreation:
		f.cacheCreation = n
	case slotReasoning:
		f.reasoning = n
	case slotTotal:
		f.total = n
	}
}

func (f *fields) setCost(p uint8, c float64) {
	if f.claim(slotCost, p) {
		f.cost, f.hasCost = c, true
		if p > prioGenAI && !f.has(slotCostSource) {
			// A library's own cost attribute is the sender's figure.
			f.costSource = attr.CostSourceUser
		}
	}
}

func (f *fields) preview(s slot) *string {
	switch s {
	case slotInput:
		return &f.input
	case slotOutput:
		return &f.output
	case slotInMsgs:
		return &f.inMsgs
	default:
		return &f.outMsgs
	}
}

// str returns the string field of a string slot.
func (f *fields) str(s slot) *string {
	switch s {
	case slotType:
		return &f.typ
	case slotOp:
		return &f.op
	case slotReqModel:
		return &f.reqModel
	case slotRespModel:
		return &f.respModel
	case slotProvider:
		return &f.provider
	case slotSlug:
		return &f.slug
	case slotVersion:
		return &f.version
	case slotCostSource:
		return &f.costSource
	case slotPriceVersion:
		return &f.priceVersion
	case slotSession:
		return &f.session
	case slotUser:
		return &f.user
	case slotTenant:
		return &f.tenant
	case slotConversation:
		return &f.conversation
	case slotEnv:
		return &f.env
	case slotService:
		return &f.service
	case slotOIKind, slotTraceloopKind, slotLLMRequest, slotLangfuseType, slotVercelOp:
		return &f.kinds[s-slotOIKind]
	}
	var discard string
	return &discard
}

// readFlat reads one flattened message key: rest is "N.role" or
// "N.content" (or OpenInference's "N.message.role").
func (f *fields) readFlat(out bool, rest, roleKey, contentKey string, v pcommon.Value) {
	dot := strings.IndexByte(rest, '.')
	if dot <= 0 {
		return
	}
	idx, err := strconv.Atoi(rest[:dot])
	if err != nil || idx < 0 || idx >= maxFlatMsgs {
		return
	}
	field := rest[dot+1:]
	if field != roleKey && field != contentKey {
		return
	}
	side := 0
	if out {
		side = 1
	}
	msgs := f.flat[side]
	i := slices.IndexFunc(msgs, func(m flatMsg) bool { return m.idx == idx })
	if i < 0 {
		if len(msgs) >= maxFlatMsgs {
			return
		}
		msgs = append(msgs, flatMsg{idx: idx})
		i = len(msgs) - 1
	}
	if field == roleKey {
		msgs[i].role = v.AsString()
	} else {
		msgs[i].content = v.AsString()
	}
	f.flat[side] = msgs
}

// flatPreview renders flattened messages as a JSON array of {role,
// content} in index order.
func flatPreview(msgs []flatMsg) string {
	if len(msgs) == 0 {
		return ""
	}
	msgs = slices.Clone(msgs)
	slices.SortFunc(msgs, func(a, b flatMsg) int { return a.idx - b.idx })
	b := []byte{'['}
	for i, m := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"role":`...)
		b = jsonenc.AppendString(b, m.role)
		b = append(b, `,"content":`...)
		b = jsonenc.AppendString(b, m.content)
		b = append(b, '}')
		if len(b) > store.PreviewLen {
			break
		}
	}
	return store.Preview(string(append(b, ']')))
}

// finish applies what can only be decided once every attribute is read:
// previews from flattened messages.
func (f *fields) finish() {
	if !f.has(slotInput) && !f.has(slotInMsgs) {
		f.inMsgs = flatPreview(f.flat[0])
	}
	if !f.has(slotOutput) && !f.has(slotOutMsgs) {
		f.outMsgs = flatPreview(f.flat[1])
	}
}

// langfuseUsage reads langfuse.observation.usage_details, a JSON object of
// usage types to counts. Langfuse's types are disjoint and each is priced
// on its own (packages/openai/src/parseOpenAI.ts: "input" is the prompt
// minus its details, which follow as input_<detail>; likewise "output"),
// while ours include cache tokens in input and reasoning in output: so
// input is the sum of "input" and every "input_*" and cache_* key, output
// that of "output" and every "output_*". OpenAI-shaped maps
// (prompt_tokens, completion_tokens) are read as OpenAI means them.
func (f *fields) langfuseUsage(k, s string) {
	var m map[string]json.Number
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		f.ignore(k, "not a JSON object of counts")
		return
	}
	var in, out, cacheRead, cacheCreation, reasoning, total int64
	var hasIn, hasOut, hasTotal bool
	for key, num := range m {
		n, ok := countNumber(num)
		if !ok {
			f.ignore(k, "usage type "+key+" is not a non-negative integer count")
			continue
		}
		switch {
		case key == "input" || key == "prompt_tokens" || key == "input_tokens":
			in = store.SatAdd(in, n)
			hasIn = true
		case key == "output" || key == "completion_tokens" || key == "output_tokens":
			out = store.SatAdd(out, n)
			hasOut = true
		case key == "total" || key == "total_tokens":
			total, hasTotal = n, true
		case key == "cache_read_input_tokens" || key == "input_cached_tokens" || key == "input_cache_read":
			cacheRead = store.SatAdd(cacheRead, n)
			in = store.SatAdd(in, n)
			hasIn = true
		case key == "cache_creation_input_tokens" || key == "input_cache_creation" || key == "input_cache_write":
			cacheCreation = store.SatAdd(cacheCreation, n)
			in = store.SatAdd(in, n)
			hasIn = true
		case strings.HasPrefix(key, "input_"):
			in = store.SatAdd(in, n)
			hasIn = true
		case key == "output_reasoning_tokens" || key == "output_reasoning":
			reasoning = store.SatAdd(reasoning, n)
			out = store.SatAdd(out, n)
			hasOut = true
		case strings.HasPrefix(key, "output_"):
			out = store.SatAdd(out, n)
			hasOut = true
		}
	}
	if hasIn {
		f.setCount(slotIn, prioForeign, in)
	}
	if hasOut {
		f.setCount(slotOut, prioForeign, out)
	}
	if cacheRead > 0 {
		f.setCount(slotCacheRead, prioForeign, cacheRead)
	}
	if cacheCreation > 0 {
		f.setCount(slotCacheCreation, prioForeign, cacheCreation)
	}
	if reasoning > 0 {
		f.setCount(slotReasoning, prioForeign, reasoning)
	}
	if hasTotal {
		f.setCount(slotTotal, prioForeign, total)
	}
}

// langfuseCost reads langfuse.observation.cost_details, a JSON object of
// USD amounts by usage type: "total" when given, else the sum of the rest.
func (f *fields) langfuseCost(k, s string) {
	var m map[string]json.Number
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		f.ignore(k, "not a JSON object of costs")
		return
	}
	var sum float64
	var any bool
	for key, num := range m {
		c, err := num.Float64()
		if err != nil || math.IsNaN(c) || math.IsInf(c, 0) || c < 0 {
			f.ignore(k, "cost type "+key+" is not a non-negative finite amount")
			continue
		}
		if key == "total" {
			f.setCost(prioForeign, c)
			return
		}
		sum += c
		any = true
	}
	if any {
		f.setCost(prioForeign, sum)
	}
}

// countValue reads a token count: a non-negative int, an integral
// non-negative double, or a string holding one. Anything else is not a
// count.
func countValue(v pcommon.Value) (int64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		n := v.Int()
		return n, n >= 0
	case pcommon.ValueTypeDouble:
		return countFloat(v.Double())
	case pcommon.ValueTypeStr:
		return countNumber(json.Number(strings.TrimSpace(v.Str())))
	}
	return 0, false
}

func countNumber(num json.Number) (int64, bool) {
	if i, err := strconv.ParseInt(string(num), 10, 64); err == nil {
		return i, i >= 0
	}
	if fl, err := strconv.ParseFloat(string(num), 64); err == nil {
		return countFloat(fl)
	}
	return 0, false
}

func countFloat(fl float64) (int64, bool) {
	if fl >= 0 && fl < math.MaxInt64 && fl == math.Trunc(fl) {
		return int64(fl), true
	}
	return 0, false
}

// Values of the foreign classifications. Each maps to an agenttrace span
// type, and tells whether the span is a model call.
type foreignClass struct {
	typ       string
	modelCall bool
}

// openInferenceKinds maps openinference.span.kind (OpenInferenceSpanKindValues).
var openInferenceKinds = map[string]foreignClass{
	"LLM":       {attr.TypeLLM, true},
	"EMBEDDING": {attr.TypeLLM, true},
	"AGENT":     {typeAgent, false},
	"CHAIN":     {attr.TypeTask, false},
	"TOOL":      {attr.TypeTool, false},
	"RETRIEVER": {attr.TypeRetrieval, false},
	"RERANKER":  {"reranker", false},
	"GUARDRAIL": {"guardrail", false},
	"EVALUATOR": {"evaluator", false},
	"PROMPT":    {attr.TypeSpan, false},
	"UNKNOWN":   {attr.TypeSpan, false},
}

// langfuseTypes maps langfuse.observation.type (LangfuseObservationType).
var langfuseTypes = map[string]foreignClass{
	"generation": {attr.TypeLLM, true},
	"embedding":  {attr.TypeLLM, true},
	"agent":      {typeAgent, false},
	"chain":      {attr.TypeTask, false},
	"tool":       {attr.TypeTool, false},
	"retriever":  {attr.TypeRetrieval, false},
	"evaluator":  {"evaluator", false},
	"guardrail":  {"guardrail", false},
	"span":       {attr.TypeSpan, false},
	"event":      {attr.TypeSpan, false},
}

// vercelOps maps the legacy ai.operationId: the do* spans are the model
// calls; the outer operation sums them.
var vercelOps = map[string]foreignClass{
	"ai.generateText.doGenerate":   {attr.TypeLLM, true},
	"ai.streamText.doStream":       {attr.TypeLLM, true},
	"ai.generateObject.doGenerate": {attr.TypeLLM, true},
	"ai.streamObject.doStream":     {attr.TypeLLM, true},
	"ai.embed.doEmbed":             {attr.TypeLLM, true},
	"ai.embedMany.doEmbed":         {attr.TypeLLM, true},
	"ai.rerank.doRerank":           {"reranker", false},
	"ai.generateText":              {typeAgent, false},
	"ai.streamText":                {typeAgent, false},
	"ai.generateObject":            {typeAgent, false},
	"ai.streamObject":              {typeAgent, false},
	"ai.embed":                     {attr.TypeTask, false},
	"ai.embedMany":                 {attr.TypeTask, false},
	"ai.rerank":                    {attr.TypeTask, false},
	"ai.toolCall":                  {attr.TypeTool, false},
}

// traceloopKinds maps traceloop.span.kind (TraceloopSpanKindValues).
var traceloopKinds = map[string]foreignClass{
	"workflow": {attr.TypeTask, false},
	"task":     {attr.TypeTask, false},
	"agent":    {typeAgent, false},
	"tool":     {attr.TypeTool, false},
}

// llmRequestTypes maps OpenLLMetry's llm.request.type (LLMRequestTypeValues).
var llmRequestTypes = map[string]foreignClass{
	"chat":       {attr.TypeLLM, true},
	"completion": {attr.TypeLLM, true},
	"embedding":  {attr.TypeLLM, true},
	"rerank":     {"reranker", false},
}

// genAIOps maps the GenAI operation names that are not model calls.
var genAIOps = map[string]foreignClass{
	attr.OpExecuteTool:    {attr.TypeTool, false},
	attr.OpRetrieval:      {attr.TypeRetrieval, false},
	attr.OpInvokeAgent:    {typeAgent, false},
	attr.OpInvokeWorkflow: {attr.TypeTask, false},
	"create_agent":        {typeAgent, false},
	"agent_step":          {attr.TypeTask, false}, // the Vercel AI SDK's step spans
	"rerank":              {"reranker", false},
}

// typeAgent is the span type of agent spans from other instrumentations.
const typeAgent = "agent"

// classify returns the span's type and whether it is a model call, the
// only kind of span whose usage counts (see the rule in README, "Sending
// from other instrumentations"): agenttrace.span.type first, then the
// GenAI operation name, then each library's own kind, in the order of the
// table. A span no key classifies is a model call when it carries usage
// (GenAI emitters older than gen_ai.operation.name), else a plain span.
func (f *fields) classify() (string, bool) {
	if f.typ != "" {
		return f.typ, f.typ == attr.TypeLLM
	}
	if llmOperations[f.op] {
		return attr.TypeLLM, true
	}
	if c, ok := genAIOps[f.op]; ok {
		return c.typ, c.modelCall
	}
	for i, table := range [...]map[string]foreignClass{openInferenceKinds, traceloopKinds, llmRequestTypes, langfuseTypes, vercelOps} {
		// kinds is indexed by slot - slotOIKind: OI, Traceloop, llm.request.type, Langfuse, Vercel.
		if c, ok := table[f.kinds[i]]; ok {
			return c.typ, c.modelCall
		}
	}
	if f.in > 0 || f.out > 0 || f.total > 0 || f.hasCost {
		return attr.TypeLLM, true
	}
	return attr.TypeSpan, false
}
