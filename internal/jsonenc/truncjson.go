package jsonenc

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MinStringCap is the shortest a string inside a JSON value is cut to
// (before its marker) when TruncateJSON shortens all long strings alike.
const MinStringCap = 128

// TruncateJSON returns s cut to at most limit bytes, like Truncate, but so
// that a JSON document stays valid JSON. A value of at most limit bytes is
// returned as is; a longer one is compacted (insignificant whitespace
// dropped) and, if still too long, cut in one of three ways, the first that
// fits:
//
//  1. Every string longer than some cap (at least MinStringCap bytes, as
//     large as fits) is cut to the cap and ends with "…[truncated N bytes]",
//     N being the bytes cut from that string. The structure is kept whole:
//     every message of a GenAI message list keeps its role and parts, only
//     their long texts are shortened.
//  2. The document is kept from its start, whole values first, and cut
//     inside the first value that does not fit: that value's string ends
//     with the marker, N counting every byte of the compact document left
//     out from there on, and the values after it (trailing messages, parts,
//     array elements, object members) are dropped. Open arrays and objects
//     are closed. When the value that does not fit is an array element with
//     no string to cut (a number, say), a string element holding the marker
//     alone takes its place.
//  3. The result is a JSON string holding the beginning of the text, cut by
//     Truncate with its marker.
//
// Text that is not valid JSON gets the third form too. limit <= 0 means no
// limit; when limit is too small for even the third form's marker, the
// result is that marker alone, quoted (and so may exceed limit).
func TruncateJSON(s string, limit int) string {
	if limit <= 0 || len(s) <= limit {
		return s
	}
	if !json.Valid([]byte(s)) {
		return quotedTruncate(s, limit)
	}
	return truncateValid(s, limit)
}

// TruncateValue cuts text about to be recorded to at most limit bytes: with
// TruncateJSON when it is valid JSON, so that it stays valid JSON, else with
// Truncate.
func TruncateValue(s string, limit int) string {
	if limit <= 0 || len(s) <= limit {
		return s
	}
	if json.Valid([]byte(s)) {
		return truncateValid(s, limit)
	}
	return Truncate(s, limit)
}

// truncateValid is TruncateJSON for a valid JSON document longer than limit.
func truncateValid(s string, limit int) string {
	p := parser{s: s}
	root := p.value()
	if root.size <= limit {
		return root.compact(&strings.Builder{}).String()
	}
	if out, ok := capStrings(root, limit); ok {
		return out
	}
	if out, ok := keepPrefix(root, limit); ok {
		return out
	}
	return quotedTruncate(s, limit)
}

// quotedTruncate returns s, cut by Truncate, as a JSON string of at most
// limit bytes (the quotes and escapes included).
func quotedTruncate(s string, limit int) string {
	n := limit - 2
	for {
		q := quote(Truncate(s, max(n, 1)))
		if len(q) <= limit || n <= 1 {
			return q
		}
		// Escapes made it longer: cut by the excess and try again.
		n -= len(q) - limit
	}
}

// quote encodes s as a JSON string without HTML escaping.
func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// node is a parsed JSON value. Strings and literals keep their text as it
// is in the document (a string's still escaped, without its quotes).
type node struct {
	kind byte     // '{', '[', '"', or 'l' for a number, true, false, null
	raw  string   // a string's escaped content or a literal's text
	keys []string // an object's keys, quoted and escaped as in the document
	kids []*node
	size int // bytes of the compact encoding
}

