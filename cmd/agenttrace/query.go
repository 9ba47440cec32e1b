package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"net/url"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/agenttrace/agenttrace/usage"
)

// What the query subcommands (usage, traces, spans) share: how to reach
// the server, time flags, argument parsing and output.

// queryCommand is what every query command starts with: its flag set,
// holding the connection and output flags and --from/--to.
type queryCommand struct {
	fs *flag.FlagSet
	queryFlags
	// window returns the --from/--to window.
	window func() (from, to time.Time)
}

// newQueryCommand returns the flag set of "agenttrace name"; its -h prints
// help, then the flags.
func newQueryCommand(name, help string, e env) *queryCommand {
	fs := flag.NewFlagSet("agenttrace "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	qc := &queryCommand{fs: fs}
	qc.register(fs, e)
	qc.window = window(fs, time.Now)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), help+"\n\nflags:")
		fs.PrintDefaults()
	}
	return qc
}

// parse parses args (see parseArgs) and returns the positional arguments.
func (qc *queryCommand) parse(args []string) ([]string, error) { return parseArgs(qc.fs, args) }

// open returns the client (the caller closes its idle connections) and the
// --format template (nil without one).
func (qc *queryCommand) open() (*usage.Client, *template.Template, error) {
	c, err := qc.client()
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := qc.template()
	if err != nil {
		c.CloseIdleConnections()
		return nil, nil, err
	}
	return c, tmpl, nil
}

// collect gathers what seq yields, every page of a listing, stopping at the
// first error. It returns a non-nil slice.
func collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	out := []T{}
	for v, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// queryFlags are the connection and output flags of every query command.
type queryFlags struct {
	url     string
	apiKey  string
	timeout time.Duration
	json    bool
	format  string
}

func (q *queryFlags) register(fs *flag.FlagSet, e env) {
	def := strings.TrimSpace(e.getenv(usage.EnvURL))
	if def == "" {
		def = usage.DefaultURL
	}
	fs.StringVar(&q.url, "url", def, "server base `URL` (env "+usage.EnvURL+")")
	fs.StringVar(&q.apiKey, "api-key", strings.TrimSpace(e.getenv(usage.EnvAPIKey)),
		"API `key` (env "+usage.EnvAPIKey+"; prefer it: flags show in process lists)")
	fs.DurationVar(&q.timeout, "timeout", usage.DefaultTimeout, "bound on each request, retries included")
	fs.BoolVar(&q.json, "json", false, "print JSON instead of a table")
	fs.StringVar(&q.format, "format", "", "print each result through a Go `template`, e.g. '{{.ID}} {{.TotalTokens}}' "+
		"(fields as in package usage; funcs: json, usd)")
}

// client returns a usage client for the flags.
func (q *queryFlags) client() (*usage.Client, error) {
	if q.json && q.format != "" {
		return nil, usageError{errors.New("--json and --format exclude each other")}
	}
	c, err := usage.NewClient(q.url, usage.WithAPIKey(q.apiKey), usage.WithTimeout(q.timeout))
	if err != nil {
		return nil, usageError{fmt.Errorf("--url: %w", err)}
	}
	return c, nil
}

// template parses --format, or returns nil without one.
func (q *queryFlags) template() (*template.Template, error) {
	if q.format == "" {
		return nil, nil
	}
	t, err := template.New("format").Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"usd": fmtUSD,
	}).Option("missingkey=error").Parse(q.format)
	if err != nil {
		return nil, usageError{fmt.Errorf("--format: %w", err)}
	}
	return t, nil
}

