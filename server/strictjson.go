package server

import "fmt"

// maxBodyDepth bounds the nesting of an OTLP/JSON body (objects and
// arrays). A span's attribute sits about 10 levels deep and each nested
// AnyValue adds 3, so 128 leaves room for 35 levels of nested values.
// Without a bound a body nested 100,000 deep cost 300 MB to decode.
const maxBodyDepth = 128

// checkJSON checks an OTLP/JSON body before it is decoded: one JSON value
// with nothing but white space after it, nested at most maxBodyDepth
// deep. The decoder itself stops at the end of the first value and would
// silently accept what follows. It is a scan of the bytes, not a parse:
// the decoder checks the rest.
func checkJSON(b []byte) error {
	depth := 0
	inStr, esc := false, false
	for i, c := range b {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
			if depth > maxBodyDepth {
				return fmt.Errorf("nested deeper than %d levels at byte %d", maxBodyDepth, i)
			}
		case '}', ']':
			depth--
			if depth < 0 {
				return fmt.Errorf("unbalanced %q at byte %d", c, i)
			}
			if depth == 0 {
				for j, r := range b[i+1:] {
					if r != ' ' && r != '\t' && r != '\n' && r != '\r' {
						return fmt.Errorf("trailing data after the JSON object at byte %d", i+1+j)
					}
				}
				return nil
			}
		}
	}
	if depth > 0 || inStr {
		return fmt.Errorf("the JSON ends inside a value")
	}
	return nil // a scalar or nothing: the decoder refuses it
}
