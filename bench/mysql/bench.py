# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helper of bench/mysql/run.sh: one MariaDB on 127.0.0.1 (tests/integration/mysql_fixtures.py), every contender
timed on the same data in the same run. Raw pipelines are argv lists chained with pipes (no shell)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROWS = int(os.environ.get('BENCH_ROWS', '1000000'))
REPEAT = int(os.environ.get('BENCH_REPEAT', '3'))
TARGETS = {'backup_vs_zstd3': 1.15, 'gzip_vs_backup': 2.5, 'restore_vs_raw': 1.2}


def setup_paths():
    sys.path.insert(0, os.path.join(REPO, '.build', 'collections'))
    sys.path.insert(0, os.path.join(REPO, 'tests', 'integration'))
    link = os.path.join(REPO, '.build', 'collections', 'ansible_collections', 'runbook', 'ops')
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO, link)


def pipeline(stages, out_path, stdin_path=None):
    t = time.monotonic()
    procs = []
    with open(out_path or os.devnull, 'wb') as out:
        prev = open(stdin_path, 'rb') if stdin_path else None
        for i, argv in enumerate(stages):
            last = i == len(stages) - 1
            p = subprocess.Popen(argv, stdin=prev, stdout=out if last else subprocess.PIPE)
            if prev is not None:
                prev.close()
            prev = p.stdout
            procs.append(p)
        rcs = [p.wait() for p in procs]
        if out_path:
            os.fsync(out.fileno())
    if any(rcs):
        raise RuntimeError('%s failed: %s' % (' | '.join(s[0] for s in stages), rcs))
    return time.monotonic() - t


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


def main():
    setup_paths()
    from mysql_fixtures import MariaDB  # pylint: disable=import-error
    from ansible_collections.runbook.ops.plugins.module_utils import mysql as my
    from ansible_collections.runbook.ops.plugins.module_utils import mysql_backup, mysql_restore

    server = MariaDB().start()
    work = tempfile.mkdtemp(prefix='rbo-bench-my-')
    try:
        db = 'bench_rows'
        server.sql('CREATE DATABASE %s' % db)
        server.sql('CREATE TABLE t (id INT PRIMARY KEY, h CHAR(32), n BIGINT, note VARCHAR(40)) ENGINE=InnoDB', db=db)
        t0 = time.monotonic()
        for start in range(0, ROWS, 250000):
            server.sql("INSERT INTO t SELECT seq, MD5(seq), seq * 7919, CONCAT('row ', seq) FROM seq_%d_to_%d"
                       % (start + 1, min(ROWS, start + 250000)), db=db)
        print('loaded %d rows in %.1f s' % (ROWS, time.monotonic() - t0))
        params = dict(server.params, db=db, config_file='/nonexistent', compression='zstd', compression_threads=2,
                      row_counts='exact', retention={}, timeout=0, tags={})
        with my.defaults_file(params, tmp_dir=work) as cnf:
            dump = ['mariadb-dump', '--defaults-file=%s' % cnf, '--single-transaction', '--quick', db]
            seed = ['mysqldump', '--defaults-file=%s' % cnf, '--single-transaction', db]
            runs = {'seed mysqldump | gzip': [], 'raw mariadb-dump | zstd -T2 (level 3)': [],
                    'raw mariadb-dump | zstd -T2 -1': [], 'db_backup local (zstd 1, exact counts)': [],
                    'db_backup local (zstd 1, estimate)': []}
            sizes = {}
            for i in range(REPEAT):
                for name, stages, out in (
                        ('seed mysqldump | gzip', [seed, ['gzip', '-c']], 'seed.sql.gz'),
                        ('raw mariadb-dump | zstd -T2 (level 3)', [dump, ['zstd', '-q', '-c', '-T2']], 'raw3.sql.zst'),
                        ('raw mariadb-dump | zstd -T2 -1', [dump, ['zstd', '-q', '-c', '-T2', '-1']], 'raw1.sql.zst')):
                    path = os.path.join(work, out)
                    runs[name].append(pipeline(stages, path))
                    sizes[name] = os.path.getsize(path)
                store = os.path.join(work, 'store%d' % i)
                t = time.monotonic()
                r = mysql_backup.run_backup(dict(params, store=store))
                runs['db_backup local (zstd 1, exact counts)'].append(time.monotonic() - t)
                sizes['db_backup local (zstd 1, exact counts)'] = r['manifest']['size']
                t = time.monotonic()
                r = mysql_backup.run_backup(dict(params, store=store + 'e', row_counts='estimate'))
                runs['db_backup local (zstd 1, estimate)'].append(time.monotonic() - t)
                sizes['db_backup local (zstd 1, estimate)'] = r['manifest']['size']
            med = dict((k, median(v)) for k, v in runs.items())
            for k, v in med.items():
                each = ', '.join('%.2f' % x for x in runs[k])
                print('%-42s %7.2f s  %8.1f MiB  (runs: %s)' % (k, v, sizes[k] / 1048576.0, each))
            # restores: raw zstd -d | mariadb into a fresh database + a count, vs db_restore verify
            server.sql('CREATE DATABASE bench_raw_restore')
            raw = os.path.join(work, 'raw1.sql.zst')
            t = time.monotonic()
            client = ['mariadb', '--defaults-file=%s' % cnf, '--database=bench_raw_restore']
            pipeline([['zstd', '-q', '-d', '-c', raw], client], None)
            server.sql('SELECT COUNT(*) FROM bench_raw_restore.t')
            raw_restore = time.monotonic() - t
            t = time.monotonic()
            v = mysql_restore.run_restore(dict(params, store=os.path.join(work, 'store0'), mode='verify',
                                               backup='latest', verify_row_counts=True, keep_previous=True))
            restore = time.monotonic() - t
            assert v['verification']['ok'] is True
            print('%-42s %7.2f s' % ('raw zstd -d | mariadb + count', raw_restore))
            print('%-42s %7.2f s' % ('db_restore verify', restore))
        b = med['db_backup local (zstd 1, exact counts)']
        ratios = {
            'backup_vs_zstd3': b / med['raw mariadb-dump | zstd -T2 (level 3)'],
            'backup_vs_zstd1': b / med['raw mariadb-dump | zstd -T2 -1'],
            'estimate_vs_zstd1': med['db_backup local (zstd 1, estimate)'] / med['raw mariadb-dump | zstd -T2 -1'],
            'gzip_vs_backup': med['seed mysqldump | gzip'] / b,
            'restore_vs_raw': restore / raw_restore,
        }
        print('ratios:')
        for k, v in ratios.items():
            target = TARGETS.get(k)
            verdict = '' if target is None else (
                ('  target >= %.2f: %s' % (target, 'met' if v >= target else 'MISSED')) if k == 'gzip_vs_backup'
                else ('  target <= %.2f: %s' % (target, 'met' if v <= target else 'MISSED')))
            print('  %-18s %.2f%s' % (k, v, verdict))
    finally:
        server.stop()
        subprocess.run(['rm', '-rf', work], check=False)


if __name__ == '__main__':
    main()
