package server

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/store"
)

// llmOperations are the gen_ai.operation.name values of a model call: a
// foreign span with one of them is an LLM span and counts as a request.
var llmOperations = map[string]bool{
	attr.OpChat:            true,
	attr.OpTextCompletion:  true,
	attr.OpGenerateContent: true,
	attr.OpEmbeddings:      true,
}

// fields are the attributes read into columns (normalize.go fills them).
// Trace-level ones (session, user, tenant, conversation, environment,
// tags, service) are read from the resource first and overridden by the
// span's own.
type fields struct {
	typ, op, reqModel, respModel, provider, slug, version string
	in, out, cacheRead, cacheCreation, reasoning, total   int64
	cost                                                  float64
	hasCost                                               bool
	costSource, priceVersion                              string
	session, user, tenant, conversation, env, service     string
	tags                                                  []string
	input, output, inMsgs, outMsgs                        string

	// prio[s] is 1 + the priority of the key that filled slot s, 0 if
	// none did.
	prio [nSlots]uint8
	// kinds are the foreign classifications, by slot - slotOIKind.
	kinds [slotVercelOp - slotOIKind + 1]string
	// flat are flattened input (0) and output (1) messages.
	flat [2][]flatMsg
	// ignored counts values that could not be read; ignoredWhy names the
	// first.
	ignored    int64
	ignoredWhy string
}

// inherit fills the trace-level fields the span did not set from the
// resource's.
func (f *fields) inherit(rf *fields) {
	for _, p := range [...]struct {
		s        slot
		dst, src *string
	}{
		{slotSession, &f.session, &rf.session}, {slotUser, &f.user, &rf.user}, {slotTenant, &f.tenant, &rf.tenant},
		{slotConversation, &f.conversation, &rf.conversation}, {slotEnv, &f.env, &rf.env}, {slotService, &f.service, &rf.service},
	} {
		if !f.has(p.s) {
			*p.dst = *p.src
		}
	}
	if !f.has(slotTags) {
		f.tags = rf.tags
	}
}

// hasUsage reports whether the span carries tokens or a cost.
func (f *fields) hasUsage() bool {
	return f.in > 0 || f.out > 0 || f.cacheRead > 0 || f.cacheCreation > 0 || f.reasoning > 0 || f.total > 0 || f.hasCost
}

// dropUsage clears the usage of a span that is not a model call: its
// aggregate stays visible in its attributes but adds nothing to totals.
func (f *fields) dropUsage() {
	f.in, f.out, f.cacheRead, f.cacheCreation, f.reasoning, f.total = 0, 0, 0, 0, 0, 0
	f.cost, f.hasCost, f.costSource, f.priceVersion = 0, false, "", ""
}

// previewValue renders v as text, cut to a preview; big structured values
// are only rendered up to the preview size.
func previewValue(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr {
		return store.Preview(v.Str())
	}
	return store.Preview(string(appendValue(nil, v, 0)))
}

