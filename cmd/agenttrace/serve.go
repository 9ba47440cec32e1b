package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/server/viewer"
	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/postgres"
	"github.com/agenttrace/agenttrace/store/sqlite"
)

// serveGCPercent is the garbage collector target agenttrace serve runs with
// when GOGC is not set. The server's live Go heap is small (SQLite's page
// cache is not in it) while ingest allocates a lot per request (OTLP
// decoding), so collecting four times less often costs little memory and
// gives the CPU to ingest (see bench/server.md).
const serveGCPercent = 400

// runServe is "agenttrace serve": flags, with AGENTTRACE_* environment
// variables as defaults.
func runServe(ctx context.Context, args []string, e env) error {
	fs := flag.NewFlagSet("agenttrace serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	envOr := func(name, def string) string {
		if v := strings.TrimSpace(e.getenv(name)); v != "" {
			return v
		}
		return def
	}
	maxBody, err := envInt(e, "AGENTTRACE_MAX_BODY_BYTES", server.DefaultMaxBodyBytes)
	if err != nil {
		return usageError{err}
	}
	shutdown, err := envDuration(e, "AGENTTRACE_SHUTDOWN_TIMEOUT", server.DefaultShutdownTimeout)
	if err != nil {
		return usageError{err}
	}
	addr := fs.String("addr", envOr("AGENTTRACE_ADDR", server.DefaultAddr),
		"`host:port` to listen on (env AGENTTRACE_ADDR); port 4318 is OTLP/HTTP's")
	db := fs.String("db", envOr("AGENTTRACE_DB", "agenttrace.db"),
		"SQLite database `file`, :memory:, or a postgres:// URL for PostgreSQL, which several serve replicas can share (env AGENTTRACE_DB)")
	org := fs.String("org", envOr("AGENTTRACE_ORG", server.DefaultOrganisation),
		"organisation `id` reported by tenant usage (env AGENTTRACE_ORG)")
	fs.Int64Var(&maxBody, "max-body-bytes", maxBody,
		"request body limit in `bytes`, as sent and decompressed (env AGENTTRACE_MAX_BODY_BYTES)")
	fs.DurationVar(&shutdown, "shutdown-timeout", shutdown,
		"how long to let in-flight requests finish on SIGINT/SIGTERM (env AGENTTRACE_SHUTDOWN_TIMEOUT)")
	lim, err := limitFlags(fs, e)
	if err != nil {
		return usageError{err}
	}
	pricesFile := fs.String("prices", envOr("AGENTTRACE_PRICES", ""),
		"JSON price table `file` merged over the embedded one (same format as llm/prices.json; its entries add models "+
			"or replace them); it prices spans that carry a model and tokens but no cost (env AGENTTRACE_PRICES)")
	ingestLog := fs.Bool("ingest-log", envOr("AGENTTRACE_INGEST_LOG", "true") == "true",
		"answer an ingest request once its body is in an append-only log next to the database (`<db>.ingest/`) and "+
			"write the spans to the database behind it, in larger transactions; queries wait for what was answered "+
			"before them. false: answer after the database commit (env AGENTTRACE_INGEST_LOG)")
	fsync := fs.Bool("fsync", envOr("AGENTTRACE_FSYNC", "false") == "true",
		"fsync the ingest log (or, without it, each database commit) before answering, so that answered spans survive "+
			"a power loss; without it they survive a killed process (env AGENTTRACE_FSYNC)")
	retention := fs.String("retention", envOr("AGENTTRACE_RETENTION", ""),
		"keep spans this `long` (30d, 36h; at least 1h) and expire older ones, with their summaries and rollups; "+
			"default: keep everything (env AGENTTRACE_RETENTION)")
	logLevel := fs.String("log-level", envOr("AGENTTRACE_LOG_LEVEL", "info"), "debug, info, warn or error (env AGENTTRACE_LOG_LEVEL)")
	var keys []server.APIKey
	fs.Func("api-key", "API `KEY` (full access) or KEY=TENANT (one tenant); repeatable. "+
		"Env AGENTTRACE_API_KEYS takes a comma-separated list (used when no --api-key is given; prefer it: "+
		"flags show in process lists). Without keys the server is open and serves loopback only",
		func(s string) error {
			k, err := server.ParseAPIKey(s)
			if err != nil {
				return err
			}
			keys = append(keys, k)
			return nil
		})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %q", fs.Args())}
	}
	if len(keys) == 0 {
		for _, s := range strings.Split(e.getenv("AGENTTRACE_API_KEYS"), ",") {
			if strings.TrimSpace(s) == "" {
				continue
			}
			k, err := server.ParseAPIKey(s)
			if err != nil {
				return usageError{fmt.Errorf("AGENTTRACE_API_KEYS: %w", err)}
			}
			keys = append(keys, k)
		}
	}
	keep, err := parseRetention(*retention)
	if err != nil {
		return usageError{err}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level: %w", err)}
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return usageError{fmt.Errorf("--addr %q: %w", *addr, err)}
	}
	if len(keys) == 0 && !server.IsLoopbackHost(host) {
		return fmt.Errorf("refusing to listen on %s with no API key: the server would be open to the network; "+
			"bind a loopback address (127.0.0.1) or set --api-key / AGENTTRACE_API_KEYS", *addr)
	}

	prices := llm.DefaultPrices()
	if *pricesFile != "" {
		custom, err := llm.LoadPricesFile(*pricesFile)
		if err != nil {
			return fmt.Errorf("--prices: %w", err)
		}
		prices = prices.Merge(custom)
	}

	gogc := strings.TrimSpace(e.getenv("GOGC"))
	if gogc == "" {
		gogc = strconv.Itoa(serveGCPercent)
		defer debug.SetGCPercent(debug.SetGCPercent(serveGCPercent))
	}
	memLimit := strings.TrimSpace(e.getenv("GOMEMLIMIT"))
	if memLimit == "" {
		memLimit = strconv.Itoa(serveMemoryLimit)
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(serveMemoryLimit))
	}

	ignoreFileSizeSignal()
	st, err := openStore(ctx, *db, *fsync)
	if err != nil {
		return err
	}
	defer st.Close()
	var logOpt []server.Option
	if *ingestLog && *db != sqlite.Memory && !postgres.IsURL(*db) {
		// One serve process per SQLite file: its queries can wait for
		// its own log. Replicas over PostgreSQL cannot.
		logOpt = append(logOpt, server.WithIngestLog(*db+".ingest", *fsync))
	}
	srv, err := server.New(st, append(logOpt, server.WithAPIKeys(keys...), server.WithOrganisation(*org),
		server.WithMaxBodyBytes(maxBody), server.WithLogger(log), server.WithShutdownTimeout(shutdown), server.WithPrices(prices),
		server.WithIngestLimits(lim.ingestInFlight, lim.ingestMemory), server.WithMaxConns(lim.maxConns),
		server.WithTimeouts(lim.readTimeout, lim.queryTimeout, lim.writeTimeout), server.WithMaxQueryWindow(lim.maxWindow),
		server.WithPages(viewer.Handler()))...)
	if err != nil {
		return err
	}
	defer srv.Close() // Serve closes it; this is for the early returns
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "agenttrace: listening on http://%s\n", ln.Addr())
	fmt.Fprintf(e.stdout, "agenttrace: trace viewer at http://%s/\n", ln.Addr())
	log.Info("listening", "addr", ln.Addr().String(), "db", dbName(*db), "org", *org, "api_keys", len(keys), "max_body_bytes", maxBody,
		"price_table", prices.Version(), "gogc", gogc, "gomemlimit", memLimit, "max_conns", lim.maxConns,
		"ingest_in_flight", lim.ingestInFlight, "ingest_memory", lim.ingestMemory, "read_timeout", lim.readTimeout,
		"query_timeout", lim.queryTimeout, "write_timeout", lim.writeTimeout, "max_query_window", lim.maxWindow, "retention", keep)
	stopRetention := func() {}
	if keep > 0 {
		rctx, cancel := context.WithCancel(ctx)
		wait, err := startRetention(rctx, st, keep, retentionEvery, log)
		if err != nil {
			cancel()
			ln.Close()
			return err
		}
		stopRetention = func() { cancel(); wait() }
	}
	err = srv.Serve(ctx, ln)
	stopRetention() // before the store closes
	if err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	log.Info("stopped")
	return nil
}

