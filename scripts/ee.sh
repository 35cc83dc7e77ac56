#!/usr/bin/env bash
# Build the execution environment (execution-environment.yml) with ansible-builder and podman, no registry:
#   1. the base: the lab's Debian base image (lab/image/build.sh builds it when it is missing);
#   2. stage the build files in .build/ee/files: the proxy CA, the runbook.ops tarball
#      (`ansible-galaxy collection build`) and its dependency collections, copied from the `ansible`
#      package pinned in requirements-dev.txt (Galaxy is not reachable);
#   3. `ansible-builder build` into localhost/runbook-ee:<hash of the inputs>.
# The tag is a hash of the inputs (execution-environment.yml, requirements.txt, bindep.txt, the collection's
# plugins/roles/playbooks/meta and galaxy.yml, the dependency collections' versions, the CA, the base image
# and this script), so an unchanged tree reuses the image. Prints the build time and the image size on
# stderr and the image name on its last stdout line.
#   EE_IMAGE_NAME (localhost/runbook-ee), EE_BASE_IMAGE (default: the newest localhost/runbook-lab-base),
#   EE_NO_CACHE=1 (build without podman's layer cache: the cold build time)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
export PATH="$VENV/bin:$PATH"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$REPO/containers.conf}"
NAME="${EE_IMAGE_NAME:-localhost/runbook-ee}"
OUT="$REPO/.build/ee"
SITE="$("$VENV/bin/python" -c 'import ansible_collections, os; print(os.path.dirname(ansible_collections.__path__[0]))')"
# galaxy.yml's dependencies, installed from the pinned `ansible` package (see execution-environment.yml)
DEPS=(community.postgresql community.mysql community.crypto ansible.posix kubernetes.core amazon.aws community.aws)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
start=$(date +%s)

# 1. the base image
base_image() {
  podman images --sort created --format '{{.Repository}}:{{.Tag}}' localhost/runbook-lab-base 2>/dev/null \
    | grep -v '<none>' | head -n1
}
BASE="${EE_BASE_IMAGE:-$(base_image)}"
if [ -z "$BASE" ]; then
  say "no lab base image: building it with lab/image/build.sh"
  "$REPO/lab/image/build.sh" >&2
  BASE="$(base_image)"
fi
[ -n "$BASE" ] || { echo "Could not find the EE base image: lab/image/build.sh built none. Run make lab-image." >&2; exit 1; }
BASE_ID="$(podman image inspect --format '{{.Id}}' "$BASE")"

# 2. the tag: a hash of every input
dep_versions() {
  local c
  for c in "${DEPS[@]}"; do
    "$VENV/bin/python" -c 'import json,sys; m=json.load(open(sys.argv[1]))["collection_info"]; print(m["namespace"], m["name"], m["version"])' \
      "$SITE/ansible_collections/${c%%.*}/${c#*.}/MANIFEST.json"
  done
}
HASH="$(
  {
    cd "$REPO"
    find execution-environment.yml requirements.txt bindep.txt galaxy.yml scripts/ee.sh meta plugins roles playbooks \
      -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum
    dep_versions
    cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true
    echo "$BASE_ID"
  } | sha256sum | cut -c1-12
)"
IMAGE="$NAME:$HASH"

report() {
  local size
  size="$(podman image inspect --format '{{.Size}}' "$IMAGE")"
  say "EE $IMAGE (base $BASE): $1 in $(( $(date +%s) - start )) s, size $(( size / 1000000 )) MB"
}

if podman image exists "$IMAGE"; then
  podman tag "$IMAGE" "$NAME:latest"
  report "up to date"
  echo "$IMAGE"
  exit 0
fi

# 3. stage the build files
rm -rf "$OUT/files" "$OUT/context"
mkdir -p "$OUT/files/ca" "$OUT/files/collections" "$OUT/files/deps"
cp /usr/local/share/ca-certificates/*.crt "$OUT/files/ca/" 2>/dev/null || true
say "ansible-galaxy collection build (runbook.ops)"
tmp="$(mktemp -d "$OUT/build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
(cd "$REPO" && ansible-galaxy collection build --force --output-path "$tmp" . >&2)
mv "$tmp"/runbook-ops-*.tar.gz "$OUT/files/collections/runbook-ops.tar.gz"
for c in "${DEPS[@]}"; do
  # the installed copy from the pinned `ansible` package (it drops files its FILES.json lists, so it is
  # copied as a directory, not repacked as a Galaxy tarball)
  mkdir -p "$OUT/files/deps/${c%%.*}"
  cp -a "$SITE/ansible_collections/${c%%.*}/${c#*.}" "$OUT/files/deps/${c%%.*}/"
done
find "$OUT/files/deps" -name __pycache__ -prune -exec rm -rf {} +

# 4. build
say "ansible-builder build -> $IMAGE"
# --squash new: one layer on top of the base, so the apt lists and wheels removed at the end take no space
nocache=()
[ "${EE_NO_CACHE:-}" = 1 ] && nocache=(--no-cache)
(cd "$REPO" && ansible-builder build --container-runtime podman -f execution-environment.yml \
   --context "$OUT/context" --build-arg "EE_BASE_IMAGE=$BASE" -t "$IMAGE" --squash new "${nocache[@]}" -v 2 >&2)
podman tag "$IMAGE" "$NAME:latest"
report "built"
echo "$IMAGE"
