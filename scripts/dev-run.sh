#!/usr/bin/env bash
# `make run`: the built service in the given environment, on this machine,
# with no manual steps, until Ctrl-C.
#
# The Docker engine: DOCKER_HOST when it names another engine, else the
# default socket, else (as root) the development engine in .run/engine. The
# development engine outlives the service: its containers keep running across
# a Ctrl-C, and the next `make run` finds them again (as a host's engine does
# across a service restart). `make stop` stops it and removes its containers;
# `make clean` does that and removes everything under .run as well.
#
# While the service runs, its pid is in .run/service.pid: `make stop`, `make
# clean` (through `dev-run.sh --refuse-if-running WHO`) and a second `make run`
# refuse, since they would take its engine away or run a second service on
# the same folders.
set -euo pipefail
cd "$(dirname "$0")/.."
service_pid_file=.run/service.pid

# The pid of the service a `make run` started, if it still runs. The name is checked too: the pid
# file of a run that was killed outright stays behind, and its number may be reused.
running_service() {
  local pid
  pid=$(cat "$service_pid_file" 2>/dev/null) || return 1
  [ -n "$pid" ] && ps -p "$pid" -o args= 2>/dev/null | grep -q ecs-host-service && echo "$pid"
}

refuse_if_running() {
  local pid
  if pid=$(running_service); then
    echo "$1: the service that make run started (pid $pid) is still running; stop it first (Ctrl-C where it runs)" >&2
    exit 1
  fi
}

if [ "${1:-}" = --refuse-if-running ]; then
  refuse_if_running "${2:-make}"
  exit 0
fi
refuse_if_running "make run"

env_name=${1:-development}
here=$PWD
dev_engine="$here/.run/engine"
dev_engine_host="unix://$dev_engine/docker.sock"

engine_answers() { docker version >/dev/null 2>&1; }

start_dev_engine() {
  scripts/install-deps.sh engine
  echo "make run: starting the development engine in .run/engine (a few seconds)" >&2
  scripts/test-engine.sh start "$dev_engine"
  scripts/test-engine.sh image "$dev_engine"
}

private_engine=""
if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != "$dev_engine_host" ]; then
  command -v docker >/dev/null || scripts/install-deps.sh engine
  engine_answers || { echo "make run: DOCKER_HOST=$DOCKER_HOST does not answer" >&2; exit 1; }
elif [ -z "${DOCKER_HOST:-}" ] && [ -S /var/run/docker.sock ] && command -v docker >/dev/null && engine_answers; then
  :
elif [ "$(id -u)" = 0 ]; then
  # Also when DOCKER_HOST is the one the banner below suggested exporting: after `make stop` it starts again.
  private_engine=$dev_engine
  export DOCKER_HOST=$dev_engine_host
  engine_answers || start_dev_engine
else
  echo "make run: no Docker engine. Start one and set DOCKER_HOST, or run as root so that a development engine can be started (Debian package docker.io)." >&2
  exit 1
fi

export APP_ENV="$env_name"
if [ "$env_name" = development ]; then
  export HOST_SERVICE_ROOT="${HOST_SERVICE_ROOT:-$here/.run/root}"
  [ "$(id -u)" = 0 ] || export ALLOW_NON_ROOT="${ALLOW_NON_ROOT:-1}"
  # Off EC2 there is no metadata service: a closed local port makes the service fall back to
  # its labelled local values at once instead of waiting on 169.254.169.254. On an EC2 host,
  # set EC2_METADATA_URL=http://169.254.169.254 to read the real values.
  export EC2_METADATA_URL="${EC2_METADATA_URL:-http://127.0.0.1:9}"
fi
# What the service takes as its auth_secret (src/config.ts): the setting, else what
# `make build` wrote in from HOST_SERVICE_AUTH_SECRET_DEV, else the development default.
# Staging and production secrets are not printed.
secret="<auth_secret>"
if [ "$env_name" = development ]; then
  secret=${WEBSERVER_AUTH_SECRET:-${HOST_SERVICE_AUTH_SECRET_DEV:-testwebserverauthsecretdev}}
fi
port=${HOST_SERVICE_PORT:-4678}
mappings="${HOST_SERVICE_ROOT:-/}"
mappings="${mappings%/}/fractal/containerResourceMappings"

# `make status` finds the certificate under .run/root and the development secret by itself.
status_settings=""
[ "$port" = 4678 ] || status_settings+="HOST_SERVICE_PORT=$port "
[ "$mappings" = "$here/.run/root/fractal/containerResourceMappings" ] || status_settings+="HOST_SERVICE_ROOT=$HOST_SERVICE_ROOT "
[ "$secret" = testwebserverauthsecretdev ] || status_settings+="WEBSERVER_AUTH_SECRET=$secret "
image="<image>"
[ -z "$private_engine" ] || image="hs-test:latest"
{
  echo "make run: APP_ENV=$APP_ENV, Docker engine at ${DOCKER_HOST:-unix:///var/run/docker.sock}"
  echo "make run: container folders appear in $mappings/"
  echo "make run: HTTPS API on port $port, auth_secret $secret"
  echo "make run: try, in another shell:"
  echo "    export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}"
  echo "    id=\$(docker run -d -p 127.0.0.1::32262/tcp $image sleep 600)"
  echo "    port=\$(docker port \"\$id\" 32262/tcp | head -n1 | sed 's/.*://')"
  echo "    curl -sS -k -w '\\n' -X PUT https://localhost:$port/set_container_dpi -d '{\"auth_secret\": \"$secret\", \"host_port\": '\"\$port\"', \"dpi\": 192}'"
  echo "    ls -A $mappings/\"\$id\"/"
  echo "    ${status_settings}make status"
  if [ -n "$private_engine" ]; then
    echo "make run: the development engine publishes ports on 127.0.0.1 only and leaves the machine's"
    echo "    forwarding alone, so docker's \"IPv4 forwarding is disabled\" warning is expected."
  fi
} >&2

# The environment hosts get from the systemd unit (Node options, glibc's settings), so development
# runs the service as they do; APP_ENV is development's own, chosen above. A quoted setting
# (a value with spaces) loses its quotes, as systemd takes them.
while IFS= read -r setting; do export "${setting?}"; done < <(sed -n '/^Environment=APP_ENV=/d; s/^Environment="\(.*\)"$/\1/p; t; s/^Environment=//p' deploy/ecs-host-service.service)
build/ecs-host-service &
service=$!
mkdir -p .run && echo "$service" >"$service_pid_file"
trap 'kill -TERM $service 2>/dev/null || true' INT TERM
set +e
wait "$service"; status=$?
# A signal interrupts the first wait; the second one gets the service's own exit code.
if kill -0 "$service" 2>/dev/null; then wait "$service"; status=$?; fi
rm -f "$service_pid_file"
if [ -n "$private_engine" ]; then
  echo "make run: the development engine keeps running with its containers (DOCKER_HOST=$DOCKER_HOST);" \
    "the next make run finds them again. make stop stops it and removes them; make clean removes all of .run." >&2
fi
exit "$status"
