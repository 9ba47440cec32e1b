package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/store"
)

func seedRequest(f *testing.F) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1})
	sp.SetSpanID(pcommon.SpanID{2})
	sp.SetName("chat")
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Unix(1700000000, 0)))
	sp.Attributes().PutStr("gen_ai.operation.name", "chat")
	sp.Attributes().PutInt("gen_ai.usage.input_tokens", 5)
	sp.Attributes().PutEmptySlice("agenttrace.tags").AppendEmpty().SetStr("t")
	sp.Events().AppendEmpty().Attributes().PutEmptyMap("m").PutDouble("d", 1.5)
	req := ptraceotlp.NewExportRequestFromTraces(td)
	pb, _ := req.MarshalProto()
	js, _ := req.MarshalJSON()
	f.Add(pb, false)
	f.Add(js, true)
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"01"}]}]}]}`), true)
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","startTimeUnixNano":"18446744073709551615","attributes":[{"key":"gen_ai.usage.input_tokens","value":{"stringValue":"1e300"}}]}]}]}]}`), true)
	// Other instrumentations' keys (normalize.go): Langfuse's JSON usage,
	// flattened messages, metadata prefixes.
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","parentSpanId":"0102030405060709","attributes":[`+
		`{"key":"langfuse.observation.type","value":{"stringValue":"generation"}},{"key":"langfuse.observation.usage_details","value":{"stringValue":"{\"input\":1,\"input_cached_tokens\":2e3,\"output_x\":-1}"}},`+
		`{"key":"langfuse.observation.cost_details","value":{"stringValue":"{\"total\":1e400}"}},{"key":"llm.input_messages.7.message.content","value":{"stringValue":"hi"}},`+
		`{"key":"gen_ai.prompt.99999999999999999999.role","value":{"intValue":"3"}},{"key":"ai.settings.context.sessionId","value":{"arrayValue":{}}}]},`+
		`{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060709","attributes":[{"key":"openinference.span.kind","value":{"stringValue":"LLM"}},{"key":"llm.token_count.prompt","value":{"doubleValue":1.5}}]}]}]}]}`), true)
	f.Add([]byte{0x0a, 0x80, 0x80, 0x80, 0x80, 0x10}, false)
	f.Add([]byte{}, false)
}

// FuzzDecodeOTLP feeds arbitrary bodies to the OTLP decoder and the
// conversion to store spans: no panic, and every converted span is
// storable or rejected by the store's validation.
func FuzzDecodeOTLP(f *testing.F) {
	seedRequest(f)
	f.Fuzz(func(t *testing.T, body []byte, isJSON bool) {
		req, err := decodeOTLP(body, isJSON)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != http.StatusBadRequest {
				t.Fatalf("decode error %v is not a 400", err)
			}
			return
		}
		res := convert(req.Traces(), llm.DefaultPrices())
		for _, sp := range res.spans {
			if len(sp.TraceID) != 32 || len(sp.SpanID) != 16 {
				t.Fatalf("converted ids %q %q", sp.TraceID, sp.SpanID)
			}
			for _, raw := range [][]byte{sp.Attributes, sp.Resource, sp.Events} {
				if raw != nil && !json.Valid(raw) {
					t.Fatalf("invalid JSON rendered: %s", raw)
				}
			}
			if sp.InputTokens < 0 || sp.OutputTokens < 0 || sp.CacheReadTokens < 0 || sp.ReasoningTokens < 0 || sp.CostNanoUSD < 0 {
				t.Fatalf("negative usage %+v", sp.Tokens)
			}
			if len(sp.Input) > store.PreviewLen || len(sp.Output) > store.PreviewLen {
				t.Fatal("preview over its limit")
			}
		}
	})
}

