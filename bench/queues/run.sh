#!/usr/bin/env bash
# bench/queues: clean N completed jobs of a BullMQ queue in a private redis-server on 127.0.0.1, two ways in
# ONE run, each on the same freshly loaded queue (jobs added and completed by Node's bullmq) with a concurrent
# PING every 1 ms:
#   1. BullMQ's own queue.clean(0, BATCH, 'completed') called from Node in a loop (the reference)
#   2. runbook.ops queue_control action=clean (module_utils/queues.py: the same Lua script through PyPI bullmq)
# For each: jobs/s and the worst PING round trip; then the ratio against the issue's target (>= 1.0x the Node
# way's jobs/s with the worst PING <= 15 ms).
# Environment: BENCH_JOBS (200000; 1000000 for the issue's 1M), BENCH_BATCH (1000), BENCH_IN_FLIGHT (clean calls
# queue_control keeps in flight, default its CLEAN_IN_FLIGHT; 1 = the plain loop), BENCH_JSON (a path to also
# write the numbers to), BENCH_NICE (-10 when root). Needs node and npm (the pinned npm bullmq is installed into
# .build/bullmq like the integration tests do).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
export PATH="$VENV/bin:$PATH"
exec "$VENV/bin/python" "$REPO/bench/queues/bench.py" "$@"
