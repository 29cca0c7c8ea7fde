# Claude Ops. `make run` runs the daemon, `make test` runs every test.
GO          ?= go
CLI_VERSION := 2.1.330
CLI_DIR     ?= $(HOME)/.cache/claude-ops/claude-code-$(CLI_VERSION)
CLI         := $(CLI_DIR)/node_modules/.bin/claude
BIN         := $(CURDIR)/.bin
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
VPKG        := github.com/prometheus/common/version
LDFLAGS     := -X $(VPKG).Version=$(VERSION) -X $(VPKG).Revision=$(REVISION) -X $(VPKG).Branch=main
export GOTOOLCHAIN := local

.PHONY: sandbox all build run test cli deps mixin mixin-check fuzz bench lint demo

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o claude-ops .

## cli: install the pinned Claude Code CLI into a cache folder the tests find.
cli:
	@if ! "$(CLI)" --version 2>/dev/null | grep -q "^$(CLI_VERSION) "; then \
		echo ">> installing @anthropic-ai/claude-code@$(CLI_VERSION) into $(CLI_DIR)"; \
		mkdir -p "$(CLI_DIR)" && npm install --prefix "$(CLI_DIR)" --no-audit --no-fund --loglevel=error \
			@anthropic-ai/claude-code@$(CLI_VERSION); \
	fi

## run: the daemon with local defaults (state and transcripts under ./data).
run: cli sandbox
	$(GO) run -ldflags "$(LDFLAGS)" . --claude.path="$(CLI)" $(ARGS)

## sandbox: bubblewrap and socat, without which no session runs (Debian/Ubuntu).
sandbox:
	@command -v bwrap >/dev/null && command -v socat >/dev/null || { \
		sudo=""; [ "$$(id -u)" -ne 0 ] && sudo=sudo; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends bubblewrap socat; }

## demo: the keyless demo: a scripted model, a failing service, one incident
## remediated through a typed action (demo/run.sh; bubblewrap from `make deps`).
demo: cli
	GO=$(GO) CLAUDEOPS_CLAUDE_PATH="$(CLI)" ./demo/run.sh $(ARGS)

## test: every test, after installing what they need: nothing skips (CI=true
## turns a missing tool into a failure).
test: deps
	CI=$${CI:-true} $(BIN)/gotestsum --format testname --format-hide-empty-pkg -- -race -count=1 ./...

## deps: what the tests need (Debian packages, the CLI, jsonnet tools); idempotent.
deps: cli
	./.ci/deps.sh

## lint: golangci-lint with .golangci.yml (installed by deps into .bin).
lint: deps
	$(BIN)/golangci-lint run ./...

mixin:
	bash mixin/build.sh build

mixin-check:
	bash mixin/build.sh check

## fuzz: a short fuzz of each target, by execution count (about 10 s each
## here): a -fuzztime in seconds races Go 1.26's fuzz coordinator at its
## deadline and can fail with "context deadline exceeded" and no crasher
## (go.dev/issue/75804, fixed in Go 1.27).
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzDecode -fuzztime=100000x ./webhook/
	$(GO) test -run='^$$' -fuzz=FuzzClassify -fuzztime=100000x ./policy/
	$(GO) test -run='^$$' -fuzz=FuzzReadBatch -fuzztime=100000x ./remediator/
	$(GO) test -run='^$$' -fuzz=FuzzReadAlertLog -fuzztime=100000x ./remediator/

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...
