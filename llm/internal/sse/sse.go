// Package sse is an incremental parser of text/event-stream bodies (the
// Server-Sent Events format of the HTML standard) for the provider
// middlewares: bytes are pushed through Write as the application reads the
// response, complete events come out through a callback, and only the event
// being assembled is held in memory, up to a fixed limit.
package sse

import "bytes"

// DefaultMaxEventBytes bounds the bytes one event (its field lines) may take
// before the parser drops it.
const DefaultMaxEventBytes = 4 << 20

// Parser turns a byte stream into events. The zero value is ready to use
// (with DefaultMaxEventBytes); set OnEvent before the first Write. A Parser is
// not safe for concurrent use.
type Parser struct {
	// OnEvent is called for every complete event that has data: typ is the
	// "event" field (empty when absent) and data the "data" lines joined by
	// "\n". data is only valid during the call.
	OnEvent func(typ string, data []byte)
	// MaxEventBytes bounds one event; 0 means DefaultMaxEventBytes. An event
	// over the limit is dropped and counted in Dropped.
	MaxEventBytes int

	line     []byte // the current incomplete line
	typ      []byte
	data     []byte
	hasData  bool
	skipLF   bool // the previous byte was a CR: a following LF ends nothing
	started  bool // past a possible byte order mark
	overflow bool // the current event went over the limit
	dropped  int
	events   int
}

// Dropped returns how many events were dropped for being over the limit.
func (p *Parser) Dropped() int { return p.dropped }

// Events returns how many events were delivered to OnEvent.
func (p *Parser) Events() int { return p.events }

// Buffered returns the bytes the parser holds for the event being assembled.
func (p *Parser) Buffered() int { return len(p.line) + len(p.typ) + len(p.data) }

func (p *Parser) limit() int {
	if p.MaxEventBytes > 0 {
		return p.MaxEventBytes
	}
	return DefaultMaxEventBytes
}

var bom = []byte("\xEF\xBB\xBF")

// Write feeds b to the parser. It never fails; it returns len(b), nil.
func (p *Parser) Write(b []byte) (int, error) {
	n := len(b)
	if !p.started {
		// A byte order mark may only open the stream; wait for three bytes.
		need := len(bom) - len(p.line)
		if len(b) < need && bytes.HasPrefix(bom[len(p.line):], b) {
			p.line = append(p.line, b...)
			return n, nil
		}
		p.started = true
		if len(p.line) > 0 {
			pending := p.line
			p.line = nil
			if !bytes.Equal(append(pending[:len(pending):len(pending)], b[:need]...), bom) {
				p.feed(pending)
			} else {
				b = b[need:]
			}
		} else if bytes.HasPrefix(b, bom) {
			b = b[len(bom):]
		}
	}
	p.feed(b)
	return n, nil
}

func (p *Parser) feed(b []byte) {
	for len(b) > 0 {
		if p.skipLF {
			p.skipLF = false
			if b[0] == '\n' {
				b = b[1:]
				continue
			}
		}
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			p.appendLine(b)
			return
		}
		p.appendLine(b[:i])
		if b[i] == '\r' {
			p.skipLF = true
		}
		b = b[i+1:]
		p.endLine()
	}
}

func (p *Parser) appendLine(b []byte) {
	if p.overflow {
		return
	}
	if p.Buffered()+len(b) > p.limit() {
		p.overflow = true
		p.line, p.typ, p.data = p.line[:0], p.typ[:0], p.data[:0]
		return
	}
	p.line = append(p.line, b...)
}

func (p *Parser) endLine() {
	line := p.line
	p.line = p.line[:0]
	if len(line) == 0 {
		p.dispatch()
		return
	}
	if p.overflow {
		return
	}
	name, value, _ := bytes.Cut(line, []byte(":"))
	if len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	switch string(name) {
	case "": // comment
	case "event":
		p.typ = append(p.typ[:0], value...)
	case "data":
		if p.hasData {
			p.data = append(p.data, '\n')
		}
		p.data = append(p.data, value...)
		p.hasData = true
	}
	if p.Buffered() > p.limit() {
		p.overflow = true
		p.typ, p.data = p.typ[:0], p.data[:0]
	}
}

func (p *Parser) dispatch() {
	switch {
	case p.overflow:
		p.dropped++
	case p.hasData && p.OnEvent != nil:
		p.events++
		p.OnEvent(string(p.typ), p.data)
	case p.hasData:
		p.events++
	}
	p.overflow, p.hasData = false, false
	p.typ, p.data = p.typ[:0], p.data[:0]
	// Give back memory a large event took.
	if cap(p.data) > 64<<10 {
		p.data = nil
	}
	if cap(p.line) > 64<<10 {
		p.line = nil
	}
}
