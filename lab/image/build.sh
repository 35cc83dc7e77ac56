#!/usr/bin/env bash
# Build the lab image (the base of the local lab and of every Molecule platform) without a registry:
#   1. a Debian 12 root file system from debootstrap, imported with `podman import` (the base);
#   2. `podman build` on that base: PostgreSQL, Redis, nginx, Debian's nodejs, the proxy CA, a venv with the
#      modules' pinned Python requirements (/opt/runbook/venv), moto's S3 server (/opt/moto) and the pinned npm
#      packages of lab/image/node (pm2, bullmq: /opt/runbook-node), installed here with the host's npm from the
#      lock file (`npm ci`) and added as one tarball, so the image carries no npm.
# Each image is tagged by a hash of its recipe, so it is rebuilt only when the recipe changes.
# Prints the image name on its last line.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$REPO/containers.conf}"
NAME="${LAB_IMAGE_NAME:-localhost/runbook-lab}"
SUITE=bookworm
BASE_PACKAGES="python3,systemd,systemd-sysv,dbus,ca-certificates,iproute2,procps,apt-transport-https"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

mirror() {
  local uri
  uri="$(grep -hE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)"
  [ -n "$uri" ] || uri="$(grep -hE '^\s*deb\s' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)"
  echo "${uri:-http://deb.debian.org/debian}"
}

moto_pin="$(grep -E '^moto\[server\]==' "$REPO/requirements-dev.txt" | sed 's/.*==//')"
BASE_HASH="$(printf '%s %s' "$SUITE" "$BASE_PACKAGES" | sha256sum | cut -c1-12)"
BASE="localhost/runbook-lab-base:$BASE_HASH"
HASH="$(cat "$HERE/Containerfile" "$REPO/requirements.txt" <(echo "$BASE $moto_pin") \
        "$HERE/node/package.json" "$HERE/node/package-lock.json" \
        /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum | cut -c1-12)"
IMAGE="$NAME:$HASH"

if podman image exists "$IMAGE"; then
  say "lab image $IMAGE is up to date"
  podman tag "$IMAGE" "$NAME:latest"
  echo "$IMAGE"
  exit 0
fi

if ! podman image exists "$BASE"; then
  ROOTFS="$(mktemp -d /var/tmp/rbo-rootfs.XXXXXX)"
  trap 'rm -rf "$ROOTFS"' EXIT
  say "debootstrap $SUITE into $ROOTFS (about a minute)"
  debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$ROOTFS" "$(mirror)" >&2
  # the apt sources of the image: the same mirror the host uses
  echo "deb $(mirror) $SUITE main" > "$ROOTFS/etc/apt/sources.list"
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb
  say "podman import -> $BASE"
  tar -C "$ROOTFS" -c . | podman import --change 'CMD ["/sbin/init"]' - "$BASE" >&2
  rm -rf "$ROOTFS"
fi

CTX="$(mktemp -d /var/tmp/rbo-labctx.XXXXXX)"
trap 'rm -rf "$CTX"' EXIT
mkdir -p "$CTX/ca"
cp /usr/local/share/ca-certificates/*.crt "$CTX/ca/" 2>/dev/null || true
cp "$HERE/Containerfile" "$REPO/requirements.txt" "$CTX/"
command -v npm >/dev/null 2>&1 || { echo "npm is needed to build the lab image (run make bootstrap)" >&2; exit 1; }
say "npm ci (lab/image/node: pm2, bullmq) -> /opt/runbook-node"
mkdir -p "$CTX/node"
cp "$HERE/node/package.json" "$HERE/node/package-lock.json" "$CTX/node/"
(cd "$CTX/node" && npm ci --omit=dev --no-audit --no-fund --no-update-notifier >&2)
tar -C "$CTX/node" -cf "$CTX/runbook-node.tar" package.json node_modules
rm -rf "$CTX/node"
say "podman build -> $IMAGE"
podman build --build-arg BASE="$BASE" --build-arg MOTO_VERSION="$moto_pin" -t "$IMAGE" -f "$CTX/Containerfile" "$CTX" >&2
podman tag "$IMAGE" "$NAME:latest"
echo "$IMAGE"
