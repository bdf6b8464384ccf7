#!/usr/bin/env bash
# Builds the minimal guest image for one arch from Debian packages only:
#   images/build-minimal.sh amd64|arm64
# → $ONESHOT_IMAGE_DIR/<arch>/ (default images/out/<arch>/): vmlinuz, initrd.img, rootfs.ext4,
#   manifest.json — see docs/guest-contract.md. Idempotent: an up-to-date output is kept.
set -euo pipefail
arch="${1:-}"
case "$arch" in amd64|arm64) ;; *) echo "usage: $0 amd64|arm64" >&2; exit 2 ;; esac
here="$(cd "$(dirname "$0")" && pwd)"
out="${ONESHOT_IMAGE_DIR:-$here/out}/$arch"
cache="$here/.cache/$arch"
say() { printf '[image %s] %s\n' "$arch" "$*"; }
started=$(date +%s)

# The inputs that define the image: when none changed, there is nothing to do.
inputs_hash=$(cat "$0" "$here/agent/oneshot-agent" "$here/agent/init" "$here/agent/stand-in-runner" | sha256sum | cut -c1-16)
if [[ -f $out/manifest.json ]] && grep -q "\"inputsHash\": \"$inputs_hash\"" "$out/manifest.json"; then
  say "up to date: $out"
  exit 0
fi
mkdir -p "$cache" "$out"

# Cross-arch .debs need the foreign architecture in apt's lists.
if [[ $arch != "$(dpkg --print-architecture)" ]] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
  say "adding the $arch architecture to apt (needs root)"
  dpkg --add-architecture "$arch"
  apt-get update -qq
