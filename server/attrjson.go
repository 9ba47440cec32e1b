package server

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"

	"github.com/agenttrace/agenttrace/internal/jsonenc"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// maxJSONDepth bounds nesting of OTLP AnyValues rendered to JSON; deeper
// values are cut to null (the decoder already bounds protobuf nesting).
const maxJSONDepth = 32

// appendMap appends m as a JSON object. Keys repeated in OTLP (invalid, but
// possible on the wire) are all written; JSON readers keep the last.
func appendMap(b []byte, m pcommon.Map, depth int) []byte {
	b = append(b, '{')
	first := true
	for k, v := range m.All() {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonenc.AppendString(b, k)
		b = append(b, ':')
		b = appendValue(b, v, depth+1)
	}
	return append(b, '}')
}

func appendValue(b []byte, v pcommon.Value, depth int) []byte {
	if depth > maxJSONDepth {
		return append(b, "null"...)
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return jsonenc.AppendString(b, v.Str())
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(b, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		return appendFloat(b, v.Double())
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(b, v.Bool())
	case pcommon.ValueTypeMap:
		return appendMap(b, v.Map(), depth)
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		b = append(b, '[')
		for i := 0; i < s.Len(); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, s.At(i), depth+1)
		}
		return append(b, ']')
	case pcommon.ValueTypeBytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes().AsRaw())
		return append(b, '"')
	default:
		return append(b, "null"...)
	}
}

func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Inf"`...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// appendEvents appends the span's events as a JSON array of
// {"name","time","attributes"}.
func appendEvents(b []byte, evs ptrace.SpanEventSlice) []byte {
	b = append(b, '[')
	for i := 0; i < evs.Len(); i++ {
		ev := evs.At(i)
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = jsonenc.AppendString(b, ev.Name())
		b = append(b, `,"time":"`...)
		b = toTime(ev.Timestamp()).AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","attributes":`...)
		b = appendMap(b, ev.Attributes(), 0)
		b = append(b, '}')
	}
	return append(b, ']')
}

// toTime converts an OTLP timestamp, clamping values past year 2262.
func toTime(ts pcommon.Timestamp) time.Time {
	ns := uint64(ts)
	if ns > math.MaxInt64 {
		ns = math.MaxInt64
	}
	return time.Unix(0, int64(ns)).UTC()
}
