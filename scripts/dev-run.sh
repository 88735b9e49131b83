#!/usr/bin/env bash
# `make run`: the built service in the given environment, on this machine,
# with no manual steps. Finds a Docker engine (DOCKER_HOST, else the default
# socket, else a private engine it starts in .run/engine), keeps its folders
# under .run/root unless HOST_SERVICE_ROOT says otherwise, and runs until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
env_name=${1:-development}
here=$PWD

engine_answers() { docker version >/dev/null 2>&1; }

private_engine=""
secret_note=""
if [ -n "${DOCKER_HOST:-}" ]; then
  command -v docker >/dev/null || scripts/install-deps.sh engine
  engine_answers || { echo "make run: DOCKER_HOST=$DOCKER_HOST does not answer" >&2; exit 1; }
elif [ -S /var/run/docker.sock ] && command -v docker >/dev/null && engine_answers; then
  :
elif [ "$(id -u)" = 0 ]; then
  scripts/install-deps.sh engine
  private_engine="$here/.run/engine"
  scripts/test-engine.sh start "$private_engine"
  scripts/test-engine.sh image "$private_engine"
  export DOCKER_HOST="unix://$private_engine/docker.sock"
  trap 'scripts/test-engine.sh stop "$private_engine"' EXIT
else
  echo "make run: no Docker engine. Start one and set DOCKER_HOST, or run as root so that a private engine can be started (Debian package docker.io)." >&2
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
  # No secret is committed: a development run without one makes its own and prints it.
  if [ -z "${WEBSERVER_AUTH_SECRET:-}" ]; then
    WEBSERVER_AUTH_SECRET=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    export WEBSERVER_AUTH_SECRET
    secret_note=", auth_secret for this run: $WEBSERVER_AUTH_SECRET"
  fi
fi

example_image="<image>"
[ -z "$private_engine" ] || example_image="hs-test:latest"
cat >&2 <<INFO
make run: APP_ENV=$APP_ENV, Docker engine at ${DOCKER_HOST:-unix:///var/run/docker.sock}
make run: container folders appear in ${HOST_SERVICE_ROOT:-/}/fractal/containerResourceMappings/
make run: HTTPS API on port ${HOST_SERVICE_PORT:-4678}${secret_note:-}
make run: try, in another shell:
    export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}
    docker run -d -p 127.0.0.1::32262/tcp $example_image sleep 600
INFO
# Not exec: the trap above stops a private engine once the service has gone.
build/ecs-host-service &
service=$!
trap 'kill -TERM $service 2>/dev/null || true' INT TERM
set +e
wait "$service"; status=$?
# A signal interrupts the first wait; the second one gets the service's own exit code.
if kill -0 "$service" 2>/dev/null; then wait "$service"; status=$?; fi
exit "$status"
