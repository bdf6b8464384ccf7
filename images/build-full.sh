#!/usr/bin/env bash
# Builds the full guest image (what production CI jobs run):
#   images/build-full.sh amd64|arm64 [--runner-tarball PATH] [--gitlab-runner PATH]
# Debian bookworm via debootstrap (deb.debian.org) with git, curl, build-essential, docker.io,
# containerd, sudo, a non-root `runner` user in the docker and sudo groups, the kernel's own
# modules (so dockerd can load overlay, bridge, netfilter), and the oneshot agent, which starts
# dockerd before the job. The GitHub runner and gitlab-runner come only from paths you give.
# A foreign arch (arm64 on an amd64 host) is bootstrapped with qemu-user-static through
# binfmt_misc; the script registers the interpreter only for its own run and removes it after.
# → $ONESHOT_IMAGE_DIR/<arch>/rootfs-full.ext4 + manifest-full.json (kernel and initrd: the minimal image's).
# The debootstrap tree is cached in images/.cache/<arch>/full-root (keyed by the package list).
set -euo pipefail
arch="${1:-}"; shift || true
runner_tarball="" gitlab_runner=""
while (($#)); do
  case "$1" in
    --runner-tarball) runner_tarball="$2"; shift 2 ;;
    --gitlab-runner) gitlab_runner="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
case "$arch" in amd64|arm64) ;; *) echo "usage: $0 amd64|arm64 [--runner-tarball PATH] [--gitlab-runner PATH]" >&2; exit 2 ;; esac
here="$(cd "$(dirname "$0")" && pwd)"
out="${ONESHOT_IMAGE_DIR:-$here/out}/$arch"
cache="$here/.cache/$arch"
say() { printf '[image-full %s] %s\n' "$arch" "$*"; }
started=$(date +%s)

"$here/build-minimal.sh" "$arch"   # kernel, initrd and the cached kernel package
kdir=$(ls -d "$cache"/x-linux-image-*/ | head -1)
kver=$(ls "$kdir/lib/modules")
root="$cache/full-root"
packages=(ca-certificates curl git build-essential docker.io containerd sudo iproute2 iptables kmod e2fsprogs procps less)
[[ -z $runner_tarball || -f $runner_tarball ]] || { echo "--runner-tarball $runner_tarball: no such file" >&2; exit 2; }
[[ -z $gitlab_runner || -f $gitlab_runner ]] || { echo "--gitlab-runner $gitlab_runner: no such file" >&2; exit 2; }

