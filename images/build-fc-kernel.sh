#!/usr/bin/env bash
# Builds a Firecracker-capable guest kernel from Debian's linux-source-6.1 (Debian's cloud
# kernel lacks CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES, which Firecracker relies on):
#   images/build-fc-kernel.sh amd64|arm64 [--config-only]
# → $ONESHOT_IMAGE_DIR/<arch>/vmlinux-fc (amd64: the uncompressed ELF Firecracker loads) or
#   Image-fc (arm64). defconfig + images/fc-kernel/microvm.config via merge_config.sh.
# Long: a defconfig build takes tens of minutes on 2 cores; it is not part of CI.
set -euo pipefail
arch="${1:-}"
config_only=false; [[ ${2:-} == --config-only ]] && config_only=true
case "$arch" in amd64) karch=x86_64; target=vmlinux; cross="" ;; arm64) karch=arm64; target=Image; cross=aarch64-linux-gnu- ;; *) echo "usage: $0 amd64|arm64" >&2; exit 2 ;; esac
here="$(cd "$(dirname "$0")" && pwd)"
out="${ONESHOT_IMAGE_DIR:-$here/out}/$arch"
work="$here/.cache/fc-kernel-$arch"
say() { printf '[fc-kernel %s] %s\n' "$arch" "$*"; }
started=$(date +%s)
need=(linux-source-6.1 build-essential flex bison bc libelf-dev libssl-dev xz-utils)
[[ -n $cross ]] && need+=(gcc-aarch64-linux-gnu)
missing=()
for p in "${need[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
mkdir -p "$work" "$out"
src=$(ls -d "$work"/linux-source-6.1 2>/dev/null || true)
if [[ -z $src ]]; then
  say "unpacking /usr/src/linux-source-6.1.tar.xz"
  tar -C "$work" -xf /usr/src/linux-source-6.1.tar.xz
  src="$work/linux-source-6.1"
fi
cd "$src"
say "config: defconfig + $(basename "$here/fc-kernel/microvm.config")"
make -s ARCH="$karch" CROSS_COMPILE="$cross" defconfig
ARCH="$karch" scripts/kconfig/merge_config.sh -m .config "$here/fc-kernel/microvm.config" >/dev/null
make -s ARCH="$karch" CROSS_COMPILE="$cross" olddefconfig
# Every line of the fragment must have survived (a dependency can silently drop one).
while IFS= read -r line; do
  [[ $line =~ ^CONFIG_ ]] || continue
  grep -qx "$line" .config || { echo "config fragment line lost after olddefconfig: $line" >&2; exit 1; }
done < "$here/fc-kernel/microvm.config"
if $config_only; then cp .config "$out/fc-kernel.config"; say "config checked: $out/fc-kernel.config ($(( $(date +%s) - started ))s)"; exit 0; fi
say "building $target with $(nproc) jobs (long)"
make -s ARCH="$karch" CROSS_COMPILE="$cross" -j"$(nproc)" "$target"
if [[ $arch == amd64 ]]; then cp vmlinux "$out/vmlinux-fc"; else cp arch/arm64/boot/Image "$out/Image-fc"; fi
say "done in $(( $(date +%s) - started ))s"
