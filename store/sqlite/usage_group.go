package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/agenttrace/agenttrace/store/internal/check"
	"github.com/agenttrace/agenttrace/store/internal/rollup"

	"github.com/agenttrace/agenttrace/store"
)

// Column lists of the parts a grouped usage sum is built from: k is the
// group key, then the summed columns as in rollupSums and rawSums.
const (
	groupRollupCols = `input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens, requests, cost_nano, spans, unknown_usage`
	groupRawCols    = `input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens, llm != 0, cost_nano, 1, llm = 2`
)

// groupCols are the names of the summed columns in the CTE p of groupSQL.
var groupCols = []string{"i", "o", "cr", "cc", "r", "q", "c", "n", "u"}

// halfSums sums each column of groupCols in two halves, as sumsSelect
// does (so no SUM overflows; joinSum puts them together), with zeros for
// an empty set; zero gives literal zeros instead.
func halfSums(zero bool) string {
	parts := make([]string, 0, 2*len(groupCols))
	for _, c := range groupCols {
		switch {
		case zero:
			parts = append(parts, "0, 0")
		default:
			parts = append(parts, fmt.Sprintf("COALESCE(SUM(%s >> 32), 0), COALESCE(SUM(%s & 4294967295), 0)", c, c))
		}
	}
	return strings.Join(parts, ", ")
}

// rawKey is the group key of a raw span row; rollupKey that of an hourly
// rollup row (time groupings only).
func rawKey(g store.GroupBy) string {
	switch g {
	case store.GroupModel:
		return `CASE WHEN response_model != '' THEN response_model ELSE request_model END`
	case store.GroupUser:
		return `user_id`
	case store.GroupSession:
		return `session_id`
	case store.GroupDay:
		return `start_ns / ` + strconv.FormatInt(24*rollup.HourNS, 10)
	}
	return `start_ns / ` + strconv.FormatInt(rollup.HourNS, 10)
}

func rollupKey(g store.GroupBy) string {
	if g == store.GroupDay {
		return `hour / 24`
	}
	return `hour`
}

// groupSQL builds the one statement (one snapshot) of a grouped usage
// sum. Its rows are tagged: 0 a group's sums, 1 a group's distinct
// sessions, 2 the total with the window's distinct sessions. rollup and
// raw are the WHERE clauses as in usageSQL; sessions tells whether to count
// sessions (tenant usage) from the tenant's session sets.
func groupSQL(g store.GroupBy, w rollup.Window, rollupTable, rollup, raw string, key []any, sessions bool) (string, []any) {
	var parts, sess []string
	var args, sargs []any
	if g.Temporal() && w.H0 < w.H1 {
		parts = append(parts, `SELECT `+rollupKey(g)+`, `+groupRollupCols+` FROM `+rollupTable+` WHERE `+rollup+` AND hour >= ? AND hour < ?`)
		args = append(append(args, key...), w.H0, w.H1)
		sess = append(sess, `SELECT `+rollupKey(g)+`, session_id FROM tenant_session_hour WHERE tenant_id = ? AND hour >= ? AND hour < ?`)
		sargs = append(append(sargs, key...), w.H0, w.H1)
	}
	edges := w.Edges
	if !g.Temporal() {
		// Rollups carry no model, user or session (tenant rollups): the
		// whole window is read from the spans.
		edges = [][2]int64{{w.Start, w.End}}
	}
	for _, e := range edges {
		parts = append(parts, `SELECT `+rawKey(g)+`, `+groupRawCols+` FROM spans WHERE `+raw+` AND start_ns >= ? AND start_ns < ?`)
		args = append(append(args, key...), e[0], e[1])
		sess = append(sess, `SELECT `+rawKey(g)+`, session_id FROM spans WHERE `+raw+` AND start_ns >= ? AND start_ns < ? AND session_id != ''`)
		sargs = append(append(sargs, key...), e[0], e[1])
	}
	if !sessions {
		sess, sargs = []string{`SELECT NULL, NULL WHERE 0`}, nil
	}
	q := `WITH p(k, i, o, cr, cc, r, q, c, n, u) AS (` + strings.Join(parts, " UNION ALL ") + `),
	ss(k, s) AS (` + strings.Join(sess, " UNION ALL ") + `)
	SELECT 0, k, ` + halfSums(false) + `, 0 FROM p GROUP BY k
	UNION ALL SELECT 1, k, ` + halfSums(true) + `, COUNT(DISTINCT s) FROM ss GROUP BY k
	UNION ALL SELECT 2, NULL, ` + halfSums(false) + `, (SELECT COUNT(DISTINCT s) FROM ss) FROM p`
	return q, append(args, sargs...)
}

