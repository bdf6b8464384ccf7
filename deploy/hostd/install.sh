#!/usr/bin/env bash
# Installs hostd on an amd64 or arm64 metal host (Debian/Ubuntu, as root):
#   deploy/hostd/install.sh --host-id metal-01 --nats-url tls://control:4222 \
#     --nats-ca-file ca.pem --nats-nkey-file hostd-metal-01.nk
# (both from `oneshot admin bootstrap` on the control side: the CA that signed NATS's certificate,
# and this host's own NKey seed; NATS is reached over verified TLS only).
# It installs QEMU (and uses Firecracker when /usr/local/bin/firecracker + jailer exist), builds
# the FULL guest image for this arch (Docker, the GitHub Actions runner and gitlab-runner, each
# downloaded at its pinned version and verified by sha256: images/build-full.sh) and installs it
# where hostd looks, so the image hostd advertises is the one CI jobs ask for (ingest's
# INGEST_IMAGE, default `full`). It writes /etc/oneshot/hostd.env (0600) with this host's own
# NATS identity only (the seed and CA are copied to /etc/oneshot/nats/, 0600), and enables the
# systemd unit. On the control side first: `oneshot admin bootstrap --hosts ...,<id>` (adds the
# host to nats.conf; restart NATS) and `oneshot admin init --hosts <id>` (its work consumer).
# Offline hosts (no GitHub/GitLab): give the runner files, which are verified against the pins
#   --runner-tarball actions-runner-linux-x64-<ver>.tar.gz [--runner-sha256 HEX]
#   --gitlab-runner gitlab-runner-linux-amd64 --gitlab-runner-sha256 HEX
# or an image built elsewhere: --image-from DIR (DIR = images/out/full/<arch> of a build: vmlinuz,
# initrd.img, rootfs.ext4, manifest.json). --no-runners builds without them (jobs then cannot run).
set -euo pipefail
host_id="" nats_url="" ca_file="" nkey_file="" vmm="auto" image_from="" build_args=()
while (($#)); do
  case "$1" in
    --host-id) host_id="$2"; shift 2 ;;
    --nats-url) nats_url="$2"; shift 2 ;;
    --nats-ca-file) ca_file="$2"; shift 2 ;;
    --nats-nkey-file) nkey_file="$2"; shift 2 ;;
    --vmm) vmm="$2"; shift 2 ;;
    --image-from) image_from="$2"; shift 2 ;;
    --runner-tarball|--gitlab-runner) [[ -f ${2:-} ]] || { echo "$1 ${2:-}: no such file" >&2; exit 2; }; build_args+=("$1" "$(realpath "$2")"); shift 2 ;;
    --runner-sha256|--gitlab-runner-sha256) build_args+=("$1" "$2"); shift 2 ;;
    --no-runners) build_args+=("$1"); shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -z $image_from || ${#build_args[@]} -eq 0 ]] || { echo "--image-from installs a built image: the runner options are for building one" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "run as root" >&2; exit 1; }
[[ -n $host_id && -n $nats_url && -r $ca_file && -r $nkey_file ]] || { echo "need --host-id, --nats-url, and readable --nats-ca-file and --nats-nkey-file (from oneshot admin bootstrap)" >&2; exit 2; }
[[ $nats_url =~ ^tls:// ]] || { echo "--nats-url must be tls://host:port: hosts reach NATS over verified TLS only" >&2; exit 2; }
grep -qE '^SU[A-Z2-7]{56}$' "$nkey_file" || { echo "$nkey_file does not hold a user NKey seed (SU...): use identities/hostd-$host_id.nk from oneshot admin bootstrap" >&2; exit 2; }
[[ $host_id =~ ^[A-Za-z0-9_-]{1,64}$ ]] || { echo "--host-id must be 1-64 chars of [A-Za-z0-9_-]" >&2; exit 2; }

case "$(uname -m)" in
  x86_64) arch=amd64 qemu=qemu-system-x86 ;;
  aarch64) arch=arm64 qemu=qemu-system-arm ;;
  *) echo "unsupported machine $(uname -m): amd64 and arm64 only" >&2; exit 1 ;;
esac
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
((node_major >= 20)) || { echo "Node.js 20+ is required (Debian 12 ships 18: install Node 20 from nodejs.org or NodeSource first)" >&2; exit 1; }

echo "==> packages"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "$qemu" qemu-utils busybox-static nftables e2fsprogs cpio zstd lz4 iproute2 ca-certificates \
  debootstrap kmod curl docker-registry >/dev/null
