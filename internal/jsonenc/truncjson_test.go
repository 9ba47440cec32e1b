package jsonenc

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type part struct {
	Type    string `json:"type"`
	Content string `json:"content,omitempty"`
	ID      string `json:"id,omitempty"`
	Name    string `json:"name,omitempty"`
	Args    any    `json:"arguments,omitempty"`
}

type message struct {
	Role  string `json:"role"`
	Parts []part `json:"parts"`
}

func messagesJSON(t *testing.T, msgs []message) string {
	t.Helper()
	b, err := json.Marshal(msgs)
	require.NoError(t, err)
	return string(b)
}

func decodeMessages(t *testing.T, s string) []message {
	t.Helper()
	require.True(t, json.Valid([]byte(s)), "not JSON: %.300s", s)
	var out []message
	require.NoError(t, json.Unmarshal([]byte(s), &out))
	return out
}

// TestTruncateJSONLongMessages: a few messages with long texts keep every
// message, role and part; only the texts are cut, each with its marker.
func TestTruncateJSONLongMessages(t *testing.T) {
	msgs := []message{
		{Role: "system", Parts: []part{{Type: "text", Content: strings.Repeat("You are helpful. ", 3000)}}},
		{Role: "user", Parts: []part{{Type: "text", Content: "Where is my order?"}}},
		{Role: "assistant", Parts: []part{
			{Type: "text", Content: strings.Repeat("Let me check \"that\" for you — é. ", 2000)},
			{Type: "tool_call", ID: "call_1", Name: "lookup_order", Args: map[string]any{"order": "4421"}},
		}},
	}
	in := messagesJSON(t, msgs)
	require.Greater(t, len(in), 100_000)
	const limit = DefaultLimit
	got := TruncateJSON(in, limit)
	assert.LessOrEqual(t, len(got), limit)
	assert.Greater(t, len(got), limit-200, "uses the room it has")
	assert.True(t, IsTruncated(got))
	out := decodeMessages(t, got)
	require.Len(t, out, 3)
	assert.Equal(t, "Where is my order?", out[1].Parts[0].Content, "short texts are kept whole")
	require.Len(t, out[2].Parts, 2)
	assert.Equal(t, "lookup_order", out[2].Parts[1].Name)
	assert.Equal(t, map[string]any{"order": "4421"}, out[2].Parts[1].Args)
	for _, m := range []message{out[0], out[2]} {
		c := m.Parts[0].Content
		assert.True(t, IsTruncated(c), "%s: %.80s", m.Role, c)
		kept := c[:strings.LastIndex(c, markerPrefix)]
		assert.True(t, strings.HasPrefix(msgContent(msgs, m.Role), kept), m.Role)
		assert.True(t, utf8.ValidString(c))
	}
}

func msgContent(msgs []message, role string) string {
	for _, m := range msgs {
		if m.Role == role {
			return m.Parts[0].Content
		}
	}
	return ""
}

// TestTruncateJSONManyMessages: too many messages to keep them all, even
// shortened: the first ones are kept whole, the one at the limit is cut with
// the marker, the rest dropped.
func TestTruncateJSONManyMessages(t *testing.T) {
	var msgs []message
	for i := range 3000 {
		msgs = append(msgs, message{Role: "user", Parts: []part{{Type: "text", Content: fmt.Sprintf("message number %d", i)}}})
	}
	in := messagesJSON(t, msgs)
	got := TruncateJSON(in, 4096)
	assert.LessOrEqual(t, len(got), 4096)
	out := decodeMessages(t, got)
	require.Greater(t, len(out), 50)
	require.Less(t, len(out), 3000)
	for i, m := range out[:len(out)-1] {
		assert.Equal(t, msgs[i], m)
	}
	last := out[len(out)-1]
	assert.Equal(t, "user", last.Role)
	require.True(t, IsTruncated(got))
	// The marker counts every byte left out of the compact document.
	i := strings.Index(got, markerPrefix)
	var n int
	_, err := fmt.Sscanf(got[i+len(markerPrefix):], "%d bytes]", &n)
	require.NoError(t, err)
	assert.Equal(t, len(in), len(got)-markerLen(n)+n, "the output less its marker plus what was cut is the input")
}

