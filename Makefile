# Latch developer tasks. `make help` lists them.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME ?= 10s
LATCH_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
# serve wants an admin token of 32 bytes or more.
DEV_ADMIN_TOKEN ?= dev-admin-token-0123456789abcdef
# What "latch version" prints for make build.
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: help run test test-postgres bench fuzz lint build clients

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## Run Latch on SQLite under ./tmp, with a dev admin token and a seeded dev client
	@mkdir -p tmp
	@export LATCH_DATABASE_URL=sqlite:tmp/latch.db; \
	if [ -z "$${LATCH_ADMIN_TOKEN:-}" ]; then \
		export LATCH_ADMIN_TOKEN='$(DEV_ADMIN_TOKEN)'; \
		echo "LATCH_ADMIN_TOKEN=$$LATCH_ADMIN_TOKEN (dev value)"; \
	fi; \
	base="http://$${LATCH_ADDR:-127.0.0.1:8080}"; \
	( for _ in $$(seq 60); do curl -fsS "$$base/healthz" >/dev/null 2>&1 && break; sleep 0.5; done; \
	  curl -fsS -o /dev/null -X POST "$$base/admin/clients" \
	    -H "Authorization: Bearer $$LATCH_ADMIN_TOKEN" -H 'Content-Type: application/json' \
	    -d '{"client_id":"dev-client","client_secret":"dev-secret","grant_types":["client_credentials","password","refresh_token"],"scope":"read write"}' \
	    && echo "seeded client dev-client (secret dev-secret); try:" \
	    && echo "  curl -u dev-client:dev-secret -d grant_type=client_credentials $$base/oauth2/token" \
	    || true ) & \
	go run ./cmd/latch serve

test: ## Run all tests with the race detector
	go test -race ./...

test-postgres: ## Run all tests, including the PostgreSQL storage suite (LATCH_TEST_DATABASE_URL)
	LATCH_TEST_DATABASE_URL='$(LATCH_TEST_DATABASE_URL)' go test -race -count=1 ./...

bench: ## Run benchmarks 10 times into bench.txt (compare with benchstat)
	go test -run '^$$' -bench . -benchmem -count 10 ./... | tee bench.txt

fuzz: ## Run every fuzz target for FUZZTIME (default 10s; a count like 10000x avoids golang/go#75804)
	@targets="$$(go test -list '^Fuzz' ./... | awk '/^Fuzz/ {n[c++] = $$1; next} /^ok/ {for (i = 0; i < c; i++) print $$2, n[i]; c = 0}')"; \
	if [ -z "$$targets" ]; then echo "no fuzz targets"; exit 0; fi; \
	while read -r pkg name; do \
		echo "== $$pkg $$name"; \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg"; \
	done <<< "$$targets"

lint: ## Check formatting (gofmt), go vet and staticcheck
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	go vet ./...
	go run $(STATICCHECK) ./...

clients: ## Install the JS client tests' npm modules (npm ci), so that go test runs them
	cd clients/oauth4webapi && npm ci --no-audit --no-fund

build: ## Build a static binary into bin/latch, versioned by git describe (VERSION)
	CGO_ENABLED=0 go build -ldflags '-X main.version=$(VERSION)' -o bin/latch ./cmd/latch

BENCH_DURATION ?= 10s
BENCH_CONCURRENCY ?= 32

.PHONY: bench-load
bench-load: ## Load-test a fresh Latch on SQLite and PostgreSQL (BENCH_DURATION, BENCH_CONCURRENCY)
	CGO_ENABLED=0 go build -o bin/latch ./cmd/latch
	CGO_ENABLED=0 go build -o bin/latch-bench ./cmd/latch-bench
	BENCH_DURATION='$(BENCH_DURATION)' BENCH_CONCURRENCY='$(BENCH_CONCURRENCY)' ./cmd/latch-bench/run.sh

.PHONY: bench-flood
bench-flood: ## Refresh and introspection latency with and without a password flood (PostgreSQL)
	CGO_ENABLED=0 go build -o bin/latch ./cmd/latch
	CGO_ENABLED=0 go build -o bin/latch-bench ./cmd/latch-bench
	./cmd/latch-bench/flood.sh

.PHONY: faults faults-short faults-selftest
faults: ## Fault suite: private PostgreSQL, 3 nodes behind HAProxy, then SQLite; every fault (about 3 min)
	./cmd/latch-faults/run.sh full

faults-short: ## The fault suite's short schedule, as CI runs it (under 2 min)
	./cmd/latch-faults/run.sh short

faults-selftest: ## The fault suite with a planted fault: passes only if the suite catches it
	./cmd/latch-faults/run.sh selftest
