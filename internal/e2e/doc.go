// Package e2e holds the end-to-end test of the whole loop on one machine:
// traces recorded with the SDK (package trace) are exported over OTLP/HTTP
// to the real server (package server over a SQLite file, on 127.0.0.1) and
// read back with the query client (package usage). It has no code of its
// own; see e2e_test.go.
package e2e