func TestTruncateJSONShapes(t *testing.T) {
	numbers := make([]int, 5000)
	for i := range numbers {
		numbers[i] = i * 1000
	}
	nb, _ := json.Marshal(map[string]any{"ids": numbers, "name": "x"})
	pretty, _ := json.MarshalIndent(map[string]any{"a": strings.Repeat("z", 50), "b": []int{1, 2, 3}}, "", "    ")
	for name, c := range map[string]struct {
		in    string
		limit int
		check func(t *testing.T, got string)
	}{
		"fits":     {`{"a": 1}`, 100, func(t *testing.T, got string) { assert.Equal(t, `{"a": 1}`, got) }},
		"no limit": {strings.Repeat(`"x"`, 1), 0, nil},
		"compacting is enough": {string(pretty), 80, func(t *testing.T, got string) {
			assert.Equal(t, `{"a":"`+strings.Repeat("z", 50)+`","b":[1,2,3]}`, got)
			assert.False(t, IsTruncated(got))
		}},
		"a long string": {quote(strings.Repeat("word ", 10000)), 1000, func(t *testing.T, got string) {
			var s string
			require.NoError(t, json.Unmarshal([]byte(got), &s))
			assert.True(t, strings.HasPrefix(s, "word word"))
		}},
		"numbers": {string(nb), 500, func(t *testing.T, got string) {
			var v struct {
				IDs []any `json:"ids"`
			}
			require.NoError(t, json.Unmarshal([]byte(got), &v))
			require.NotEmpty(t, v.IDs)
			last, ok := v.IDs[len(v.IDs)-1].(string)
			require.True(t, ok, "a marker element ends the cut array")
			assert.True(t, IsTruncated(last))
		}},
		"not JSON": {"{" + strings.Repeat("abc", 1000), 100, func(t *testing.T, got string) {
			var s string
			require.NoError(t, json.Unmarshal([]byte(got), &s), "a JSON string")
			assert.True(t, strings.HasPrefix(s, "{abcabc"))
		}},
		"escapes":    {quote(strings.Repeat("\"\\\n\u0001é日<>&", 500)), 333, nil},
		"tiny limit": {messagesJSONNoT([]message{{Role: "user", Parts: []part{{Type: "text", Content: strings.Repeat("a", 500)}}}}), 40, nil},
	} {
		t.Run(name, func(t *testing.T) {
			got := TruncateJSON(c.in, c.limit)
			assert.True(t, json.Valid([]byte(got)), "%s", got)
			if c.limit > 0 && len(c.in) > c.limit {
				assert.LessOrEqual(t, len(got), c.limit)
			} else {
				assert.Equal(t, c.in, got)
			}
			if c.check != nil {
				c.check(t, got)
			}
		})
	}
}

func messagesJSONNoT(msgs []message) string {
	b, _ := json.Marshal(msgs)
	return string(b)
}

func TestSafeCut(t *testing.T) {
	for _, c := range []struct {
		raw  string
		k    int
		want int
	}{
		{`abcdef`, 3, 3},
		{`ab\u00e9cd`, 5, 2},
		{`ab\u00e9cd`, 8, 8},
		{`a\"b`, 2, 1},
		{`a\\b`, 2, 1},
		{`a\\b`, 3, 3},
		{`\\\"x`, 3, 2},
		{`日本`, 4, 3},
		{`abc`, 10, 3},
	} {
		assert.Equal(t, c.want, safeCut(c.raw, c.k), "%q at %d", c.raw, c.k)
	}
}

func FuzzTruncateJSON(f *testing.F) {
	f.Add(`[{"role":"user","parts":[{"type":"text","content":"hello there, how are you"}]}]`, 60)
	f.Add(`{"a":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15],"b":"\u00e9\"\\"}`, 30)
	f.Add(`"\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00"`, 25)
	f.Add(`not json at all, not at all`, 20)
	f.Add(`[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]`, 10)
	f.Add(`{"k": "v" , "l" : [ true , false , null ] }`, 12)
	f.Add("[\"\xff\xfe\"]", 3)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		got := TruncateJSON(s, limit)
		if limit <= 0 || len(s) <= limit {
			require.Equal(t, s, got)
			return
		}
		require.True(t, json.Valid([]byte(got)), "%q -> %q", s, got)
		if limit >= 64 {
			require.LessOrEqual(t, len(got), limit, "%q -> %q", s, got)
			if !json.Valid([]byte(s)) || !compactFits(s, limit) {
				require.True(t, IsTruncated(got), "%q -> %q", s, got)
			}
		}
		if utf8.ValidString(s) {
			require.True(t, utf8.ValidString(got))
		}
	})
}

func compactFits(s string, limit int) bool {
	p := parser{s: s}
	return p.value().size <= limit
}
