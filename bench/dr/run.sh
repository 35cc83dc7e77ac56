#!/usr/bin/env bash
# bench/dr: the DR rehearsal's RTO on the lab, phase by phase, next to the raw tools doing the same
# restore by hand (boto3 download + zstd -d + pg_restore -j into dr-db1) in the same run; prints ratios.
# Environment: DR_BENCH_SCALE (pgbench scale of the primary database; 10 ~ 160 MB, 70 ~ 1 GB: the
# issue's size), DR_BENCH_FRESH (1: recreate the lab first; 0: reuse a running lab whose DR site is empty).
# Needs the lab image (make lab-image); leaves the lab up (make lab-down).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
export PATH="$VENV/bin:$PATH"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$REPO/containers.conf}"
export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$REPO/.build/collections}"
export ANSIBLE_CONFIG="${ANSIBLE_CONFIG:-$REPO/ansible.cfg}"
exec "$VENV/bin/python" "$REPO/bench/dr/bench.py" "$@"
