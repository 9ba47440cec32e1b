package recording

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agenttrace/agenttrace/internal/jsonenc"
)

func TestNodeFrom(t *testing.T) {
	type key struct{}
	base := context.WithValue(context.Background(), key{}, "v")
	assert.Nil(t, NodeFrom(base))
	outer := &Node{Context: base, State: &TraceState{}}
	inner := &Node{Context: context.WithValue(outer, key{}, "w"), State: &TraceState{}}
	assert.Same(t, outer, NodeFrom(outer))
	assert.Same(t, inner, NodeFrom(inner), "the innermost node")
	assert.Equal(t, "w", inner.Value(key{}))
	assert.Equal(t, "v", outer.Value(key{}))
	assert.Same(t, outer, NodeFrom(context.WithoutCancel(outer)))
}

func TestStamper(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	st := NewStamper()
	assert.NotSame(t, st, NewStamper(), "each client has its own")
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(st), sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })
	tracer := tp.Tracer("t")

	state := &TraceState{Stamp: []attribute.KeyValue{attribute.String("session.id", "s-1")}}
	_, in := tracer.Start(&Node{Context: context.Background(), State: state}, "inside")
	in.End()
	_, out := tracer.Start(context.Background(), "outside")
	out.End()
	_, empty := tracer.Start(&Node{Context: context.Background(), State: &TraceState{}}, "no-fields")
	empty.End()

	ended := rec.Ended()
	require.Len(t, ended, 3)
	assert.Equal(t, []attribute.KeyValue{attribute.String("session.id", "s-1")}, ended[0].Attributes())
	assert.Empty(t, ended[1].Attributes())
	assert.Empty(t, ended[2].Attributes())
	st.OnStart(nil, nil) //lint:ignore SA1012 a nil parent is ignored
	require.NoError(t, st.ForceFlush(context.Background()))
}

func TestSettingsFinish(t *testing.T) {
	s := &Settings{MaxValueBytes: 40, Mask: func(k, v string) string { return k + ":" + v }}
	assert.Equal(t, "agenttrace.input:hi", s.Value("agenttrace.input", "hi"))
	assert.Len(t, s.Finish("k", string(make([]byte, 100))), 40)
}

func TestFinish(t *testing.T) {
	var seen []string
	s := &Settings{MaxValueBytes: 64, Mask: func(_, v string) string {
		seen = append(seen, v)
		return strings.ReplaceAll(v, "secret", "\xff")
	}}
	assert.Equal(t, "a\uFFFDb \uFFFD", s.Finish("k", "a\xffb secret"))
	assert.Equal(t, []string{"a\uFFFDb secret"}, seen, "the mask sees valid UTF-8")

	long := `{"q":"` + strings.Repeat("x", 200) + `"}`
	got := s.Finish("k", long)
	assert.LessOrEqual(t, len(got), 64)
	assert.True(t, json.Valid([]byte(got)), got)
	assert.True(t, jsonenc.IsTruncated(got))

	plain := strings.Repeat("y", 200)
	assert.True(t, strings.HasPrefix(s.Finish("k", plain), "yyy"))
	assert.True(t, jsonenc.IsTruncated(s.Finish("k", plain)))

	// A mask that breaks JSON: FinishJSON still records JSON when it cuts.
	s.Mask = func(_, v string) string { return v[1:] }
	got = s.FinishJSON("k", `[`+strings.Repeat(`"m",`, 50)+`"m"]`)
	assert.True(t, json.Valid([]byte(got)), got)
	assert.LessOrEqual(t, len(got), 64)
	assert.Equal(t, `"m"]`, s.FinishJSON("k", `["m"]`), "not cut: as the mask left it")
}

func TestValidUTF8(t *testing.T) {
	assert.Equal(t, "ok é", ValidUTF8("ok é"))
	assert.Equal(t, "\uFFFDx\uFFFD", ValidUTF8("\xff\xfex\xc3"))
}
