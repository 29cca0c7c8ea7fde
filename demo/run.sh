#!/usr/bin/env bash
# The keyless demo (`make demo`): the daemon, a scripted model, a failing
# service, a stand-in for Alertmanager; one incident, from a failing probe to
# its close as remediated. Exit 0 then, 1 (with the daemon's log tail) if it
# does not get there within DEMO_TIMEOUT.
#
# Environment:
#   CLAUDEOPS_CLAUDE_PATH  the Claude Code CLI (make demo passes the pinned one)
#   DEMO_DAEMON            a built claude-ops (default: go build into the work dir)
#   DEMO_TIMEOUT           default 5m
#   DEMO_STAY=1            keep the daemon running after the demo, until Ctrl-C
#   DEMO_KEEP=1            keep the work dir (it is kept anyway on failure)
# Extra arguments are passed on to the daemon.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
go=${GO:-go}
timeout=${DEMO_TIMEOUT:-5m}
claude=${CLAUDEOPS_CLAUDE_PATH:-$HOME/.cache/claude-ops/claude-code-2.1.330/node_modules/.bin/claude}
work=$(mktemp -d "${TMPDIR:-/tmp}/claude-ops-demo.XXXXXX")
demo_pid= daemon_pid= ok=

cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	[ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null && wait "$demo_pid" 2>/dev/null
	if [ -n "$ok" ] && [ "${DEMO_KEEP:-}" != 1 ]; then
		rm -rf "$work"
	else
		echo "demo | work dir kept: $work (daemon log: $work/daemon.log)"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! "$claude" --version >/dev/null 2>&1; then
	echo "demo | no Claude Code CLI at $claude: run \`make cli\` (make demo does)" >&2
	exit 1
fi

echo "demo | building (work dir $work)"
(cd "$root" && "$go" build -o "$work/demo-program" ./demo)
daemon=${DEMO_DAEMON:-}
if [ -z "$daemon" ]; then
	(cd "$root" && "$go" build -o "$work/claude-ops" .)
	daemon=$work/claude-ops
fi

sandbox=()
if ! bwrap --ro-bind / / --dev /dev --proc /proc --unshare-all true >/dev/null 2>&1; then
	sandbox=(--sandbox.disable)
	echo "demo | !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
	echo "demo | !! bubblewrap is missing or cannot run here: sessions run UNSANDBOXED.     !!"
	echo "demo | !! Acceptable for this demo only (its model is scripted and harmless);     !!"
	echo "demo | !! never run the daemon like this against real infrastructure.             !!"
	echo "demo | !! Install it: \`make deps\` (Debian: apt-get install bubblewrap).           !!"
	echo "demo | !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
fi

"$work/demo-program" -dir "$work" -timeout "$timeout" &
demo_pid=$!
for _ in $(seq 1 100); do
	[ -f "$work/demo.env" ] && break
	kill -0 "$demo_pid" 2>/dev/null || { echo "demo | the demo program exited early" >&2; exit 1; }
	sleep 0.1
done
# shellcheck disable=SC1091
. "$work/demo.env"

mkdir -p "$work/state" "$work/results" "$work/home"
echo "demo | starting the daemon on http://$DEMO_DAEMON_ADDR (log: $work/daemon.log)"
env HOME="$work/home" PATH="$PATH" ANTHROPIC_API_KEY=demo-no-key-needed ANTHROPIC_BASE_URL="$DEMO_MODEL_URL" \
	CLAUDEOPS_CLAUDE_PATH="$claude" ${GORACE:+GORACE="$GORACE"} \
	"$daemon" --web.listen-address="$DEMO_DAEMON_ADDR" \
	--state.dir="$work/state" --results.dir="$work/results" --repos.dir="$DEMO_REPOS" \
	--webhook.no-auth --schedule.interval=1h --probe.interval=1s \
	"${sandbox[@]}" "$@" >"$work/daemon.log" 2>&1 &
daemon_pid=$!

rc=0
wait "$demo_pid" || rc=$?
demo_pid=
if [ "$rc" != 0 ]; then
	echo "demo | FAILED; the daemon's log, last 40 lines:" >&2
	tail -n 40 "$work/daemon.log" >&2
	exit 1
fi
ok=1
if [ "${DEMO_STAY:-}" = 1 ]; then
	echo "demo | the daemon keeps running at http://$DEMO_DAEMON_ADDR; Ctrl-C to stop"
	wait "$daemon_pid" || true
fi
