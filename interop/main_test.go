package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// EnvCollectorBin names the Collector binary the tests run; make interop
// sets it after building the Collector.
const EnvCollectorBin = "OTELCOL_BIN"

// Bounds of the waits for child processes. They are generous because the
// machine may be busy; a healthy start takes well under a second.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 15 * time.Second
	pollInterval = 100 * time.Millisecond
	// dataTimeout bounds the wait for spans to show up in the Collector's
	// file and in the server's usage API.
	dataTimeout = 60 * time.Second
)

// serveBin is the agenttrace command TestMain builds.
var serveBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "agenttrace-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "step failed: making a temporary directory:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	serveBin, err = buildServe(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "step failed: building agenttrace (go build ./cmd/agenttrace):", err)
		return 1
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

// buildServe builds the agenttrace command of the main module (the parent
// directory) into dir, with the main module's own go.mod.
func buildServe(dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is not on PATH: %w", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "agenttrace")
	cmd := exec.Command(goBin, "build", "-o", out, "./cmd/agenttrace")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w\n%s", err, b)
	}
	return out, nil
}

// process is a child process whose stdout and stderr go to a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // Wait's result, set before done is closed
	// discarded is set for a process given up on: its end is not an error.
	discarded bool
}

// startProcess starts bin with args, logging to dir/<name>.log, and stops it
// when the test ends.
func startProcess(t *testing.T, name, dir, bin string, env []string, args ...string) (*process, error) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = f
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.stop(); err != nil && !p.discarded {
			t.Errorf("stopping %s: %v\n%s", name, err, p.logTail())
		}
	})
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop interrupts the process and waits for it, killing it after
// stopTimeout. It returns an error if the process had to be killed or
// exited with a failure on its own before being stopped.
func (p *process) stop() error {
	if p.exited() {
		if p.err != nil {
			return fmt.Errorf("%s had exited: %w", p.name, p.err)
		}
		return nil
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %v of SIGINT and was killed", p.name, stopTimeout)
	}
}

// logTail returns the end of the process's log.
func (p *process) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const max = 8 << 10
	if len(b) > max {
		b = append([]byte("…"), b[len(b)-max:]...)
	}
	return fmt.Sprintf("--- %s log (%s) ---\n%s--- end of %s log ---", p.name, p.logPath, b, p.name)
}

// cleanEnv is the test's environment without the variables that would
// change how agenttrace serve or the Collector behave (API keys, database,
// OTLP endpoints and headers).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AGENTTRACE_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

var listeningRE = regexp.MustCompile(`agenttrace: listening on (http://\S+)`)

// serve is a running agenttrace serve.
type serve struct {
	*process
	// URL is its base URL, such as http://127.0.0.1:41234.
	URL string
}

