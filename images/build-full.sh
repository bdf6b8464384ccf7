#!/usr/bin/env bash
# Builds the full guest image (what production CI jobs run):
#   images/build-full.sh amd64|arm64 [--runner-tarball PATH] [--runner-sha256 HEX]
#                        [--gitlab-runner PATH] [--gitlab-runner-sha256 HEX] [--no-runners]
# Debian bookworm via debootstrap (deb.debian.org) with git, curl, build-essential, docker.io,
# containerd, sudo, the GitHub runner's own libraries (ICU, Kerberos, LTTng, OpenSSL, zlib), a
# non-root `runner` user in the docker and sudo groups, the kernel's own modules (so dockerd can
# load overlay, bridge, netfilter), and the oneshot agent, which starts dockerd before the job.
# The runners: the GitHub Actions runner (pinned version, sha256 per arch) and gitlab-runner
# (pinned version) are downloaded into images/.cache/downloads and verified before use; a
# mismatch stops the build. Offline: --runner-tarball / --gitlab-runner give the files (still
# verified against the pin unless --runner-sha256 / --gitlab-runner-sha256 override it).
# ONESHOT_RUNNER_BASE_URL / ONESHOT_GITLAB_RUNNER_BASE_URL replace the download hosts (a mirror,
# or CI's local file server). Without a runner the build fails, unless --no-runners: then it
# downloads nothing and lists what the image lacks in the manifest's `lacks`.
# A foreign arch (arm64 on an amd64 host) is bootstrapped with qemu-user-static through
# binfmt_misc; the script registers the interpreter only for its own run and removes it after.
# → $ONESHOT_IMAGE_DIR/<arch>/rootfs-full.ext4 + manifest-full.json (kernel and initrd: the
#   minimal image's), and the same image in hostd's layout for a named image,
#   $ONESHOT_IMAGE_DIR/full/<arch>/{vmlinuz,initrd.img,rootfs.ext4,manifest.json} (hard links).
# The debootstrap tree is cached in images/.cache/<arch>/full-root (keyed by the package list).
set -euo pipefail
arch="${1:-}"; shift || true
usage="usage: $0 amd64|arm64 [--runner-tarball PATH] [--runner-sha256 HEX] [--gitlab-runner PATH] [--gitlab-runner-sha256 HEX] [--no-runners]"
runner_tarball="" runner_sha_override="" gitlab_runner="" gitlab_sha_override="" no_runners=false
while (($#)); do
  case "$1" in
    --runner-tarball) runner_tarball="${2:?}"; shift 2 ;;
    --runner-sha256) runner_sha_override="${2:?}"; shift 2 ;;
    --gitlab-runner) gitlab_runner="${2:?}"; shift 2 ;;
    --gitlab-runner-sha256) gitlab_sha_override="${2:?}"; shift 2 ;;
    --no-runners) no_runners=true; shift ;;
    *) echo "unknown option $1" >&2; echo "$usage" >&2; exit 2 ;;
  esac
done
case "$arch" in amd64|arm64) ;; *) echo "$usage" >&2; exit 2 ;; esac
for h in "$runner_sha_override" "$gitlab_sha_override"; do
  [[ -z $h || $h =~ ^[0-9a-f]{64}$ ]] || { echo "a sha256 must be 64 lowercase hex digits: $h" >&2; exit 2; }
done

# The pins. GitHub Actions runner 2.337.0 (released 2026-08-26): the sha256 values published in
# its release notes (<!-- BEGIN SHA linux-x64 --> ... markers). gitlab-runner 19.3.1: GitLab
# publishes the sums next to the binaries (v<ver>/release.sha256); no independently checked
# value is pinned here, so the build takes the one from release.sha256 and records that.
# Bump a version and its sums together.
RUNNER_VERSION=2.337.0
declare -A RUNNER_SHA256=(
  [x64]=70920811a4f8ad4328818682bca5c6469c1c942fab52448868071d0063816613
  [arm64]=9b1dc70626422526e3c94767cf024896beb15da5342a3f4819bf2feac13e0393
)
GITLAB_RUNNER_VERSION=19.3.1
declare -A GITLAB_RUNNER_SHA256=([amd64]="" [arm64]="")
runner_base="${ONESHOT_RUNNER_BASE_URL:-https://github.com/actions/runner/releases/download}"
gitlab_base="${ONESHOT_GITLAB_RUNNER_BASE_URL:-https://gitlab-runner-downloads.s3.amazonaws.com}"
garch=$([[ $arch == amd64 ]] && echo x64 || echo arm64)
runner_file="actions-runner-linux-$garch-$RUNNER_VERSION.tar.gz"
gitlab_file="gitlab-runner-linux-$arch"
here="$(cd "$(dirname "$0")" && pwd)"
out="${ONESHOT_IMAGE_DIR:-$here/out}/$arch"
cache="$here/.cache/$arch"
say() { printf '[image-full %s] %s\n' "$arch" "$*"; }
started=$(date +%s)

