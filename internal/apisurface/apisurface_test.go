package apisurface

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/api/*.txt from the current source")

// moduleRoot is the directory holding go.mod, above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above", dir)
		}
		dir = parent
	}
}

// publicPackages returns the module's public package directories, relative
// to root: every directory with a Go package outside internal, examples,
// cmd, testdata and other modules (such as interop).
func publicPackages(t *testing.T, root string) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		base := d.Name()
		if rel != "." && (strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") ||
			base == "internal" || base == "testdata" || base == "node_modules" ||
			rel == "examples" || rel == "cmd" || rel == "docs" || rel == "scripts") {
			return filepath.SkipDir
		}
		if rel != "." {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
		}
		if _, err := Surface(path); err == nil {
			dirs = append(dirs, filepath.ToSlash(rel))
		} else if !errors.Is(err, ErrNoPackage) {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// golden is the file holding the API of the package in rel.
func golden(rel string) string {
	return filepath.Join("testdata", "api", strings.ReplaceAll(rel, "/", "_")+".txt")
}

// TestAPISurface compares each public package's exported API with its
// golden file. A difference fails the test with the lines added and
// removed: if the change is meant, run go test ./internal/apisurface
// -update and commit the new files with it.
func TestAPISurface(t *testing.T) {
	root := moduleRoot(t)
	pkgs := publicPackages(t, root)
	if len(pkgs) < 10 {
		t.Fatalf("found only %d public packages under %s: %v", len(pkgs), root, pkgs)
	}
	want := map[string]bool{}
	for _, rel := range pkgs {
		file := golden(rel)
		want[filepath.Base(file)] = true
		api, err := Surface(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(api, "\n") + "\n"
		if *update {
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		old, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("package %s: no golden API file (%v); run go test ./internal/apisurface -update", rel, err)
			continue
		}
		if added, removed := diff(strings.Split(string(old), "\n"), api); len(added)+len(removed) > 0 {
			t.Errorf("package %s: the exported API changed; if that is meant, run go test ./internal/apisurface -update\nadded:\n\t%s\nremoved:\n\t%s",
				rel, strings.Join(added, "\n\t"), strings.Join(removed, "\n\t"))
		}
	}
	// A golden file for a package that is gone.
	entries, err := os.ReadDir(filepath.Join("testdata", "api"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !want[e.Name()] {
			if *update {
				if err := os.Remove(filepath.Join("testdata", "api", e.Name())); err != nil {
					t.Fatal(err)
				}
				continue
			}
			t.Errorf("testdata/api/%s names no public package; run go test ./internal/apisurface -update", e.Name())
		}
	}
}

// diff returns the lines only in b (added) and only in a (removed).
func diff(a, b []string) (added, removed []string) {
	in := func(s []string) map[string]bool {
		m := map[string]bool{}
		for _, x := range s {
			if x != "" {
				m[x] = true
			}
		}
		return m
	}
	ma, mb := in(a), in(b)
	for _, x := range b {
		if x != "" && !ma[x] {
			added = append(added, x)
		}
	}
	for _, x := range a {
		if x != "" && !mb[x] {
			removed = append(removed, x)
		}
	}
	return added, removed
}

// TestSurface checks the lines Surface writes on a small package: exported
// names only, parameter names left out, const groups typed, test files and
// unexported receivers skipped.
func TestSurface(t *testing.T) {
	dir := t.TempDir()
	src := `package p

type Kind string

const (
	A Kind = "a"
	B
	c = 1
)

const Limit = 10

var ErrX error

type T struct {
	Name string
	n    int
	Kind
}

type I interface {
	Do(x int) (y string, err error)
	fmt.Stringer
}

type t struct{}

func (t) Hidden()       {}
func (v *T) Get(k string) Kind { return A }
func New(a, b int, opts ...string) *T { return nil }
func helper() {}
`
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "p_test.go"), []byte("package p\n\nfunc TestOnly() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Surface(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"const A Kind",
		"const B Kind",
		"const Limit",
		"embed I fmt.Stringer",
		"field T.Kind Kind",
		"field T.Name string",
		"func (*T) Get(string) Kind",
		"func New(int, int, ...string) *T",
		"method I.Do(int) (string, error)",
		"type I interface",
		"type Kind string",
		"type T struct",
		"var ErrX error",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Surface:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := Surface(t.TempDir()); !errors.Is(err, ErrNoPackage) {
		t.Fatalf("empty dir: %v, want ErrNoPackage", err)
	}
}
