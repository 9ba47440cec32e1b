package jsonenc

import (
	"encoding/json"
	"testing"
)

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "ctl\x00\x01\x1f\n\r\t", "uni é 日本 \u2028\u2029", "bad\xffutf8\xc3"} {
		got := string(AppendString([]byte("x"), s))
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got != "x"+string(want) {
			t.Errorf("AppendString(%q) = %s, want x%s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("a\"b\\c\x00\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("invalid JSON %q for %q: %v", b, s, err)
		}
		want, _ := json.Marshal(s)
		if string(b) != string(want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, b, want)
		}
	})
}
