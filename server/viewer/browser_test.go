package viewer_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/server/viewer"
	"github.com/agenttrace/agenttrace/store/sqlite"
)

// screenshotDir is where the tests write their screenshots for a person to
// look at (git-ignored).
const screenshotDir = "screenshots"

// chromium finds the Chromium binary, or skips the test (fails under
// CI=true, where .ci/run installs it).
func chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("AGENTTRACE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium found (apt-get install -y chromium); the viewer tests need it under CI")
	}
	t.Skip("no Chromium found (apt-get install -y chromium, or set AGENTTRACE_CHROMIUM)")
	return ""
}

// startServer serves a fresh SQLite file with the viewer on 127.0.0.1, as
// agenttrace serve does, and returns its base URL.
func startServer(t testing.TB, opts ...server.Option) string {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "agenttrace.db"))
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]server.Option{server.WithLogger(slog.New(slog.DiscardHandler)), server.WithPages(viewer.Handler())}, opts...)
	srv, err := server.New(st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		st.Close()
	})
	return "http://" + ln.Addr().String()
}

// browser is one headless Chromium tab on a server's viewer, collecting
// the console's errors.
type browser struct {
	t    testing.TB
	base string
	ctx  context.Context

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

func newBrowser(t testing.TB, base string) *browser {
	t.Helper()
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, base: base, ctx: ctx}
	// The first Run starts the browser; it has no timeout of its own.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start Chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		<-done
	})
	return b
}

// run runs actions with a bound.
func (b *browser) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// open loads a viewer page and waits until its script says it is done:
// "true" when rendered, "error" when it shows an error.
func (b *browser) open(path string) string {
	b.t.Helper()
	b.run(chromedp.Navigate(b.base + path))
	return b.waitReady()
}

func (b *browser) waitReady() string {
	b.t.Helper()
	return b.waitFor(`document.body && document.body.dataset.ready`)
}

// waitFor polls a JavaScript expression until it is truthy and returns it
// as a string. A navigation under way (the page's context replaced) is
// waited out.
func (b *browser) waitFor(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	for {
		v, err := chromedp.Run(ctx, chromedp.Poll[string](expr))
		if err == nil {
			return v
		}
		// "Inspected target navigated or closed" is a navigation too.
		if msg := err.Error(); ctx.Err() != nil || !(strings.Contains(msg, "context") || strings.Contains(msg, "navigated")) {
			b.t.Fatalf("page %s: waiting for %s: %v", b.location(), expr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// eval evaluates a JavaScript expression on the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// text is the text of the first element sel selects ("" if none).
func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ''`, sel))
}

// setKey keeps key in the tab's session storage, as the key form does.
func (b *browser) setKey(key string) {
	b.t.Helper()
	b.run(chromedp.Navigate(b.base + "/healthz"))
	eval[bool](b, fmt.Sprintf(`(sessionStorage.setItem('agenttrace.api_key', %q), true)`, key))
}

// shot writes a screenshot of the viewport to screenshots/name.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// errors returns and forgets the console's errors and exceptions so far;
// with network set it keeps the browser's failed-request entries too.
func (b *browser) errors(network bool) []string {
	// Console events arrive asynchronously: give the last ones a moment.
	time.Sleep(100 * time.Millisecond)
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.console {
		if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException {
			continue
		}
		if m.Source == "network" && !network {
			continue
		}
		out = append(out, m.String()+" at "+m.URL)
	}
	b.console = nil
	return out
}

// noErrors fails the test on any console error or exception, failed
// requests included.
func (b *browser) noErrors(where string) {
	b.t.Helper()
	if errs := b.errors(true); len(errs) > 0 {
		b.t.Errorf("%s: console errors:\n%s", where, strings.Join(errs, "\n"))
	}
}

// number reads a displayed integer ("1,234").
func number(t testing.TB, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(s), ",", ""), 10, 64)
	if err != nil {
		t.Fatalf("%q is not a displayed integer", s)
	}
	return n
}

// nanoUSD reads a displayed cost ("$1,234.000000123") as nano-USD.
func nanoUSD(t testing.TB, s string) int64 {
	t.Helper()
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	whole, frac, ok := strings.Cut(strings.TrimPrefix(s, "$"), ".")
	if !strings.HasPrefix(s, "$") || !ok || len(frac) > 9 {
		t.Fatalf("%q is not a displayed cost", s)
	}
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("%q is not a displayed cost", s)
	}
	return w*1_000_000_000 + f
}
