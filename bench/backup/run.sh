#!/usr/bin/env bash
# Backup/restore benchmark, side by side with the raw tools, in ONE run (issue 3):
#   the seeds' way `pg_dump | gzip`, raw `pg_dump -Fc -Z0 | zstd -T2`, db_backup to S3 (moto) and to a
#   local store, raw `pg_restore -j2` (+ row counts), db_restore verify and replace.
# Sizes: BENCH_SCALE (pgbench scale, default 10; the issue's size is 100) and BENCH_ROWS (rows of the
# less-compressible md5 table, default 300000; the issue's size is 3000000).
#   bench/backup/run.sh                         # a few minutes on 2 cores
#   BENCH_SCALE=100 BENCH_ROWS=3000000 bench/backup/run.sh
# Results are printed and written to bench/results/backup-<UTC time>.json.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
export PATH="$REPO/.venv/bin:$PATH"
for tool in pg_dump pg_restore pgbench zstd gzip psql; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt: postgresql-client, postgresql-contrib, zstd)" >&2; exit 2; }
done
exec python "$REPO/bench/backup/bench.py" "$@"
