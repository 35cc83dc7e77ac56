#!/usr/bin/env bash
# bench/health: 20 probes (5 slow HTTP endpoints, PostgreSQL, Redis, TCP, disk, memory, load, TLS) in ONE
# runbook.ops.health_check call versus the same probes one after another (same code with max_workers=1,
# one ansible task per probe, and the raw tools an operator would type), in one run; prints the ratios.
# Environment: HEALTH_BENCH_PROBES (20), HEALTH_BENCH_SLOW_S (0.5), HEALTH_BENCH_REPEAT (3),
# HEALTH_BENCH_ANSIBLE (1; 0 skips the ansible-playbook part).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
export PATH="$VENV/bin:$PATH"
exec "$VENV/bin/python" "$REPO/bench/health/bench.py" "$@"
