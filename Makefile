# treasured — build, test and measure.
#
# `make test` is what CI runs (.ci/run). It works on a fresh machine that has
# only Go: tools it lacks are fetched with `go run pkg@version`, and the one
# check that needs a system package (flatc, for the generated-code diff) is
# skipped with a visible message. CI installs flatc, so CI runs every check.

GO          ?= go
STATICCHECK_VERSION := v0.8.2
BENCHSTAT   := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
STATICCHECK := $(shell command -v staticcheck 2>/dev/null || echo "$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)")
FLATC       := flatc
FLATC_VERSION := 2.0.8
PKGS        := ./...
BIN         := bin

# The main job: the server pinned to CPU 0, 1,000 simulated players on CPU 1
# for 10 s over loopback, then the report (perf/run.sh prints it).
DEMO_PLAYERS ?= 1000
DEMO_DURATION ?= 10s

.PHONY: all build deploy-skips image image-binary generate flatc-version check-generate fmt-check vet shellcheck lint test test-unit test-race test-socket fuzz bench bench-load bench-table run demo clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# Regenerates schema/wire from schema/treasure.fbs with Debian's flatc 2.0.8,
# then the verifier from the same .fbs so the two cannot drift apart.
generate: flatc-version
	$(GO) generate ./schema/...

# Only flatc 2.0.8 (Debian bookworm's flatbuffers-compiler) writes the committed
# schema/wire byte for byte; other versions write different Go, so generating
# with them would rewrite schema/wire and fail check-generate.
flatc-version:
	@v="$$($(FLATC) --version 2>/dev/null | awk '{print $$NF}')"; \
	if [ "$$v" != "$(FLATC_VERSION)" ]; then \
		echo "generate: flatc $(FLATC_VERSION) required, found '$${v:-none}' ($(FLATC)); install Debian's flatbuffers-compiler 2.0.8 (apt-get install flatbuffers-compiler) and put it first on PATH" >&2; exit 1; \
	fi

# Fails when the committed generated code differs from what `make generate` writes.
check-generate:
	@if ! command -v $(FLATC) >/dev/null 2>&1; then \
		echo "SKIP check-generate: $(FLATC) not installed (apt-get install flatbuffers-compiler); CI installs it"; \
	elif [ "$$($(FLATC) --version 2>/dev/null | awk '{print $$NF}')" != "$(FLATC_VERSION)" ]; then \
		echo "SKIP check-generate: flatc $(FLATC_VERSION) required, found '$$($(FLATC) --version 2>/dev/null)'; other versions write different Go (Debian bookworm: apt-get install flatbuffers-compiler)"; \
	else \
		$(MAKE) --no-print-directory generate && \
		if [ -n "$$(git status --porcelain -- schema)" ]; then \
			echo "check-generate: 'make generate' changed committed files:"; git status --porcelain -- schema; git diff --stat -- schema; exit 1; \
		else echo "check-generate: generated code is up to date"; fi; \
	fi

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi; echo "gofmt: clean"

vet:
	$(GO) vet $(PKGS)

