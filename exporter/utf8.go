package exporter

import (
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// validSpans returns spans with each span that holds invalid UTF-8 in a
// string (its name, attribute keys and values, events, links, status
// description, resource or scope) replaced by a copy in which each run of
// invalid bytes is U+FFFD. Protobuf refuses such strings, so one of them
// would make otlptracehttp fail the whole batch. When every span is valid,
// the common case, it returns spans itself.
func validSpans(spans []sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	var res resourceCheck
	for i, s := range spans {
		if res.valid(s.Resource()) && spanValid(s) {
			if out != nil {
				out = append(out, s)
			}
			continue
		}
		if out == nil {
			out = make([]sdktrace.ReadOnlySpan, i, len(spans))
			copy(out, spans[:i])
		}
		out = append(out, fixSpan(s, &res))
	}
	if out == nil {
		return spans
	}
	return out
}

// resourceCheck remembers the last resource checked (a batch usually has
// one) and its fixed copy.
type resourceCheck struct {
	last  *resource.Resource
	ok    bool
	fixed *resource.Resource
}

func (c *resourceCheck) valid(r *resource.Resource) bool {
	if r != c.last || c.last == nil {
		c.last, c.fixed = r, nil
		c.ok = utf8.ValidString(r.SchemaURL()) && setValid(r.Set())
	}
	return c.ok
}

func (c *resourceCheck) fix(r *resource.Resource) *resource.Resource {
	if c.valid(r) {
		return r
	}
	if c.fixed == nil {
		c.fixed = resource.NewWithAttributes(fixString(r.SchemaURL()), fixAttrs(r.Attributes())...)
	}
	return c.fixed
}

func spanValid(s sdktrace.ReadOnlySpan) bool {
	if !utf8.ValidString(s.Name()) || !utf8.ValidString(s.Status().Description) || !attrsValid(s.Attributes()) {
		return false
	}
	for _, e := range s.Events() {
		if !utf8.ValidString(e.Name) || !attrsValid(e.Attributes) {
			return false
		}
	}
	for _, l := range s.Links() {
		if !attrsValid(l.Attributes) {
			return false
		}
	}
	sc := s.InstrumentationScope()
	return utf8.ValidString(sc.Name) && utf8.ValidString(sc.Version) && utf8.ValidString(sc.SchemaURL) &&
		setValid(&sc.Attributes)
}

func setValid(s *attribute.Set) bool {
	for it := s.Iter(); it.Next(); {
		if !kvValid(it.Attribute()) {
			return false
		}
	}
	return true
}

func attrsValid(kvs []attribute.KeyValue) bool {
	for _, kv := range kvs {
		if !kvValid(kv) {
			return false
		}
	}
	return true
}

func kvValid(kv attribute.KeyValue) bool {
	if !utf8.ValidString(string(kv.Key)) {
		return false
	}
	switch kv.Value.Type() {
	case attribute.STRING:
		return utf8.ValidString(kv.Value.AsString())
	case attribute.STRINGSLICE:
		for _, v := range kv.Value.AsStringSlice() {
			if !utf8.ValidString(v) {
				return false
			}
		}
	}
	return true
}

// fixSpan returns a copy of s with its strings made valid UTF-8.
func fixSpan(s sdktrace.ReadOnlySpan, res *resourceCheck) sdktrace.ReadOnlySpan {
	stub := tracetest.SpanStubFromReadOnlySpan(s)
	stub.Name = fixString(stub.Name)
	stub.Status.Description = fixString(stub.Status.Description)
	stub.Attributes = fixAttrs(stub.Attributes)
	events := make([]sdktrace.Event, len(stub.Events))
	for i, e := range stub.Events {
		e.Name = fixString(e.Name)
		e.Attributes = fixAttrs(e.Attributes)
		events[i] = e
	}
	stub.Events = events
	links := make([]sdktrace.Link, len(stub.Links))
	for i, l := range stub.Links {
		l.Attributes = fixAttrs(l.Attributes)
		links[i] = l
	}
	stub.Links = links
	stub.Resource = res.fix(s.Resource())
	sc := stub.InstrumentationScope
	stub.InstrumentationScope = instrumentation.Scope{
		Name:       fixString(sc.Name),
		Version:    fixString(sc.Version),
		SchemaURL:  fixString(sc.SchemaURL),
		Attributes: attribute.NewSet(fixAttrs(sc.Attributes.ToSlice())...),
	}
	return stub.Snapshot()
}

func fixAttrs(kvs []attribute.KeyValue) []attribute.KeyValue {
	out := make([]attribute.KeyValue, len(kvs))
	for i, kv := range kvs {
		kv.Key = attribute.Key(fixString(string(kv.Key)))
		switch kv.Value.Type() {
		case attribute.STRING:
			kv.Value = attribute.StringValue(fixString(kv.Value.AsString()))
		case attribute.STRINGSLICE:
			ss := kv.Value.AsStringSlice()
			for j, v := range ss {
				ss[j] = fixString(v)
			}
			kv.Value = attribute.StringSliceValue(ss)
		}
		out[i] = kv
	}
	return out
}

func fixString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
