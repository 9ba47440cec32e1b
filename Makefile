# agenttrace: build, test and measure.
GO ?= go
PKGS ?= ./...

.PHONY: test lint vet bench build

## test: vet, then every test with the race detector.
test: vet
	$(GO) test -race -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)

## lint: gofmt check and vet.
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: every benchmark, 6 runs each, for benchstat.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 $(PKGS)

build:
	$(GO) build $(PKGS)
