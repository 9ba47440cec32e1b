package pgtest

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestStartStopReap: a server answers, survives Stop and Start with its
// data, and the server of a test process that died is stopped and removed
// by the next Start.
func TestStartStopReap(t *testing.T) {
	s, err := Start()
	if err != nil {
		if InCI() || !errors.Is(err, ErrMissing) {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	defer s.Close()
	ctx := context.Background()
	url, err := s.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exec1 := func(q string) error {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, q)
		return err
	}
	if err := exec1(`CREATE TABLE kept (x int)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := exec1(`SELECT 1`); err == nil {
		t.Fatal("a stopped server answered")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := exec1(`SELECT count(*) FROM kept`); err != nil {
		t.Fatalf("data lost across Stop and Start: %v", err)
	}

	// The owner of this server is now a process that has exited.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "owner"), []byte(strconv.Itoa(dead.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	reapOrphans()
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Fatalf("the orphan's folder is still there: %v", err)
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.Port()), time.Second)
	if err == nil {
		c.Close()
		t.Fatal("the orphan server still listens")
	}
	s.running = false
}
