#!/usr/bin/env bash
# ansible-lint, production profile, offline (Galaxy is unreachable; the collection is found
# through ANSIBLE_COLLECTIONS_PATH, which the Makefile points at .build/collections).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="${VENV:-$REPO/.venv}/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$REPO/.build/collections"
export CONTAINERS_CONF="$REPO/containers.conf"
cd "$REPO"
ansible-lint --offline --profile production "$@"
