#!/usr/bin/env bash
# The health runbook's controller cost per host beside `ansible -m ping`, at 50 and 200 hosts (see bench.py).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
exec "${VENV:-$REPO/.venv}/bin/python" "$REPO/bench/fleet/bench.py" "$@"
