#!/usr/bin/env bash
# MySQL/MariaDB backup benchmark, side by side in ONE run (issue 13), for each table size of BENCH_SIZES (rows of a
# less compressible table, an md5 text per row; default 1000000, a few minutes on 2 cores; the issue's sizes are
# 1000000,3000000, about 10 minutes): the seed's `mysqldump --single-transaction | gzip`, raw
# `mariadb-dump --single-transaction --quick | zstd -T2` (zstd's default level 3: the target's reference; and -1,
# db_backup's default level) to a file and to a moto S3 (bench/backup/s3_upload.py), db_backup engine mysql to a local
# store (exact and estimated row counts) and to S3; then raw `zstd -d | mariadb` plus a count, next to db_restore
# mode verify, of the same backup. BENCH_REPEAT backup rounds (default 3, contenders interleaved), medians compared,
# ratios printed against the targets (db_backup <= 1.15x raw zstd, the seed's gzip >= 2.5x db_backup, db_restore
# verify <= 1.2x raw), db_backup's and db_restore's own timings too; BENCH_RESTORE_REPEAT restores each (default 2:
# the order alternates between rounds, and each restore starts once InnoDB has flushed its dirty pages, so neither
# pays for the other's writes or drop; the raw restore's DROP is timed apart, next to db_restore's switch_s).
# Results are also written to bench/results/mysql-<UTC time>.json.
#   bench/mysql/run.sh
#   BENCH_SIZES=1000000,3000000 bench/mysql/run.sh
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
export PATH="$REPO/.venv/bin:$PATH"
for tool in mariadb-dump mysqldump mariadb mariadb-install-db zstd gzip moto_server; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt: mariadb-server mariadb-client zstd; pip: moto[server])" >&2; exit 2; }
done
exec python "$REPO/bench/mysql/bench.py" "$@"
