#!/bin/sh
# Which container options let Claude Ops sandbox its sessions on this host?
#
# Runs in IMAGE, as the image's user, what the daemon checks at start and
# before each session (runner.Sandbox.Check): bwrap with a session's
# namespaces, uid 1001 and a fresh /proc, in it a nested bwrap like the CLI's
# sandbox around Bash, and in that socat -V. Once per option set; prints
# "works" or bwrap's error, the one /-/ready would show.
#
#   docker compose build claude-ops && deploy/sandbox-probe.sh
#   ENGINE=podman deploy/sandbox-probe.sh
#   deploy/sandbox-probe.sh "--security-opt seccomp=$PWD/my-profile.json --security-opt systempaths=unconfined"
#
# Each argument is one option set (split on spaces); none: a default list.
# ENGINE (docker), IMAGE (claude-ops:local), RUN_USER (10001:10001, the
# Dockerfile's user).
set -u
ENGINE=${ENGINE:-docker}
IMAGE=${IMAGE:-claude-ops:local}
RUN_USER=${RUN_USER:-10001:10001}

# The argv of Check (runner/sandbox.go), bwrap and socat from the image.
probe='b=$(command -v bwrap) || { echo "bwrap: not in the image"; exit 127; }
s=$(command -v socat) || { echo "socat: not in the image"; exit 127; }
exec "$b" --die-with-parent --new-session --unshare-all --uid 1001 --gid 1001 \
  --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --tmpfs /root --tmpfs /home --tmpfs /run \
  -- "$b" --die-with-parent --new-session --unshare-net --unshare-pid \
  --ro-bind / / --dev /dev -- "$s" -V'

if [ $# -eq 0 ]; then
	set -- "" \
		"--security-opt seccomp=unconfined" \
		"--security-opt systempaths=unconfined" \
		"--security-opt systempaths=unconfined --security-opt seccomp=unconfined" \
		"--security-opt systempaths=unconfined --security-opt seccomp=unconfined --security-opt apparmor=unconfined"
fi

rc=1
for opts in "$@"; do
	# shellcheck disable=SC2086 # an option set is split on spaces
	out=$("$ENGINE" run --rm --network none --user "$RUN_USER" --entrypoint /bin/sh $opts "$IMAGE" -c "$probe" 2>&1)
	if printf '%s\n' "$out" | grep -q '^socat version'; then
		result=works
		rc=0
	else
		result=$(printf '%s\n' "$out" | grep -v '^socat by' | head -n 2 | tr '\n' ' ')
	fi
	printf '%-100s %s\n' "${opts:-(engine defaults)}" "$result"
done
# 0 when some option set works.
exit $rc
