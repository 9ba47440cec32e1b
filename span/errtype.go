package span

import (
	"context"
	"go/token"
	"io"
	"os"
	"reflect"
)

// errorTypeOther is the semantic conventions' error.type when no
// meaningful type is known.
const errorTypeOther = "_OTHER"

// sentinels names well-known error values, which carry no type of their
// own worth reporting (errors.New makes them all *errors.errorString).
var sentinels = []struct {
	err  error
	name string
}{
	{context.DeadlineExceeded, "context.DeadlineExceeded"},
	{context.Canceled, "context.Canceled"},
	{io.EOF, "io.EOF"},
	{io.ErrUnexpectedEOF, "io.ErrUnexpectedEOF"},
	{os.ErrDeadlineExceeded, "os.ErrDeadlineExceeded"},
}

// errorType returns the error.type of err, following the semantic
// conventions (a low-cardinality, meaningful type name, else _OTHER): the
// first error in err's tree, outermost first, that is a well-known sentinel
// (by its name, e.g. "context.DeadlineExceeded") or whose type is an
// exported named type (by its package path and name, pointers dereferenced,
// e.g. "net/url.Error"). Anonymous wrappers (errors.New, fmt.Errorf,
// errors.Join) are looked through; an error tree of nothing else is _OTHER.
func errorType(err error) string {
	const maxDepth = 32 // bounds a cyclic or absurdly deep tree
	queue := []error{err}
	for n := 0; len(queue) > 0 && n < maxDepth; n++ {
		e := queue[0]
		queue = queue[1:]
		if e == nil {
			continue
		}
		comparable := reflect.TypeOf(e).Comparable()
		for _, s := range sentinels {
			if comparable && e == s.err {
				return s.name
			}
		}
		t := reflect.TypeOf(e)
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Name() != "" && t.PkgPath() != "" && token.IsExported(t.Name()) {
			return t.PkgPath() + "." + t.Name()
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			queue = append(queue, u.Unwrap())
		case interface{ Unwrap() []error }:
			queue = append(queue, u.Unwrap()...)
		}
	}
	return errorTypeOther
}