// GroupUsage implements store.Store.
func (s *Store) GroupUsage(ctx context.Context, q store.UsageQuery) (store.GroupedUsage, error) {
	if err := check.UsageWindow(q); err != nil {
		return store.GroupedUsage{}, err
	}
	if err := store.CheckGroupQuery(q); err != nil {
		return store.GroupedUsage{}, err
	}
	w := rollup.SplitWindow(q.Start.UnixNano(), q.End.UnixNano())
	var query string
	var args []any
	switch {
	case q.SessionID != "":
		if err := s.oneTenant(ctx, q, w); err != nil {
			return store.GroupedUsage{}, err
		}
		rollup, raw := "session_id = ?", "session_id = ? AND session_id != ''"
		key := []any{q.SessionID}
		if q.TenantID != "" {
			rollup += " AND tenant_id = ?"
			raw += " AND tenant_id = ?"
			key = append(key, q.TenantID)
		}
		query, args = groupSQL(q.GroupBy, w, "usage_session_hour", rollup, raw, key, false)
	case q.TenantID != "":
		query, args = groupSQL(q.GroupBy, w, "usage_tenant_hour", "tenant_id = ?", "tenant_id = ? AND tenant_id != ''",
			[]any{q.TenantID}, true)
	default:
		return store.GroupedUsage{Groups: []store.UsageGroup{}}, nil
	}
	out, err := s.scanGroups(ctx, q.GroupBy, query, args)
	if err != nil {
		return store.GroupedUsage{}, fmt.Errorf("sqlite: grouped usage: %w", s.mapErr(err))
	}
	out.Groups = store.FinishGroups(q.GroupBy, out.Groups, q.GroupLimit)
	return out, nil
}

func (s *Store) scanGroups(ctx context.Context, g store.GroupBy, query string, args []any) (store.GroupedUsage, error) {
	out := store.GroupedUsage{Groups: []store.UsageGroup{}}
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	index := map[string]int{}
	for rows.Next() {
		var (
			tag      int
			key      sql.NullString
			u        store.Usage
			sessions int64
		)
		var halves [2 * usageSums]int64
		dest := []any{&tag, &key}
		for i := range halves {
			dest = append(dest, &halves[i])
		}
		if err := rows.Scan(append(dest, &sessions)...); err != nil {
			return out, err
		}
		for i, p := range []*int64{&u.InputTokens, &u.OutputTokens, &u.CacheReadTokens, &u.CacheCreationTokens,
			&u.ReasoningTokens, &u.Requests, &u.CostNanoUSD, &u.Spans, &u.UnknownUsage} {
			*p = joinSum(halves[2*i], halves[2*i+1])
		}
		if tag == 2 {
			u.Sessions = sessions
			out.Usage = u
			continue
		}
		k, err := groupKey(g, key)
		if err != nil {
			return out, err
		}
		i, ok := index[k.Key]
		if !ok {
			i = len(out.Groups)
			index[k.Key] = i
			out.Groups = append(out.Groups, k)
		}
		if tag == 1 {
			out.Groups[i].Sessions = sessions
		} else {
			sess := out.Groups[i].Sessions
			out.Groups[i].Usage = u
			out.Groups[i].Sessions = sess
		}
	}
	return out, rows.Err()
}

// groupKey turns a row's key into a group: time groupings carry the hour
// or day number since the Unix epoch.
func groupKey(g store.GroupBy, key sql.NullString) (store.UsageGroup, error) {
	if !g.Temporal() {
		return store.UsageGroup{Key: key.String}, nil
	}
	n, err := strconv.ParseInt(key.String, 10, 64)
	if err != nil {
		return store.UsageGroup{}, fmt.Errorf("time group key %q: %w", key.String, err)
	}
	start := time.Unix(0, n*int64(g.Bucket())).UTC()
	return store.UsageGroup{Key: start.Format(time.RFC3339), Start: start}, nil
}