// execTemplate prints v through t, then a newline.
func execTemplate(w io.Writer, t *template.Template, v any) error {
	if err := t.Execute(w, v); err != nil {
		return usageError{fmt.Errorf("--format: %w", err)}
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// printEach prints every item through t.
func printEach[T any](w io.Writer, t *template.Template, items []T) error {
	for i := range items {
		if err := execTemplate(w, t, &items[i]); err != nil {
			return err
		}
	}
	return nil
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// queryError turns a client error into the command's error: arguments the
// client refused are command-line mistakes (exit 2); a server that could
// not be reached gets a hint.
func queryError(err error, base string) error {
	var ve *usage.ValidationError
	if errors.As(err, &ve) {
		return usageError{err}
	}
	var ae *usage.APIError
	var ue *url.Error
	if !errors.As(err, &ae) && errors.As(err, &ue) {
		return fmt.Errorf("%w\n(is agenttrace serve running at %s? set --url or %s)", err, base, usage.EnvURL)
	}
	if errors.Is(err, usage.ErrUnauthorized) {
		return fmt.Errorf("%w\n(set --api-key or %s)", err, usage.EnvAPIKey)
	}
	return err
}

// parseArgs parses flags anywhere among args ("usage session ID --from 1h"
// as well as "usage session --from 1h ID") and returns the positional
// arguments. Everything after "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, usageError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// timeFlag is a --from or --to value: see parseTime.
type timeFlag struct {
	t   time.Time
	set bool
	now func() time.Time
}

func (f *timeFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return f.t.Format(time.RFC3339Nano)
}

func (f *timeFlag) Set(s string) error {
	t, err := parseTime(s, f.now())
	if err != nil {
		return err
	}
	f.t, f.set = t, true
	return nil
}

// get returns the flag's time, or def when it was not given.
func (f *timeFlag) get(def time.Time) time.Time {
	if f.set {
		return f.t
	}
	return def
}

// window registers --from and --to; the returned function gives the
// window, by default the 24 hours up to now.
func window(fs *flag.FlagSet, now func() time.Time) func() (time.Time, time.Time) {
	from, to := &timeFlag{now: now}, &timeFlag{now: now}
	fs.Var(from, "from", "window start, inclusive: a `TIME` in RFC 3339 (2025-11-16T09:00:00Z), a date (2025-11-16, UTC), "+
		"\"now\" or a duration ago (90m, 36h, 7d) (default 24h ago)")
	fs.Var(to, "to", "window end, exclusive: a `TIME` in the same forms (default now)")
	return func() (time.Time, time.Time) {
		n := now()
		return from.get(n.Add(-24 * time.Hour)), to.get(n)
	}
}

// parseTime reads a point in time: an RFC 3339 time, a date (midnight
// UTC), "now", or a duration before now such as 90m, 1h30m, 7d or -2h.
func parseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return time.Time{}, errors.New("empty time")
	case strings.EqualFold(s, "now"):
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	d, err := parseAgo(strings.TrimPrefix(s, "-"))
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time (2025-11-16T09:00:00Z), a date (2025-11-16), "+
			"now, or a duration ago (90m, 36h, 7d)", s)
	}
	return now.Add(-d), nil
}

// parseAgo parses a non-negative Go duration, or whole days ("7d").
func parseAgo(s string) (time.Duration, error) {
	if strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		return 0, errors.New("signed")
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, errors.New("negative")
	}
	return d, nil
}

// tagsFlag collects --tag values, repeatable or comma-separated.
type tagsFlag []string

func (t *tagsFlag) String() string { return strings.Join(*t, ",") }

func (t *tagsFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*t = append(*t, v)
		}
	}
	return nil
}

// fmtUSD formats an exact nano-USD amount in dollars with at least two
// decimals and no trailing zeros beyond them: $0.0013, $12.50.
func fmtUSD(nano int64) string {
	sign := ""
	if nano < 0 {
		sign, nano = "-", -nano
	}
	s := fmt.Sprintf("%d.%09d", nano/1e9, nano%1e9)
	s = strings.TrimRight(s, "0")
	if i := strings.IndexByte(s, '.'); len(s)-i < 3 {
		s += strings.Repeat("0", 3-(len(s)-i))
	}
	return sign + "$" + s
}

// fmtMS formats milliseconds as a rounded duration.
func fmtMS(ms float64) string {
	d := time.Duration(ms * float64(time.Millisecond))
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// fmtTime formats a time in UTC to the second.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// orDash returns s, or "-" for an empty s (a table cell must not be empty).
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cell makes s safe for a tab-separated table row: no tabs or newlines.
func cell(s string) string {
	return orDash(strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s))
}
