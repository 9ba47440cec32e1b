package exporter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/agenttrace/agenttrace/internal/attr"
)

// ConsoleOption configures NewConsole.
type ConsoleOption func(*Console)

// HideIDs leaves trace ids out of the console output (for stable output in
// examples and tests).
func HideIDs() ConsoleOption { return func(c *Console) { c.hideIDs = true } }

// HideDurations leaves span durations out of the console output.
func HideDurations() ConsoleOption { return func(c *Console) { c.hideDurations = true } }

// maxPending bounds the spans a Console holds while waiting for their
// trace's root span; beyond it the oldest trace is printed incomplete.
const maxPending = 10000

// previewLen is how much of an input, output or message a line shows.
const previewLen = 80

// Console is a span exporter that prints each trace as an indented tree
// once its root span ends, for local runs:
//
//	trace 4bf92f3577b34da6a3ce929d0e0e4736 support_agent 12ms  session.id=s-9 user.id=cus_123
//	└─ resolve_ticket [task] 10ms
//	   ├─ chat gpt-4.1-mini [llm] 5ms  model=gpt-4.1-mini tokens=120+40 cost=$0.000112
//	   └─ lookup_order [tool] 1ms  output={"status":"shipped"}
//
// Spans of traces whose root has not ended are kept (at most 10,000) and
// printed, marked incomplete, on Shutdown. It is safe for concurrent use.
type Console struct {
	mu            sync.Mutex
	w             io.Writer
	hideIDs       bool
	hideDurations bool
	pending       map[oteltrace.TraceID][]sdktrace.ReadOnlySpan
	order         []oteltrace.TraceID // pending traces, oldest first
	npending      int
	closed        bool
}

var _ sdktrace.SpanExporter = (*Console)(nil)

// NewConsole returns a console exporter writing to w (os.Stdout when w is
// nil).
func NewConsole(w io.Writer, opts ...ConsoleOption) *Console {
	if w == nil {
		w = os.Stdout
	}
	c := &Console{w: w, pending: map[oteltrace.TraceID][]sdktrace.ReadOnlySpan{}}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	return c
}

// ExportSpans buffers spans by trace and prints every trace whose root span
// is among them. It returns the writer's error, if any.
func (c *Console) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	var done []oteltrace.TraceID
	for _, s := range spans {
		if s == nil {
			continue
		}
		id := s.SpanContext().TraceID()
		if _, ok := c.pending[id]; !ok {
			c.order = append(c.order, id)
		}
		c.pending[id] = append(c.pending[id], s)
		c.npending++
		if isRoot(s) {
			done = append(done, id)
		}
	}
	var werr error
	for _, id := range done {
		if err := c.flushTrace(id, false); err != nil && werr == nil {
			werr = err
		}
	}
	for c.npending > maxPending && len(c.order) > 0 {
		if err := c.flushTrace(c.order[0], true); err != nil && werr == nil {
			werr = err
		}
	}
	return werr
}

// Shutdown prints the traces still waiting for their root span.
func (c *Console) Shutdown(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var werr error
	for len(c.order) > 0 {
		if err := c.flushTrace(c.order[0], true); err != nil && werr == nil {
			werr = err
		}
	}
	return werr
}

func isRoot(s sdktrace.ReadOnlySpan) bool {
	p := s.Parent()
	return !p.IsValid() || p.IsRemote()
}

// flushTrace prints trace id and forgets it. c.mu is held.
func (c *Console) flushTrace(id oteltrace.TraceID, incomplete bool) error {
	spans := c.pending[id]
	delete(c.pending, id)
	c.npending -= len(spans)
	if i := slices.Index(c.order, id); i >= 0 {
		c.order = slices.Delete(c.order, i, i+1)
	}
	if len(spans) == 0 {
		return nil
	}
	var b strings.Builder
	c.render(&b, id, spans, incomplete)
	_, err := io.WriteString(c.w, b.String())
	return err
}

// render writes one trace's tree to b.
func (c *Console) render(b *strings.Builder, id oteltrace.TraceID, spans []sdktrace.ReadOnlySpan, incomplete bool) {
	byID := make(map[oteltrace.SpanID]bool, len(spans))
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = true
	}
	children := map[oteltrace.SpanID][]sdktrace.ReadOnlySpan{}
	var roots []sdktrace.ReadOnlySpan
	for _, s := range spans {
		p := s.Parent()
		if p.IsValid() && !p.IsRemote() && byID[p.SpanID()] {
			children[p.SpanID()] = append(children[p.SpanID()], s)
		} else {
			roots = append(roots, s)
		}
	}
	byStart := func(a, b sdktrace.ReadOnlySpan) int {
		if d := a.StartTime().Compare(b.StartTime()); d != 0 {
			return d
		}
		return strings.Compare(a.Name(), b.Name())
	}
	slices.SortFunc(roots, byStart)
	for _, cs := range children {
		slices.SortFunc(cs, byStart)
	}

	b.WriteString("trace")
	if !c.hideIDs {
		b.WriteString(" " + id.String())
	}
	if incomplete {
		b.WriteString(" (incomplete)")
	}
	b.WriteByte('\n')
	for i, r := range roots {
		c.renderSpan(b, r, children, "", i == len(roots)-1)
	}
}

