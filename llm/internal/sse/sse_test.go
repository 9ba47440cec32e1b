package sse

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

type ev struct{ typ, data string }

func parseAll(t testing.TB, chunks [][]byte, max int) ([]ev, *Parser) {
	var got []ev
	p := &Parser{MaxEventBytes: max, OnEvent: func(typ string, data []byte) { got = append(got, ev{typ, string(data)}) }}
	for _, c := range chunks {
		if n, err := p.Write(c); n != len(c) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	return got, p
}

func TestParserEvents(t *testing.T) {
	in := "\xEF\xBB\xBF: comment\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\n" +
		"data: line1\ndata:line2\nid: 7\nretry: 10\n\n" +
		"event: ping\n\n" + // no data: not dispatched
		"data: [DONE]\r\r" +
		"data: incomplete at EOF"
	want := []ev{{"message_start", `{"a":1}`}, {"", "line1\nline2"}, {"", "[DONE]"}}
	got, p := parseAll(t, [][]byte{[]byte(in)}, 0)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// Byte by byte gives the same events.
	var chunks [][]byte
	for i := range len(in) {
		chunks = append(chunks, []byte{in[i]})
	}
	got2, _ := parseAll(t, chunks, 0)
	if fmt.Sprint(got2) != fmt.Sprint(want) {
		t.Fatalf("byte by byte: got %q", got2)
	}
	if p.Events() != 3 || p.Buffered() == 0 {
		t.Fatalf("events %d buffered %d", p.Events(), p.Buffered())
	}
}

func TestParserDropsOversizedEvent(t *testing.T) {
	in := "data: " + strings.Repeat("x", 100) + "\n\ndata: ok\n\n"
	got, p := parseAll(t, [][]byte{[]byte(in)}, 50)
	if len(got) != 1 || got[0].data != "ok" || p.Dropped() != 1 {
		t.Fatalf("got %q dropped %d", got, p.Dropped())
	}
	// A long event split over many writes never makes the parser hold more
	// than the limit.
	p = &Parser{MaxEventBytes: 1024}
	p.Write([]byte("data: "))
	for range 1000 {
		p.Write(bytes.Repeat([]byte("y"), 100))
		if p.Buffered() > 1024 {
			t.Fatalf("buffered %d", p.Buffered())
		}
	}
	p.Write([]byte("\n\n"))
	if p.Dropped() != 1 || p.Buffered() != 0 {
		t.Fatalf("dropped %d buffered %d", p.Dropped(), p.Buffered())
	}
}

func FuzzParser(f *testing.F) {
	f.Add([]byte("event: a\ndata: b\n\n"), uint8(3))
	f.Add([]byte("\xEF\xBB\xBFdata: x\r\n\r\ndata: y\r\r"), uint8(1))
	f.Add([]byte("data: {\"choices\":[]}\n\ndata: [DONE]\n\n"), uint8(7))
	f.Fuzz(func(t *testing.T, in []byte, split uint8) {
		whole, _ := parseAll(t, [][]byte{in}, 256)
		// Any split of the input gives the same events.
		step := int(split)%16 + 1
		var chunks [][]byte
		for i := 0; i < len(in); i += step {
			chunks = append(chunks, in[i:min(i+step, len(in))])
		}
		parts, p := parseAll(t, chunks, 256)
		if fmt.Sprint(whole) != fmt.Sprint(parts) {
			t.Fatalf("whole %q, split by %d %q", whole, step, parts)
		}
		if p.Buffered() > 256+3 {
			t.Fatalf("buffered %d over the limit", p.Buffered())
		}
	})
}
