#!/usr/bin/env bash
# Boots the minimal image once with a script job, the way hostd does, and checks the result:
#   images/boot-check.sh amd64|arm64 [script] [expected-exit-code]
# Prints the job output, boot-to-agent-ready and total wall time. Software emulation (TCG).
# ONESHOT_CHECK_ROOTFS (default rootfs.ext4), ONESHOT_CHECK_MEM (MiB, 256), ONESHOT_CHECK_CPUS (1)
# and ONESHOT_CHECK_TIMEOUT (in-guest timeout, 60 s) change the VM.
set -euo pipefail
arch="${1:-}"; script="${2:-echo hi; uname -m; exit 3}"; expect="${3:-3}"
case "$arch" in amd64|arm64) ;; *) echo "usage: $0 amd64|arm64 [script] [expected-exit]" >&2; exit 2 ;; esac
here="$(cd "$(dirname "$0")" && pwd)"
img="${ONESHOT_IMAGE_DIR:-$here/out}/$arch"
[[ -f $img/manifest.json ]] || { echo "no image in $img: run images/build-minimal.sh $arch" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/cfg/oneshot"
# The drive layout the agent in this tree reads (docs/guest-contract.md): version 2 names the
# launch (argv, env, user); version 1 only the script. Both sets are written, the version decides.
if grep -q '"\$version" = "2"' "$here/agent/oneshot-agent"; then drive=2 kind=script; else drive=1 kind=local; fi
printf '%s' "$drive" > "$work/cfg/oneshot/version"
printf '%s' "$kind" > "$work/cfg/oneshot/kind"
mkdir -p "$work/cfg/oneshot/launch"
printf '/bin/sh\n/run/oneshot/cfg/oneshot/script\n' > "$work/cfg/oneshot/launch/argv"
: > "$work/cfg/oneshot/launch/env"
printf 'root\n' > "$work/cfg/oneshot/launch/user"
printf 'boot-check' > "$work/cfg/oneshot/job-id"
printf 'boot-check' > "$work/cfg/oneshot/hostname"
printf '%s' "${ONESHOT_CHECK_TIMEOUT:-60}" > "$work/cfg/oneshot/timeout-sec"
printf '%s\n' "$script" > "$work/cfg/oneshot/script"
truncate -s 4M "$work/cfg.img"
mkfs.ext4 -q -F -L oneshot-cfg -d "$work/cfg" "$work/cfg.img"
# The marker key block past the filesystem's end (docs/guest-contract.md "Console markers").
key=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
{ printf 'oneshot-marker-key-v1 %s\n' "$key"; head -c $((4096 - 87)) /dev/zero; } >> "$work/cfg.img"
rootfs="$img/${ONESHOT_CHECK_ROOTFS:-rootfs.ext4}"
[[ -f $rootfs ]] || { echo "no $rootfs" >&2; exit 1; }
qemu-img create -q -f qcow2 -b "$rootfs" -F raw "$work/root.qcow2"
cmdline="console=ttyS0 reboot=t panic=-1 quiet root=/dev/vda rw"
if [[ $arch == amd64 ]]; then
  khz=$(awk '/^cpu MHz/ {printf "%d", $4 * 1000; exit}' /proc/cpuinfo)
  qemu=(qemu-system-x86_64 -M microvm -cpu max)
  cmdline+=" tsc=reliable tsc_early_khz=${khz:-2100000}"
else
  qemu=(qemu-system-aarch64 -M virt -cpu cortex-a72)
  cmdline=${cmdline/ttyS0/ttyAMA0}
fi
# The console comes through a FIFO and is timestamped line by line as it arrives (polling the
# log file could miss the ready marker when the job is short and the host busy).
mkfifo "$work/serial"
: > "$work/console.log"
start=$(date +%s%N)
"${qemu[@]}" -accel tcg -m "${ONESHOT_CHECK_MEM:-256}" -smp "${ONESHOT_CHECK_CPUS:-1}" -nodefaults -no-user-config -display none -no-reboot \
  -serial stdio -kernel "$img/vmlinuz" -initrd "$img/initrd.img" -append "$cmdline" \
  -drive "id=root,file=$work/root.qcow2,format=qcow2,if=none" -device virtio-blk-device,drive=root \
  -drive "id=cfg,file=$work/cfg.img,format=raw,if=none" -device virtio-blk-device,drive=cfg \
  < /dev/null > "$work/serial" 2> "$work/qemu.err" &
qpid=$!
trap 'kill "$qpid" 2>/dev/null || true; rm -rf "$work"' EXIT
while IFS= read -r line || [[ -n $line ]]; do
  line=${line%$'\r'}
  printf '%s\n' "$line" >> "$work/console.log"
  if [[ ! -f $work/ready && $line == *ONESHOT-AGENT-READY* ]]; then
    echo $(( ($(date +%s%N) - start) / 1000000 )) > "$work/ready"
  fi
done < "$work/serial"
wait "$qpid" || true
ready_ms=$(cat "$work/ready" 2>/dev/null || true)
total_ms=$(( ($(date +%s%N) - start) / 1000000 ))
sed -n '/^oneshot: dockerd/p; /^ONESHOT-JOB-START/,/^ONESHOT-JOB-EXIT/p' "$work/console.log"
# The exit code from the one exit marker whose MAC verifies under this boot's key.
rc=""
while read -r text mac; do
  want=$(printf '%s' "$text" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" | awk '{print $NF}')
  [[ "mac=$want" == "$mac" ]] && rc=${text#ONESHOT-JOB-EXIT=}
done < <(grep -E '^ONESHOT-JOB-EXIT=-?[0-9]+ mac=[0-9a-f]{64}$' "$work/console.log")
echo "{\"arch\":\"$arch\",\"exitCode\":${rc:-null},\"agentReadyMs\":${ready_ms:-null},\"totalMs\":$total_ms}"
if [[ "${rc:-none}" != "$expect" ]]; then
  echo "expected exit $expect, got ${rc:-no marker}; console:" >&2
  tail -30 "$work/console.log" >&2
  exit 1
fi
