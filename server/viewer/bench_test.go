package viewer_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// bigTrace records, with the stock OTel SDK, one trace of n spans: a root,
// steps of nine children each (LLM calls with a conversation, tool calls)
// and returns its id.
func bigTrace(tb testing.TB, base string, n int) string {
	tb.Helper()
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(base+"/v1/traces"))
	if err != nil {
		tb.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithMaxQueueSize(n+10), sdktrace.WithMaxExportBatchSize(500)))
	tr := tp.Tracer("bench")
	msgs := `[{"role":"user","parts":[{"type":"text","content":"` + strings.Repeat("Where is my order? ", 20) + `"}]}]`
	t0 := time.Now().Add(-time.Minute)
	at := func(ms int) oteltrace.SpanStartEventOption {
		return oteltrace.WithTimestamp(t0.Add(time.Duration(ms) * time.Millisecond))
	}
	rctx, root := tr.Start(ctx, "big_agent", at(0), oteltrace.WithAttributes(attribute.String("session.id", "s-big"),
		attribute.String("agenttrace.span.type", "trace")))
	count, step := 1, 0
	for count < n {
		sctx, s := tr.Start(rctx, fmt.Sprintf("step %d", step), at(step*10), oteltrace.WithAttributes(attribute.String("agenttrace.span.type", "task")))
		count++
		for k := 0; k < 9 && count < n; k++ {
			attrs := []attribute.KeyValue{attribute.String("agenttrace.span.type", "tool")}
			name := "lookup"
			if k%3 != 2 {
				name = "chat gpt-4.1-mini"
				attrs = []attribute.KeyValue{attribute.String("agenttrace.span.type", "llm"), attribute.String("gen_ai.operation.name", "chat"),
					attribute.String("gen_ai.request.model", "gpt-4.1-mini"), attribute.Int64("gen_ai.usage.input_tokens", 900),
					attribute.Int64("gen_ai.usage.output_tokens", 60), attribute.String("gen_ai.input.messages", msgs)}
			}
			_, c := tr.Start(sctx, name, at(step*10+k), oteltrace.WithAttributes(attrs...))
			c.End(oteltrace.WithTimestamp(t0.Add(time.Duration(step*10+k+1) * time.Millisecond)))
			count++
		}
		s.End(oteltrace.WithTimestamp(t0.Add(time.Duration(step*10+10) * time.Millisecond)))
		step++
	}
	root.End(oteltrace.WithTimestamp(t0.Add(time.Duration(step*10+5) * time.Millisecond)))
	if err := tp.Shutdown(ctx); err != nil {
		tb.Fatal(err)
	}
	return root.SpanContext().TraceID().String()
}

// smallTraces records n traces of two spans each.
func smallTraces(tb testing.TB, base string, n int) {
	tb.Helper()
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(base+"/v1/traces"))
	if err != nil {
		tb.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	tr := tp.Tracer("bench")
	for i := 0; i < n; i++ {
		c, root := tr.Start(ctx, "support_agent", oteltrace.WithAttributes(attribute.String("session.id", fmt.Sprintf("s-%d", i%7)),
			attribute.String("user.id", "u-1"), attribute.String("agenttrace.tenant.id", "acme")))
		_, l := tr.Start(c, "chat", oteltrace.WithAttributes(attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.request.model", "gpt-4.1-mini"), attribute.Int64("gen_ai.usage.input_tokens", 100)))
		l.End()
		root.End()
	}
	if err := tp.Shutdown(ctx); err != nil {
		tb.Fatal(err)
	}
}

// get reads one API answer in full: the data a page needs, without the
// browser.
func get(b *testing.B, hc *http.Client, url string) {
	resp, err := hc.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
}

// BenchmarkViewer: time until a page has rendered in headless Chromium
// (navigation, the page's API calls, building the DOM), against fetching
// the same API answers from Go (the baseline: the data alone).
//
//	go test -run '^$' -bench BenchmarkViewer -benchtime 10x -count 3 ./server/viewer
func BenchmarkViewer(b *testing.B) {
	base := startServer(b)
	id := bigTrace(b, base, 2000)
	smallTraces(b, base, 60)
	hc := &http.Client{}
	defer hc.CloseIdleConnections()
	br := newBrowser(b, base)

	// The baseline of the browser side: the same page shell, stylesheet
	// and script, no API call (the not-found page).
	b.Run("shell_only/browser", func(b *testing.B) {
		br.t = b
		for b.Loop() {
			br.open("/no-such-page")
		}
		br.errors(true) // the page's own 404
	})
	b.Run("trace_2000_spans/browser", func(b *testing.B) {
		br.t = b
		for b.Loop() {
			br.open("/traces/" + id)
			br.waitFor(`document.querySelectorAll('#tree .row').length === 2000 && document.querySelector('#detail h2') && 'ok'`)
		}
		br.shot("trace_2000")
	})
	b.Run("trace_2000_spans/api_only", func(b *testing.B) {
		for b.Loop() {
			get(b, hc, base+"/v1/traces/"+id)
			// The first and the last 1,000 spans: the same two pages the
			// viewer reads.
			get(b, hc, base+"/v1/traces/"+id+"/spans?limit=1000")
			get(b, hc, base+"/v1/traces/"+id+"/spans?limit=1000&direction=up")
		}
	})
	b.Run("traces_50_rows/browser", func(b *testing.B) {
		br.t = b
		for b.Loop() {
			br.open("/?limit=50")
			br.waitFor(`document.querySelectorAll('#traces tbody tr').length === 50 && 'ok'`)
		}
	})
	b.Run("traces_50_rows/api_only", func(b *testing.B) {
		end := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		start := time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)
		for b.Loop() {
			get(b, hc, base+"/v1/traces?limit=50&start_time="+start+"&end_time="+end)
		}
	})
	if errs := br.errors(true); len(errs) > 0 {
		b.Fatalf("console errors: %v", errs)
	}
}
