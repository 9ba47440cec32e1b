package sqlite

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/agenttrace/agenttrace/internal/jsonenc"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/internal/summary"
)

const traceCols = `trace_id, name, status, has_root, start_ns, end_ns, duration_ns, min_start_ns, max_end_ns,
	span_count, error_count, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens,
	reasoning_tokens, total_tokens, requests, cost_nano, models, input, output, session_id, user_id,
	tenant_id, environment, tags`

const traceNCols = 27

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// traceRow is a row of the traces table.
type traceRow struct {
	summary.Row
}

type scanner interface {
	Scan(dest ...any) error
}

func (r *traceRow) scan(sc scanner) error { return r.scanWith(sc) }

// scanWith scans a row of traceCols followed by more columns.
func (r *traceRow) scanWith(sc scanner, more ...any) error {
	var st, en, dur int64
	var status int64
	var models, tags string
	err := sc.Scan(append([]any{&r.TraceID, &r.Name, &status, &r.HasRoot, &st, &en, &dur, &r.MinStart, &r.MaxEnd,
		&r.SpanCount, &r.ErrorCount, &r.InputTokens, &r.OutputTokens, &r.CacheReadTokens, &r.CacheCreationTokens,
		&r.ReasoningTokens, &r.TotalTokens, &r.Requests, &r.CostNanoUSD, &models, &r.Input, &r.Output,
		&r.SessionID, &r.UserID, &r.TenantID, &r.Environment, &tags}, more...)...)
	if err != nil {
		return err
	}
	r.Status = store.Status(status)
	r.Start = time.Unix(0, st).UTC()
	r.End = time.Unix(0, en).UTC()
	r.Duration = time.Duration(dur)
	if r.Models, err = decodeList(models); err != nil {
		return fmt.Errorf("trace %s models: %w", r.TraceID, err)
	}
	if r.Tags, err = decodeList(tags); err != nil {
		return fmt.Errorf("trace %s tags: %w", r.TraceID, err)
	}
	return nil
}

func decodeList(s string) ([]string, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (r *traceRow) args() []any {
	return []any{r.TraceID, r.Name, int64(r.Status), r.HasRoot, r.Start.UnixNano(), r.End.UnixNano(),
		int64(r.Duration), r.MinStart, r.MaxEnd, r.SpanCount, r.ErrorCount, r.InputTokens, r.OutputTokens,
		r.CacheReadTokens, r.CacheCreationTokens, r.ReasoningTokens, r.TotalTokens, r.Requests, r.CostNanoUSD,
		tagsJSON(r.Models), r.Input, r.Output, r.SessionID, r.UserID, r.TenantID, r.Environment, tagsJSON(r.Tags)}
}

// spanCols are the columns of a span row (schema version 3). The fields
// no query filters, sorts or sums on are packed into detail, a JSON array
// (see detailFields), so that a write binds 23 values per span, not 37.
const spanColsV3 = `trace_id, span_id, name, type, status, start_ns, request_model, response_model, prompt_slug,
	input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens, cost_nano, llm,
	session_id, user_id, tenant_id, detail, attributes, resource, events`

// spanCols are the columns of a span row since schema version 4, which
// added inherited (the store.Fields the span took from its trace).
const spanCols = spanColsV3 + `, inherited`

// detailFields is the layout of the detail array, as migration 3 builds it
// from the columns of version 2 with json_array.
const detailFields = `parent_id, kind, status_message, end_ns, operation, provider, prompt_version, total_tokens,
	cost_source, conversation_id, environment, service_name, scope_name, json(tags), price_table_version`

// detailLen is the number of elements of the detail array.
const detailLen = 15

// appendDetail appends sp's detail array.
func appendDetail(b []byte, sp *store.Span) []byte {
	b = append(b, '[')
	b = jsonenc.AppendString(b, sp.ParentID)
	b = append(b, ',')
	b = jsonenc.AppendString(b, sp.Kind)
	b = append(b, ',')
	b = jsonenc.AppendString(b, sp.StatusMessage)
	b = append(b, ',')
	b = strconv.AppendInt(b, sp.End.UnixNano(), 10)
	b = append(b, ',')
	b = jsonenc.AppendString(b, sp.Operation)
	b = append(b, ',')
	b = jsonenc.AppendString(b, sp.Provider)
	b = append(b, ',')
	b = jsonenc.AppendString(b, sp.PromptVersion)
	b = append(b, ',')
	b = strconv.AppendInt(b, sp.TotalTokens, 10)
	for _, f := range [...]string{sp.CostSource, sp.ConversationID, sp.Environment, sp.ServiceName, sp.ScopeName} {
		b = append(b, ',')
		b = jsonenc.AppendString(b, f)
	}
	b = append(b, ',', '[')
	for i, t := range sp.Tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, t)
	}
	b = append(b, ']', ',')
	b = jsonenc.AppendString(b, sp.PriceTableVersion)
	return append(b, ']')
}

// decodeDetail reads a detail array into sp.
func decodeDetail(detail string, sp *store.Span) error {
	dec := json.NewDecoder(strings.NewReader(detail))
	dec.UseNumber()
	var d []any
	if err := dec.Decode(&d); err != nil {
		return err
	}
	if len(d) != detailLen {
		return fmt.Errorf("%d fields, want %d", len(d), detailLen)
	}
	str := func(i int) string { s, _ := d[i].(string); return s }
	num := func(i int) int64 {
		n, _ := d[i].(json.Number)
		v, _ := n.Int64()
		return v
	}
	sp.ParentID, sp.Kind, sp.StatusMessage = str(0), str(1), str(2)
	sp.End = time.Unix(0, num(3)).UTC()
	sp.Operation, sp.Provider, sp.PromptVersion = str(4), str(5), str(6)
	sp.TotalTokens = num(7)
	sp.CostSource, sp.ConversationID, sp.Environment, sp.ServiceName, sp.ScopeName = str(8), str(9), str(10), str(11), str(12)
	tags, _ := d[13].([]any)
	sp.Tags = nil
	for _, t := range tags {
		if s, ok := t.(string); ok {
			sp.Tags = append(sp.Tags, s)
		}
	}
	sp.PriceTableVersion = str(14)
	return nil
}

func scanSpan(sc scanner, sp *store.Span) error {
	var status, st, llm int64
	var detail, attrs, res, events string
	err := sc.Scan(&sp.TraceID, &sp.SpanID, &sp.Name, &sp.Type, &status, &st, &sp.RequestModel, &sp.ResponseModel, &sp.PromptSlug,
		&sp.InputTokens, &sp.OutputTokens, &sp.CacheReadTokens, &sp.CacheCreationTokens, &sp.ReasoningTokens, &sp.CostNanoUSD, &llm,
		&sp.SessionID, &sp.UserID, &sp.TenantID, &detail, &attrs, &res, &events, &sp.Inherited)
	if err != nil {
		return err
	}
	sp.Status = store.Status(status)
	sp.Start = time.Unix(0, st).UTC()
	sp.LLMRequest, sp.UsageUnknown = llm != llmNone, llm == llmUnknown
	if err := decodeDetail(detail, sp); err != nil {
		return fmt.Errorf("span %s detail: %w", sp.SpanID, err)
	}
	sp.Attributes = json.RawMessage(attrs)
	sp.Resource = json.RawMessage(res)
	sp.Events = json.RawMessage(events)
	return nil
}
