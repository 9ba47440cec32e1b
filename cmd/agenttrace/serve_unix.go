//go:build unix

package main

import (
	"os/signal"
	"syscall"
)

// ignoreFileSizeSignal makes an exceeded file size limit (ulimit -f) what
// a full disk is to serve: writes fail with an error, ingest answers 503
// and /readyz fails, instead of SIGXFSZ killing the process.
func ignoreFileSizeSignal() { signal.Ignore(syscall.SIGXFSZ) }