shellcheck:
	@if command -v shellcheck >/dev/null 2>&1; then shellcheck -x perf/*.sh .ci/run && echo "shellcheck: clean"; \
	else echo "SKIP shellcheck: not installed (apt-get install shellcheck); CI installs it"; fi

lint: fmt-check vet shellcheck
	$(STATICCHECK) $(PKGS)

# Unit tests, fuzz seed corpora (go test runs testdata/fuzz/* as regression
# cases) and short loopback integration tests.
test-unit:
	$(GO) test -count=1 $(PKGS)

# The race detector where goroutines meet: rings, event loops, fan-out workers
# (concurrent Snapshot calls), journal fsync, client and bench workers.
test-race:
	$(GO) test -count=1 -race -short ./netio/... ./client/... ./engine/... ./cmd/...

test: lint check-generate test-unit test-race deploy-skips

# go test shows a skipped test only with -v; say here which deploy checks
# (./deploy tests) this machine could not run.
deploy-skips:
	@command -v systemd-analyze >/dev/null 2>&1 || echo "SKIP deploy: systemd-analyze not installed, the systemd unit was not verified (apt-get install systemd)"
	@if ! command -v podman >/dev/null 2>&1 && ! command -v buildah >/dev/null 2>&1; then \
		echo "SKIP deploy: neither podman nor buildah installed, the container image was not built (apt-get install buildah)"; fi

# Real-socket tests repeated: they must not flake on a loaded 2-core box.
test-socket:
	$(GO) test -count=20 -run 'EndToEnd|Server|MmsgLoopback' ./netio/

# The server on 127.0.0.1:7777 (admin and /metrics on 127.0.0.1:7778) with the
# engine's default world.
# Without TREASURED_TOKEN_KEY, run creates a development connect-token key in
# $(BIN) (once) and says so: the server binary itself has no default key.
run:
	@key="$${TREASURED_TOKEN_KEY:-$(BIN)/dev-token.key}"; \
	if [ -z "$$TREASURED_TOKEN_KEY" ]; then \
		mkdir -p $(BIN); [ -f "$$key" ] || $(GO) run ./cmd/treasure-token genkey --out "$$key" >/dev/null || exit 1; \
		echo "make run: DEVELOPMENT connect-token key $$key (made here, not for production); issue player tokens with: go run ./cmd/treasure-token issue --key $$key ..." >&2; \
	fi; \
	$(GO) run ./cmd/treasured --token-key "$$key"

demo:
	perf/run.sh --server treasured --players $(DEMO_PLAYERS) --duration $(DEMO_DURATION)

# The standard load comparison: loopback ceiling, then treasured and both
# baselines at each player count, as Markdown tables (see perf/README.md).
bench-load:
	perf/compare.sh

# Issue 8's item-6 table in one go (~15 min): the blaster ceiling, treasured
# and both baselines at 1,000 / 4,200 / 10,000 players and the sink at
# 10,000, three rotated runs of 10 s each, printed as one Markdown table of
# medians [min-max]. BENCH_TABLE_ARGS adds compare.sh flags, e.g.
# BENCH_TABLE_ARGS='--runs 1 --duration 3s' for a quick check.
BENCH_TABLE_ARGS ?=
bench-table:
	perf/compare.sh --servers "treasured plain naive sink" --players "1000 4200 10000" --sink-players 10000 \
		--runs 3 --duration 10s --format markdown $(BENCH_TABLE_ARGS)

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzDecode -fuzztime=10m -parallel=1 ./schema

bench:
	mkdir -p $(BIN)
	$(GO) test -run='^$$' -bench=. -benchmem -count=6 ./schema ./engine ./netio | tee $(BIN)/bench.txt
	$(GO) run $(BENCHSTAT) $(BIN)/bench.txt

# The container image (deploy/container/Containerfile): a static treasured
# (no cgo, so no libc to ship) in $(IMAGE_DIR), then podman or buildah with
# that folder as the whole build context. FROM scratch: nothing is pulled.
IMAGE       ?= treasured:latest
IMAGE_DIR   ?= $(BIN)/image

image-binary:
	mkdir -p $(IMAGE_DIR)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(IMAGE_DIR)/treasured ./cmd/treasured

image: image-binary
	@if command -v podman >/dev/null 2>&1; then \
		podman build -f deploy/container/Containerfile -t $(IMAGE) $(IMAGE_DIR); \
	elif command -v buildah >/dev/null 2>&1; then \
		buildah bud -f deploy/container/Containerfile -t $(IMAGE) $(IMAGE_DIR); \
	else \
		echo "image: neither podman nor buildah is installed (apt-get install podman); the static binary is $(IMAGE_DIR)/treasured" >&2; exit 1; \
	fi

clean:
	rm -rf $(BIN)
