# Shoal's Makefile is its interface (STYLE principle 19): every target is strict, explicit about
# timeouts and free of caching (-count=1). `make` alone lists the targets.

SHELL := bash
.SHELLFLAGS := -o pipefail -euc
MAKEFLAGS += --warn-undefined-variables --no-builtin-rules
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
.SUFFIXES:

# Find Go even when /usr/local/go/bin is not on PATH (fresh shells, CI, sudo).
ifeq ($(shell command -v go 2>/dev/null),)
export PATH := /usr/local/go/bin:$(PATH)
endif

# Overridable knobs: make bench BENCH=Append PKG=./storage/...   make fuzz FUZZ=Batch FUZZTIME=2m
BENCH ?= .
PKG ?= ./...
FUZZ ?= .
FUZZTIME ?= 30s

.PHONY: help run cluster demo deps test vet fmt-check bench fuzz lint tidy

help: ## List the targets
	@echo "usage: make TARGET [VAR=value]"
	@grep -E '^[a-z][a-z-]*:.*## ' $(firstword $(MAKEFILE_LIST)) \
		| awk 'BEGIN { FS = ":.*## " } { printf "  %-10s %s\n", $$1, $$2 }'

run: ## Start one node on 127.0.0.1:7070 (HTTP on :7071, Redis clients on :7379) with its data in data/dev; Ctrl-C stops it
	go build -o bin/shoal ./cmd/shoal
	bin/shoal serve --data-dir data/dev --node-id dev --resp-addr 127.0.0.1:7379

cluster: ## Start three local nodes n1 n2 n3 (brokers 127.0.0.1:7170/7270/7370, data in data/cluster); Ctrl-C stops them
	go build -o bin/shoal ./cmd/shoal
	scripts/cluster.sh bin/shoal

demo: ## The storage demo: write records to a partition log in data/demo and read them back
	go run ./cmd/shoal demo --data-dir data/demo

deps: ## Install Debian's redis-server and redis-tools (the Redis differential tests) when /usr/bin/redis-server is missing
	@if [[ ! -x /usr/bin/redis-server || ! -x /usr/bin/redis-cli ]]; then \
		sudo=; [[ "$$(id -u)" == 0 ]] || sudo=sudo; \
		echo "installing redis-server and redis-tools (apt-get)"; \
		$$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y redis-server redis-tools; \
	fi

test: deps vet fmt-check ## go vet, gofmt check, then all tests with -race (replays fuzz corpora; needs make deps)
	go test -race -count=1 -timeout 10m ./...

vet: ## go vet ./...
	go vet ./...

fmt-check: ## Fail, listing the files, if any Go file is not gofmt-formatted
	@unformatted=$$(find . -type f -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 \
		| xargs -0 -r gofmt -l); \
	if [[ -n "$$unformatted" ]]; then \
		echo "these files are not gofmt-formatted (run: gofmt -w FILE...):"; \
		echo "$$unformatted"; \
		exit 1; \
	fi

bench: ## Go benchmarks, never part of test (BENCH=regex PKG=./storage/...)
	go test -run '^$$' -bench '$(BENCH)' -benchmem -count=1 -timeout 30m $(PKG)

# make sim SEED=N replays one seed; make sim SEEDS=K runs K seeds (from SEED, default 0);
# plain make sim runs 1,000 (TIER=cluster: 10). TIER=cluster runs the cluster tier (whole nodes in
# one process, a few seconds a seed). SIMFLAGS passes more flags, e.g. SIMFLAGS='--canary commit-old-epoch'.
SEED ?=
SEEDS ?=
TIER ?= protocol
SIMFLAGS ?=
.PHONY: sim
sim: ## The simulator: SEED=N replays one seed, SEEDS=K runs a swarm, TIER=cluster whole nodes (SIMFLAGS=... more flags)
	go build -o bin/shoal ./cmd/shoal
	bin/shoal sim --tier $(TIER) $(if $(SEED),--seed $(SEED)) --seeds $(or $(SEEDS),$(if $(SEED),1,$(if $(filter cluster,$(TIER)),10,1000))) $(SIMFLAGS)

fuzz: ## Run each Fuzz* target for FUZZTIME (default 30s); opt-in (FUZZ=regex filters names)
	@dirs=$$(grep -rl --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git '^func Fuzz' . \
		| xargs -r -n1 dirname | sort -u || true); \
	found=0; \
	for dir in $$dirs; do \
		listed=$$(go test -list '^Fuzz' "$$dir"); \
		names=$$(grep -E '^Fuzz' <<< "$$listed" | grep -E -e '$(FUZZ)' || true); \
		for name in $$names; do \
			found=$$((found + 1)); \
			echo "==> $$dir $$name for $(FUZZTIME)"; \
			go test -run '^$$' -fuzz "^$$name\$$" -fuzztime '$(FUZZTIME)' -fuzzminimizetime 5s "$$dir"; \
		done; \
	done; \
	echo "fuzz: ran $$found target(s)"

lint: vet fmt-check ## go vet, gofmt check and staticcheck (pinned by the tool line in go.mod)
	go tool staticcheck ./...

tidy: ## Fail if go.mod or go.sum drift from what `go mod tidy` would write
	@if ! drift=$$(go mod tidy -diff 2>&1); then \
		echo "$$drift"; \
		echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit the result"; \
		exit 1; \
	fi; \
	echo "go.mod and go.sum are tidy"
