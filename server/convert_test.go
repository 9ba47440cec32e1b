package server

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agenttrace/agenttrace/internal/attr"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/store"
)

func TestConvertForeignSpans(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	ra.PutStr("service.name", "py-agent")
	ra.PutStr(string(attr.Environment), "staging")
	ra.PutStr(string(attr.TenantID), "res-tenant")
	ra.PutStr(string(attr.SessionID), "res-session")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("openinference")
	t0 := time.Date(2025, 11, 16, 12, 0, 0, 0, time.UTC)
	add := func(name string, fill func(pcommon.Map)) ptrace.Span {
		sp := ss.Spans().AppendEmpty()
		sp.SetName(name)
		sp.SetTraceID(pcommon.TraceID{0xab, 1})
		sp.SetSpanID(pcommon.SpanID{byte(ss.Spans().Len())})
		sp.SetParentSpanID(pcommon.SpanID{0xff})
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Second)))
		sp.SetKind(ptrace.SpanKindClient)
		fill(sp.Attributes())
		return sp
	}
	add("chat", func(m pcommon.Map) {
		m.PutStr(string(attr.OperationName), "chat")
		m.PutStr(string(attr.RequestModel), "gpt-4o")
		m.PutStr(string(attr.ResponseModel), "gpt-4o-2024-08-06")
		m.PutInt(string(attr.InputTokens), 100)
		m.PutDouble(string(attr.OutputTokens), 20.0) // a double
		m.PutStr(string(attr.CacheReadTokens), "30") // a string
		m.PutDouble(string(attr.CostUSD), 0.1+0.2)   // 0.30000000000000004
		m.PutStr(string(attr.SessionID), "span-session")
		m.PutStr(string(attr.InputMessages), `[{"role":"user"}]`)
	})
	add("text", func(m pcommon.Map) { m.PutStr(string(attr.OperationName), "text_completion") })
	add("gen", func(m pcommon.Map) { m.PutStr(string(attr.OperationName), "generate_content") })
	add("embed", func(m pcommon.Map) { m.PutStr(string(attr.OperationName), "embeddings") })
	tool := add("tool", func(m pcommon.Map) {
		m.PutStr(string(attr.OperationName), "execute_tool")
		m.PutInt(string(attr.InputTokens), -5) // nonsense is zero
		m.PutDouble(string(attr.CostUSD), math.NaN())
	})
	tool.Status().SetCode(ptrace.StatusCodeError)
	tool.Status().SetMessage("boom")
	add("agent", func(m pcommon.Map) { m.PutStr(string(attr.OperationName), "invoke_agent") })
	add("typed", func(m pcommon.Map) {
		m.PutStr(string(attr.SpanType), "llm") // explicit type wins
		m.PutStr(string(attr.OperationName), "execute_tool")
		tags := m.PutEmptySlice(string(attr.Tags))
		tags.AppendEmpty().SetStr("a")
		tags.AppendEmpty().SetStr("")
		tags.AppendEmpty().SetStr("a")
		tags.AppendEmpty().SetStr("b")
		m.PutStr(string(attr.PromptSlug), "welcome")
		m.PutStr(string(attr.PromptVersion), "v3")
		m.PutInt(string(attr.TotalTokens), 999)
		m.PutStr(string(attr.TenantID), "span-tenant")
	})
	noID := ss.Spans().AppendEmpty()
	noID.SetName("no ids")

	res := convert(td, llm.DefaultPrices())
	if res.rejected != 1 || !strings.Contains(res.rejectMsg, "no ids") {
		t.Fatalf("rejected %d %q, want the span without ids", res.rejected, res.rejectMsg)
	}
	if len(res.spans) != 7 {
		t.Fatalf("%d spans", len(res.spans))
	}
	byName := map[string]store.Span{}
	for _, sp := range res.spans {
		byName[sp.Name] = sp
	}
	chat := byName["chat"]
	want := store.Span{
		TraceID: "ab010000000000000000000000000000", SpanID: "0100000000000000", ParentID: "ff00000000000000",
		Name: "chat", Kind: "client", Type: "llm", Start: t0, End: t0.Add(time.Second), Operation: "chat",
		RequestModel: "gpt-4o", ResponseModel: "gpt-4o-2024-08-06",
		Tokens: store.Tokens{InputTokens: 100, OutputTokens: 20, CacheReadTokens: 30}, TotalTokens: 120,
		CostNanoUSD: 300_000_000, LLMRequest: true, SessionID: "span-session", TenantID: "res-tenant",
		Environment: "staging", ServiceName: "py-agent", ScopeName: "openinference", Input: `[{"role":"user"}]`,
	}
	got := chat
	got.Attributes, got.Resource, got.Events = nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("chat span\n got %+v\nwant %+v", got, want)
	}
	for name, typ := range map[string]string{"text": "llm", "gen": "llm", "embed": "llm", "tool": "tool", "agent": "agent", "typed": "llm"} {
		sp := byName[name]
		if sp.Type != typ || sp.LLMRequest != (typ == "llm") {
			t.Errorf("%s: type %q request %v, want %q", name, sp.Type, sp.LLMRequest, typ)
		}
	}
	if tl := byName["tool"]; tl.Status != store.StatusError || tl.StatusMessage != "boom" || tl.InputTokens != 0 || tl.CostNanoUSD != 0 {
		t.Errorf("tool span = %+v", tl)
	}
	typed := byName["typed"]
	if !reflect.DeepEqual(typed.Tags, []string{"a", "b"}) || typed.PromptSlug != "welcome" || typed.PromptVersion != "v3" ||
		typed.TotalTokens != 999 || typed.TenantID != "span-tenant" || typed.SessionID != "res-session" {
		t.Errorf("typed span = %+v", typed)
	}
	// Attributes render as JSON equal to pdata's own view of them.
	var a, r map[string]any
	if err := json.Unmarshal(chat.Attributes, &a); err != nil {
		t.Fatalf("attributes %s: %v", chat.Attributes, err)
	}
	if err := json.Unmarshal(chat.Resource, &r); err != nil || r["service.name"] != "py-agent" {
		t.Fatalf("resource %s: %v", chat.Resource, err)
	}
	if a["gen_ai.usage.input_tokens"] != 100.0 || a["gen_ai.usage.cache_read.input_tokens"] != "30" || len(a) != 9 {
		t.Fatalf("attributes = %v", a)
	}
}

