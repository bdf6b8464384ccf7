#!/usr/bin/env bash
# Boots the full image (2 GiB, 2 vCPUs, TCG) and runs Docker inside the job's VM: `docker import`
# the busybox rootfs made at build time, `docker run` it as root and as the `runner` user (docker
# group), build an image from a Dockerfile and run it as `runner`, check passwordless sudo, the
# installed runners and the kernel modules dockerd loaded. No privileged container anywhere;
# the VM is the boundary.
#   images/full-check.sh amd64|arm64
set -euo pipefail
arch="${1:-amd64}"
here="$(cd "$(dirname "$0")" && pwd)"
img="${ONESHOT_IMAGE_DIR:-$here/out}/$arch"
[[ -f $img/rootfs-full.ext4 ]] || { echo "no $img/rootfs-full.ext4: run images/build-full.sh $arch" >&2; exit 1; }
export ONESHOT_CHECK_ROOTFS=rootfs-full.ext4 ONESHOT_CHECK_MEM="${ONESHOT_CHECK_MEM:-2048}" ONESHOT_CHECK_CPUS="${ONESHOT_CHECK_CPUS:-2}" ONESHOT_CHECK_TIMEOUT="${ONESHOT_CHECK_TIMEOUT:-900}"
job=$(cat <<'JOB'
set -e
t0=$(date +%s)
docker import /opt/oneshot/test-rootfs.tar t >/dev/null
docker run --rm t /bin/sh -c "echo hello from docker in a oneshot VM"
echo "import+run took $(( $(date +%s) - t0 ))s"
su runner -s /bin/sh -c "docker run --rm t /bin/sh -c \"echo runner: docker group ok\""
su runner -s /bin/sh -c "sudo -n true" && echo "runner: passwordless sudo ok"
# What a workflow does: as the unprivileged runner, build an image from a Dockerfile (FROM
# scratch + the static busybox; no registry is reachable) and run it.
cat > /tmp/as-runner.sh <<'RUNNER'
set -e
t0=$(date +%s%N)
d=$(mktemp -d)
cd "$d"
tar -xf /opt/oneshot/test-rootfs.tar
printf 'FROM scratch\nCOPY . /\nCMD ["/bin/sh", "-c", "echo built and run by $(id -un 2>/dev/null || echo uid) in a oneshot VM"]\n' > Dockerfile
docker build -q -t oneshot-check/built . >/dev/null
docker run --rm oneshot-check/built /bin/sh -c 'echo "dockerfile build+run as runner: ok"'
echo "dockerfile build+run took $(( ($(date +%s%N) - t0) / 1000000 ))ms"
RUNNER
chmod 0755 /tmp/as-runner.sh
su runner -s /bin/sh -c /tmp/as-runner.sh
echo "runner user: $(id runner)"
# The runners the build installed.
if [ -x /opt/actions-runner/bin/Runner.Listener ]; then
  echo "actions runner: $(su runner -s /bin/sh -c '/opt/actions-runner/bin/Runner.Listener --version')"
elif [ -f /opt/actions-runner/STAND-IN ]; then
  su runner -s /bin/sh -c 'ACTIONS_RUNNER_INPUT_JITCONFIG=ci-check /opt/actions-runner/run.sh'
fi
[ "$(stat -c %U /opt/actions-runner/run.sh 2>/dev/null)" = runner ] && echo "actions runner: owned by runner"
command -v gitlab-runner >/dev/null && echo "gitlab-runner: $(gitlab-runner --version 2>&1 | head -1)"
echo "modules loaded: $(cut -d" " -f1 /proc/modules | grep -E "^(overlay|bridge|veth|br_netfilter|nf_nat|ip_tables|iptable_nat|xt_MASQUERADE)$" | sort | tr "\n" " ")"
JOB
)
started=$(date +%s)
set +e
output=$("$here/boot-check.sh" "$arch" "$job" 0 2>&1)
rc=$?
set -e
printf '%s\n' "$output"
wants=('hello from docker in a oneshot VM' 'runner: docker group ok' 'runner: passwordless sudo ok' 'dockerfile build+run as runner: ok')
# ONESHOT_FULL_CHECK_RUNNER=stand-in (images/ci-full.sh): the runners must be the stand-ins.
if [[ ${ONESHOT_FULL_CHECK_RUNNER:-} == stand-in ]]; then
  wants+=('actions runner: owned by runner')
  grep -q '^oneshot stand-in runner: jitconfig bytes=8 ' <<<"$output" || { echo "FAIL: the stand-in runner did not run as runner" >&2; exit 1; }
  grep -q '^gitlab-runner: oneshot stand-in gitlab-runner' <<<"$output" || { echo "FAIL: no stand-in gitlab-runner" >&2; exit 1; }
fi
for want in "${wants[@]}"; do
  grep -qx "$want" <<<"$output" || { echo "FAIL: the job did not print '$want'" >&2; exit 1; }
done
((rc == 0)) || { echo "FAIL: boot-check exited $rc" >&2; exit 1; }
echo "full-check $arch: ok in $(( $(date +%s) - started ))s wall"
