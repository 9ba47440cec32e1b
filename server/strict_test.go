package server_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/agenttrace/agenttrace/internal/wire"
	"github.com/agenttrace/agenttrace/usage"
)

// TestStrictOTLPJSON: trailing data after the OTLP/JSON object and nesting
// past the limit are 400s and store nothing; white space after the object
// is fine.
func TestStrictOTLPJSON(t *testing.T) {
	ts := startServer(t)
	c := client(t)
	_, _, js := otlpBody(t, 2, 0)
	nested := `{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":` +
		strings.Repeat(`{"arrayValue":{"values":[`, 100_000) + `{"stringValue":"x"}` + strings.Repeat(`]}}`, 100_000) + `}]}}]}`
	for name, body := range map[string][]byte{
		"trailing garbage":   append(bytes.Clone(js), []byte(`garbage`)...),
		"a second object":    append(bytes.Clone(js), js...),
		"trailing brace":     append(bytes.Clone(js), '}'),
		"nested 100,000":     []byte(nested),
		"unterminated":       js[:len(js)-1],
		"trailing NUL bytes": append(bytes.Clone(js), 0, 0),
	} {
		resp, out := post(t, c, ts.url, "application/json", "", body)
		if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(out, []byte(wire.CodeInvalidArgument)) {
			t.Errorf("%s: %d %s, want 400", name, resp.StatusCode, out)
		}
	}
	if st := ts.srv.Stats(); st.SpansAccepted != 0 {
		t.Fatalf("bad bodies stored spans: %+v", st)
	}
	resp, out := post(t, c, ts.url, "application/json", "", append(bytes.Clone(js), " \r\n\t"...))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("JSON with trailing white space: %d %s", resp.StatusCode, out)
	}
}

// TestSpanTimes: a span whose start is unset or past 2262 is rejected and
// counted (OTLP partial success); one whose end is unset, out of range or
// before its start is stored with the end set to its start, and counted.
func TestSpanTimes(t *testing.T) {
	ts := startServer(t)
	c := client(t)
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	add := func(n byte, start, end uint64) {
		sp := ss.Spans().AppendEmpty()
		sp.SetName("times")
		sp.SetTraceID(pcommon.TraceID{0x71, 1})
		sp.SetSpanID(pcommon.SpanID{0x71, n})
		sp.SetStartTimestamp(pcommon.Timestamp(start))
		sp.SetEndTimestamp(pcommon.Timestamp(end))
	}
	b := uint64(base.UnixNano())
	add(1, 0, b)                     // no start: rejected
	add(2, 1<<63+5, 1<<63+6)         // start past 2262: rejected
	add(3, b, b-uint64(time.Second)) // end before start: corrected
	add(4, b, 0)                     // no end: corrected
	add(5, b, 1<<63)                 // end past 2262: corrected
	add(6, b, b+uint64(time.Second)) // fine
	resp, body := post(t, c, ts.url, "application/x-protobuf", "", exportBody(t, td))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	er := ptraceotlp.NewExportResponse()
	if err := er.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	if ps := er.PartialSuccess(); ps.RejectedSpans() != 2 || !strings.Contains(ps.ErrorMessage(), "start_time_unix_nano") ||
		!strings.Contains(ps.ErrorMessage(), "set to the start time") {
		t.Fatalf("partial success = %d %q", ps.RejectedSpans(), ps.ErrorMessage())
	}
	if st := ts.srv.Stats(); st.SpansRejected != 2 || st.TimestampsCorrected != 3 || st.SpansAccepted != 4 {
		t.Fatalf("stats = %+v", st)
	}
	var page usage.SpansPage
	mustGet(t, c, ts.url, "/v1/traces/71010000000000000000000000000000/spans", nil, &page)
	if len(page.Spans) != 4 {
		t.Fatalf("%d spans stored, want 4", len(page.Spans))
	}
	for _, sp := range page.Spans {
		if !sp.StartTime.Equal(base) || sp.EndTime.Before(sp.StartTime) || sp.LatencyMS < 0 {
			t.Errorf("span %s: %v to %v", sp.ID, sp.StartTime, sp.EndTime)
		}
		if sp.ID != "7106000000000000" && !sp.EndTime.Equal(sp.StartTime) {
			t.Errorf("span %s: end %v not corrected to the start", sp.ID, sp.EndTime)
		}
	}
}
