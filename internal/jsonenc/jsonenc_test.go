package jsonenc

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestText(t *testing.T) {
	type doc struct {
		Q string `json:"q"`
	}
	ch := make(chan int)
	for _, c := range []struct {
		in   any
		want string
	}{
		{"plain", "plain"},
		{nil, "null"},
		{42, "42"},
		{doc{"a<b>&c"}, `{"q":"a<b>&c"}`},
		{json.RawMessage(`{"a":1}`), `{"a":1}`},
		{json.RawMessage(`{bad`), `"{bad"`},
		{[]byte(`[1,2]`), `[1,2]`},
		{[]byte("hi"), `"hi"`},
		{errors.New("boom"), "boom"},
		{map[string]int{"b": 2, "a": 1}, `{"a":1,"b":2}`},
	} {
		assert.Equal(t, c.want, Text(c.in), "%#v", c.in)
	}
	assert.Contains(t, Text(ch), `"agenttrace.unencodable":"chan int"`)
	assert.Contains(t, Text(badMarshal{}), "panic during encoding")
	assert.Contains(t, Text(badError{}), "panic in Error")
	assert.Equal(t, `"plain"`, JSON("plain"))
	assert.Equal(t, `{"a":1}`, JSON(json.RawMessage(`{"a":1}`)))
}

type badMarshal struct{}

func (badMarshal) MarshalJSON() ([]byte, error) { panic("nope") }

type badError struct{}

func (badError) Error() string { panic("nope") }

func TestTruncate(t *testing.T) {
	assert.Equal(t, "short", Truncate("short", 10))
	assert.Equal(t, "exactly10!", Truncate("exactly10!", 10))
	assert.Equal(t, "anything", Truncate("anything", 0), "0 means no limit")
	got := Truncate(strings.Repeat("a", 100), 40)
	assert.Equal(t, strings.Repeat("a", 17)+"…[truncated 83 bytes]", got)
	assert.Len(t, got, 40)
	assert.True(t, IsTruncated(got))
	assert.False(t, IsTruncated("…[truncated x bytes]"))
	assert.False(t, IsTruncated("plain"))

	// Never splits a rune.
	got = Truncate(strings.Repeat("日", 50), 40)
	assert.True(t, utf8.ValidString(got))
	assert.LessOrEqual(t, len(got), 40)

	// A limit below the marker's size gives the marker alone.
	got = Truncate(strings.Repeat("a", 100), 5)
	assert.Equal(t, "…[truncated 100 bytes]", got)
}

func FuzzTruncate(f *testing.F) {
	f.Add("hello world", 5)
	f.Add(strings.Repeat("é", 100), 30)
	f.Add("\xff\xfe invalid", 3)
	f.Add("", 0)
	f.Add(strings.Repeat("x", 1000), 999)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		got := Truncate(s, limit)
		if limit <= 0 || len(s) <= limit {
			require.Equal(t, s, got)
			return
		}
		require.True(t, IsTruncated(got), "%q", got)
		i := strings.LastIndex(got, markerPrefix)
		kept := got[:i]
		require.True(t, strings.HasPrefix(s, kept))
		if limit >= markerLen(len(s)) {
			require.LessOrEqual(t, len(got), limit)
		}
		if utf8.ValidString(s) {
			require.True(t, utf8.ValidString(got))
		}
		n, err := strconv.Atoi(strings.TrimSuffix(got[i+len(markerPrefix):], " bytes]"))
		require.NoError(t, err)
		require.Equal(t, len(s)-len(kept), n, "the marker counts the bytes cut")
	})
}

// FuzzTextValidJSON: whatever bytes a json.RawMessage or []byte holds, and
// whatever a value encodes to, Text and JSON give valid JSON (a string's
// Text is the string itself, by design, so strings are checked through
// JSON only).
func FuzzTextValidJSON(f *testing.F) {
	for _, s := range []string{"\x01", "\v", "{bad", `{"a":1}`, "\xff\xfe", "\"unterminated", "\u2028", "", " "} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for name, out := range map[string]string{
			"Text(RawMessage)": Text(json.RawMessage(b)),
			"Text([]byte)":     Text(b),
			"JSON(RawMessage)": JSON(json.RawMessage(b)),
			"JSON(string)":     JSON(string(b)),
			"Text(map)":        Text(map[string]any{string(b): json.RawMessage(b)}),
			"Text(error)":      JSON(Text(errors.New(string(b)))),
		} {
			if !json.Valid([]byte(out)) {
				t.Fatalf("%s of %q = %q: not valid JSON", name, b, out)
			}
		}
		if json.Valid(b) {
			assert.Equal(t, string(b), Text(json.RawMessage(b)), "valid JSON is kept as is")
		}
	})
}