func (c *Console) renderSpan(b *strings.Builder, s sdktrace.ReadOnlySpan, children map[oteltrace.SpanID][]sdktrace.ReadOnlySpan, indent string, last bool) {
	branch, next := "├─ ", "│  "
	if last {
		branch, next = "└─ ", "   "
	}
	b.WriteString(indent + branch + c.spanLine(s) + "\n")
	inner := indent + next
	// A trace's messages and scores are spans of their own; they print as
	// lines of their parent, in time order with its events.
	type timedLine struct {
		at   time.Time
		line string
	}
	var lines []timedLine
	for _, e := range s.Events() {
		if line := eventLine(e); line != "" {
			lines = append(lines, timedLine{e.Time, line})
		}
	}
	var kids []sdktrace.ReadOnlySpan
	for _, k := range children[s.SpanContext().SpanID()] {
		if line, ok := inlineLine(k); ok {
			if line != "" {
				lines = append(lines, timedLine{k.StartTime(), line})
			}
			continue
		}
		kids = append(kids, k)
	}
	slices.SortStableFunc(lines, func(a, b timedLine) int { return a.at.Compare(b.at) })
	for _, l := range lines {
		pipe := "   "
		if len(kids) > 0 {
			pipe = "│  "
		}
		b.WriteString(inner + pipe + l.line + "\n")
	}
	for i, k := range kids {
		c.renderSpan(b, k, children, inner, i == len(kids)-1)
	}
}

// spanLine is "name [type] duration  key=value ...".
func (c *Console) spanLine(s sdktrace.ReadOnlySpan) string {
	attrs := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		attrs[kv.Key] = kv.Value
	}
	var b strings.Builder
	b.WriteString(s.Name())
	if t, ok := attrs[attr.SpanType]; ok {
		b.WriteString(" [" + t.AsString() + "]")
	}
	if !c.hideDurations {
		b.WriteString(" " + s.EndTime().Sub(s.StartTime()).Round(time.Microsecond).String())
	}
	var fields []string
	add := func(name string, k attribute.Key) {
		if v, ok := attrs[k]; ok {
			fields = append(fields, name+"="+preview(v.Emit()))
		}
	}
	if attrs[attr.SpanType].AsString() == attr.TypeTrace {
		add("session", attr.SessionID)
		add("user", attr.UserID)
		add("tenant", attr.TenantID)
		add("conversation", attr.ConversationID)
		add("environment", attr.Environment)
		if v, ok := attrs[attr.Tags]; ok {
			fields = append(fields, "tags="+strings.Join(v.AsStringSlice(), ","))
		}
	}
	if v, ok := attrs[attr.ResponseModel]; ok {
		fields = append(fields, "model="+v.Emit())
	} else {
		add("model", attr.RequestModel)
	}
	if in, ok := attrs[attr.InputTokens]; ok {
		fields = append(fields, fmt.Sprintf("tokens=%d+%d", in.AsInt64(), attrs[attr.OutputTokens].AsInt64()))
	}
	if v, ok := attrs[attr.CostUSD]; ok {
		fields = append(fields, fmt.Sprintf("cost=$%.6f", v.AsFloat64()))
	}
	add("input", attr.Input)
	add("output", attr.Output)
	if st := s.Status(); st.Code == codes.Error {
		fields = append(fields, "ERROR="+preview(st.Description))
	}
	if len(fields) > 0 {
		b.WriteString("  " + strings.Join(fields, " "))
	}
	return b.String()
}

// inlineLine renders a message span (its message event) or a score span as
// one line of its parent; ok is false for any other span.
func inlineLine(s sdktrace.ReadOnlySpan) (line string, ok bool) {
	var typ, name, value, comment string
	for _, kv := range s.Attributes() {
		switch kv.Key {
		case attr.SpanType:
			typ = kv.Value.Emit()
		case attr.ScoreName:
			name = kv.Value.Emit()
		case attr.ScoreValue:
			value = kv.Value.Emit()
		case attr.ScoreComment:
			comment = kv.Value.Emit()
		}
	}
	switch typ {
	case attr.TypeMessage:
		for _, e := range s.Events() {
			if e.Name == attr.EventMessage {
				return eventLine(e), true
			}
		}
		return "", true
	case attr.TypeScore:
		return fmt.Sprintf("· feedback %s=%s %s", name, value, preview(comment)), true
	}
	return "", false
}

// eventLine renders agenttrace message, feedback and signal events, and
// exceptions; other events are left out.
func eventLine(e sdktrace.Event) string {
	get := func(k attribute.Key) string {
		for _, kv := range e.Attributes {
			if kv.Key == k {
				return kv.Value.Emit()
			}
		}
		return ""
	}
	switch e.Name {
	case attr.EventMessage:
		role := get(attr.EventRole)
		if get(attr.EventInternal) == "true" {
			role += " (internal)"
		}
		return "· " + role + ": " + preview(messageText(get(attr.EventContent)))
	case attr.EventFeedback:
		return fmt.Sprintf("· feedback %s=%s %s", get(attr.EventName), get(attr.EventValue), preview(get(attr.EventComment)))
	case attr.EventSignal:
		return "· signal " + get(attr.EventName)
	case "exception":
		return "· exception " + get("exception.type") + ": " + preview(get("exception.message"))
	}
	return ""
}

// messageText extracts the text of a message's JSON parts for display,
// falling back to the JSON itself.
func messageText(content string) string {
	var parts []struct {
		Type    string `json:"type"`
		Content string `json:"content"`
	}
	if err := json.Unmarshal([]byte(content), &parts); err != nil || len(parts) != 1 || parts[0].Type != "text" {
		return content
	}
	return parts[0].Content
}

// preview shortens s to one line of at most previewLen runes.
func preview(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > previewLen {
		return string(r[:previewLen-1]) + "…"
	}
	return s
}
