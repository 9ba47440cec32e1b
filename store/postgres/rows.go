package postgres

import "github.com/agenttrace/agenttrace/store/internal/summary"

// traceRow is a row of the traces table.
type traceRow struct {
	summary.Row
}
