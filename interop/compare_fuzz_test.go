package interop

import (
	"bytes"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// FuzzReadJSONL feeds readJSONL arbitrary file exporter output: it must
// never panic, and what it decodes must survive encoding and decoding again
// with the same spans.
func FuzzReadJSONL(f *testing.F) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetName("chat")
	s.SetTraceID([16]byte{1})
	s.SetSpanID([8]byte{2})
	s.Attributes().PutInt("gen_ai.usage.input_tokens", 12)
	s.Attributes().PutStr("session.id", "s-1")
	var m ptrace.JSONMarshaler
	line, err := m.MarshalTraces(td)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append(append([]byte{}, line...), '\n'))
	f.Add(append(append(append([]byte{}, line...), '\n'), line[:len(line)/2]...)) // a line still being written
	f.Add([]byte("\n\n{}\n"))
	f.Add([]byte("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"zz\"}]}]}]}\n"))
	f.Add([]byte("not json\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tds, err := readJSONL(data)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		n := 0
		for _, td := range tds {
			b, err := m.MarshalTraces(td)
			if err != nil {
				t.Fatalf("re-encoding decoded traces: %v", err)
			}
			buf.Write(b)
			buf.WriteByte('\n')
			n += td.SpanCount()
		}
		again, err := readJSONL(buf.Bytes())
		if err != nil {
			t.Fatalf("decoding re-encoded traces: %v\n%s", err, buf.Bytes())
		}
		m := 0
		for _, td := range again {
			m += td.SpanCount()
		}
		if n != m || len(again) != len(tds) {
			t.Fatalf("round trip: %d lines with %d spans became %d lines with %d spans", len(tds), n, len(again), m)
		}
	})
}
