#!/usr/bin/env bash
# Installs (or upgrades) the host service from the release bucket: what a
# machine image's user data runs on a new host, and what upgrades a running one.
#
#   install-from-s3.sh [latest|COMMIT]      [latest]
#
# Fetches the executable, its unit and their checksums with the AWS CLI,
# checks them, installs both and runs `systemctl enable --now` (an upgrade
# restarts the unit; the service finds its running containers again on start).
# A failed download or a checksum that does not match changes nothing and
# exits 1 with one line on stderr. The release already installed is a no-op.
#
# Settings: RELEASE_BUCKET [fractal-ecs-host-service]; AWS_ENDPOINT_URL for
# an S3-compatible server; the AWS CLI's usual credentials and region;
# INSTALL_ROOT [/] to install into another root; SYSTEMCTL [systemctl], the
# command that manages the unit (needed when systemd is not running here).
set -euo pipefail

release=${1:-latest}
bucket=${RELEASE_BUCKET:-fractal-ecs-host-service}
install_root=${INSTALL_ROOT:-/}
bin_dir="${install_root%/}/usr/local/bin"
unit_dir="${install_root%/}/etc/systemd/system"
unit_name=ecs-host-service.service
executable=ecs-host-service

fail() { echo "install-from-s3: $*; the installed service is unchanged" >&2; exit 1; }

command -v aws >/dev/null || fail "the AWS CLI (aws) is not installed"
systemctl_cmd=${SYSTEMCTL:-}
if [ -z "$systemctl_cmd" ]; then
  [ -d /run/systemd/system ] || fail "systemd is not running here (set SYSTEMCTL to the command that manages units)"
  systemctl_cmd=systemctl
fi

staging=$(mktemp -d "${TMPDIR:-/tmp}/install-from-s3.XXXXXX")
trap 'rm -rf "$staging"' EXIT

aws_args=()
[ -n "${AWS_ENDPOINT_URL:-}" ] && aws_args+=(--endpoint-url "$AWS_ENDPOINT_URL")

# One object to the staging folder; the AWS CLI's own words only in the failure line.
fetch() {
  local key=$1 to=$2
  if ! aws "${aws_args[@]}" --only-show-errors s3 cp "s3://$bucket/$key" "$to" 2>"$staging/aws.err" >/dev/null; then
    fail "could not download s3://$bucket/$key ($(grep -v '^\s*$' "$staging/aws.err" | tail -n 1))"
  fi
}

# latest/build-info.json names the release there; it is the last object a release copies to latest/.
if [ "$release" = latest ]; then
  fetch latest/build-info.json "$staging/latest-build-info.json"
  release=$(sed -n 's/^ *"commit": *"\([^"]*\)".*/\1/p' "$staging/latest-build-info.json")
  [ -n "$release" ] || fail "s3://$bucket/latest/build-info.json names no commit"
fi
case "$release" in
  */* | .* | '') fail "\"$release\" is not a release name" ;;
esac

for name in "$executable" "$unit_name" ecs-host-service.sha256; do
  fetch "$release/$name" "$staging/$name"
done
# Both files must be listed, so a checksum file that leaves one out is refused too.
for name in "$executable" "$unit_name"; do
  grep -Eq "^[0-9a-f]{64}  $name\$" "$staging/ecs-host-service.sha256" ||
    fail "release $release: ecs-host-service.sha256 does not list $name"
done
if ! (cd "$staging" && sha256sum --check --strict --quiet ecs-host-service.sha256 >/dev/null 2>&1); then
  fail "release $release: checksum mismatch (the downloaded files are not the ones released)"
fi

installed_exe="$bin_dir/$executable"
installed_unit="$unit_dir/$unit_name"
if cmp -s "$staging/$executable" "$installed_exe" && cmp -s "$staging/$unit_name" "$installed_unit"; then
  echo "install-from-s3: release $release is already installed"
  exit 0
fi
upgrade=false
[ -e "$installed_exe" ] && upgrade=true

# Copied next to their final names, flushed to disk, and renamed over them, so a host never
# runs a half-written file: without the sync, a crash soon after a first install (no old file
# for the rename to replace, so ext4 does not flush it first) can leave an empty executable.
mkdir -p "$bin_dir" "$unit_dir"
install -m 0755 "$staging/$executable" "$installed_exe.new"
install -m 0644 "$staging/$unit_name" "$installed_unit.new"
sync "$installed_exe.new" "$installed_unit.new"
mv -f "$installed_unit.new" "$installed_unit"
mv -f "$installed_exe.new" "$installed_exe"

"$systemctl_cmd" daemon-reload
if $upgrade; then
  "$systemctl_cmd" enable "$unit_name"
  "$systemctl_cmd" restart "$unit_name"
  echo "install-from-s3: upgraded to release $release"
else
  "$systemctl_cmd" enable --now "$unit_name"
  echo "install-from-s3: installed release $release"
fi
