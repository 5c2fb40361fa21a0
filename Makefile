# hardvm: `make test` installs whatever oracle tools and test peers are
# missing (.ci/apt-packages, .ci/go-tools, .ci/npm-packages), then runs every
# test with the race detector, fuzz seed corpora included.
SHELL := /bin/bash
GO ?= go
GOBIN := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)
PKGS ?= ./...
FUZZTIME ?= 10s
BENCHTIME ?= 1x
TESTFLAGS ?=

.PHONY: all deps build install test lint bench bench-compare fuzz quickstart clean

all: lint test

## deps: install the oracle tools and test peers the tests use (as root on Debian)
deps:
	@bash .ci/deps.sh

## build: the hardvm CLI as ./hardvm (ignored by git; never commit a built binary)
build:
	$(GO) build -trimpath -o hardvm ./cmd/hardvm

## install: the hardvm CLI into $(GOBIN)
install:
	$(GO) install -trimpath ./cmd/hardvm

## test: every package, race detector, no cache, fuzz seeds included
test: deps
	$(GO) test -race -count=1 -timeout 40m $(TESTFLAGS) $(PKGS)
	GODEBUG=fips140=on $(GO) test -race -count=1 -timeout 10m $(TESTFLAGS) ./provenance/... ./fips/...

## lint: gofmt, go vet, staticcheck (pinned in .ci/go-tools)
lint: deps
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	staticcheck $(PKGS)

## bench: every Go benchmark
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

## bench-compare: our writers against the standard tools, as ratios, with peak RSS
bench-compare: deps
	bash scripts/bench-compare.sh

## fuzz: each fuzz target for FUZZTIME
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

quickstart:
	$(GO) run ./examples/quickstart

clean:
	rm -rf quickstart-out hardvm