root="$cache/full-root"
# The GitHub runner is .NET: its bin/installdependencies.sh asks Debian 12 for liblttng-ust1,
# libkrb5-3, zlib1g, libssl3 and libicu72 (ICU: it dies on globalization without it).
packages=(ca-certificates curl git build-essential docker.io containerd sudo iproute2 iptables kmod e2fsprogs procps less
  libicu72 libkrb5-3 liblttng-ust1 libssl3 zlib1g)
[[ -z $runner_tarball || -f $runner_tarball ]] || { echo "--runner-tarball $runner_tarball: no such file" >&2; exit 2; }
[[ -z $gitlab_runner || -f $gitlab_runner ]] || { echo "--gitlab-runner $gitlab_runner: no such file" >&2; exit 2; }
for t in debootstrap depmod modprobe mkfs.ext4 curl sha256sum; do
  command -v "$t" >/dev/null || { echo "$t is missing: apt-get install debootstrap kmod e2fsprogs curl coreutils (scripts/setup.sh does)" >&2; exit 1; }
done

# Downloads: to images/.cache/downloads/<sha256>/<file>, verified before use (a cached file is
# verified again); a mismatch removes the file and stops the build with one line.
dl_cache="${ONESHOT_DOWNLOAD_CACHE:-$here/.cache/downloads}"
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
verify() { # file expected-sha what
  local got; got=$(sha_of "$1")
  [[ $got == "$2" ]] && return 0
  echo "REFUSED $3: sha256 $got, expected $2" >&2
  return 1
}
download() { # url expected-sha file-name → prints the verified cached path
  local url="$1" want="$2" name="$3" dir="$dl_cache/$2"
  if [[ -f $dir/$name ]]; then
    verify "$dir/$name" "$want" "cached $dir/$name" >&2 && { echo "$dir/$name"; return 0; }
    rm -f "$dir/$name"
  fi
  mkdir -p "$dir"
  say "downloading $url" >&2
  curl -fsSL --retry 3 --retry-delay 2 --retry-connrefused --connect-timeout 15 -o "$dir/$name.part" "$url" \
    || { rm -f "$dir/$name.part"; echo "could not download $url" >&2; return 1; }
  verify "$dir/$name.part" "$want" "$url" || { rm -f "$dir/$name.part"; return 1; }
  mv "$dir/$name.part" "$dir/$name"
  echo "$dir/$name"
}

# The runners first (a refused download should fail before minutes of debootstrap).
lacks=()
gh_json=null gl_json=null
# GitHub Actions runner: the pin, or --runner-sha256; from --runner-tarball or downloaded.
gh_want="${runner_sha_override:-${RUNNER_SHA256[$garch]}}"
gh_src="" gh_from=""
if [[ -n $runner_tarball ]]; then
  verify "$runner_tarball" "$gh_want" "--runner-tarball $runner_tarball" || exit 1
  gh_src="$runner_tarball" gh_from="file $runner_tarball"
elif ! $no_runners; then
  gh_src=$(download "$runner_base/v$RUNNER_VERSION/$runner_file" "$gh_want" "$runner_file") \
    || { echo "no GitHub Actions runner: give --runner-tarball PATH (offline), fix the network, or build with --no-runners" >&2; exit 1; }
  gh_from="$runner_base/v$RUNNER_VERSION/$runner_file"
fi
# gitlab-runner: the pin's sum, or --gitlab-runner-sha256, else (download only) the sum GitLab
# publishes beside the binary in release.sha256.
gl_want="${gitlab_sha_override:-${GITLAB_RUNNER_SHA256[$arch]}}" gl_sum_from="pinned in build-full.sh"
[[ -n $gitlab_sha_override ]] && gl_sum_from="--gitlab-runner-sha256"
gl_src="" gl_from=""
if [[ -n $gitlab_runner ]]; then
  [[ -n $gl_want ]] || { echo "no pinned sha256 for gitlab-runner $GITLAB_RUNNER_VERSION: pass --gitlab-runner-sha256 HEX (from $gitlab_base/v$GITLAB_RUNNER_VERSION/release.sha256)" >&2; exit 2; }
  verify "$gitlab_runner" "$gl_want" "--gitlab-runner $gitlab_runner" || exit 1
  gl_src="$gitlab_runner" gl_from="file $gitlab_runner"
