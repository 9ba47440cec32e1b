// Package pgtest starts a real PostgreSQL server for tests: initdb and
// pg_ctl from Debian's postgresql package, a data folder in a temporary
// directory, listening on 127.0.0.1 on a free port. When the process runs
// as root, the server runs as the postgres user (PostgreSQL refuses root).
//
// A test package starts one server (usually in TestMain) and makes a fresh
// database per test with NewDatabase. Without the PostgreSQL binaries,
// Start returns ErrMissing; tests then skip, except under CI=true where
// they must fail (see Require).
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrMissing means the PostgreSQL server binaries (initdb, pg_ctl) are not
// installed.
var ErrMissing = errors.New("pgtest: PostgreSQL binaries (initdb, pg_ctl) not found; install Debian's postgresql package")

// Server is a PostgreSQL server owned by the test process.
type Server struct {
	bin     string // folder holding initdb, pg_ctl, postgres
	dir     string // temporary folder: data/ and the log
	port    int
	asUser  string // "" or the user the server runs as
	durable bool

	mu      sync.Mutex
	running bool
	dbs     atomic.Int64
}

// Option configures Start.
type Option func(*Server)

// WithDurable keeps fsync and synchronous commits on (for benchmarks); by
// default a test server trades durability for speed.
func WithDurable() Option { return func(s *Server) { s.durable = true } }

// findBin returns the folder of initdb and pg_ctl: from PATH, else the
// newest /usr/lib/postgresql/*/bin.
func findBin() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrMissing
}

// freePort returns a TCP port free on 127.0.0.1 now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Start initialises a data folder and starts a server on it. Stop it with
// Stop (which also removes the folder).
func Start(opts ...Option) (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	for _, o := range opts {
		o(s)
	}
	if os.Geteuid() == 0 {
		s.asUser = "postgres"
	}
	reapOrphans()
	parent := ""
	if s.asUser != "" {
		// The server's user must reach the folder: $TMPDIR may be
		// private to root.
		parent = "/tmp"
	}
	s.dir, err = os.MkdirTemp(parent, "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if s.asUser != "" {
		u, err := user.Lookup(s.asUser)
		if err != nil {
			os.RemoveAll(s.dir)
			return nil, fmt.Errorf("pgtest: running as root needs the %s user: %w", s.asUser, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(s.dir, uid, gid); err != nil {
			os.RemoveAll(s.dir)
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	if out, err := s.run("initdb", "-D", s.data(), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "-N"); err != nil {
		os.RemoveAll(s.dir)
		return nil, fmt.Errorf("pgtest: initdb: %w: %s", err, out)
	}
	// The owner file names this process: a later Start stops the server
	// of a test process that died without Close (a timeout, a kill).
	if err := os.WriteFile(filepath.Join(s.dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(s.dir)
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if s.port, err = freePort(); err != nil {
		os.RemoveAll(s.dir)
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := s.Start(); err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	return s, nil
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// reapOrphans stops and removes the servers of test processes that ended
// without closing them: pgtest folders whose owner process is gone.
func reapOrphans() {
	dirs, _ := filepath.Glob(filepath.Join("/tmp", "pgtest-*"))
	if tmp := os.TempDir(); tmp != "/tmp" {
		more, _ := filepath.Glob(filepath.Join(tmp, "pgtest-*"))
		dirs = append(dirs, more...)
	}
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner"))
		if err != nil {
			continue // being made, or not ours
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		o := &Server{dir: d}
		if bin, err := findBin(); err == nil {
			o.bin = bin
			if os.Geteuid() == 0 {
				o.asUser = "postgres"
			}
			o.running = true
			o.Stop()
		}
		os.RemoveAll(d)
	}
}

// run runs one of the server's programs, as the server's user.
func (s *Server) run(prog string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, prog)
	var cmd *exec.Cmd
	if s.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.dir
	return cmd.CombinedOutput()
}

// Start starts the server again after Stop(false) (same data, same port).
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return nil
	}
	o := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s -c max_connections=200 -c shared_buffers=128MB",
		s.port, s.dir)
	if !s.durable {
		o += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	out, err := s.run("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-w", "-t", "60", "-o", o, "start")
	if err != nil {
		logb, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		return fmt.Errorf("pgtest: pg_ctl start: %w: %s\n%s", err, out, logb)
	}
	s.running = true
	return nil
}

// Stop stops the server (fast shutdown: open connections are closed).
// The data stays: Start runs it again.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil
	}
	out, err := s.run("pg_ctl", "-D", s.data(), "-m", "fast", "-w", "-t", "60", "stop")
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %w: %s", err, out)
	}
	s.running = false
	return nil
}

// Close stops the server and removes its data.
func (s *Server) Close() error {
	err := s.Stop()
	if rerr := os.RemoveAll(s.dir); err == nil {
		err = rerr
	}
	return err
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// URL returns the connection URL of database db.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// CreateDatabase creates a new empty database and returns its URL.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.dbs.Add(1))
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return s.URL(name), nil
}

// NewDatabase creates a new empty database for t and returns its URL.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, err := s.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Log returns the server's log (for failure messages).
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "log"))
	return string(b)
}

// InCI reports whether the tests run under CI=true, where a missing
// PostgreSQL fails them.
func InCI() bool { return strings.EqualFold(os.Getenv("CI"), "true") }

// Main is a TestMain helper: it starts a server, runs the tests with it
// in *srv, stops it, and returns the exit code. When PostgreSQL is missing,
// *srv stays nil (Require then skips or, under CI=true, fails).
func Main(m *testing.M, srv **Server, opts ...Option) int {
	s, err := Start(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		startErr = err
	} else {
		*srv = s
	}
	code := m.Run()
	if s != nil {
		if err := s.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

var startErr error

// Require returns srv, or ends t: a skip when PostgreSQL is missing, a
// failure under CI=true or when it was installed but did not start.
func Require(t testing.TB, srv *Server) *Server {
	t.Helper()
	if srv != nil {
		return srv
	}
	if InCI() || (startErr != nil && !errors.Is(startErr, ErrMissing)) {
		t.Fatalf("PostgreSQL is needed: %v", startErr)
	}
	t.Skipf("PostgreSQL not available: %v", startErr)
	return nil
}

// Lazy is a server started on first use, for test packages where few
// tests need one. Close it at the end of TestMain.
type Lazy struct {
	opts []Option
	once sync.Once
	srv  *Server
	err  error
}

// NewLazy returns a Lazy that starts its server with opts.
func NewLazy(opts ...Option) *Lazy { return &Lazy{opts: opts} }

// Get returns the server, starting it on the first call; when it cannot,
// t skips (PostgreSQL missing) or fails (under CI=true, or it would not
// start).
func (l *Lazy) Get(t testing.TB) *Server {
	t.Helper()
	l.once.Do(func() { l.srv, l.err = Start(l.opts...) })
	if l.srv != nil {
		return l.srv
	}
	if InCI() || !errors.Is(l.err, ErrMissing) {
		t.Fatalf("PostgreSQL is needed: %v", l.err)
	}
	t.Skipf("PostgreSQL not available: %v", l.err)
	return nil
}

// Close stops the server if it was started.
func (l *Lazy) Close() error {
	l.once.Do(func() {}) // no start after Close
	if l.srv == nil {
		return nil
	}
	return l.srv.Close()
}
