#!/usr/bin/env bash
# Bring a fresh Debian 12 machine (as root) to the point where every make target runs:
# the apt packages in bindep.txt, the venv with requirements-dev.txt, the collection link.
# Idempotent and fast when nothing changed: apt runs only for missing packages, pip only
# when a requirements file changed (stamped by hash).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
PY="${PYTHON:-python3}"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# 1. apt packages (every line of bindep.txt marked platform:dpkg)
mapfile -t PKGS < <(grep -E '^\s*[a-z0-9.+-]+\s+\[.*platform:dpkg' "$REPO/bindep.txt" | awk '{print $1}')
MISSING=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || MISSING+=("$p")
done
if [ "${#MISSING[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing system packages: ${MISSING[*]}. Run as root, or: sudo apt-get install ${MISSING[*]}" >&2
    exit 1
  fi
  say "apt: installing ${MISSING[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${MISSING[@]}"
fi

# Node.js >= 18 with npm, for the PM2 adapter's tests (a real pm2 from the npm registry).
# Checked by command, not by package: a NodeSource nodejs ships its own npm, which Debian's npm
# package would conflict with.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Node.js and npm are missing. Run as root, or: sudo apt-get install nodejs npm" >&2
    exit 1
  fi
  say "apt: installing nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends nodejs npm
fi

# 2. the venv with the pinned control-node and test packages
STAMP="$VENV/.requirements.sha256"
WANT="$(cat "$REPO/requirements.txt" "$REPO/requirements-dev.txt" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
  say "venv: creating $VENV"
  "$PY" -m venv "$VENV"
fi
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]; then
  say "pip: installing requirements-dev.txt into $VENV"
  "$VENV/bin/pip" install -q --upgrade pip wheel
  "$VENV/bin/pip" install -q -r "$REPO/requirements-dev.txt"
  echo "$WANT" > "$STAMP"
fi

# 3. the repo as ansible_collections/runbook/ops (a link, nothing copied)
LINK="$REPO/.build/collections/ansible_collections/runbook/ops"
if [ ! -L "$LINK" ]; then
  mkdir -p "$(dirname "$LINK")"
  ln -sfn "$REPO" "$LINK"
fi