// floatValue reads a cost and reports whether it is one: negative,
// non-finite and unparsable values are not (0, false).
func floatValue(v pcommon.Value) (float64, bool) {
	var f float64
	switch v.Type() {
	case pcommon.ValueTypeDouble:
		f = v.Double()
	case pcommon.ValueTypeInt:
		f = float64(v.Int())
	case pcommon.ValueTypeStr:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(v.Str()), 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	return f, true
}

// price computes the cost of a span that carries a model and tokens but no
// cost of its own (spans from other OpenTelemetry SDKs, or ours when the
// SDK's table did not know the model). The response model is priced, else
// the request model when there is no response model: a response model the
// table does not know is not priced as the request model, which may be a
// cheaper alias. An unknown model or usage the table cannot price leaves
// the span without a cost (never a guessed one).
//
// The GenAI attributes do not say how long cache writes live, so cache
// creation tokens are priced as five-minute writes (Anthropic's default),
// as llm.Usage does when CacheCreation1hTokens is zero.
func (f *fields) price(prices *llm.PriceTable) {
	if f.hasCost || prices == nil || (f.in == 0 && f.out == 0) {
		return
	}
	model := cmp.Or(f.respModel, f.reqModel)
	if model == "" {
		return
	}
	usd, ok := prices.Cost(model, llm.Usage{
		InputTokens: f.in, OutputTokens: f.out, CacheReadTokens: f.cacheRead,
		CacheCreationTokens: f.cacheCreation, ReasoningTokens: f.reasoning,
	})
	if !ok {
		return
	}
	f.cost, f.hasCost = usd, true
	f.costSource, f.priceVersion = attr.CostSourceComputed, prices.Version()
}

// nanoUSD converts dollars to integer nano-USD, rounding to nearest.
// Costs past the per-span bound were dropped before (bounds.go); min is
// a backstop.
func nanoUSD(usd float64) int64 {
	return int64(math.Round(min(usd, maxSpanCostUSD) * 1e9))
}

// maxTags bounds the tags read from one span.
const maxTags = 64

// tagsValue reads agenttrace.tags: a string array, or one string as a
// single tag. Empty strings and duplicates are dropped.
func tagsValue(v pcommon.Value) []string {
	var out []string
	add := func(s string) {
		if s != "" && len(out) < maxTags && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	switch v.Type() {
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		for i := 0; i < s.Len(); i++ {
			add(s.At(i).AsString())
		}
	default:
		add(v.AsString())
	}
	return out
}

var kinds = map[ptrace.SpanKind]string{
	ptrace.SpanKindInternal: "internal",
	ptrace.SpanKindServer:   "server",
	ptrace.SpanKindClient:   "client",
	ptrace.SpanKindProducer: "producer",
	ptrace.SpanKindConsumer: "consumer",
}

// convertResult is what an OTLP request turns into.
type convertResult struct {
	spans []store.Span
	// rejected counts spans dropped for missing ids; rejectMsg says why.
	rejected  int64
	rejectMsg string
	// dropped counts usage values dropped for being beyond the per-span
	// bounds (bounds.go); dropMsg describes the first.
	dropped int64
	dropMsg string
	// corrected counts spans whose end time was corrected; correctMsg
	// describes the first.
	corrected  int64
	correctMsg string
	// ignored counts attribute values that could not be read (a string
	// where a count belongs, a negative count); ignoredMsg names the first.
	ignored    int64
	ignoredMsg string
	// nested counts model-call spans that had a model-call child in the
	// request: their usage is the children's, so they add nothing.
	nested int64
}

// convert turns decoded OTLP traces into store spans, reading the
// attributes of DESIGN section 3, and those of other instrumentations
// (normalize.go), into columns. Only model-call spans keep usage (see
// classify); those with a model and tokens but no cost are priced from
// prices (nil: none are).
func convert(td ptrace.Traces, prices *llm.PriceTable) convertResult {
	var res convertResult
	res.spans = make([]store.Span, 0, td.SpanCount())
	// arena holds the spans' attribute and event JSON; when it grows, the
	// slices already taken keep the old array.
	arena := make([]byte, 0, 512*td.SpanCount())
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		var rf fields
		rattrs := rs.Resource().Attributes()
		for k, v := range rattrs.All() {
			rf.read(k, v)
		}
		res.noteIgnored(&rf, "resource")
		resJSON := appendMap(nil, rattrs, 0)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			scope := ss.Scope().Name()
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				tid, sid := sp.TraceID(), sp.SpanID()
				if tid.IsEmpty() || sid.IsEmpty() {
					res.rejected++
					if res.rejectMsg == "" {
						res.rejectMsg = fmt.Sprintf("span %q has an empty trace or span id", sp.Name())
					}
					continue
				}
				var f fields
				attrs := sp.Attributes()
				for k, v := range attrs.All() {
					f.read(k, v)
				}
				res.noteIgnored(&f, "span "+sp.Name())
				f.inherit(&rf)
				f.finish()
				typ, modelCall := f.classify()
				if !modelCall {
					f.dropUsage()
				}
				dropped := f.boundTokens(nil)
				f.price(prices)
				dropped = f.boundCost(dropped)
				out := store.Span{
					TraceID:           hex.EncodeToString(tid[:]),
					SpanID:            hex.EncodeToString(sid[:]),
					Name:              sp.Name(),
					Kind:              kinds[sp.Kind()],
					Type:              typ,
					StatusMessage:     sp.Status().Message(),
					Start:             toTime(sp.StartTimestamp()),
					End:               toTime(sp.EndTimestamp()),
					Operation:         f.op,
					RequestModel:      f.reqModel,
					ResponseModel:     f.respModel,
					Provider:          f.provider,
					PromptSlug:        f.slug,
					PromptVersion:     f.version,
					Tokens:            store.Tokens{InputTokens: f.in, OutputTokens: f.out, CacheReadTokens: f.cacheRead, CacheCreationTokens: f.cacheCreation, ReasoningTokens: f.reasoning},
					TotalTokens:       f.total,
					CostNanoUSD:       nanoUSD(f.cost),
					CostSource:        f.costSource,
					PriceTableVersion: f.priceVersion,
					SessionID:         f.session,
					UserID:            f.user,
					TenantID:          f.tenant,
					ConversationID:    f.conversation,
					Environment:       f.env,
					ServiceName:       f.service,
					ScopeName:         scope,
					Tags:              f.tags,
					Input:             cmp.Or(f.input, f.inMsgs),
					Output:            cmp.Or(f.output, f.outMsgs),
					Resource:          resJSON,
				}
				if out.TotalTokens == 0 {
					out.TotalTokens = store.SatAdd(f.in, f.out)
				}
				out.LLMRequest = modelCall
				out.UsageUnknown = modelCall && !f.hasUsage()
				if p := sp.ParentSpanID(); !p.IsEmpty() {
					out.ParentID = hex.EncodeToString(p[:])
				}
				switch sp.Status().Code() {
				case ptrace.StatusCodeOk:
					out.Status = store.StatusOK
				case ptrace.StatusCodeError:
					out.Status = store.StatusError
				}
				// The request's spans' JSON share one growing buffer: a
				// slice per span, full capacity so nothing appends into
				// the next span's bytes.
				start := len(arena)
				arena = appendMap(arena, attrs, 0)
				out.Attributes = arena[start:len(arena):len(arena)]
				if sp.Events().Len() > 0 {
					start = len(arena)
					arena = appendEvents(arena, sp.Events())
					out.Events = arena[start:len(arena):len(arena)]
				}
				if len(dropped) > 0 {
					res.dropped += int64(len(dropped))
					if res.dropMsg == "" {
						res.dropMsg = dropNote(out.TraceID, out.SpanID, dropped)
					}
				}
				res.spans = append(res.spans, out)
			}
		}
	}
	res.nested = demoteNested(res.spans)
	return res
}

