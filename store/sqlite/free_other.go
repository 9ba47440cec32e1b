//go:build !unix

package sqlite

import "errors"

// freeBytes is not measured on this platform: Ping relies on write errors.
func freeBytes(string) (uint64, error) { return 0, errors.New("not supported") }
