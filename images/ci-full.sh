#!/usr/bin/env bash
# CI's proof of the full image (scripts/setup.sh test runs it before `npm test`):
#   images/ci-full.sh [amd64|arm64]
# 1. Serves stand-in runners from a local file server (python3 http.server on 127.0.0.1) laid
#    out like the real download hosts: a GitHub runner tarball (run.sh = images/agent/stand-in-runner)
#    and a gitlab-runner script with a release.sha256 beside it. CI reaches neither GitHub nor
#    GitLab, so this is how the download + verify path of build-full.sh runs on every change.
# 2. Proves a wrong sha256 is refused (build-full.sh exits non-zero with one REFUSED line).
# 3. Builds the full image through the server: ONESHOT_RUNNER_BASE_URL + --runner-sha256 (the
#    stand-in's sum overrides the pin), ONESHOT_GITLAB_RUNNER_BASE_URL (sum from release.sha256).
# 4. images/full-check.sh: boots it under QEMU and, as the unprivileged `runner` user, builds an
#    image from a Dockerfile (FROM scratch + static busybox, no registry) and `docker run`s it.
set -euo pipefail
arch="${1:-amd64}"
here="$(cd "$(dirname "$0")" && pwd)"
say() { printf '[ci-full %s] %s\n' "$arch" "$*"; }
command -v python3 >/dev/null || { echo "python3 is missing (scripts/setup.sh installs it)" >&2; exit 1; }
# The versions build-full.sh pins: the server must answer at the pinned paths.
rv=$(sed -n 's/^RUNNER_VERSION=//p' "$here/build-full.sh")
gv=$(sed -n 's/^GITLAB_RUNNER_VERSION=//p' "$here/build-full.sh")
garch=$([[ $arch == amd64 ]] && echo x64 || echo arm64)

srv=$(mktemp -d)
server_pid=""
trap '[[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null; rm -rf "$srv"' EXIT
mkdir -p "$srv/www/gh/v$rv" "$srv/www/gl/v$gv/binaries" "$srv/tar"
install -m 0755 "$here/agent/stand-in-runner" "$srv/tar/run.sh"
printf 'stand-in for actions/runner %s (oneshot CI); not the real runner\n' "$rv" > "$srv/tar/STAND-IN"
tar -C "$srv/tar" -czf "$srv/www/gh/v$rv/actions-runner-linux-$garch-$rv.tar.gz" .
printf '#!/bin/sh\necho "oneshot stand-in gitlab-runner %s: $*"\n' "$gv" > "$srv/www/gl/v$gv/binaries/gitlab-runner-linux-$arch"
(cd "$srv/www/gl/v$gv" && sha256sum "binaries/gitlab-runner-linux-$arch" > release.sha256)
gh_sha=$(sha256sum "$srv/www/gh/v$rv/actions-runner-linux-$garch-$rv.tar.gz" | cut -d' ' -f1)

python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$srv/www" > "$srv/server.log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 50); do
  port=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$srv/server.log" | head -1)
  [[ -n $port ]] && break
  sleep 0.1
done
[[ -n $port ]] || { cat "$srv/server.log" >&2; echo "the local file server did not start" >&2; exit 1; }
export ONESHOT_RUNNER_BASE_URL="http://127.0.0.1:$port/gh" ONESHOT_GITLAB_RUNNER_BASE_URL="http://127.0.0.1:$port/gl"
# A download cache of its own: the stand-ins never sit where a real build looks.
export ONESHOT_DOWNLOAD_CACHE="$srv/downloads"
say "stand-in runners on http://127.0.0.1:$port (runner tarball sha256 $gh_sha)"

say "a wrong sha256 must be refused"
set +e
out=$("$here/build-full.sh" "$arch" --runner-sha256 "$(printf '0%.0s' $(seq 64))" 2>&1)
rc=$?
set -e
if ((rc == 0)) || ! grep -q '^REFUSED ' <<<"$out"; then
  printf '%s\n' "$out" >&2; echo "FAIL: build-full.sh accepted a runner tarball whose sha256 does not match" >&2; exit 1
fi
grep '^REFUSED ' <<<"$out"

say "build through the file server"
t0=$(date +%s)
"$here/build-full.sh" "$arch" --runner-sha256 "$gh_sha"
say "build took $(( $(date +%s) - t0 ))s"
m="${ONESHOT_IMAGE_DIR:-$here/out}/$arch/manifest-full.json"
grep -q '"lacks": \[\]' "$m" || { cat "$m" >&2; echo "FAIL: the image lacks something" >&2; exit 1; }
grep -q "\"sha256\": \"$gh_sha\"" "$m" || { echo "FAIL: manifest does not record the runner tarball's sha256" >&2; exit 1; }
grep -q 'release.sha256' "$m" || { echo "FAIL: manifest does not record where gitlab-runner's sum came from" >&2; exit 1; }
kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; server_pid=""

ONESHOT_FULL_CHECK_RUNNER=stand-in "$here/full-check.sh" "$arch"
