#!/usr/bin/env bash
# Run `ansible-test sanity` offline on the working tree (tracked + untracked, not ignored files).
# ansible-test wants the collection under ansible_collections/runbook/ops inside a git repo,
# so the tree is copied into a throw-away one. Extra arguments go to ansible-test.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
export PATH="$VENV/bin:$PATH"

# ansible-test bootstraps pip in its sanity venvs from a URL this machine cannot reach;
# a stand-in at the cache path installs pip from the pip==24.2 wheel instead.
CACHE="$HOME/.ansible/test/cache"
if [ ! -s "$CACHE/get_pip_24_2.py" ]; then
  mkdir -p "$CACHE/wheels"
  WHEEL="$(find "$CACHE/wheels" -maxdepth 1 -name 'pip-24.2-*.whl' 2>/dev/null | head -n1 || true)"
  if [ -z "$WHEEL" ]; then
    "$VENV/bin/pip" download -q --no-deps -d "$CACHE/wheels" pip==24.2
    WHEEL="$(find "$CACHE/wheels" -maxdepth 1 -name 'pip-24.2-*.whl' | head -n1)"
  fi
  cat > "$CACHE/get_pip_24_2.py" <<PY
import sys
sys.path.insert(0, "$WHEEL")
from pip._internal.cli.main import main
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", "--upgrade", "--force-reinstall", *args]))
PY
fi

WORK="$(mktemp -d /tmp/rbo-sanity.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
DEST="$WORK/ansible_collections/runbook/ops"
mkdir -p "$DEST"
# tracked and untracked files as they are in the working tree (a tracked file deleted there is left out)
(cd "$REPO" && git ls-files -co --exclude-standard -z \
  | while IFS= read -r -d '' f; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done \
  | xargs -0 -r cp --parents -t "$DEST")
cd "$DEST"
git init -q && git add -A && git -c user.name=sanity -c user.email=sanity@localhost commit -qm sanity
ansible-test sanity --python 3.11 --color no "$@"
