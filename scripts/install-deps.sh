#!/usr/bin/env bash
# Installs the Debian packages that the tests, benchmarks and `make run` use,
# when they are missing. Needs root (apt-get); without root it only checks.
#   install-deps.sh [engine] [rclone] [browser] [systemd] [awscli]
set -euo pipefail

declare -A package_of=(
  [dockerd]=docker.io [docker]=docker.io [busybox]=busybox-static [ip]=iproute2
  [openssl]=openssl [rclone]=rclone [fusermount3]=fuse3 [chromium]=chromium [systemd-analyze]=systemd
  # By path: the install-script tests use Debian's AWS CLI, not another one earlier on PATH.
  [/usr/bin/aws]=awscli
)
want=()
for group in "${@:-engine}"; do
  case "$group" in
    # openssl: the certificate test reads the API's certificate with it.
    engine) want+=(dockerd docker busybox ip openssl) ;;
    rclone) want+=(rclone fusermount3) ;;
    browser) want+=(chromium) ;;
    systemd) want+=(systemd-analyze) ;;
    awscli) want+=(/usr/bin/aws) ;;
    *) echo "install-deps: unknown group $group (engine, rclone, browser, systemd, awscli)" >&2; exit 2 ;;
  esac
done

missing=()
for tool in "${want[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${package_of[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
