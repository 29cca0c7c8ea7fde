#!/usr/bin/env bash
# Builds the Claude Ops monitoring mixin and checks it.
#
#   mixin/build.sh build   regenerate mixin/out/{alerts,rules}.yaml and grafana/dashboards/*.json
#   mixin/build.sh check   fail when the outputs are stale, the jsonnet is unformatted or
#                          does not lint, the rules do not load, or a rule unit test fails
#   mixin/build.sh fmt     format the jsonnet in place
#
# jsonnet, jsonnetfmt and jsonnet-lint (go-jsonnet) are taken from $PWD/.bin, the
# repository's .bin, or PATH; promtool from PATH.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mixin="$root/mixin"
dashboards="$root/grafana/dashboards"

tool() {
	local name=$1 dir
	for dir in "$PWD/.bin" "$root/.bin"; do
		if [[ -x "$dir/$name" ]]; then
			echo "$dir/$name"
			return
		fi
	done
	if command -v "$name" >/dev/null 2>&1; then
		command -v "$name"
		return
	fi
	echo "build.sh: $name not found in $PWD/.bin, $root/.bin or PATH" >&2
	echo "  install: GOBIN=$root/.bin go install github.com/google/go-jsonnet/cmd/$name@v0.22.0" >&2
	return 1
}

jsonnet_files() {
	find "$mixin" -path "$mixin/vendor" -prune -o \( -name '*.libsonnet' -o -name '*.jsonnet' \) -print | sort
}

# generate DIR: writes alerts.yaml, rules.yaml and dashboards/*.json under DIR.
generate() {
	local out=$1 jsonnet
	jsonnet=$(tool jsonnet)
	mkdir -p "$out/dashboards"
	"$jsonnet" -J "$mixin" -S -e 'std.manifestYamlDoc((import "mixin.libsonnet").prometheusAlerts, indent_array_in_object=false, quote_keys=false)' >"$out/alerts.yaml"
	"$jsonnet" -J "$mixin" -S -e 'std.manifestYamlDoc((import "mixin.libsonnet").prometheusRules, indent_array_in_object=false, quote_keys=false)' >"$out/rules.yaml"
	"$jsonnet" -J "$mixin" -m "$out/dashboards" -e '(import "mixin.libsonnet").grafanaDashboards' >/dev/null
}

build() {
	local tmp
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	generate "$tmp"
	mkdir -p "$mixin/out" "$dashboards"
	cp "$tmp/alerts.yaml" "$tmp/rules.yaml" "$mixin/out/"
	# Dashboards that the mixin no longer builds are removed.
	find "$dashboards" -maxdepth 1 -name '*.json' -delete
	cp "$tmp"/dashboards/*.json "$dashboards/"
	echo "built mixin/out/alerts.yaml mixin/out/rules.yaml $(cd "$root" && ls grafana/dashboards/*.json | tr '\n' ' ')"
}

check() {
	local tmp rc=0 f jsonnetfmt lint promtool
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	jsonnetfmt=$(tool jsonnetfmt)
	lint=$(tool jsonnet-lint)
	promtool=$(tool promtool)

	echo "== jsonnetfmt --test"
	while read -r f; do
		if ! "$jsonnetfmt" --test "$f"; then
			echo "unformatted: ${f#"$root"/} (run: mixin/build.sh fmt)" >&2
			rc=1
		fi
	done < <(jsonnet_files)

	echo "== jsonnet-lint"
	while read -r f; do
		"$lint" -J "$mixin" "$f" || rc=1
	done < <(jsonnet_files)

	echo "== outputs up to date"
	generate "$tmp"
	diff -u "$mixin/out/alerts.yaml" "$tmp/alerts.yaml" || rc=1
	diff -u "$mixin/out/rules.yaml" "$tmp/rules.yaml" || rc=1
	diff -ru "$dashboards" "$tmp/dashboards" || rc=1
	if ((rc != 0)); then
		echo "stale or broken: run mixin/build.sh build" >&2
	fi

	echo "== promtool check rules"
	"$promtool" check rules "$mixin/out/alerts.yaml" "$mixin/out/rules.yaml" || rc=1

	echo "== promtool test rules"
	(cd "$mixin/tests" && "$promtool" test rules ./*.yaml) || rc=1

	if ((rc != 0)); then
		echo "mixin check FAILED" >&2
	else
		echo "mixin check ok"
	fi
	return "$rc"
}

fmt() {
	local jsonnetfmt f
	jsonnetfmt=$(tool jsonnetfmt)
	while read -r f; do
		"$jsonnetfmt" -i "$f"
	done < <(jsonnet_files)
}

case "${1:-}" in
build) build ;;
check) check ;;
fmt) fmt ;;
*)
	echo "usage: $0 build|check|fmt" >&2
	exit 2
	;;
esac
