# agenttrace: build, test and measure.
GO ?= go
PKGS ?= ./...

.PHONY: test lint vet bench build demo interop soak

## test: vet, then every test with the race detector.
test: vet
	$(GO) test -race -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)

## soak: the long soak and fault suite against the serve binary (bad
## inputs, gzip bombs, large bodies, slow clients, a full disk, SIGKILL
## during ingest); prints the RELIABILITY figures of BENCHMARKS.md. Its
## short form (TestSoak) runs with make test.
soak:
	$(GO) test -count=1 -timeout 30m -run 'TestSoak$$' -v ./cmd/agenttrace -soak.long

## lint: gofmt check and vet.
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: every benchmark, 6 runs each, for benchstat.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 $(PKGS)

build:
	$(GO) build $(PKGS)

## demo: the whole loop with nothing but Go: build agenttrace, serve a
## temporary database on 127.0.0.1, record examples/support_agent, query its
## session and tenant usage, traces and spans, stop the server.
demo:
	GO="$(GO)" bash scripts/demo.sh

## interop: build a stock OpenTelemetry Collector (once; again when its
## builder config changes) and run the interop tests against it and the real
## agenttrace serve (module interop/, see interop/doc.go).
OTELCOL_BUILDER ?= $(GO) run go.opentelemetry.io/collector/cmd/builder@v0.161.0
OTELCOL_CONFIG := interop/collector/builder-config.yaml
OTELCOL_BIN := interop/bin/otelcol-agenttrace

interop: $(OTELCOL_BIN)
	@echo "== interop: running the tests against $(OTELCOL_BIN)"
	@cd interop && OTELCOL_BIN="$(CURDIR)/$(OTELCOL_BIN)" $(GO) test -count=1 -v ./... \
		|| { echo "make interop: step failed: interop tests (see the output above)" >&2; exit 1; }

$(OTELCOL_BIN): $(OTELCOL_CONFIG)
	@echo "== interop: building the Collector with the OpenTelemetry Collector Builder v0.161.0 (takes a few minutes the first time)"
	@rm -f $@
	@cd interop/collector && $(OTELCOL_BUILDER) --config builder-config.yaml \
		|| { echo "make interop: step failed: building the Collector ($(OTELCOL_CONFIG))" >&2; exit 1; }
	@test -x $@ || { echo "make interop: step failed: building the Collector: the builder made no $@" >&2; exit 1; }
