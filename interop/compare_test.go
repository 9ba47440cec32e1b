package interop

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agenttrace/agenttrace/internal/attr"
)

// readJSONL decodes the complete lines of the Collector file exporter's
// output: JSON Lines, each line one OTLP/JSON ExportTraceServiceRequest.
// A last line without its newline is still being written and is left for
// the next read.
func readJSONL(data []byte) ([]ptrace.Traces, error) {
	var u ptrace.JSONUnmarshaler
	var out []ptrace.Traces
	for n := 1; ; n++ {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return out, nil
		}
		line := bytes.TrimSpace(data[:i])
		data = data[i+1:]
		if len(line) == 0 {
			continue
		}
		td, err := u.UnmarshalTraces(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, td)
	}
}

// received is a span as the Collector wrote it, with its resource and
// instrumentation scope.
type received struct {
	res   pcommon.Resource
	scope pcommon.InstrumentationScope
	span  ptrace.Span
}

// indexSpans maps every span of tds by span id. A span id seen twice is an
// error: the Collector delivered a span more than once.
func indexSpans(tds []ptrace.Traces) (map[[8]byte]received, error) {
	idx := map[[8]byte]received{}
	for _, td := range tds {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					id := [8]byte(s.SpanID())
					if _, dup := idx[id]; dup {
						return nil, fmt.Errorf("span %s (%s) delivered twice", hex.EncodeToString(id[:]), s.Name())
					}
					idx[id] = received{res: rs.Resource(), scope: ss.Scope(), span: s}
				}
			}
		}
	}
	return idx, nil
}

// tally counts what compareSpan compared.
type tally struct {
	spans, attrs, eventAttrs, resourceAttrs int
	// keys counts the spans carrying each attribute key; events the
	// events of each name, and under "" all events.
	keys   map[string]int
	events map[string]int
}

func newTally() *tally { return &tally{keys: map[string]int{}, events: map[string]int{}} }

// compareSpan compares a span as the SDK recorded it with the span the
// Collector wrote, field by field, and returns the differences.
func compareSpan(want sdktrace.ReadOnlySpan, got received, tl *tally) []string {
	var diffs []string
	g := got.span
	eq := func(field string, w, v any) {
		if !reflect.DeepEqual(w, v) {
			diffs = append(diffs, fmt.Sprintf("%s: sent %#v, received %#v", field, w, v))
		}
	}
	eq("trace id", want.SpanContext().TraceID().String(), g.TraceID().String())
	eq("span id", want.SpanContext().SpanID().String(), g.SpanID().String())
	eq("parent span id", hexID(want.Parent().SpanID()), hexID(g.ParentSpanID()))
	eq("trace state", want.SpanContext().TraceState().String(), g.TraceState().AsRaw())
	eq("name", want.Name(), g.Name())
	eq("kind", strings.ToLower(want.SpanKind().String()), strings.ToLower(strings.TrimPrefix(g.Kind().String(), "SPAN_KIND_")))
	eq("status code", strings.ToLower(want.Status().Code.String()), strings.ToLower(g.Status().Code().String()))
	eq("status message", want.Status().Description, g.Status().Message())
	eq("start time", want.StartTime().UnixNano(), g.StartTimestamp().AsTime().UnixNano())
	eq("end time", want.EndTime().UnixNano(), g.EndTimestamp().AsTime().UnixNano())
	eq("scope name", want.InstrumentationScope().Name, got.scope.Name())
	eq("scope version", want.InstrumentationScope().Version, got.scope.Version())
	eq("dropped attributes", uint32(want.DroppedAttributes()), g.DroppedAttributesCount())
	eq("dropped events", uint32(want.DroppedEvents()), g.DroppedEventsCount())
	eq("links", len(want.Links()), g.Links().Len())

	diffs = append(diffs, diffAttrs("attributes", fromOTel(want.Attributes()), g.Attributes().AsRaw())...)
	diffs = append(diffs, diffAttrs("resource", fromOTel(want.Resource().Attributes()), got.res.Attributes().AsRaw())...)

	wev := want.Events()
	if len(wev) != g.Events().Len() {
		diffs = append(diffs, fmt.Sprintf("events: sent %d, received %d", len(wev), g.Events().Len()))
	} else {
		for i, we := range wev {
			ge := g.Events().At(i)
			field := fmt.Sprintf("event %d (%s)", i, we.Name)
			eq(field+" name", we.Name, ge.Name())
			eq(field+" time", we.Time.UnixNano(), ge.Timestamp().AsTime().UnixNano())
			diffs = append(diffs, diffAttrs(field+" attributes", fromOTel(we.Attributes), ge.Attributes().AsRaw())...)
			tl.events[we.Name]++
			tl.eventAttrs += len(we.Attributes)
		}
	}

	tl.spans++
	tl.attrs += len(want.Attributes())
	tl.events[""] += len(wev)
	tl.resourceAttrs += want.Resource().Len()
	for _, kv := range want.Attributes() {
		tl.keys[string(kv.Key)]++
	}
	return diffs
}

