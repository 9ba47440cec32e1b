// Package jsonenc turns the values users record (inputs, outputs, tool
// arguments, message content) into attribute text: strings verbatim, JSON
// byte slices verbatim, anything else JSON-encoded without HTML escaping; then
// cut at a byte limit with a visible marker (Truncate for text, TruncateJSON
// for JSON, which stays valid JSON). It never panics on user values:
// a value that cannot be encoded (a channel, a cycle, a MarshalJSON that
// panics) becomes a short placeholder naming its type and the error.
package jsonenc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// DefaultLimit is the default maximum size of one recorded value: 32 KiB.
const DefaultLimit = 32 << 10

// markerPrefix starts the marker appended to a truncated value; the marker
// reads "…[truncated N bytes]" where N is the number of bytes cut.
const markerPrefix = "…[truncated "

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Text returns the text form of v: a string as is, a []byte or
// json.RawMessage as is when it holds valid JSON (else as a JSON string), an
// error (that is not a json.Marshaler) as its message, a nil value as "null",
// anything else JSON-encoded with HTML characters left unescaped and without
// a trailing newline.
func Text(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case json.RawMessage:
		if json.Valid(x) {
			return string(x)
		}
		return marshal(string(x))
	case []byte:
		if json.Valid(x) {
			return string(x)
		}
		return marshal(string(x))
	case error:
		if _, ok := v.(json.Marshaler); !ok {
			return safeError(x)
		}
	}
	return marshal(v)
}

// JSON returns v encoded as JSON (strings become JSON strings), with the same
// safety as Text.
func JSON(v any) string {
	if r, ok := v.(json.RawMessage); ok && json.Valid(r) {
		return string(r)
	}
	return marshal(v)
}

func marshal(v any) (out string) {
	defer func() {
		if r := recover(); r != nil {
			out = placeholder(v, fmt.Errorf("panic during encoding: %v", r))
		}
	}()
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 64<<10 {
			bufPool.Put(buf)
		}
	}()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return placeholder(v, err)
	}
	b := buf.Bytes()
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return string(b)
}

func safeError(e error) (out string) {
	defer func() {
		if r := recover(); r != nil {
			out = placeholder(e, fmt.Errorf("panic in Error: %v", r))
		}
	}()
	return e.Error()
}

// placeholder describes a value that could not be encoded, as JSON.
func placeholder(v any, err error) string {
	return marshalPlain(map[string]string{
		"agenttrace.unencodable": fmt.Sprintf("%T", v),
		"error":                  err.Error(),
	})
}

func marshalPlain(m map[string]string) string {
	b, _ := json.Marshal(m) // a map of strings always encodes
	return string(b)
}

// Truncate returns s cut so that the result, marker included, is at most
// limit bytes, ending with "…[truncated N bytes]" where N is how many bytes of
// s were left out. The cut never splits a UTF-8 sequence. A limit of zero or
// less means no limit. When limit is smaller than the marker itself, the
// result is the marker alone (and so may exceed limit).
func Truncate(s string, limit int) string {
	if limit <= 0 || len(s) <= limit {
		return s
	}
	// The marker's length depends on N, which depends on the cut: start from
	// the longest possible N (len(s)).
	keep := max(limit-markerLen(len(s)), 0)
	// Cutting more leaves a shorter count in the marker: keep what fits.
	for keep+1 < len(s) && keep+1+markerLen(len(s)-keep-1) <= limit {
		keep++
	}
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	cut := len(s) - keep
	b := make([]byte, 0, keep+markerLen(cut))
	b = append(b, s[:keep]...)
	b = append(b, markerPrefix...)
	b = strconv.AppendInt(b, int64(cut), 10)
	b = append(b, " bytes]"...)
	return string(b)
}

func markerLen(n int) int {
	return len(markerPrefix) + len(strconv.Itoa(n)) + len(" bytes]")
}

// IsTruncated reports whether s carries a truncation marker written by
// Truncate or TruncateJSON: at its end, or anywhere inside (a JSON value
// cut by TruncateJSON has its markers inside strings).
func IsTruncated(s string) bool {
	for {
		i := strings.Index(s, markerPrefix)
		if i < 0 {
			return false
		}
		s = s[i+len(markerPrefix):]
		j := 0
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
		if j > 0 && strings.HasPrefix(s[j:], " bytes]") {
			return true
		}
	}
}
