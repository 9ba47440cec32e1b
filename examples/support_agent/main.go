// Command support_agent records the support-agent scenario with agenttrace:
// a user asks about an order, the agent runs a task in which a (simulated)
// model calls a refund tool, and the agent answers. No real model is called:
// the model's answers and token counts are fixed, and the cost comes from
// the embedded price table (gpt-4.1-mini). The scenario itself lives in
// package agent, which the interop tests run too.
//
//	go run ./examples/support_agent -endpoint http://127.0.0.1:4318 -session s-demo
//
// Without -endpoint it sends to OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) if set, else http://127.0.0.1:4318;
// -console prints the traces instead. SIGINT or SIGTERM stops it early;
// either way it flushes before exiting. It prints one "trace_id=..." line
// per trace and a final "session=..." line.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/agenttrace/agenttrace/examples/support_agent/agent"
	"github.com/agenttrace/agenttrace/exporter"
	"github.com/agenttrace/agenttrace/trace"
)

// defaultEndpoint is used when neither -endpoint nor the OTLP environment
// variables name one.
const defaultEndpoint = "http://127.0.0.1:4318"

type config struct {
	endpoint string
	apiKey   string
	session  string
	user     string
	tenant   string
	traces   int
	latency  time.Duration
	console  bool
}

func main() {
	var cfg config
	flag.StringVar(&cfg.endpoint, "endpoint", "", "OTLP/HTTP endpoint base URL (default $OTEL_EXPORTER_OTLP_ENDPOINT, else "+defaultEndpoint+")")
	flag.StringVar(&cfg.apiKey, "api-key", os.Getenv("AGENTTRACE_API_KEY"), "API key sent as a bearer token (default $AGENTTRACE_API_KEY)")
	flag.StringVar(&cfg.session, "session", "", "session id (default a random s-<hex>)")
	flag.StringVar(&cfg.user, "user", "cus_123", "end-user id")
	flag.StringVar(&cfg.tenant, "tenant", "AceTech", "tenant id")
	flag.IntVar(&cfg.traces, "traces", 1, "number of conversations to record")
	flag.DurationVar(&cfg.latency, "latency", 10*time.Millisecond, "simulated latency of each model and tool call")
	flag.BoolVar(&cfg.console, "console", false, "print the traces to stdout instead of exporting them")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "support_agent:", err)
		os.Exit(1)
	}
}

// run records cfg.traces conversations and flushes. It returns early, still
// flushing, when ctx is cancelled.
func run(ctx context.Context, cfg config, out io.Writer) (err error) {
	if cfg.traces < 1 {
		return fmt.Errorf("-traces must be at least 1, got %d", cfg.traces)
	}
	if cfg.session == "" {
		cfg.session = "s-" + randomHex(6)
	}
	opts := []trace.Option{trace.WithServiceName("support-bot")}
	switch {
	case cfg.console && cfg.endpoint != "":
		return errors.New("-console prints the traces instead of exporting them: drop -endpoint or -console")
	case cfg.console:
		// The console exporter is used as built: no endpoint, no API key.
		opts = append(opts, trace.WithExporter(exporter.NewConsole(out)))
	default:
		if cfg.endpoint != "" {
			opts = append(opts, trace.WithEndpoint(cfg.endpoint))
		} else if os.Getenv(exporter.EnvEndpoint) == "" && os.Getenv(exporter.EnvTracesEndpoint) == "" {
			opts = append(opts, trace.WithEndpoint(defaultEndpoint))
		}
		if cfg.apiKey != "" {
			opts = append(opts, trace.WithAPIKey(cfg.apiKey))
		}
	}
	// Setting up is quick and not worth interrupting; recording is.
	client, err := trace.NewClient(context.WithoutCancel(ctx), opts...)
	if err != nil {
		return err
	}
	defer func() {
		// Flush on the way out, interrupted or not, with a fresh deadline.
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if serr := client.Shutdown(sctx); serr != nil {
			err = errors.Join(err, fmt.Errorf("flush: %w", serr))
		}
	}()

	acfg := agent.Config{Session: cfg.session, User: cfg.user, Tenant: cfg.tenant, Latency: cfg.latency}
	for i := range cfg.traces {
		if ctx.Err() != nil {
			fmt.Fprintf(out, "interrupted after %d traces\n", i)
			break
		}
		id := agent.Conversation(ctx, client, acfg, i)
		fmt.Fprintf(out, "trace_id=%s\n", id)
	}
	fmt.Fprintf(out, "session=%s user=%s tenant=%s\n", cfg.session, cfg.user, cfg.tenant)
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
