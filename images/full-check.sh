#!/usr/bin/env bash
# Boots the full image (2 GiB, 2 vCPUs, TCG) and runs Docker inside the job's VM: `docker import`
# the busybox rootfs made at build time, `docker run` it as root and as the `runner` user (docker
# group), check passwordless sudo and the kernel modules dockerd loaded. No privileged container
# anywhere; the VM is the boundary.
#   images/full-check.sh amd64|arm64
set -euo pipefail
arch="${1:-amd64}"
here="$(cd "$(dirname "$0")" && pwd)"
img="${ONESHOT_IMAGE_DIR:-$here/out}/$arch"
[[ -f $img/rootfs-full.ext4 ]] || { echo "no $img/rootfs-full.ext4: run images/build-full.sh $arch" >&2; exit 1; }
export ONESHOT_CHECK_ROOTFS=rootfs-full.ext4 ONESHOT_CHECK_MEM="${ONESHOT_CHECK_MEM:-2048}" ONESHOT_CHECK_CPUS="${ONESHOT_CHECK_CPUS:-2}" ONESHOT_CHECK_TIMEOUT="${ONESHOT_CHECK_TIMEOUT:-900}"
job='set -e
t0=$(date +%s)
docker import /opt/oneshot/test-rootfs.tar t >/dev/null
docker run --rm t /bin/sh -c "echo hello from docker in a oneshot VM"
echo "import+run took $(( $(date +%s) - t0 ))s"
su runner -s /bin/sh -c "docker run --rm t /bin/sh -c \"echo runner: docker group ok\""
su runner -s /bin/sh -c "sudo -n true" && echo "runner: passwordless sudo ok"
echo "modules loaded: $(cut -d" " -f1 /proc/modules | grep -E "^(overlay|bridge|veth|br_netfilter|nf_nat|ip_tables|iptable_nat|xt_MASQUERADE)$" | sort | tr "\n" " ")"'
started=$(date +%s)
set +e
output=$("$here/boot-check.sh" "$arch" "$job" 0 2>&1)
rc=$?
set -e
printf '%s\n' "$output"
for want in 'hello from docker in a oneshot VM' 'runner: docker group ok' 'runner: passwordless sudo ok'; do
  grep -qx "$want" <<<"$output" || { echo "FAIL: the job did not print '$want'" >&2; exit 1; }
done
((rc == 0)) || { echo "FAIL: boot-check exited $rc" >&2; exit 1; }
echo "full-check $arch: ok in $(( $(date +%s) - started ))s wall"
