#!/usr/bin/env bash
# MySQL/MariaDB backup benchmark, side by side in ONE run (issue 13), on a table of BENCH_ROWS rows (default 1000000;
# less compressible: an md5 text per row): the seed's `mysqldump --single-transaction | gzip`, raw
# `mariadb-dump --single-transaction --quick | zstd -T2` (zstd's default level 3, and -1: db_backup's default level),
# and db_backup engine mysql to a local store (with its consistent row counts); then raw `zstd -d | mariadb` plus a
# count of every table, next to db_restore mode verify. BENCH_REPEAT rounds (default 3), medians compared, ratios
# printed.
#   bench/mysql/run.sh
#   BENCH_ROWS=3000000 bench/mysql/run.sh
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
export PATH="$REPO/.venv/bin:$PATH"
for tool in mariadb-dump mariadb mariadb-install-db zstd gzip; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt: mariadb-server mariadb-client zstd)" >&2; exit 2; }
done
exec python "$REPO/bench/mysql/bench.py" "$@"
