// Package interop holds agenttrace's interoperability tests against real
// OpenTelemetry parts; it has no API of its own. It is a module of its own
// (github.com/agenttrace/agenttrace/interop, resolving the main module through
// a replace directive) so that the main module never inherits what these
// tests need.
//
// Run it with "make interop" from the repository root: that builds a stock
// OpenTelemetry Collector (otlp receiver, file and otlp_http exporters, from
// collector/builder-config.yaml with the OpenTelemetry Collector Builder
// v0.161.0) into bin/otelcol-agenttrace, once, and runs
//
//	cd interop && OTELCOL_BIN=$PWD/bin/otelcol-agenttrace go test -count=1 -v ./...
//
// The tests build and start the real "agenttrace serve" (SQLite file in a
// temporary directory) and the Collector on 127.0.0.1:
//
//   - TestCollectorRoundTrip records the support-agent scenario
//     (examples/support_agent/agent) and a trace of edge cases (failures,
//     a panic, another library's span, every token and cost attribute) with
//     the agenttrace SDK on a TracerProvider of the test's own, sends them to
//     the Collector (configured with the README's "Use with an OpenTelemetry
//     Collector" config), and checks that every span, parent link, status, event and
//     attribute in the Collector's file exporter output is exactly what the
//     SDK recorded; then that the Collector forwarded the spans to agenttrace
//     serve, whose usage API reports the expected tokens, requests and cost.
//   - TestForeignOTelSDK sends spans made with the plain OpenTelemetry Go SDK
//     (GenAI attributes set by hand) straight to agenttrace serve and finds
//     their usage.
//
// A missing OTELCOL_BIN, or a Collector or server that does not build or
// start, fails the tests with a message naming the step; nothing is skipped.
package interop
