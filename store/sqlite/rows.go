package sqlite

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agenttrace/agenttrace/store"
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
	store.TraceSummary
	minStart, maxEnd int64
}

type scanner interface {
	Scan(dest ...any) error
}

func (r *traceRow) scan(sc scanner) error {
	var st, en, dur int64
	var status int64
	var models, tags string
	err := sc.Scan(&r.TraceID, &r.Name, &status, &r.HasRoot, &st, &en, &dur, &r.minStart, &r.maxEnd,
		&r.SpanCount, &r.ErrorCount, &r.InputTokens, &r.OutputTokens, &r.CacheReadTokens, &r.CacheCreationTokens,
		&r.ReasoningTokens, &r.TotalTokens, &r.Requests, &r.CostNanoUSD, &models, &r.Input, &r.Output,
		&r.SessionID, &r.UserID, &r.TenantID, &r.Environment, &tags)
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
		int64(r.Duration), r.minStart, r.maxEnd, r.SpanCount, r.ErrorCount, r.InputTokens, r.OutputTokens,
		r.CacheReadTokens, r.CacheCreationTokens, r.ReasoningTokens, r.TotalTokens, r.Requests, r.CostNanoUSD,
		tagsJSON(r.Models), r.Input, r.Output, r.SessionID, r.UserID, r.TenantID, r.Environment, tagsJSON(r.Tags)}
}

// addSorted inserts v into the sorted set list.
func addSorted(list []string, v string) []string {
	if v == "" {
		return list
	}
	i, found := slices.BinarySearch(list, v)
	if found {
		return list
	}
	return slices.Insert(list, i, v)
}

// merge folds one newly stored span into the trace's summary. first is
// true for the first span of a trace not stored before.
func (r *traceRow) merge(sp *store.Span, first bool) {
	st, en := sp.Start.UnixNano(), sp.End.UnixNano()
	earliest := first || st < r.minStart
	if first {
		r.minStart, r.maxEnd = st, en
	} else {
		r.minStart, r.maxEnd = min(r.minStart, st), max(r.maxEnd, en)
	}
	r.SpanCount++
	if sp.Status == store.StatusError {
		r.ErrorCount++
	}
	r.Tokens.Add(sp.Tokens)
	r.TotalTokens += sp.TotalTokens
	if sp.LLMRequest {
		r.Requests++
	}
	r.CostNanoUSD += sp.CostNanoUSD
	r.Models = addSorted(r.Models, sp.Model())
	for _, t := range sp.Tags {
		r.Tags = addSorted(r.Tags, t)
	}

	switch {
	case sp.ParentID == "" && !r.HasRoot:
		// The root decides name, status, times and previews, and its
		// trace-level fields win over those of earlier spans.
		r.HasRoot = true
		r.Name, r.Status = sp.Name, sp.Status
		r.Input, r.Output = store.Preview(sp.Input), store.Preview(sp.Output)
		r.Start, r.End = sp.Start, sp.End
		setIf(&r.SessionID, sp.SessionID)
		setIf(&r.UserID, sp.UserID)
		setIf(&r.TenantID, sp.TenantID)
		setIf(&r.Environment, sp.Environment)
	case !r.HasRoot && earliest:
		// Provisional: the earliest span stands in for the root.
		r.Name = sp.Name
		r.Input, r.Output = store.Preview(sp.Input), store.Preview(sp.Output)
	}
	fillIf(&r.SessionID, sp.SessionID)
	fillIf(&r.UserID, sp.UserID)
	fillIf(&r.TenantID, sp.TenantID)
	fillIf(&r.Environment, sp.Environment)
	if !r.HasRoot {
		r.Status = store.StatusUnset
		if r.ErrorCount > 0 {
			r.Status = store.StatusError
		}
		r.Start, r.End = time.Unix(0, r.minStart).UTC(), time.Unix(0, r.maxEnd).UTC()
	}
	r.Duration = max(0, r.End.Sub(r.Start))
}

func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func fillIf(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

const spanCols = `trace_id, span_id, parent_id, name, kind, type, status, status_message, start_ns, end_ns,
	operation, request_model, response_model, provider, prompt_slug, prompt_version,
	input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens, total_tokens,
	cost_nano, cost_source, llm, session_id, user_id, tenant_id, conversation_id, environment,
	service_name, scope_name, tags, attributes, resource, events, price_table_version`

func scanSpan(sc scanner, sp *store.Span) error {
	var status, st, en int64
	var tags, attrs, res, events string
	err := sc.Scan(&sp.TraceID, &sp.SpanID, &sp.ParentID, &sp.Name, &sp.Kind, &sp.Type, &status, &sp.StatusMessage, &st, &en,
		&sp.Operation, &sp.RequestModel, &sp.ResponseModel, &sp.Provider, &sp.PromptSlug, &sp.PromptVersion,
		&sp.InputTokens, &sp.OutputTokens, &sp.CacheReadTokens, &sp.CacheCreationTokens, &sp.ReasoningTokens, &sp.TotalTokens,
		&sp.CostNanoUSD, &sp.CostSource, &sp.LLMRequest, &sp.SessionID, &sp.UserID, &sp.TenantID, &sp.ConversationID, &sp.Environment,
		&sp.ServiceName, &sp.ScopeName, &tags, &attrs, &res, &events, &sp.PriceTableVersion)
	if err != nil {
		return err
	}
	sp.Status = store.Status(status)
	sp.Start = time.Unix(0, st).UTC()
	sp.End = time.Unix(0, en).UTC()
	if sp.Tags, err = decodeList(tags); err != nil {
		return fmt.Errorf("span %s tags: %w", sp.SpanID, err)
	}
	sp.Attributes = json.RawMessage(attrs)
	sp.Resource = json.RawMessage(res)
	sp.Events = json.RawMessage(events)
	return nil
}