# The registry mirror (docs/registry-mirror.md) runs as hostd's child on the bridge's gateway only.
# Debian's own docker-registry unit would serve a plain, writable registry on every address's :5000:
# stopped and masked.
systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
systemctl mask docker-registry.service >/dev/null 2>&1 || true

src=$(cd "$(dirname "$0")/../.." && pwd)
echo "==> /opt/oneshot (from $src)"
mkdir -p /opt/oneshot
cp -a "$src"/{package.json,package-lock.json,tsconfig.json,tsconfig.base.json,proto,packages,services,images} /opt/oneshot/
cd /opt/oneshot
npm ci --no-audit --no-fund --loglevel=error
npm run build
npm prune --omit=dev --loglevel=error

# hostd reads the image in <HOSTD_IMAGE_DIR>/<arch>/ and advertises the name its manifest gives
# (services/hostd/src/vm/images.ts): that directory gets the full image.
images=/var/lib/oneshot/images
if [[ -n $image_from ]]; then
  echo "==> guest image ($arch): installing the full image from $image_from"
  src_img=$(realpath "$image_from")
else
  echo "==> guest image ($arch): building the full image (debootstrap: minutes; the runners are downloaded and verified)"
  ONESHOT_IMAGE_DIR=/var/lib/oneshot/build images/build-full.sh "$arch" ${build_args[@]+"${build_args[@]}"}
  src_img=/var/lib/oneshot/build/full/$arch
fi
for f in vmlinuz initrd.img rootfs.ext4 manifest.json; do
  [[ -f $src_img/$f ]] || { echo "$src_img/$f is missing (an image dir holds vmlinuz, initrd.img, rootfs.ext4, manifest.json)" >&2; exit 1; }
done
grep -q '"arch": "'"$arch"'"' "$src_img/manifest.json" || { echo "$src_img is not an $arch image" >&2; exit 1; }
grep -q '"name": "full"' "$src_img/manifest.json" || { echo "$src_img/manifest.json does not name the image full" >&2; exit 1; }
mkdir -p "$images/$arch.new"
for f in vmlinuz initrd.img rootfs.ext4 manifest.json; do
  # A hard link when the build is on the same filesystem (the build replaces its files, never
  # rewrites them in place), else a sparse copy.
  ln -f "$src_img/$f" "$images/$arch.new/$f" 2>/dev/null || cp --sparse=always --reflink=auto "$src_img/$f" "$images/$arch.new/$f"
done
rm -rf "$images/$arch.old"; [[ -d $images/$arch ]] && mv "$images/$arch" "$images/$arch.old"
mv "$images/$arch.new" "$images/$arch" && rm -rf "$images/$arch.old"
lacks=$(tr -d '\n' < "$images/$arch/manifest.json" | sed -n 's/.*"lacks": \[\([^]]*\)\].*/\1/p')
echo "    image 'full' ($arch) in $images/$arch: rootfs $(du -h --apparent-size "$images/$arch/rootfs.ext4" | cut -f1) ($(du -h "$images/$arch/rootfs.ext4" | cut -f1) allocated)"
sed -n 's/^ *"runners": \(.*\),$/    runners: \1/p' "$images/$arch/manifest.json"
[[ -z $lacks ]] || echo "    WARNING: this image lacks $lacks: CI jobs that need it will fail"

echo "==> /etc/oneshot/hostd.env"
install -d -m 0700 /etc/oneshot /etc/oneshot/nats
install -m 0600 "$ca_file" /etc/oneshot/nats/ca.pem
install -m 0600 "$nkey_file" /etc/oneshot/nats/hostd.nk
umask 077
cat > /etc/oneshot/hostd.env <<ENV
NATS_URL=$nats_url
NATS_USER=hostd-$host_id
NATS_NKEY_FILE=/etc/oneshot/nats/hostd.nk
NATS_CA_FILE=/etc/oneshot/nats/ca.pem
HOSTD_HOST_ID=$host_id
HOSTD_VMM=$vmm
# Pull-through cache of Docker Hub for the guests at <gateway>:5000, in /var/lib/oneshot/registry-mirror (20 GiB cap).
HOSTD_REGISTRY_MIRROR=on
HOSTD_REGISTRY_MIRROR_CAP_MIB=20480
ENV

install -m 0644 deploy/hostd/oneshot-hostd.service /etc/systemd/system/oneshot-hostd.service
systemctl daemon-reload
systemctl enable --now oneshot-hostd
echo "hostd $host_id ($arch) installed with the full image in $images/$arch; logs: journalctl -u oneshot-hostd -f"
