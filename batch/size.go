package batch

import (
	"math/bits"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Encoded size estimate.
//
// The byte bounds (queue bytes, maximum request size) are in terms of the size
// of the uncompressed OTLP protobuf encoding, the form every OTLP exporter and
// collector limit works with. It is computed field by field from what the span
// holds (IDs, name, times, attributes, events, links, status) with the same
// wire rules the protobuf encoder uses (tag, varint length prefix, payload),
// walking the attributes once and doing no encoding. It is an upper bound:
// fields proto3 omits when empty are counted anyway, and a resource or scope
// is counted again each time it differs from the previous span's in the batch
// (the exporter groups spans by resource and scope). Compression is not taken
// into account, so the gzip body on the wire is smaller still.
//
// Cost: no allocation for the common attribute types (bool, int, float,
// string); slice, map and bytes attributes are copied by the attribute API to
// be measured.

// varintLen is the length of x as a protobuf varint.
func varintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// lenField is the size of a length-delimited field (string, bytes, message)
// with a one-byte tag and an n-byte payload.
func lenField(n int) int { return 1 + varintLen(uint64(n)) + n }

// countField is the size of a uint32 count field, omitted when zero.
func countField(n int) int {
	if n <= 0 {
		return 0
	}
	return 1 + varintLen(uint64(n))
}

// spanSize estimates the encoded size of s as an element of ScopeSpans.spans.
func spanSize(s sdktrace.ReadOnlySpan) int {
	sc := s.SpanContext()
	n := 18 + 10 // trace_id (16 bytes), span_id (8 bytes)
	if ts := sc.TraceState(); ts.Len() > 0 {
		n += lenField(len(ts.String()))
	}
	if s.Parent().SpanID().IsValid() {
		n += 10 // parent_span_id
	}
	n += lenField(len(s.Name()))
	n += 2     // kind
	n += 9 + 9 // start and end times (fixed64)
	n += 6     // flags (fixed32, two-byte tag)
	n += attrsSize(s.Attributes())
	n += countField(s.DroppedAttributes()) + countField(s.DroppedEvents()) + countField(s.DroppedLinks())
	for _, e := range s.Events() {
		n += lenField(9 + lenField(len(e.Name)) + attrsSize(e.Attributes) + countField(e.DroppedAttributeCount))
	}
	for _, l := range s.Links() {
		m := 18 + 10 + 5 // trace_id, span_id, flags (fixed32)
		if ts := l.SpanContext.TraceState(); ts.Len() > 0 {
			m += lenField(len(ts.String()))
		}
		m += attrsSize(l.Attributes) + countField(l.DroppedAttributeCount)
		n += lenField(m)
	}
	n += lenField(lenField(len(s.Status().Description)) + 2) // status {message, code}
	return lenField(n)
}

// attrsSize is the size of a repeated KeyValue field.
func attrsSize(kvs []attribute.KeyValue) int {
	n := 0
	for _, kv := range kvs {
		n += lenField(kvSize(kv))
	}
	return n
}

// kvSize is the size of a KeyValue message body.
func kvSize(kv attribute.KeyValue) int {
	return lenField(len(kv.Key)) + lenField(anyValueSize(kv.Value))
}

// anyValueSize is the size of an AnyValue message body.
func anyValueSize(v attribute.Value) int {
	switch v.Type() {
	case attribute.EMPTY:
		return 0
	case attribute.BOOL:
		return 2
	case attribute.INT64:
		return 1 + varintLen(uint64(v.AsInt64())) //nolint:gosec // negative ints encode as 10-byte varints, as here
	case attribute.FLOAT64:
		return 9
	case attribute.STRING:
		return lenField(len(v.AsString()))
	case attribute.BYTESLICE:
		return lenField(len(v.AsByteSlice()))
	case attribute.BOOLSLICE:
		return lenField(len(v.AsBoolSlice()) * lenField(2))
	case attribute.INT64SLICE:
		m := 0
		for _, x := range v.AsInt64Slice() {
			m += lenField(1 + varintLen(uint64(x))) //nolint:gosec // as above
		}
		return lenField(m)
	case attribute.FLOAT64SLICE:
		return lenField(len(v.AsFloat64Slice()) * lenField(9))
	case attribute.STRINGSLICE:
		m := 0
		for _, x := range v.AsStringSlice() {
			m += lenField(lenField(len(x)))
		}
		return lenField(m)
	case attribute.SLICE:
		m := 0
		for _, x := range v.AsSlice() {
			m += lenField(anyValueSize(x))
		}
		return lenField(m)
	case attribute.MAP:
		m := 0
		for _, kv := range v.AsMap() {
			m += lenField(kvSize(kv))
		}
		return lenField(m)
	default:
		return lenField(len("INVALID")) // what the OTLP transform writes
	}
}

// maxLenPrefix bounds the tag plus length prefix of a ResourceSpans or
// ScopeSpans element (lengths below 32 GiB).
const maxLenPrefix = 1 + 5

// resourceOverhead estimates what a ResourceSpans element adds to a request
// besides its ScopeSpans: its tag and length, the resource and its schema URL.
func resourceOverhead(r *resource.Resource) int {
	n := 0
	if r != nil {
		iter := r.Iter()
		for iter.Next() {
			n += lenField(kvSize(iter.Attribute()))
		}
	}
	return maxLenPrefix + lenField(n) + lenField(len(r.SchemaURL()))
}

// scopeOverhead estimates what a ScopeSpans element adds besides its spans.
func scopeOverhead(s instrumentation.Scope) int {
	n := lenField(len(s.Name)) + lenField(len(s.Version))
	iter := s.Attributes.Iter()
	for iter.Next() {
		n += lenField(kvSize(iter.Attribute()))
	}
	return maxLenPrefix + lenField(n) + lenField(len(s.SchemaURL))
}