func (r *convertResult) noteIgnored(f *fields, where string) {
	if f.ignored == 0 {
		return
	}
	r.ignored += f.ignored
	if r.ignoredMsg == "" {
		r.ignoredMsg = where + ": " + f.ignoredWhy
	}
}

// demoteNested applies the no-double-counting rule within one request: a
// model-call span with a model-call child (an LLM-framework span around an
// instrumented client call, the Vercel AI SDK's embeddings operation
// around its model calls) is an aggregate of its children and adds
// nothing. It returns how many spans it demoted.
func demoteNested(spans []store.Span) int64 {
	type key struct{ trace, span string }
	calls := map[key]int{}
	for i := range spans {
		if spans[i].LLMRequest {
			calls[key{spans[i].TraceID, spans[i].SpanID}] = i
		}
	}
	var parents []int
	for i := range spans {
		sp := &spans[i]
		if !sp.LLMRequest || sp.ParentID == "" {
			continue
		}
		if j, ok := calls[key{sp.TraceID, sp.ParentID}]; ok {
			parents = append(parents, j)
		}
	}
	var n int64
	for _, j := range parents {
		p := &spans[j]
		if !p.LLMRequest {
			continue // already demoted through another child
		}
		n++
		p.LLMRequest, p.UsageUnknown = false, false
		p.Tokens, p.TotalTokens, p.CostNanoUSD, p.CostSource, p.PriceTableVersion = store.Tokens{}, 0, 0, "", ""
	}
	return n
}
