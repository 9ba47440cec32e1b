package server

import (
	"time"

	"github.com/agenttrace/agenttrace/internal/wire"
)

// DefaultMaxQueryWindow is the widest time window a list (GET /v1/traces,
// GET /v1/spans) may ask for: 31 days. Together with the query timeout it
// bounds what a list scans whatever its filters.
const DefaultMaxQueryWindow = 31 * 24 * time.Hour

// spansDefaultSkew is how far past now an absent end_time of /v1/spans
// reaches, for spans from clocks slightly ahead.
const spansDefaultSkew = time.Hour

// WithMaxQueryWindow sets the widest window of a list
// (DefaultMaxQueryWindow).
func WithMaxQueryWindow(d time.Duration) Option {
	return func(s *Server) {
		if d > 0 {
			s.maxWindow = d
		}
	}
}

// checkWindow refuses a window wider than the maximum, naming start_time.
func (s *Server) checkWindow(start, end time.Time) error {
	if w := end.Sub(start); w > s.maxWindow {
		return badParam(wire.ParamStartTime, "the window from start_time to end_time is %v, wider than the maximum %v "+
			"(narrow it, page through several windows, or raise serve's --max-query-window)", w, s.maxWindow)
	}
	return nil
}

// spansWindow fills the window of GET /v1/spans, where both ends are
// optional: an absent end_time is an hour past now (a quarter of the
// maximum window past now when that is less, so that the window still
// looks mostly back), an absent start_time the maximum window before
// end_time.
func (s *Server) spansWindow(start, end time.Time) (time.Time, time.Time, error) {
	if end.IsZero() {
		end = time.Now().UTC().Add(min(spansDefaultSkew, s.maxWindow/4)).Truncate(time.Second)
		if !start.IsZero() && !end.After(start) {
			end = start.Add(s.maxWindow)
		}
	}
	if start.IsZero() {
		start = end.Add(-s.maxWindow)
	}
	return start, end, s.checkWindow(start, end)
}
