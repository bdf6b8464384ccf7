#!/usr/bin/env bash
# The README's two commands:
#   ./scripts/setup.sh demo   install what is missing, start the whole stack, run a job in a microVM
#   ./scripts/setup.sh test   install what is missing, build, run the full test suite
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"
case "$mode" in demo|test|install) ;; *) echo "usage: $0 demo|test|install" >&2; exit 2 ;; esac

# debootstrap, kmod (depmod/modprobe), curl and python3 (the stand-in runners' file server)
# build and check the full image (images/ci-full.sh); faketime for the clock-skew fencing e2e
# (a hostd an hour behind); chromium for the dashboard's browser tests (driven by puppeteer-core,
# which downloads no browser); qemu-user-static only for an arm64 full
# image built on amd64 (images/build-full.sh installs it itself then).
APT_PACKAGES=(nats-server qemu-system-x86 qemu-system-arm qemu-utils busybox-static nftables
  e2fsprogs cpio zstd lz4 iproute2 ca-certificates debootstrap kmod curl python3 faketime chromium docker-registry skopeo)

step() { printf '\n==> %s\n' "$*"; }

missing_pkgs=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing_pkgs+=("$p")
done
if ((${#missing_pkgs[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    step "installing Debian packages: ${missing_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
  else
    echo "missing Debian packages; run as root, or first:" >&2
    echo "  sudo apt-get install -y ${missing_pkgs[*]}" >&2
    exit 1
  fi
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then echo "Node.js 20 or newer is required (found $(node -v 2>/dev/null || echo none))" >&2; exit 1; fi

step "npm ci"
npm ci --no-audit --no-fund --loglevel=error

step "build"
npm run build

if [[ -x images/build-minimal.sh ]]; then
  for arch in amd64 arm64; do
    step "guest image ($arch)"
    images/build-minimal.sh "$arch"
  done
fi

case "$mode" in
  install) ;;
  test)
    if [[ -x images/boot-check.sh ]]; then
      for arch in amd64 arm64; do
        step "boot check ($arch): a script job's output and exit code"
        images/boot-check.sh "$arch" 'echo hi from $(uname -m); exit 3' 3
      done
    fi
    # The full image (what CI jobs boot by default): built through the download + verify path
    # with stand-in runners from a local file server, booted, and a Dockerfile built and run
    # in it as the unprivileged runner user. ONESHOT_SKIP_FULL=1 skips it (not in CI).
    if [[ -x images/ci-full.sh && ${ONESHOT_SKIP_FULL:-0} != 1 ]]; then
      step "full image (amd64): build with stand-in runners, boot, docker build + run as runner"
      if [[ $(id -u) -eq 0 ]]; then
        images/ci-full.sh amd64
      else
        echo "skipped: building the full image needs root (debootstrap, chroot); CI runs as root" >&2
      fi
    fi
    step "test suite"
    npm test
    ;;
  demo)
    step "oneshot up + a demo job"
    exec node packages/cli/dist/main.js demo
    ;;
esac
