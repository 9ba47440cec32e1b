package batch

import (
	"math/bits"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
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
// Cost: OnEnd computes it without allocating, counting slice, map and bytes
// attributes at a guess; the flusher measures those exactly (through the
// attribute API, which copies them) before it cuts a batch, so the request
// bound holds either way while the queue byte bound uses the guess for them.

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

// spanSize estimates the encoded size of s, whose span context is sc, as an
// element of ScopeSpans.spans. The common parts use constant upper bounds for
// tags and length prefixes instead of computing each varint.
//
// With exact false (the OnEnd hot path) it does not allocate: slice, map and
// bytes attributes, which the attribute API can only hand out as copies, are
// counted as their key plus sliceGuess bytes, and it reports the result as
// not exact. With exact true (the flusher, before cutting a batch) it
// measures them, and the result is an upper bound.
func spanSize(s sdktrace.ReadOnlySpan, sc trace.SpanContext, exact bool) (int, bool) {
	name := len(s.Name())
	desc := len(s.Status().Description)
	// trace_id 18, span_id 10, parent_span_id 10, kind 2, start and end 18,
	// flags 6, three dropped counts 18, status 10 plus its message, name 4
	// plus its bytes (lengths below 1 MiB): 96, and 2 to spare.
	n := 98 + name + desc
	if name >= 1<<20 || desc >= 1<<20 {
		n += 8
	}
	if ts := sc.TraceState(); ts.Len() > 0 {
		n += lenField(len(ts.String()))
	}
	a, all := attrsSize(s.Attributes(), exact)
	n += a
	for _, e := range s.Events() {
		a, ok := attrsSize(e.Attributes, exact)
		all = all && ok
		n += lenField(9 + lenField(len(e.Name)) + a + countField(e.DroppedAttributeCount))
	}
	for _, l := range s.Links() {
		m := 18 + 10 + 5 // trace_id, span_id, flags (fixed32)
		if ts := l.SpanContext.TraceState(); ts.Len() > 0 {
			m += lenField(len(ts.String()))
		}
		a, ok := attrsSize(l.Attributes, exact)
		all = all && ok
		m += a + countField(l.DroppedAttributeCount)
		n += lenField(m)
	}
	return lenField(n), all
}

// sliceGuess is what the hot path counts for the value of a slice, map or
// bytes attribute (finish reasons, tags) before the flusher measures it.
const sliceGuess = 64

// attrsSize bounds the size of a repeated KeyValue field. For string, int,
// float, bool and empty values with keys under 8 KiB and values under 1 MiB,
// a KeyValue (four tags, four length prefixes, key and value) takes at most
// key+value+19 bytes (a string at most +15, an int +19 with its 10-byte
// varint, a float +17, a bool +10), so it adds that without looking at the
// type further. Slices, maps and bytes are measured if exact, else guessed
// (and the second result is false).
func attrsSize(kvs []attribute.KeyValue, exact bool) (int, bool) {
	n, all := 0, true
	for i := range kvs {
		kv := &kvs[i]
		if kv.Value.Type() > attribute.STRING {
			if exact {
				n += lenField(kvSize(kv))
			} else {
				n += len(kv.Key) + sliceGuess
				all = false
			}
			continue
		}
		// AsString is "" for the non-string types here.
		k, l := len(kv.Key), len(kv.Value.AsString())
		n += k + l + 19
		if k >= 1<<13 || l >= 1<<20 {
			n += 9 // up to four more length-prefix bytes
		}
	}
	return n, all
}

// kvSize is the size of a KeyValue message body.
func kvSize(kv *attribute.KeyValue) int {
	return lenField(len(kv.Key)) + lenField(anyValueSize(&kv.Value))
}

// anyValueSize is the size of an AnyValue message body.
func anyValueSize(v *attribute.Value) int {
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
	case attribute.BOOLSLICE, attribute.INT64SLICE, attribute.FLOAT64SLICE, attribute.STRINGSLICE:
		return arraySize(v)
	case attribute.SLICE:
		m := 0
		for _, x := range v.AsSlice() {
			m += lenField(anyValueSize(&x))
		}
		return lenField(m)
	case attribute.MAP:
		m := 0
		for _, kv := range v.AsMap() {
			m += lenField(kvSize(&kv))
		}
		return lenField(m)
	default:
		return lenField(len("INVALID")) // what the OTLP transform writes
	}
}

// arraySize measures a bool, int64, float64 or string slice value. The
// attribute API hands these out only as copies, so this allocates: it runs
// on the flusher, never in OnEnd.
func arraySize(v *attribute.Value) int {
	m := 0
	switch v.Type() {
	case attribute.BOOLSLICE:
		m = len(v.AsBoolSlice()) * lenField(2)
	case attribute.INT64SLICE:
		for _, x := range v.AsInt64Slice() {
			m += lenField(1 + varintLen(uint64(x))) //nolint:gosec // as above
		}
	case attribute.FLOAT64SLICE:
		m = len(v.AsFloat64Slice()) * lenField(9)
	case attribute.STRINGSLICE:
		for _, x := range v.AsStringSlice() {
			m += lenField(lenField(len(x)))
		}
	}
	return lenField(m)
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
			kv := iter.Attribute()
			n += lenField(kvSize(&kv))
		}
	}
	return maxLenPrefix + lenField(n) + lenField(len(r.SchemaURL()))
}

// scopeOverhead estimates what a ScopeSpans element adds besides its spans.
func scopeOverhead(s instrumentation.Scope) int {
	n := lenField(len(s.Name)) + lenField(len(s.Version))
	iter := s.Attributes.Iter()
	for iter.Next() {
		kv := iter.Attribute()
		n += lenField(kvSize(&kv))
	}
	return maxLenPrefix + lenField(n) + lenField(len(s.SchemaURL))
}
