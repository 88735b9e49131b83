#!/usr/bin/env bash
# A private Docker engine for tests, benchmarks and `make run`: its own data
# root, exec root, socket, pid file and bridge, published ports on 127.0.0.1
# only, and no changes to the machine's iptables or forwarding. It can run
# beside the machine's own engine and beside other private engines.
#
#   test-engine.sh start DIR      start (or restart) the engine whose state lives in DIR
#   test-engine.sh stop DIR       stop it, keeping its data (containers survive: live-restore)
#   test-engine.sh destroy DIR    stop it, remove its containers, data and bridge
#   test-engine.sh image DIR      import the test image (busybox) into it, once
#   test-engine.sh run -- CMD...  a fresh engine for the length of CMD, always destroyed after
#
# After start, DIR/env holds DOCKER_HOST=... for the engine.
set -euo pipefail

TEST_IMAGE=${HS_TEST_IMAGE:-hs-test:latest}

die() { echo "test-engine: $*" >&2; exit 1; }

need_root_tools() {
  [ "$(id -u)" = 0 ] || die "a private Docker engine needs root (dockerd, bridges, mounts)"
  command -v dockerd >/dev/null || die "dockerd is missing: run scripts/install-deps.sh (Debian package docker.io)"
  command -v busybox >/dev/null || die "busybox is missing: run scripts/install-deps.sh (Debian package busybox-static)"
}

bridge_name() { echo "hs$(printf '%s' "$1" | sha1sum | cut -c1-8)"; }

engine_pid() {
  local pidfile="$1/docker.pid"
  [ -f "$pidfile" ] || return 1
  local pid; pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# Bridges of engines that died without `destroy` (a killed test run) keep an
# address range each; enough of them and no engine can start ("no available
# network"). A bridge no running dockerd names is such a leftover.
sweep_leftover_bridges() {
  local in_use bridge
  in_use=$(ps -eo args | grep -o -- '--bridge hs[0-9a-f]*' | awk '{print $2}' || true)
  for bridge in $(ip -br link show type bridge 2>/dev/null | awk '{print $1}' | grep -E '^hs[0-9a-f]{8}$' || true); do
    grep -qx -- "$bridge" <<<"$in_use" || ip link del "$bridge" 2>/dev/null || true
  done
}

start() {
  local dir; dir=$(realpath -m "$1")
  need_root_tools
  sweep_leftover_bridges
  mkdir -p "$dir/data" "$dir/exec"
  if engine_pid "$dir" >/dev/null; then return 0; fi
  local bridge; bridge=$(bridge_name "$dir")
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
  fi
  ip link set "$bridge" up
  local sock="$dir/docker.sock"
  # setsid: the engine must not get the terminal's Ctrl-C meant for the service.
  setsid dockerd \
    --data-root "$dir/data" --exec-root "$dir/exec" \
    --host "unix://$sock" --pidfile "$dir/docker.pid" \
    --bridge "$bridge" --ip 127.0.0.1 \
    --iptables=false --ip-masq=false --ip-forward=false --ip6tables=false \
    --live-restore --log-level warn \
    >>"$dir/dockerd.log" 2>&1 </dev/null &
  local i
  for i in $(seq 1 300); do
    if DOCKER_HOST="unix://$sock" docker version >/dev/null 2>&1; then
      echo "DOCKER_HOST=unix://$sock" >"$dir/env"
      return 0
    fi
    sleep 0.1
  done
  tail -20 "$dir/dockerd.log" >&2 || true
  die "the engine in $dir did not answer within 30 s"
}

stop() {
  local dir; dir=$(realpath -m "$1")
  local pid
  pid=$(engine_pid "$dir") || return 0
  kill -TERM "$pid"
  local i
  for i in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

destroy() {
  local dir; dir=$(realpath -m "$1")
  [ -d "$dir" ] || return 0
  # Containers outlive a stopped engine (live-restore): bring it back to remove them properly.
  # Where no engine ever started there is no data folder, and nothing to remove.
  [ ! -d "$dir/data" ] || engine_pid "$dir" >/dev/null || start "$dir" >/dev/null 2>&1 || true
  if engine_pid "$dir" >/dev/null; then
    local ids
    ids=$(DOCKER_HOST="unix://$dir/docker.sock" docker ps -aq 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -z "$ids" ] || DOCKER_HOST="unix://$dir/docker.sock" docker rm -f $ids >/dev/null 2>&1 || true
  fi
  stop "$dir"
  # Containers kept alive by live-restore, and the engine's own containerd, outlive dockerd.
  pkill -f -- "$dir/" 2>/dev/null || true
  sleep 0.2
  pkill -9 -f -- "$dir/" 2>/dev/null || true
  # A container whose start the engine never finished (stopped under it) leaves a `runc init`
  # waiting for good; it names the engine only in its environment, where pkill does not look.
  local proc
  for proc in /proc/[0-9]*; do
    if grep -qaF -- "_LIBCONTAINER_STATEDIR=$dir/" "$proc/environ" 2>/dev/null; then
      kill -9 "${proc#/proc/}" 2>/dev/null || true
    fi
  done
  { grep -F -- "$dir/" /proc/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  local bridge; bridge=$(bridge_name "$dir")
  ip link del "$bridge" 2>/dev/null || true
  rm -rf "$dir"
}

image() {
  local dir; dir=$(realpath -m "$1")
  export DOCKER_HOST="unix://$dir/docker.sock"
  if docker image inspect "$TEST_IMAGE" >/dev/null 2>&1; then return 0; fi
  local rootfs="$dir/rootfs"
  rm -rf "$rootfs"; mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/etc"
  cp "$(command -v busybox)" "$rootfs/bin/busybox"
  local applet
  for applet in sh sleep cat ls echo true false kill trap; do ln -sf busybox "$rootfs/bin/$applet"; done
  tar -C "$rootfs" -c . | docker import -c 'CMD ["sleep", "86400"]' - "$TEST_IMAGE" >/dev/null
  rm -rf "$rootfs"
}

run() {
  # Before the folder: without the tools, `destroy` on exit would die too and leave it behind.
  need_root_tools
  local dir; dir=$(mktemp -d /tmp/hs-engine.XXXXXX)
  # shellcheck disable=SC2064
  trap "destroy '$dir'" EXIT
  trap 'exit 130' INT TERM
  start "$dir"
  image "$dir"
  export DOCKER_HOST="unix://$dir/docker.sock" HS_TEST_ENGINE_DIR="$dir" HS_TEST_IMAGE="$TEST_IMAGE"
  "$@"
}

cmd=${1:-}; shift || true
case "$cmd" in
  start|stop|destroy|image) [ $# -ge 1 ] || die "usage: $0 $cmd DIR"; "$cmd" "$1" ;;
  run) [ "${1:-}" = "--" ] && shift; [ $# -ge 1 ] || die "usage: $0 run -- CMD..."; run "$@" ;;
  *) die "usage: $0 start|stop|destroy|image DIR, or $0 run -- CMD..." ;;
esac