func envInt(e env, name string, def int64) (int64, error) {
	s := strings.TrimSpace(e.getenv(name))
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive integer", name, s)
	}
	return n, nil
}

func envDuration(e env, name string, def time.Duration) (time.Duration, error) {
	s := strings.TrimSpace(e.getenv(name))
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 30s", name, s)
	}
	return d, nil
}

// openStore opens the store --db names: PostgreSQL for a postgres:// or
// postgresql:// URL, else a SQLite file (or :memory:).
func openStore(ctx context.Context, db string, fsync bool) (store.Store, error) {
	if postgres.IsURL(db) {
		st, err := postgres.Open(ctx, db)
		if err != nil {
			return nil, fmt.Errorf("--db: %w", err)
		}
		return st, nil
	}
	if strings.Contains(db, "://") {
		return nil, usageError{fmt.Errorf("--db %s: not a postgres:// URL nor a file path", postgres.Redact(db))}
	}
	var opts []sqlite.Option
	if fsync {
		// With the ingest log too: the log lets go of what a commit
		// wrote, so the commit must be on disk as well.
		opts = append(opts, sqlite.WithFullSync())
	}
	return sqlite.Open(ctx, db, opts...)
}

// dbName is --db as it may be logged (a URL without its password).
func dbName(db string) string {
	if strings.Contains(db, "://") {
		return postgres.Redact(db)
	}
	return db
}