// FuzzQueryParams parses arbitrary query strings for every listing: no
// panic, errors are 4xx API errors naming what is wrong.
func FuzzQueryParams(f *testing.F) {
	pos := store.Position{Num: 1700000000000000000, TraceID: "0102030405060708090a0b0c0d0e0f10", SpanID: "0102030405060708"}
	for _, s := range []string{
		"", "start_time=2025-11-16T00:00:00Z&end_time=2025-11-17T00:00:00Z",
		"start_time=2025-11-16T00:00:00.123456789+02:00&end_time=2025-11-17T00:00:00Z&limit=1000&direction=up&sort_field=name&sort_order=asc&tags=a,b,,a&status=error&offset=5&include_total=1",
		"limit=0", "limit=99999999999999999999", "cursor=" + encodeCursor("x", pos), "cursor=%zz", "a=1&a=2", "tags=" + string(make([]byte, 2000)),
		"start_time=9999-12-31T23:59:59Z&end_time=2025-11-17T00:00:00Z", "status=ok&type=llm&model=m&prompt_slug=p&name=n",
	} {
		f.Add(s, "")
		f.Add(s, "acme")
	}
	f.Fuzz(func(t *testing.T, raw, tenant string) {
		p := principal{tenant: tenant}
		check := func(err error) {
			if err == nil {
				return
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.status < 400 || ae.status > 499 || ae.message == "" {
				t.Fatalf("error %v is not a 4xx API error", err)
			}
		}
		q, _, err := tracesQuery(raw, p)
		check(err)
		if err == nil {
			if q.Start.IsZero() || !q.End.After(q.Start) || q.Limit < 1 || q.Limit > store.MaxLimit || !q.SortField.Valid() {
				t.Fatalf("accepted an invalid traces query %+v", q)
			}
			if tenant != "" && q.TenantID != tenant {
				t.Fatal("a tenant key's list is not forced to its tenant")
			}
		}
		sq, _, err := spansQuery(raw, p)
		check(err)
		if err == nil && (sq.Limit < 1 || sq.Limit > store.MaxLimit) {
			t.Fatalf("accepted an invalid spans query %+v", sq)
		}
		_, _, err = traceSpansQuery("0102030405060708090a0b0c0d0e0f10", raw, p)
		check(err)
		_, _, err = usageQuery(raw, "tenant_id")
		check(err)
	})
}

// FuzzCursor decodes arbitrary cursors: no panic, only 400s, and encoded
// positions decode back to themselves under their own hash only.
func FuzzCursor(f *testing.F) {
	f.Add("", int64(0), "", "0102030405060708090a0b0c0d0e0f10", "")
	f.Add(encodeCursor("h", store.Position{Num: -5, Str: "name", TraceID: "0102030405060708090a0b0c0d0e0f10"}), int64(-5), "name", "0102030405060708090a0b0c0d0e0f10", "0102030405060708")
	f.Add("eyJ2IjoxfQ", int64(1<<62), "\xff", "ab", "cd")
	f.Fuzz(func(t *testing.T, s string, num int64, str, traceID, spanID string) {
		if _, err := decodeCursor(s, "h"); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != http.StatusBadRequest || ae.param != "cursor" {
				t.Fatalf("cursor error %v is not a 400 naming cursor", err)
			}
		}
		if !isHexID(traceID, 32) || (spanID != "" && !isHexID(spanID, 16)) || len(str) > maxParamLen {
			return
		}
		pos := store.Position{Num: num, Str: str, TraceID: traceID, SpanID: spanID}
		c := encodeCursor("h1", pos)
		got, err := decodeCursor(c, "h1")
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", pos, err)
		}
		// JSON turns invalid UTF-8 into U+FFFD: positions are compared
		// on what survives the round trip.
		want := pos
		if b, _ := json.Marshal(str); true {
			json.Unmarshal(b, &want.Str)
		}
		if *got != want {
			t.Fatalf("round trip %+v -> %+v", want, *got)
		}
		if _, err := decodeCursor(c, "h2"); err == nil {
			t.Fatal("a cursor decoded under another filter hash")
		}
	})
}
