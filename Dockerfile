# syntax=docker/dockerfile:1

# Build the daemon: a static binary.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION} -X github.com/prometheus/common/version.Revision=${REVISION}" \
      -o /claude-ops .

# Runtime: Node for the pinned Claude Code CLI (a glibc binary), plus the
# tools sessions use to look at services.
FROM node:22-bookworm-slim
ARG CLAUDE_CODE_VERSION=2.1.330
# docker.io gives sessions a docker CLI for the (optional) mounted socket.
ARG INSTALL_DOCKER_CLI=false
# bubblewrap and socat: every session runs in bwrap, with socat bridging the
# daemon's socket in, and the CLI's own sandbox around Bash needs both too.
# The container needs user namespaces and a fresh /proc for them: see
# docker-compose.yaml's security_opt and the README ("Sandbox in a container").
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl openssh-client git dnsutils tini \
      bubblewrap socat \
 && if [ "$INSTALL_DOCKER_CLI" = "true" ]; then apt-get install -y --no-install-recommends docker.io; fi \
 && rm -rf /var/lib/apt/lists/*
RUN npm install -g "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" \
 && npm cache clean --force \
 && claude --version

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/claude-ops claude-ops \
 && mkdir -p /state /results /repos \
 && chown claude-ops:claude-ops /state /results

COPY --from=build /claude-ops /bin/claude-ops

ENV CLAUDEOPS_STATE_DIR=/state \
    CLAUDEOPS_RESULTS_DIR=/results \
    CLAUDEOPS_REPOS_DIR=/repos \
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1

USER claude-ops
WORKDIR /home/claude-ops
VOLUME ["/state", "/results"]
EXPOSE 9847
# tini reaps the orphans sessions leave: the daemon waits for a session's
# process group to be gone, and PID 1 without an init reaps slowly.
ENTRYPOINT ["/usr/bin/tini", "--", "/bin/claude-ops"]