// parser reads a document json.Valid accepted.
type parser struct {
	s string
	i int
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value() *node {
	p.skipSpace()
	switch c := p.s[p.i]; c {
	case '{', '[':
		p.i++
		n := &node{kind: c, size: 2}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		for {
			p.skipSpace()
			if p.s[p.i] == closer {
				p.i++
				break
			}
			if p.s[p.i] == ',' {
				p.i++
				p.skipSpace()
			}
			if len(n.kids) > 0 {
				n.size++ // the comma
			}
			if c == '{' {
				key := p.str()
				n.keys = append(n.keys, `"`+key+`"`)
				n.size += len(key) + 3 // quotes and colon
				p.skipSpace()
				p.i++ // ':'
			}
			kid := p.value()
			n.kids = append(n.kids, kid)
			n.size += kid.size
		}
		return n
	case '"':
		raw := p.str()
		return &node{kind: '"', raw: raw, size: len(raw) + 2}
	default:
		start := p.i
		for p.i < len(p.s) && !strings.ContainsRune(",]} \t\n\r", rune(p.s[p.i])) {
			p.i++
		}
		return &node{kind: 'l', raw: p.s[start:p.i], size: p.i - start}
	}
}

// str reads a string at p.i and returns its content, still escaped.
func (p *parser) str() string {
	p.i++ // opening quote
	start := p.i
	for p.s[p.i] != '"' {
		if p.s[p.i] == '\\' {
			p.i++
		}
		p.i++
	}
	p.i++
	return p.s[start : p.i-1]
}

// compact writes n without insignificant whitespace.
func (n *node) compact(b *strings.Builder) *strings.Builder {
	n.write(b, -1)
	return b
}

// write writes n with every string longer than limit cut to limit bytes plus
// its marker (no cut for limit < 0).
func (n *node) write(b *strings.Builder, limit int) {
	switch n.kind {
	case '"':
		b.WriteByte('"')
		if limit >= 0 && n.capped(limit) {
			k := safeCut(n.raw, limit)
			writeMarked(b, n.raw[:k], len(n.raw)-k)
		} else {
			b.WriteString(n.raw)
		}
		b.WriteByte('"')
	case 'l':
		b.WriteString(n.raw)
	default:
		b.WriteByte(n.kind)
		for i, kid := range n.kids {
			if i > 0 {
				b.WriteByte(',')
			}
			if n.kind == '{' {
				b.WriteString(n.keys[i])
				b.WriteByte(':')
			}
			kid.write(b, limit)
		}
		b.WriteByte(closing(n.kind))
	}
}

func closing(kind byte) byte {
	if kind == '{' {
		return '}'
	}
	return ']'
}

func writeMarked(b *strings.Builder, kept string, cut int) {
	b.WriteString(kept)
	b.WriteString(markerPrefix)
	b.WriteString(strconv.Itoa(cut))
	b.WriteString(" bytes]")
}

// capped reports whether a string node cut to limit bytes, marker included,
// is shorter than it is whole.
func (n *node) capped(limit int) bool {
	if len(n.raw) <= limit {
		return false
	}
	k := safeCut(n.raw, limit)
	return k+markerLen(len(n.raw)-k) < len(n.raw)
}

// cappedSize is n's compact size with every string cut to limit bytes.
func (n *node) cappedSize(limit int) int {
	switch n.kind {
	case '"':
		if n.capped(limit) {
			k := safeCut(n.raw, limit)
			return 2 + k + markerLen(len(n.raw)-k)
		}
		return n.size
	case 'l':
		return n.size
	}
	size := n.size
	for _, kid := range n.kids {
		size += kid.cappedSize(limit) - kid.size
	}
	return size
}

// longest returns the length of n's longest string.
func (n *node) longest() int {
	if n.kind == '"' {
		return len(n.raw)
	}
	m := 0
	for _, kid := range n.kids {
		m = max(m, kid.longest())
	}
	return m
}

// capStrings is TruncateJSON's first way: the largest cap on string length,
// at least MinStringCap, that makes root fit.
func capStrings(root *node, limit int) (string, bool) {
	lo, hi := MinStringCap, root.longest()
	if lo >= hi || root.cappedSize(lo) > limit {
		return "", false
	}
	// cappedSize(lo) fits and cappedSize(hi) is the whole size, which does
	// not: find the largest fitting cap.
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if root.cappedSize(mid) <= limit {
			lo = mid
		} else {
			hi = mid
		}
	}
	var b strings.Builder
	b.Grow(limit)
	root.write(&b, lo)
	return b.String(), b.Len() <= limit
}

// keepPrefix is TruncateJSON's second way.
func keepPrefix(root *node, limit int) (string, bool) {
	var b strings.Builder
	b.Grow(limit)
	ok := prefix(&b, root, limit, 0, markerLen(root.size))
	return b.String(), ok && b.Len() <= limit
}

// noCut stands for "cannot be cut with a marker".
const noCut = math.MaxInt / 4