elif ! $no_runners; then
  if [[ -z $gl_want ]]; then
    sums_url="$gitlab_base/v$GITLAB_RUNNER_VERSION/release.sha256"
    gl_want=$(curl -fsSL --retry 3 --retry-delay 2 --retry-connrefused --connect-timeout 15 "$sums_url" \
      | awk -v f="binaries/$gitlab_file" '{ p = $2; sub(/^\*/, "", p); sub(/^\.\//, "", p); if (p == f) print $1 }' | head -1) || true
    [[ $gl_want =~ ^[0-9a-f]{64}$ ]] || { echo "no sha256 for binaries/$gitlab_file in $sums_url: give --gitlab-runner PATH --gitlab-runner-sha256 HEX, or build with --no-runners" >&2; exit 1; }
    gl_sum_from="$sums_url"
  fi
  gl_src=$(download "$gitlab_base/v$GITLAB_RUNNER_VERSION/binaries/$gitlab_file" "$gl_want" "$gitlab_file-$GITLAB_RUNNER_VERSION") \
    || { echo "no gitlab-runner: give --gitlab-runner PATH --gitlab-runner-sha256 HEX (offline), fix the network, or build with --no-runners" >&2; exit 1; }
  gl_from="$gitlab_base/v$GITLAB_RUNNER_VERSION/binaries/$gitlab_file"
fi

"$here/build-minimal.sh" "$arch"   # kernel, initrd and the cached kernel package
kdir=$(ls -d "$cache"/x-linux-image-*/ | head -1)
kver=$(ls "$kdir/lib/modules")

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

rm -rf "$root/opt/actions-runner"
if [[ -n $gh_src ]]; then
  say "GitHub Actions runner $RUNNER_VERSION ($runner_file, sha256 $gh_want) from $gh_from"
  mkdir -p "$root/opt/actions-runner"
  tar -C "$root/opt/actions-runner" -xzf "$gh_src"
  [[ -x $root/opt/actions-runner/run.sh ]] || { echo "$runner_file has no run.sh" >&2; exit 1; }
  chroot "$root" chown -R runner:runner /opt/actions-runner
  gh_json="{\"version\": \"$RUNNER_VERSION\", \"file\": \"$runner_file\", \"sha256\": \"$gh_want\", \"sha256Source\": \"$([[ -n $runner_sha_override ]] && echo "--runner-sha256" || echo "pinned in build-full.sh")\", \"from\": \"$gh_from\"}"
else
  lacks+=("GitHub Actions runner (--runner-tarball $runner_file, or build without --no-runners)")
fi

if [[ -n $gl_src ]]; then
  say "gitlab-runner $GITLAB_RUNNER_VERSION (sha256 $gl_want, $gl_sum_from) from $gl_from"
  install -m 0755 "$gl_src" "$root/usr/local/bin/gitlab-runner"
  gl_json="{\"version\": \"$GITLAB_RUNNER_VERSION\", \"file\": \"$gitlab_file\", \"sha256\": \"$gl_want\", \"sha256Source\": \"$gl_sum_from\", \"from\": \"$gl_from\"}"
else
  rm -f "$root/usr/local/bin/gitlab-runner"
  lacks+=("gitlab-runner (--gitlab-runner PATH --gitlab-runner-sha256 HEX, or build without --no-runners)")
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
  "runners": {"github": $gh_json, "gitlab": $gl_json},
  "lacks": [${lacks_json}],
  "buildSeconds": $(( $(date +%s) - started )),
  "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
JSON

# hostd's layout for a named image (services/hostd/src/vm/images.ts): <dir>/full/<arch>/.
# Hard links, so the 1.7 GB root exists once.
named="${ONESHOT_IMAGE_DIR:-$here/out}/full/$arch"
mkdir -p "$named"
for f in vmlinuz initrd.img; do ln -f "$out/$f" "$named/$f"; done
ln -f "$out/rootfs-full.ext4" "$named/rootfs.ext4"
cmdline=$(sed -n 's/.*"kernelCmdline": "\([^"]*\)".*/\1/p' "$out/manifest.json")
while IFS= read -r l; do
  printf '%s\n' "$l"
  if [[ $l == '  "image": "full",' ]]; then
    printf '  "name": "full",\n'
    [[ -z $cmdline ]] || printf '  "kernelCmdline": "%s",\n' "$cmdline"
  fi
done < "$out/manifest-full.json" > "$named/manifest.json.tmp"
mv "$named/manifest.json.tmp" "$named/manifest.json"
say "done in $(( $(date +%s) - started ))s: $out/rootfs-full.ext4 (${size_mib} MiB, ${used_mib} MiB of content); hostd layout: $named"
