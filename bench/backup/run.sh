#!/usr/bin/env bash
# Backup/restore benchmark, side by side with the raw tools, in ONE run (issue 3):
#   pg_dump alone (the floor), the seeds' way `pg_dump | gzip`, raw `pg_dump -Fc -Z0 | zstd -T2 -1` to a file and
#   streamed to the same moto S3 by the plainest boto3 upload (bench/backup/s3_upload.py: upload_fileobj of
#   the pipe, default TransferConfig), db_backup to a local store and to S3 with row_counts exact and estimate;
#   all at db_backup's default zstd level 1, and once more at level 3 (raw and db_backup compression_level 3:
#   what level 1's speed costs in size);
#   then once each: raw `pg_restore -j2` (+ row counts), db_restore verify and replace.
#   exact counts read from pg_dump's own stream beside the default count(*) in the snapshot (issue 16).
# Backups run BENCH_REPEAT times (default 3) interleaved, one of each contender per round; medians are
# compared. Ratios and the peak RSS of db_backup's process and of the raw uploader are printed.
# Sizes: BENCH_SCALE (pgbench scale, default 10; the issue's size is 100) and BENCH_ROWS (rows of the
# less-compressible md5 table, default 300000; the issue's size is 3000000).
# BENCH_DBS=bench_md5 or bench_pgbench runs one database only; BENCH_RESTORE=0 skips the restores.
#   bench/backup/run.sh                         # a few minutes on 2 cores
#   BENCH_SCALE=100 BENCH_ROWS=3000000 bench/backup/run.sh
# Results are printed and written to bench/results/backup-<UTC time>.json (`run.sh --report FILE` prints
# a saved file again).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
export PATH="$REPO/.venv/bin:$PATH"
for tool in pg_dump pg_restore pgbench zstd gzip psql; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt: postgresql-client, postgresql-contrib, zstd)" >&2; exit 2; }
done
exec python "$REPO/bench/backup/bench.py" "$@"
