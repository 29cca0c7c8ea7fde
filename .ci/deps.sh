#!/usr/bin/env bash
# Installs what the tests need, idempotently: Debian's Prometheus, Alertmanager,
# jq, docker-compose, podman (a real engine behind the Docker API), bubblewrap and socat (the
# session sandbox), go-jsonnet's tools and golangci-lint into ./.bin.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for pkg in prometheus:prometheus prometheus-alertmanager:prometheus-alertmanager \
           promtool:prometheus amtool:prometheus-alertmanager jq:jq docker-compose:docker-compose \
           podman:podman runc:runc busybox:busybox-static bwrap:bubblewrap socat:socat curl:curl; do
  command -v "${pkg%%:*}" >/dev/null 2>&1 || missing+=("${pkg##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
fi

mkdir -p .bin
for tool in jsonnet jsonnetfmt jsonnet-lint; do
  if [ ! -x ".bin/$tool" ]; then
    GOBIN="$PWD/.bin" GOTOOLCHAIN=local go install "github.com/google/go-jsonnet/cmd/$tool@v0.22.0"
  fi
done

# golangci-lint v2, pinned: .golangci.yml (make lint, .ci/run).
golangci_version=v2.15.0
if ! .bin/golangci-lint version 2>/dev/null | grep -q "version ${golangci_version#v} "; then
  GOBIN="$PWD/.bin" GOTOOLCHAIN=local go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$golangci_version"
fi

# gotestsum, pinned: make test prints each test as it ends (the e2e part
# runs for minutes), and the whole output of a failed one.
gotestsum_version=v1.13.0
if ! .bin/gotestsum --version 2>/dev/null | grep -q "$gotestsum_version"; then
  GOBIN="$PWD/.bin" GOTOOLCHAIN=local go install "gotest.tools/gotestsum@$gotestsum_version"
fi