func TestAppendValueJSON(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("s", "quote\" back\\ nl\n tab\t ctl\x01 bad\xff sep\u2028 ünï")
	m.PutInt("i", math.MinInt64)
	m.PutDouble("d", 1.5e300)
	m.PutDouble("nan", math.NaN())
	m.PutDouble("inf", math.Inf(-1))
	m.PutBool("b", true)
	m.PutEmptyBytes("bytes").FromRaw([]byte{0, 1, 2, 255})
	m.PutEmpty("empty")
	sl := m.PutEmptySlice("slice")
	sl.AppendEmpty().SetInt(1)
	sl.AppendEmpty().SetEmptyMap().PutStr("k", "v")
	nested := m.PutEmptyMap("map")
	for i := 0; i < maxJSONDepth+5; i++ {
		nested = nested.PutEmptyMap("m")
	}
	b := appendMap(nil, m, 0)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	if out["s"] != "quote\" back\\ nl\n tab\t ctl\x01 bad\ufffd sep\u2028 ünï" || out["nan"] != "NaN" || out["inf"] != "-Inf" ||
		out["bytes"] != "AAEC/w==" || out["empty"] != nil || out["b"] != true || out["d"] != 1.5e300 {
		t.Fatalf("decoded %v", out)
	}
	if !strings.Contains(string(b), `"i":-9223372036854775808`) {
		t.Fatalf("int64 not exact in %s", b)
	}
}

func TestNormalizePriority(t *testing.T) {
	for k, r := range keyRules {
		if r.src == "" || r.slot == slotNone {
			t.Errorf("key %s: no source or slot", k)
		}
	}
	// Whatever the wire order, the GenAI key wins over the library's.
	for _, order := range [][2]string{{"gen_ai.usage.input_tokens", "llm.token_count.prompt"}, {"llm.token_count.prompt", "gen_ai.usage.input_tokens"}} {
		var f fields
		for _, k := range order {
			n := int64(1)
			if k == "gen_ai.usage.input_tokens" {
				n = 2
			}
			f.read(k, pcommon.NewValueInt(n))
		}
		if f.in != 2 {
			t.Errorf("order %v: input %d, want the GenAI key's 2", order, f.in)
		}
	}
	// Deprecated GenAI keys beat library keys, and lose to current ones.
	var f fields
	f.read("ai.model.provider", pcommon.NewValueStr("openai.chat"))
	if f.provider != "openai" {
		t.Errorf("provider %q", f.provider)
	}
	f.read("gen_ai.system", pcommon.NewValueStr("openai.chat"))
	f.read("gen_ai.provider.name", pcommon.NewValueStr("openai"))
	f.read("gen_ai.system", pcommon.NewValueStr("other"))
	if f.provider != "openai" {
		t.Errorf("provider %q", f.provider)
	}
	// Metadata prefixes: only the id spellings are read.
	var g fields
	g.read("ai.telemetry.metadata.sessionId", pcommon.NewValueStr("s"))
	g.read("traceloop.association.properties.customer_id", pcommon.NewValueStr("c"))
	g.read("ai.settings.context.userId", pcommon.NewValueStr("u"))
	g.read("ai.settings.context.plan", pcommon.NewValueStr("pro"))
	if g.session != "s" || g.tenant != "c" || g.user != "u" {
		t.Errorf("ids %q %q %q", g.session, g.user, g.tenant)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		key, val string
		typ      string
		call     bool
	}{
		{"openinference.span.kind", "LLM", "llm", true},
		{"openinference.span.kind", "EMBEDDING", "llm", true},
		{"openinference.span.kind", "CHAIN", "task", false},
		{"openinference.span.kind", "RERANKER", "reranker", false},
		{"openinference.span.kind", "GUARDRAIL", "guardrail", false},
		{"traceloop.span.kind", "workflow", "task", false},
		{"llm.request.type", "completion", "llm", true},
		{"langfuse.observation.type", "generation", "llm", true},
		{"langfuse.observation.type", "agent", "agent", false},
		{"ai.operationId", "ai.streamText", "agent", false},
		{"ai.operationId", "ai.embedMany.doEmbed", "llm", true},
		{"gen_ai.operation.name", "invoke_agent", "agent", false},
		{"gen_ai.operation.name", "agent_step", "task", false},
		{"agenttrace.span.type", "task", "task", false},
		{"agenttrace.span.type", "trace", "trace", false},
	} {
		var f fields
		f.read(tc.key, pcommon.NewValueStr(tc.val))
		f.read("gen_ai.usage.input_tokens", pcommon.NewValueInt(5))
		typ, call := f.classify()
		if typ != tc.typ || call != tc.call {
			t.Errorf("%s=%s: %q %v, want %q %v", tc.key, tc.val, typ, call, tc.typ, tc.call)
		}
	}
}
