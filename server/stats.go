package server

import (
	"strings"
	"sync/atomic"
)

// Stats are the server's counters since New: what it accepted, what it
// refused or corrected, and what is in flight. They make drops visible:
// nothing is discarded or changed without being counted here.
type Stats struct {
	// SpansAccepted counts spans handed to the store by successful
	// ingest requests (duplicates included).
	SpansAccepted int64 `json:"spans_accepted"`
	// SpansRejected counts spans refused inside accepted requests (OTLP
	// partial success): empty ids, timestamps out of range.
	SpansRejected int64 `json:"spans_rejected"`
	// UsageValuesDropped counts usage attributes beyond the per-span
	// bounds, dropped from spans that were stored (see bounds.go).
	UsageValuesDropped int64 `json:"usage_values_dropped"`
	// TimestampsCorrected counts spans stored with their end time
	// corrected (an end before the start, or none, becomes the start).
	TimestampsCorrected int64 `json:"timestamps_corrected"`
	// IngestBusy counts ingest requests refused with 429 because the
	// ingest memory budget or its concurrency was used up.
	IngestBusy int64 `json:"ingest_busy"`
	// QueryTimeouts counts requests that ran past the query timeout (503).
	QueryTimeouts int64 `json:"query_timeouts"`
	// IngestInFlight and IngestBytesInFlight are the ingest requests
	// being read or stored now and the body bytes (decompressed) they
	// hold against the budget.
	IngestInFlight      int64 `json:"ingest_in_flight"`
	IngestBytesInFlight int64 `json:"ingest_bytes_in_flight"`
	// IngestLogBacklogBytes are the request bodies (decompressed)
	// answered from the ingest log and not yet in the store (WithIngestLog).
	IngestLogBacklogBytes int64 `json:"ingest_log_backlog_bytes"`
	// OpenConns is the number of open client connections (Serve only).
	OpenConns int64 `json:"open_conns"`
	// RequestsInFlight counts requests being handled (or answered).
	RequestsInFlight int64 `json:"requests_in_flight"`
}

// counters are the atomic counters behind Stats.
type counters struct {
	spansAccepted, spansRejected, usageDropped, timesCorrected atomic.Int64
	ingestBusy, queryTimeouts                                  atomic.Int64
	ingestInFlight, ingestBytes, openConns, requestsInFlight   atomic.Int64
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	var backlog int64
	if s.q != nil {
		s.q.mu.Lock()
		backlog = s.q.backlog
		s.q.mu.Unlock()
	}
	return Stats{
		IngestLogBacklogBytes: backlog,
		SpansAccepted:         c.spansAccepted.Load(), SpansRejected: c.spansRejected.Load(),
		UsageValuesDropped: c.usageDropped.Load(), TimestampsCorrected: c.timesCorrected.Load(),
		IngestBusy: c.ingestBusy.Load(), QueryTimeouts: c.queryTimeouts.Load(),
		IngestInFlight: c.ingestInFlight.Load(), IngestBytesInFlight: c.ingestBytes.Load(),
		OpenConns: c.openConns.Load(), RequestsInFlight: c.requestsInFlight.Load(),
	}
}

// countIngest adds a stored request's outcome to the counters and logs
// what was dropped or corrected.
func (s *Server) countIngest(res *convertResult) {
	s.stats.spansAccepted.Add(int64(len(res.spans)))
	s.stats.spansRejected.Add(res.rejected)
	s.stats.usageDropped.Add(res.dropped)
	s.stats.timesCorrected.Add(res.corrected)
	if res.dropped > 0 || res.corrected > 0 {
		s.log.Warn("ingest: stored spans with values dropped or corrected", "usage_values_dropped", res.dropped,
			"timestamps_corrected", res.corrected, "first", strings.TrimSpace(res.dropMsg+" "+res.correctMsg))
	}
}

// warning is the partial_success message of a request: why spans were
// rejected, and what was dropped or corrected in those stored.
func (res *convertResult) warning() string {
	var parts []string
	for _, m := range []string{res.rejectMsg, res.dropMsg, res.correctMsg} {
		if m != "" {
			parts = append(parts, m)
		}
	}
	return strings.Join(parts, "; ")
}
