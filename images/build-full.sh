#!/usr/bin/env bash
# Builds the full guest image (what production CI jobs run) for this machine's arch:
#   images/build-full.sh amd64 [--runner-tarball PATH] [--gitlab-runner PATH]
# Debian bookworm via debootstrap (deb.debian.org) with git, curl, build-essential, docker.io,
# containerd, sudo, a non-root `runner` user in the docker and sudo groups, the kernel's own
# modules (so dockerd can load overlay, bridge, netfilter), and the oneshot agent, which starts
# dockerd before the job. The GitHub runner and gitlab-runner come only from paths you give.
# → $ONESHOT_IMAGE_DIR/<arch>/rootfs-full.ext4 + manifest-full.json (kernel and initrd: the minimal image's).
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
if [[ $arch != "$(dpkg --print-architecture)" ]]; then
  echo "build-full.sh builds for this machine's arch only ($(dpkg --print-architecture)); run it on an $arch host" >&2
  exit 2
fi
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
if [[ ! -f $root/.debootstrap-done ]]; then
  say "debootstrap bookworm with ${packages[*]} (a few minutes)"
  rm -rf "$root"
  debootstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" bookworm "$root" http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  touch "$root/.debootstrap-done"
fi

say "kernel modules $kver"
rm -rf "$root/lib/modules" && mkdir -p "$root/lib/modules"
cp -a "$kdir/lib/modules/$kver" "$root/lib/modules/"
depmod -b "$root" "$kver"

say "runner user, agent, test rootfs"
chroot "$root" sh -c 'id runner >/dev/null 2>&1 || useradd -m -s /bin/bash -G docker,sudo runner'
printf 'runner ALL=(ALL) NOPASSWD:ALL\n' > "$root/etc/sudoers.d/runner" && chmod 0440 "$root/etc/sudoers.d/runner"
install -m 0755 "$here/agent/oneshot-agent" "$root/sbin/oneshot-agent"
printf 'oneshot\n' > "$root/etc/hostname"
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
  lacks+=("GitHub Actions runner (--runner-tarball actions-runner-linux-x64-*.tar.gz)")
fi
if [[ -n $gitlab_runner ]]; then
  install -m 0755 "$gitlab_runner" "$root/usr/local/bin/gitlab-runner"
else
  rm -f "$root/usr/local/bin/gitlab-runner"
  lacks+=("gitlab-runner (--gitlab-runner PATH to the binary)")
fi
for l in "${lacks[@]}"; do say "this image lacks: $l"; done

say "ext4 image"
used_mib=$(du -sm --exclude=./.debootstrap-done "$root" | cut -f1)
size_mib=$(( used_mib * 13 / 10 + 512 ))
rm -f "$out/rootfs-full.ext4.tmp"
truncate -s "${size_mib}M" "$out/rootfs-full.ext4.tmp"
mkfs.ext4 -q -F -L oneshot-root -E root_owner=0:0 -d "$root" "$out/rootfs-full.ext4.tmp"
mv "$out/rootfs-full.ext4.tmp" "$out/rootfs-full.ext4"
lacks_json=$(printf '"%s",' "${lacks[@]}" | sed 's/,$//')
cat > "$out/manifest-full.json" <<JSON
{
  "arch": "$arch",
  "image": "full",
  "kernelVersion": "$kver",
  "packages": [$(printf '"%s",' "${packages[@]}" | sed 's/,$//')],
  "rootfsBytes": $(stat -c %s "$out/rootfs-full.ext4"),
  "rootfsAllocatedBytes": $(( $(stat -c %b "$out/rootfs-full.ext4") * 512 )),
  "contentMiB": $used_mib,
  "lacks": [${lacks_json}],
  "buildSeconds": $(( $(date +%s) - started )),
  "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
JSON
say "done in $(( $(date +%s) - started ))s: $out/rootfs-full.ext4 (${size_mib} MiB, ${used_mib} MiB of content)"