// prefix writes the start of n in at most budget bytes, cut at the last
// place a marker fits and closing what it opens, and reports whether it
// could (else what it wrote is to be discarded). tail is the number of
// bytes of the document after n that are left out; ml bounds the length of
// any marker.
func prefix(b *strings.Builder, n *node, budget, tail, ml int) bool {
	switch n.kind {
	case '"':
		// Keep as much of the string as fits with its marker.
		k := min(len(n.raw), budget-2-markerLen(tail))
		for k = safeCut(n.raw, max(k, 0)); k > 0 && 2+k+markerLen(len(n.raw)-k+tail) > budget; {
			k = safeCut(n.raw, k-1)
		}
		if 2+k+markerLen(len(n.raw)-k+tail) > budget {
			return false
		}
		b.WriteByte('"')
		writeMarked(b, n.raw[:k], len(n.raw)-k+tail)
		b.WriteByte('"')
		return true
	case 'l':
		return false
	}
	// Keep values 0..m-1 whole and cut inside value m, m as large as fits.
	// In an array a value may also be replaced by a marker element, when
	// nothing of it can carry a marker.
	m, elem := -1, -1
	used := 2 // the brackets
	for i, kid := range n.kids {
		head := n.head(i)
		if used+head > budget {
			break
		}
		rest := tail + n.size - (used + head + kid.size)
		if used+head+kid.minCut(ml) <= budget {
			m = i
		} else if n.kind == '[' && used+head+2+markerLen(kid.size+rest) <= budget {
			elem = i
		}
		used += head + kid.size
	}
	if m < 0 && elem < 0 {
		return false
	}
	cut := m
	if cut < 0 {
		cut = elem
	}
	b.WriteByte(n.kind)
	used = 2
	for i := range cut {
		writeHead(b, n, i)
		n.kids[i].write(b, -1)
		used += n.head(i) + n.kids[i].size
	}
	writeHead(b, n, cut)
	rest := tail + n.size - (used + n.head(cut) + n.kids[cut].size)
	if m == cut {
		if !prefix(b, n.kids[cut], budget-used-n.head(cut), rest, ml) {
			return false
		}
	} else {
		b.WriteByte('"')
		writeMarked(b, "", n.kids[cut].size+rest)
		b.WriteByte('"')
	}
	b.WriteByte(closing(n.kind))
	return true
}

// minCut is the fewest bytes prefix needs to write n (noCut if it cannot):
// a string reduced to its marker, or a container's values whole up to the
// cheapest one to cut.
func (n *node) minCut(ml int) int {
	switch n.kind {
	case '"':
		return 2 + ml
	case 'l':
		return noCut
	}
	best, used := noCut, 2
	for i, kid := range n.kids {
		head := n.head(i)
		if used+head >= best {
			break // later cuts keep more, so cost more
		}
		c := kid.minCut(ml)
		if n.kind == '[' {
			c = min(c, 2+ml) // a marker element
		}
		best = min(best, used+head+c)
		used += head + kid.size
	}
	return best
}

// head is the size of what precedes n's i-th value: a comma after the
// first, and in an object the key and colon.
func (n *node) head(i int) int {
	h := 0
	if i > 0 {
		h++
	}
	if n.kind == '{' {
		h += len(n.keys[i]) + 1
	}
	return h
}

func writeHead(b *strings.Builder, n *node, i int) {
	if i > 0 {
		b.WriteByte(',')
	}
	if n.kind == '{' {
		b.WriteString(n.keys[i])
		b.WriteByte(':')
	}
}

// safeCut returns the largest j <= k such that raw[:j], the escaped content
// of a JSON string, ends neither inside an escape sequence nor inside a
// UTF-8 sequence.
func safeCut(raw string, k int) int {
	if k >= len(raw) {
		return len(raw)
	}
	j := k
	for j > 0 && !utf8.RuneStart(raw[j]) {
		j--
	}
	// The last unescaped backslash within 5 bytes before j may start an
	// escape that j splits (\uXXXX is the longest, 6 bytes).
	for p := j - 1; p >= 0 && p >= j-5; p-- {
		if raw[p] != '\\' {
			continue
		}
		run := 0 // backslashes ending at p
		for q := p; q >= 0 && raw[q] == '\\'; q-- {
			run++
		}
		if run%2 == 0 {
			break // raw[p] closes a "\\" escape, which ends before j
		}
		end := p + 2
		if raw[p+1] == 'u' {
			end = p + 6
		}
		if end > j {
			j = p
		}
		break
	}
	return j
}
