#!/usr/bin/env bash
# bench/pitr: point-in-time recovery to a time one minute before the end of a pgbench workload, the pitr_restore
# module (reach check, restore, recovery, verification) next to raw `pgbackrest restore` + PostgreSQL recovery by
# hand, in the same run, on PostgreSQL + pgBackRest + SeaweedFS behind nginx TLS (all on 127.0.0.1); prints the
# ratio and the RPO achieved beside the dump-based RPO.
# Environment: PITR_BENCH_SCALE (pgbench scale; 70 ~ 1 GB, the issue's size), PITR_BENCH_WORK_S (seconds of
# workload after the full backup, at least 70), PITR_BENCH_ROUNDS (alternated rounds, the best of each counts; 3).
# Both sides restore with the same --process-max (the module's default: one per CPU, at most 4). Each side's CPU
# seconds are printed beside its wall time: on a shared machine the load moves wall time, much less CPU time.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
export PATH="$VENV/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$REPO/.build/collections}"
export ANSIBLE_CONFIG="${ANSIBLE_CONFIG:-$REPO/ansible.cfg}"
exec "$VENV/bin/python" "$REPO/bench/pitr/bench.py" "$@"
