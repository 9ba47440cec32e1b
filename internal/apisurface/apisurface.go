// Package apisurface lists the exported API of a Go package from its
// source: every exported constant, variable, function, type, method, struct
// field and interface method, one per line, with its type or signature.
// The golden test in this package keeps that list for each public package
// of the module under testdata/api, so that a change to the public API is a
// deliberate one, visible in review (go test ./internal/apisurface -update
// rewrites the lists).
package apisurface

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrNoPackage is returned by Surface for a directory without a non-test Go
// package.
var ErrNoPackage = errors.New("apisurface: no Go package")

// Surface returns the exported API of the package in dir (its non-test
// files), sorted, one declaration per line: "const Name Type", "var Name
// Type", "func Name(params) results", "func (Recv) Name(params) results",
// "type Name kind" and, for struct fields and interface methods,
// "field Type.Name T" and "method Type.Name(params) results". Parameter
// names are left out: they are not part of the API.
func Surface(dir string) ([]string, error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("apisurface: %w", err)
	}
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("apisurface: %w", err)
		}
		if !buildable(f) {
			continue
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoPackage, dir)
	}
	var out []string
	for _, f := range files {
		for _, d := range f.Decls {
			out = append(out, decl(fset, d)...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// buildable reports whether f is built by default (no "//go:build ignore"
// style constraint that excludes it; constraints on GOOS and the like are
// taken as satisfied).
func buildable(f *ast.File) bool {
	for _, cg := range f.Comments {
		if cg.Pos() > f.Package {
			break
		}
		for _, c := range cg.List {
			if strings.HasPrefix(c.Text, "//go:build") && strings.Contains(c.Text, "ignore") {
				return false
			}
		}
	}
	return true
}

func decl(fset *token.FileSet, d ast.Decl) []string {
	switch d := d.(type) {
	case *ast.FuncDecl:
		if !d.Name.IsExported() {
			return nil
		}
		sig := funcType(fset, d.Type)
		if d.Recv == nil {
			return []string{"func " + d.Name.Name + sig}
		}
		recv := d.Recv.List[0].Type
		if !ast.IsExported(baseName(recv)) {
			return nil
		}
		return []string{"func (" + node(fset, recv) + ") " + d.Name.Name + sig}
	case *ast.GenDecl:
		var out []string
		var lastType ast.Expr // a const group repeats the last explicit type
		for _, spec := range d.Specs {
			switch s := spec.(type) {
			case *ast.ValueSpec:
				if s.Type != nil || len(s.Values) > 0 {
					lastType = s.Type
				}
				for _, n := range s.Names {
					if !n.IsExported() {
						continue
					}
					line := d.Tok.String() + " " + n.Name
					if t := s.Type; t != nil || (d.Tok == token.CONST && lastType != nil) {
						if t == nil {
							t = lastType
						}
						line += " " + node(fset, t)
					}
					out = append(out, line)
				}
			case *ast.TypeSpec:
				if s.Name.IsExported() {
					out = append(out, typeSpec(fset, s)...)
				}
			}
		}
		return out
	}
	return nil
}

func typeSpec(fset *token.FileSet, s *ast.TypeSpec) []string {
	name := s.Name.Name
	if s.TypeParams != nil {
		name += node(fset, s.TypeParams)
	}
	alias := ""
	if s.Assign.IsValid() {
		alias = "= "
	}
	switch t := s.Type.(type) {
	case *ast.StructType:
		out := []string{"type " + name + " " + alias + "struct"}
		for _, f := range t.Fields.List {
			for _, n := range fieldNames(f) {
				if ast.IsExported(n) {
					out = append(out, "field "+s.Name.Name+"."+n+" "+node(fset, f.Type))
				}
			}
		}
		return out
	case *ast.InterfaceType:
		out := []string{"type " + name + " " + alias + "interface"}
		for _, m := range t.Methods.List {
			switch mt := m.Type.(type) {
			case *ast.FuncType:
				if ast.IsExported(m.Names[0].Name) {
					out = append(out, "method "+s.Name.Name+"."+m.Names[0].Name+funcType(fset, mt))
				}
			default: // an embedded interface or a type constraint
				out = append(out, "embed "+s.Name.Name+" "+node(fset, mt))
			}
		}
		return out
	}
	return []string{"type " + name + " " + alias + node(fset, s.Type)}
}

// fieldNames returns a field's names, or for an embedded field its type's
// name.
func fieldNames(f *ast.Field) []string {
	if len(f.Names) == 0 {
		return []string{baseName(f.Type)}
	}
	names := make([]string, len(f.Names))
	for i, n := range f.Names {
		names[i] = n.Name
	}
	return names
}

// baseName is the name of a (possibly pointer, generic or qualified) type.
func baseName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return baseName(t.X)
	case *ast.IndexExpr:
		return baseName(t.X)
	case *ast.IndexListExpr:
		return baseName(t.X)
	case *ast.SelectorExpr:
		return t.Sel.Name
	case *ast.Ident:
		return t.Name
	}
	return ""
}

// funcType prints a signature without parameter names.
func funcType(fset *token.FileSet, ft *ast.FuncType) string {
	unnamed := func(fl *ast.FieldList) *ast.FieldList {
		if fl == nil {
			return nil
		}
		out := &ast.FieldList{}
		for _, f := range fl.List {
			n := max(1, len(f.Names))
			for range n {
				out.List = append(out.List, &ast.Field{Type: f.Type})
			}
		}
		return out
	}
	return strings.TrimPrefix(node(fset, &ast.FuncType{
		TypeParams: ft.TypeParams, Params: unnamed(ft.Params), Results: unnamed(ft.Results),
	}), "func")
}

func node(fset *token.FileSet, n any) string {
	var b bytes.Buffer
	if err := printer.Fprint(&b, fset, n); err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