// startServe starts "agenttrace serve" on a free 127.0.0.1 port with a
// SQLite file in dir and returns it once it answers /healthz.
func startServe(t *testing.T, dir string) *serve {
	t.Helper()
	p, err := startProcess(t, "agenttrace-serve", dir, serveBin, cleanEnv(),
		"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "agenttrace.db"), "--log-level", "warn")
	if err != nil {
		t.Fatalf("step failed: starting agenttrace serve: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var url string
	err = poll(ctx, func() (bool, error) {
		b, err := os.ReadFile(p.logPath)
		if err != nil {
			return false, err
		}
		if m := listeningRE.FindSubmatch(b); m != nil {
			url = string(m[1])
			return true, nil
		}
		return false, nil
	}, p)
	if err == nil {
		err = waitHTTP(ctx, p, url+"/healthz", true)
	}
	if err != nil {
		t.Fatalf("step failed: starting agenttrace serve: %v\n%s", err, p.logTail())
	}
	return &serve{process: p, URL: url}
}

// collector is a running Collector.
type collector struct {
	*process
	// URL is the OTLP/HTTP receiver's base URL.
	URL string
	// Output is the file exporter's JSON Lines file.
	Output string
	// Config is the Collector's config file.
	Config string
}

// The README's Collector config, and what the tests put in place of its
// addresses and paths.
const (
	readmePath         = "../README.md"
	readmeSection      = "## Use with an OpenTelemetry Collector"
	readmeReceiver     = "endpoint: 127.0.0.1:4318"
	readmeServe        = "endpoint: http://127.0.0.1:4320"
	readmeFile         = "path: ./spans.jsonl"
	readmeFlush        = "flush_interval: 1s"
	readmeExporterName = "otlp_http/agenttrace"
)

// readmeConfig returns the Collector config of the README's "Use with an
// OpenTelemetry Collector" section (its first yaml block) with the
// receiver on receiverAddr, the otlp_http exporter sending to serveURL, the
// file exporter writing to output, flushed every 100 ms. The tests run the
// very config users copy; an edit that drops one of the values replaced
// fails here.
func readmeConfig(receiverAddr, serveURL, output string) (string, error) {
	b, err := os.ReadFile(readmePath)
	if err != nil {
		return "", err
	}
	_, sec, ok := strings.Cut(string(b), readmeSection)
	if !ok {
		return "", fmt.Errorf("%s has no section %q", readmePath, readmeSection)
	}
	_, block, ok := strings.Cut(sec, "```yaml\n")
	if ok {
		block, _, ok = strings.Cut(block, "```")
	}
	if !ok {
		return "", fmt.Errorf("%s, section %q: no ```yaml block", readmePath, readmeSection)
	}
	for _, r := range []struct{ old, new string }{
		{readmeReceiver, "endpoint: " + receiverAddr},
		{readmeServe, "endpoint: " + serveURL},
		{readmeFile, "path: " + output},
		{readmeFlush, "flush_interval: 100ms"},
		{readmeExporterName + ":", readmeExporterName + ":"}, // present, unchanged
	} {
		if n := strings.Count(block, r.old); n != 1 {
			return "", fmt.Errorf("%s, section %q: the Collector config should hold %q once, found it %d times",
				readmePath, readmeSection, r.old, n)
		}
		block = strings.Replace(block, r.old, r.new, 1)
	}
	return block, nil
}

// startCollector starts the Collector named by OTELCOL_BIN with the
// README's config (see readmeConfig) written to a new directory, forwarding
// to serveURL, and returns it once its receiver answers HTTP. A missing binary or a Collector that does not
// come up fails the test, naming the step.
func startCollector(t *testing.T, serveURL string) *collector {
	t.Helper()
	bin := os.Getenv(EnvCollectorBin)
	if bin == "" {
		t.Fatalf("step failed: finding the Collector: %s is not set; run `make interop` from the repository root, "+
			"which builds the Collector and sets it", EnvCollectorBin)
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		t.Fatalf("step failed: finding the Collector: %s=%q is not an executable file (%v)", EnvCollectorBin, bin, err)
	}
	var lastErr error
	var last *process
	// A free port can be taken by someone else between our probe and the
	// Collector's bind: try again with another one, a bounded number of times.
	for attempt := 1; attempt <= 3; attempt++ {
		dir := t.TempDir()
		c := &collector{
			Output: filepath.Join(dir, "spans.jsonl"),
			Config: filepath.Join(dir, "collector.yaml"),
		}
		addr, err := freeAddr()
		if err != nil {
			t.Fatalf("step failed: finding a free port for the Collector: %v", err)
		}
		c.URL = "http://" + addr
		cfg, err := readmeConfig(addr, serveURL, c.Output)
		if err != nil {
			t.Fatalf("step failed: making the Collector config from the README: %v", err)
		}
		if err := os.WriteFile(c.Config, []byte(cfg), 0o600); err != nil {
			t.Fatalf("step failed: writing the Collector config: %v", err)
		}
		c.process, err = startProcess(t, "collector", dir, bin, cleanEnv(), "--config", c.Config)
		if err != nil {
			t.Fatalf("step failed: starting the Collector %s: %v", bin, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		lastErr = waitHTTP(ctx, c.process, c.URL+"/v1/traces", false)
		cancel()
		if lastErr == nil {
			t.Logf("Collector %s up at %s, forwarding to %s (config %s)", bin, c.URL, serveURL, c.Config)
			return c
		}
		c.discarded = true
		_ = c.stop()
		last = c.process
		b, _ := os.ReadFile(c.logPath)
		if !bytes.Contains(b, []byte("address already in use")) {
			break
		}
	}
	t.Fatalf("step failed: starting the Collector: %v\n%s", lastErr, last.logTail())
	return nil
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHTTP polls url with GET until it answers (with 200 if want200, with
// any status otherwise), p exits, or ctx is done.
func waitHTTP(ctx context.Context, p *process, url string, want200 bool) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	defer hc.CloseIdleConnections()
	var last error
	err := poll(ctx, func() (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			last = err
			return false, nil
		}
		resp.Body.Close()
		if want200 && resp.StatusCode != http.StatusOK {
			last = fmt.Errorf("GET %s: %s", url, resp.Status)
			return false, nil
		}
		return true, nil
	}, p)
	if err != nil && last != nil {
		err = fmt.Errorf("%w (last attempt: %v)", err, last)
	}
	return err
}

// errExited means a process ended while we waited for it.
var errExited = errors.New("process exited")

// poll calls check every pollInterval until it reports done, fails, one of
// procs exits, or ctx is done.
func poll(ctx context.Context, check func() (bool, error), procs ...*process) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		ok, err := check()
		if err != nil || ok {
			return err
		}
		for _, p := range procs {
			if p.exited() {
				return fmt.Errorf("%s: %w: %v", p.name, errExited, p.err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up waiting: %w", ctx.Err())
		case <-tick.C:
		}
	}
}