# A foreign arch runs its maintainer scripts under qemu-user: binfmt_misc with the F flag (the
# interpreter is opened at registration, so it works inside the chroot). Undone on exit.
undo=()
cleanup() { local i; for ((i = ${#undo[@]} - 1; i >= 0; i--)); do eval "${undo[i]}" || true; done; }
trap cleanup EXIT
foreign=false
if [[ $arch != "$(dpkg --print-architecture)" ]]; then
  foreign=true
  [[ $arch == arm64 ]] || { echo "cross-building $arch is not supported" >&2; exit 2; }
  conf=/usr/lib/binfmt.d/qemu-aarch64.conf
  if [[ ! -f $conf ]]; then
    say "installing qemu-user-static (runs arm64 maintainer scripts)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
  fi
  bm=/proc/sys/fs/binfmt_misc
  if [[ ! -f $bm/register ]]; then
    mount -t binfmt_misc binfmt_misc "$bm"
    undo+=("umount $bm")
  fi
  if [[ ! -f $bm/qemu-aarch64 ]]; then
    cat "$conf" > "$bm/register"
    undo+=("echo -1 > $bm/qemu-aarch64")
    say "registered qemu-aarch64 with binfmt_misc for this build"
  fi
fi

root="$cache/full-root"
# debootstrap's second stage mounts proc and sys in the tree; an interrupted run must not leave them.
undo+=("grep -o \" $root/[^ ]*\" /proc/mounts | sort -r | xargs -r -n1 umount -l")
key=$(printf '%s\n' "$arch" "${packages[@]}" | sha256sum | cut -c1-16)
if [[ "$(cat "$root/.oneshot-debootstrap" 2>/dev/null)" != "$key" ]]; then
  say "debootstrap bookworm $arch with ${packages[*]} (minutes; log: $cache/debootstrap.log)"
  rm -rf "$root"
  t0=$(date +%s)
  # Two stages for every arch: unpack, then forbid service starts (a package must not start
  # dockerd on the build host), then configure.
  debootstrap --arch="$arch" --foreign --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
    bookworm "$root" http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  say "first stage done in $(( $(date +%s) - t0 ))s; second stage$($foreign && echo ' under qemu-user (slow)')"
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d" && chmod 0755 "$root/usr/sbin/policy-rc.d"
  chroot "$root" /debootstrap/debootstrap --second-stage >>"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  rm -f "$root/usr/sbin/policy-rc.d"
  rm -f "$root"/var/cache/apt/archives/*.deb   # ~180 MiB the image does not need
  echo "$key" > "$root/.oneshot-debootstrap"
  say "debootstrap done in $(( $(date +%s) - t0 ))s"
else
  say "debootstrap tree cached: $root"
fi

say "kernel modules $kver"
rm -rf "$root/lib/modules" && mkdir -p "$root/lib/modules"
cp -a "$kdir/lib/modules/$kver" "$root/lib/modules/"
depmod -b "$root" "$kver"
# What dockerd loads with modprobe: each must resolve in the image (or be built in).
for m in overlay bridge veth br_netfilter nf_nat ip_tables iptable_nat iptable_filter xt_MASQUERADE xt_addrtype xt_conntrack; do
  modprobe -d "$root" -S "$kver" --show-depends "$m" >/dev/null 2>&1 || { echo "kernel module $m missing from $kver" >&2; exit 1; }
done

say "runner user, agent, test rootfs"
chroot "$root" sh -c 'id runner >/dev/null 2>&1 || useradd -m -s /bin/bash -G docker,sudo runner'
printf 'runner ALL=(ALL) NOPASSWD:ALL\n' > "$root/etc/sudoers.d/runner" && chmod 0440 "$root/etc/sudoers.d/runner"
install -m 0755 "$here/agent/oneshot-agent" "$root/sbin/oneshot-agent"
printf 'oneshot\n' > "$root/etc/hostname"
: > "$root/etc/resolv.conf"   # debootstrap copied the build host's; the agent writes the job's
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
# A tiny rootfs for the Docker check: busybox and its shell, nothing downloaded at run time.
tr=$(mktemp -d)
mkdir -p "$tr/bin" && cp "$(ls -d "$cache"/x-busybox-static/)bin/busybox" "$tr/bin/busybox" && ln -s busybox "$tr/bin/sh" && ln -s busybox "$tr/bin/echo"
mkdir -p "$root/opt/oneshot" && tar -C "$tr" -cf "$root/opt/oneshot/test-rootfs.tar" . && rm -rf "$tr"

lacks=()
if [[ -n $runner_tarball ]]; then
  say "GitHub Actions runner from $runner_tarball"
  rm -rf "$root/opt/actions-runner" && mkdir -p "$root/opt/actions-runner"
  tar -C "$root/opt/actions-runner" -xzf "$runner_tarball"
  chroot "$root" chown -R runner:runner /opt/actions-runner
else
  rm -rf "$root/opt/actions-runner"
  lacks+=("GitHub Actions runner (--runner-tarball actions-runner-linux-$([[ $arch == amd64 ]] && echo x64 || echo arm64)-*.tar.gz)")
fi
if [[ -n $gitlab_runner ]]; then
  install -m 0755 "$gitlab_runner" "$root/usr/local/bin/gitlab-runner"
else
  rm -f "$root/usr/local/bin/gitlab-runner"
  lacks+=("gitlab-runner (--gitlab-runner PATH to the binary)")
fi
for l in "${lacks[@]}"; do say "this image lacks: $l"; done

say "ext4 image"
used_mib=$(du -sm "$root" | cut -f1)
size_mib=$(( used_mib * 13 / 10 + 512 ))
rm -f "$out/rootfs-full.ext4.tmp"
truncate -s "${size_mib}M" "$out/rootfs-full.ext4.tmp"
mkfs.ext4 -q -F -L oneshot-root -E root_owner=0:0 -d "$root" "$out/rootfs-full.ext4.tmp"
mv "$out/rootfs-full.ext4.tmp" "$out/rootfs-full.ext4"
lacks_json=""
((${#lacks[@]})) && lacks_json=$(printf '"%s",' "${lacks[@]}" | sed 's/,$//')
cat > "$out/manifest-full.json" <<JSON
{
  "arch": "$arch",
  "image": "full",
  "kernelVersion": "$kver",
  "packages": [$(printf '"%s",' "${packages[@]}" | sed 's/,$//')],
  "installedPackages": $(chroot "$root" dpkg-query -W -f '${Status}\n' | grep -c 'install ok installed'),
  "versions": {$(chroot "$root" dpkg-query -W -f '"${Package}": "${Version}",' docker.io containerd git curl gcc sudo | sed 's/,$//')},
  "rootfsBytes": $(stat -c %s "$out/rootfs-full.ext4"),
  "rootfsAllocatedBytes": $(( $(stat -c %b "$out/rootfs-full.ext4") * 512 )),
  "contentMiB": $used_mib,
  "lacks": [${lacks_json}],
  "buildSeconds": $(( $(date +%s) - started )),
  "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
JSON
say "done in $(( $(date +%s) - started ))s: $out/rootfs-full.ext4 (${size_mib} MiB, ${used_mib} MiB of content)"
