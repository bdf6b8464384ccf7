#!/usr/bin/env bash
# Installs hostd on an amd64 or arm64 metal host (Debian/Ubuntu, as root):
#   deploy/hostd/install.sh --host-id metal-01 --nats-url nats://control:4222 --nats-password-file pw.txt
# It installs QEMU (and uses Firecracker when /usr/local/bin/firecracker + jailer exist), builds
# the guest image for this arch, writes /etc/oneshot/hostd.env (0600) with this host's own NATS
# identity only, and enables the systemd unit. Provision the host's work consumer on the control
# side first: `oneshot admin init --hosts <id>` (and add the host to nats.conf).
set -euo pipefail
host_id="" nats_url="" pw_file="" vmm="auto"
while (($#)); do
  case "$1" in
    --host-id) host_id="$2"; shift 2 ;;
    --nats-url) nats_url="$2"; shift 2 ;;
    --nats-password-file) pw_file="$2"; shift 2 ;;
    --vmm) vmm="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "run as root" >&2; exit 1; }
[[ -n $host_id && -n $nats_url && -r $pw_file ]] || { echo "need --host-id, --nats-url and a readable --nats-password-file" >&2; exit 2; }
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
  "$qemu" qemu-utils busybox-static nftables e2fsprogs cpio zstd lz4 iproute2 ca-certificates >/dev/null

src=$(cd "$(dirname "$0")/../.." && pwd)
echo "==> /opt/oneshot (from $src)"
mkdir -p /opt/oneshot
cp -a "$src"/{package.json,package-lock.json,tsconfig.json,tsconfig.base.json,proto,packages,services,images} /opt/oneshot/
cd /opt/oneshot
npm ci --no-audit --no-fund --loglevel=error
npm run build
npm prune --omit=dev --loglevel=error

echo "==> guest image ($arch)"
ONESHOT_IMAGE_DIR=/var/lib/oneshot/images images/build-minimal.sh "$arch"

echo "==> /etc/oneshot/hostd.env"
install -d -m 0700 /etc/oneshot
umask 077
cat > /etc/oneshot/hostd.env <<ENV
NATS_URL=$nats_url
NATS_USER=hostd-$host_id
NATS_PASSWORD=$(cat "$pw_file")
HOSTD_HOST_ID=$host_id
HOSTD_VMM=$vmm
ENV

install -m 0644 deploy/hostd/oneshot-hostd.service /etc/systemd/system/oneshot-hostd.service
systemctl daemon-reload
systemctl enable --now oneshot-hostd
echo "hostd $host_id ($arch) installed; logs: journalctl -u oneshot-hostd -f"
