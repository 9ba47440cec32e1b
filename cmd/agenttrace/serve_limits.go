package main

import (
	"flag"
	"time"

	"github.com/agenttrace/agenttrace/server"
)

// serveMemoryLimit is the Go soft memory limit agenttrace serve runs with
// when GOMEMLIMIT is not set: with GOGC=400 the heap may otherwise grow to
// five times what is live before a collection, which under a burst of
// large ingest requests is most of a small machine. The ingest budget
// (--ingest-memory) keeps what is live below it.
const serveMemoryLimit = 384 << 20

// limits are serve's flags for hostile input and load (server/limits.go).
type limits struct {
	ingestInFlight                          int
	ingestMemory                            int64
	maxConns                                int
	readTimeout, queryTimeout, writeTimeout time.Duration
	maxWindow                               time.Duration
}

// limitFlags defines the limit flags on fs, with AGENTTRACE_* variables as
// defaults.
func limitFlags(fs *flag.FlagSet, e env) (*limits, error) {
	l := &limits{}
	var err error
	ints := []struct {
		dst       *int
		env, name string
		def       int64
		usage     string
	}{
		{&l.ingestInFlight, "AGENTTRACE_MAX_INGEST_IN_FLIGHT", "max-ingest-in-flight", server.DefaultMaxIngestInFlight,
			"ingest requests read, decoded or stored at once; more wait 2s for a slot, then get 429 with Retry-After (env AGENTTRACE_MAX_INGEST_IN_FLIGHT)"},
		{&l.maxConns, "AGENTTRACE_MAX_CONNS", "max-conns", server.DefaultMaxConns,
			"open client connections at most; more wait to be accepted (env AGENTTRACE_MAX_CONNS)"},
	}
	for _, f := range ints {
		v, err := envInt(e, f.env, f.def)
		if err != nil {
			return nil, err
		}
		*f.dst = int(v)
		fs.IntVar(f.dst, f.name, *f.dst, f.usage)
	}
	if l.ingestMemory, err = envInt(e, "AGENTTRACE_INGEST_MEMORY", server.DefaultIngestMemoryBytes); err != nil {
		return nil, err
	}
	fs.Int64Var(&l.ingestMemory, "ingest-memory", l.ingestMemory,
		"ingest memory budget in `bytes`: a request is charged 8 times its decompressed body while it is handled; "+
			"past the budget ingest answers 429 with Retry-After (env AGENTTRACE_INGEST_MEMORY)")
	durs := []struct {
		dst       *time.Duration
		env, name string
		def       time.Duration
		usage     string
	}{
		{&l.readTimeout, "AGENTTRACE_READ_TIMEOUT", "read-timeout", server.DefaultReadTimeout,
			"how long reading a request (headers and body) may take (env AGENTTRACE_READ_TIMEOUT)"},
		{&l.queryTimeout, "AGENTTRACE_QUERY_TIMEOUT", "query-timeout", server.DefaultQueryTimeout,
			"deadline of a request's work (a query, or storing spans); past it: 503 deadline_exceeded (env AGENTTRACE_QUERY_TIMEOUT)"},
		{&l.writeTimeout, "AGENTTRACE_WRITE_TIMEOUT", "write-timeout", server.DefaultWriteTimeout,
			"how long writing an answer may take after the query timeout; a client that does not read is disconnected (env AGENTTRACE_WRITE_TIMEOUT)"},
		{&l.maxWindow, "AGENTTRACE_MAX_QUERY_WINDOW", "max-query-window", server.DefaultMaxQueryWindow,
			"widest start_time..end_time window of /v1/traces and /v1/spans; wider is a 400 naming start_time (env AGENTTRACE_MAX_QUERY_WINDOW)"},
	}
	for _, f := range durs {
		if *f.dst, err = envDuration(e, f.env, f.def); err != nil {
			return nil, err
		}
		fs.DurationVar(f.dst, f.name, *f.dst, f.usage)
	}
	return l, nil
}
