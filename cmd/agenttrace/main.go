// Command agenttrace runs the agenttrace server and queries it.
//
//	agenttrace serve [flags]                  OTLP/HTTP receiver and query API over SQLite
//	agenttrace usage session ID [flags]       a session's tokens, LLM requests and cost
//	agenttrace usage tenant ID [flags]        a tenant's tokens, requests, sessions and cost
//	agenttrace traces [filters] [--all]       list traces, page by page or all of them
//	agenttrace spans [TRACE_ID] [flags]       a trace's spans as a tree, or spans across traces
//
// The query commands read the server from --url or AGENTTRACE_URL and the key
// from --api-key or AGENTTRACE_API_KEY; --json prints machine-readable output.
//
// Run "agenttrace help" for the list of subcommands and
// "agenttrace <command> -h" for a command's flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// env is what a subcommand may touch of the process.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is one subcommand. Adding a subcommand is one file defining its
// run function and one line in commands.
type command struct {
	name    string
	summary string
	// run runs the command until ctx is done (SIGINT or SIGTERM) or it
	// finishes. A usageError makes the process exit with status 2.
	run func(ctx context.Context, args []string, e env) error
}

var commands = []command{
	{"serve", "run the OTLP/HTTP receiver and the query API over SQLite or PostgreSQL", runServe},
	{"usage", "token, request and cost totals of a session or a tenant", runUsage},
	{"traces", "list traces (--all walks every page)", runTraces},
	{"spans", "the spans of a trace, or spans across traces", runSpans},
}

// usageError is a command-line mistake (exit status 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// run dispatches args to a subcommand and returns the exit status.
func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		help(e.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], e)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, errHelp):
			return 0
		case errors.As(err, new(usageError)):
			fmt.Fprintf(e.stderr, "agenttrace %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(e.stderr, "agenttrace %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(e.stderr, "agenttrace: unknown command %q\n", args[0])
	help(e.stderr)
	return 2
}

// errHelp is returned by a command that printed its help on request.
var errHelp = errors.New("help requested")

func help(w io.Writer) {
	fmt.Fprintln(w, "usage: agenttrace <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
	}
}
