#!/usr/bin/env bash
# Boots the full image and runs Docker inside the job's VM: `docker import` a busybox rootfs
# made at build time, `docker run` it. No privileged container anywhere; the VM is the boundary.
#   images/full-check.sh amd64
set -euo pipefail
arch="${1:-amd64}"
here="$(cd "$(dirname "$0")" && pwd)"
export ONESHOT_CHECK_ROOTFS=rootfs-full.ext4 ONESHOT_CHECK_MEM="${ONESHOT_CHECK_MEM:-2048}" ONESHOT_CHECK_CPUS="${ONESHOT_CHECK_CPUS:-2}" ONESHOT_CHECK_TIMEOUT="${ONESHOT_CHECK_TIMEOUT:-900}"
exec "$here/boot-check.sh" "$arch" 'set -e
docker import /opt/oneshot/test-rootfs.tar oneshot-test:latest
docker run --rm oneshot-test:latest /bin/sh -c "echo hello from docker in a oneshot VM"
echo "whoami: $(id -un); groups of runner: $(id -Gn runner)"' 0