// diffAttrs compares two attribute maps key by key, values with their
// types (an int that became a string or a double is a difference).
func diffAttrs(what string, want, got map[string]any) []string {
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		v, ok := got[k]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s: %s missing (sent %#v)", what, k, want[k]))
		case !reflect.DeepEqual(want[k], v):
			diffs = append(diffs, fmt.Sprintf("%s: %s changed: sent %#v, received %#v", what, k, want[k], v))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: %s added (%#v)", what, k, got[k]))
		}
	}
	return diffs
}

// fromOTel converts OTel attributes to the Go values pcommon.Map.AsRaw
// gives for the same OTLP values: bool, int64, float64, string, and []any
// of those for slices.
func fromOTel(kvs []attribute.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = otelValue(kv.Value)
	}
	return m
}

func otelValue(v attribute.Value) any {
	switch v.Type() {
	case attribute.BOOL:
		return v.AsBool()
	case attribute.INT64:
		return v.AsInt64()
	case attribute.FLOAT64:
		return v.AsFloat64()
	case attribute.STRING:
		return v.AsString()
	case attribute.BOOLSLICE:
		return anySlice(v.AsBoolSlice())
	case attribute.INT64SLICE:
		return anySlice(v.AsInt64Slice())
	case attribute.FLOAT64SLICE:
		return anySlice(v.AsFloat64Slice())
	case attribute.STRINGSLICE:
		return anySlice(v.AsStringSlice())
	}
	return fmt.Sprintf("unsupported attribute type %s", v.Type())
}

func anySlice[T any](s []T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// hexID renders a span id, "" for the zero id (no parent).
func hexID[T ~[8]byte](id T) string {
	if id == (T{}) {
		return ""
	}
	return hex.EncodeToString(id[:])
}

// designKeys are the span attribute keys of DESIGN.md section 3.
var designKeys = []attribute.Key{
	attr.SpanType, attr.OperationName, attr.ScoreName, attr.ScoreValue, attr.ScoreComment,
	attr.RequestModel, attr.ResponseModel, attr.ProviderName,
	attr.InputTokens, attr.OutputTokens, attr.CacheReadTokens, attr.CacheCreationTokens, attr.ReasoningTokens,
	attr.TotalTokens,
	attr.CostUSD, attr.CostSource,
	attr.ContextWindowTokens, attr.ContextUsedTokens,
	attr.SessionID, attr.UserID, attr.TenantID, attr.ConversationID, attr.ExternalTraceID,
	attr.Tags, attr.Environment,
	attr.PromptSlug, attr.PromptVersion,
	attr.Input, attr.Output, attr.InputMessages, attr.OutputMessages,
	attr.ToolName, attr.ToolCallID, attr.ToolCallArguments, attr.ToolCallResult,
}

// designEvents are the span events of DESIGN.md section 3.
// (feedback is a score span now, covered by the score keys).
var designEvents = []string{attr.EventMessage, attr.EventSignal}