fi
kernel_pkg=$(apt-cache depends "linux-image-cloud-$arch:$arch" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [[ -z $kernel_pkg ]]; then
  say "refreshing apt lists"; apt-get update -qq
  kernel_pkg=$(apt-cache depends "linux-image-cloud-$arch:$arch" | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
kernel_pkg="${kernel_pkg%:*}"
# Prefer the unsigned build (same kernel, no Secure Boot signature, which direct boot ignores).
apt-cache show "$kernel_pkg-unsigned:$arch" >/dev/null 2>&1 && kernel_pkg="$kernel_pkg-unsigned"
say "kernel package $kernel_pkg"

fetch() { # package → extracted dir
  local pkg="$1" dir="$cache/x-$1"
  if [[ ! -d $dir ]]; then
    (cd "$cache" && rm -f "${pkg}"_*.deb && apt-get download -q "$pkg:$arch" 2>&1 | grep -v "unsandboxed" >&2 || true)
    local deb; deb=$(ls "$cache/${pkg}"_*.deb 2>/dev/null | head -1)
    [[ -n $deb ]] || { echo "could not download $pkg:$arch with apt-get download" >&2; exit 1; }
    mkdir -p "$dir.tmp" && dpkg-deb -x "$deb" "$dir.tmp" && mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}
say "downloading and extracting Debian packages"
kdir=$(fetch "$kernel_pkg")
bbdir=$(fetch busybox-static)
# util-linux's setpriv (busybox's cannot touch the capability bounding set): the agent runs a
# root launch without CAP_SYS_PTRACE & co. (docs/guest-contract.md, threat model). It needs
# libc and libcap-ng, taken from the same Debian release.
uldir=$(fetch util-linux)
libcdir=$(fetch libc6)
capngdir=$(fetch libcap-ng0)
kver=$(ls "$kdir/lib/modules")
busybox="$bbdir/bin/busybox"

# Modules the guest needs (virtio transport, disk, network), dependencies first, resolved
# from each module's own `depends=` field (the .deb ships no modules.dep).
moddir="$kdir/lib/modules/$kver"
declare -A seen=()
order=()
resolve() {
  local name="${1//-/_}" path deps d
  [[ -n ${seen[$name]:-} ]] && return
  seen[$name]=1
  grep -qE "/${name}\.ko$" "$moddir/modules.builtin" 2>/dev/null && return  # built in
  path=$(find "$moddir/kernel" -name "$name.ko" -o -name "${name//_/-}.ko" | head -1)
  [[ -n $path ]] || { say "module $name not found (skipped)"; return; }
  deps=$(grep -a -o 'depends=[A-Za-z0-9_,-]*' "$path" | head -1 | cut -d= -f2)
  for d in ${deps//,/ }; do resolve "$d"; done
  order+=("${path#"$moddir"/}")
}
for m in virtio virtio_ring virtio_mmio virtio_pci virtio_blk virtio_net virtio_console ext4; do resolve "$m"; done
say "modules: ${order[*]##*/}"

# initramfs: busybox + modules + /init (mounts the root disk, switch_root to the agent).
say "initramfs"
ird="$cache/initrd-root"
rm -rf "$ird" && mkdir -p "$ird"/{bin,dev,proc,sys,newroot,lib/modules}
cp "$busybox" "$ird/bin/busybox"
for m in "${order[@]}"; do
  mkdir -p "$ird/lib/modules/$(dirname "$m")" && cp "$moddir/$m" "$ird/lib/modules/$m"
  echo "$m" >> "$ird/lib/modules/load-order"
done
install -m 0755 "$here/agent/init" "$ird/init"
(cd "$ird" && find . -print0 | sort -z | cpio --null -o -H newc --quiet --owner=0:0) | gzip -9n > "$out/initrd.img.tmp"
mv "$out/initrd.img.tmp" "$out/initrd.img"

# Root disk: busybox with its applets, the agent, the stand-in runner. Built without mounting.
say "root filesystem (ext4, built with mkfs.ext4 -d)"
rd="$cache/rootfs-root"
rm -rf "$rd" && mkdir -p "$rd"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,tmp,run,root,mnt,var/tmp,opt/actions-runner}
cp "$busybox" "$rd/bin/busybox"
# The applet list is the same for every arch of one busybox version: ask the host's (or the
# target's, when it can run here) busybox.
applets=$( ("$busybox" --list 2>/dev/null || busybox --list) )
for a in $applets; do [[ $a == busybox ]] || ln -sf /bin/busybox "$rd/bin/$a"; done
install -m 0755 "$here/agent/oneshot-agent" "$rd/sbin/oneshot-agent"
install -D -m 0755 "$uldir/usr/bin/setpriv" "$rd/usr/bin/setpriv"
# The dynamic loader and the two libraries setpriv needs, at Debian's paths (lib/<triplet>, lib64 or lib).
for f in $(cd "$libcdir" && find lib lib64 -name 'ld-linux*' -o -name 'libc.so.6' 2>/dev/null) $(cd "$capngdir" && find lib -name 'libcap-ng.so.0*'); do
  src="$libcdir/$f"; [[ -e $src || -L $src ]] || src="$capngdir/$f"
  mkdir -p "$rd/$(dirname "$f")" && cp -a "$src" "$rd/$f"
done
install -m 0755 "$here/agent/stand-in-runner" "$rd/opt/actions-runner/run.sh"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$rd/etc/passwd"
printf 'root:x:0:\n' > "$rd/etc/group"
printf 'oneshot\n' > "$rd/etc/hostname"
: > "$rd/etc/resolv.conf"
chmod 1777 "$rd/tmp" "$rd/var/tmp"
rm -f "$out/rootfs.ext4.tmp"
truncate -s 64M "$out/rootfs.ext4.tmp"
mkfs.ext4 -q -F -L oneshot-root -E root_owner=0:0 -d "$rd" "$out/rootfs.ext4.tmp"
mv "$out/rootfs.ext4.tmp" "$out/rootfs.ext4"
cp "$kdir/boot/vmlinuz-$kver" "$out/vmlinuz"

console=ttyS0; [[ $arch == arm64 ]] && console=ttyAMA0
files_json=""
for f in vmlinuz initrd.img rootfs.ext4; do
  files_json+="${files_json:+, }\"$f\": {\"bytes\": $(stat -c %s "$out/$f"), \"allocatedBytes\": $(( $(stat -c %b "$out/$f") * 512 )), \"sha256\": \"$(sha256sum "$out/$f" | cut -d' ' -f1)\"}"
done
cat > "$out/manifest.json" <<JSON
{
  "arch": "$arch",
  "image": "minimal",
  "kernelPackage": "$kernel_pkg",
  "kernelVersion": "$kver",
  "kernelCmdline": "console=$console reboot=t panic=-1 quiet root=/dev/vda rw",
  "modules": [$(printf '"%s",' "${order[@]##*/}" | sed 's/,$//')],
  "files": {$files_json},
  "buildSeconds": $(( $(date +%s) - started )),
  "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "inputsHash": "$inputs_hash"
}
JSON
say "done in $(( $(date +%s) - started ))s: $out ($(du -sh --apparent-size "$out" | cut -f1) apparent, $(du -sh "$out" | cut -f1) on disk)"
