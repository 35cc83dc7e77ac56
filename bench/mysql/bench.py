# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helper of bench/mysql/run.sh: one MariaDB (tests/integration/mysql_fixtures.py) and one moto S3 on 127.0.0.1,
every contender timed on the same data in the same run, for each table size of BENCH_SIZES.  Raw pipelines are argv
lists chained with pipes (no shell), timed with bench/backup's helpers (the output file fsynced, as db_backup's local
store does; the raw S3 upload is bench/backup/s3_upload.py, boto3's upload_fileobj of the pipe)."""
from __future__ import annotations

import datetime
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZES = [int(s) for s in os.environ.get('BENCH_SIZES', os.environ.get('BENCH_ROWS', '1000000')).split(',') if s]
REPEAT = int(os.environ.get('BENCH_REPEAT', '3'))
RESTORE_REPEAT = int(os.environ.get('BENCH_RESTORE_REPEAT', '2'))
SETTLE_TIMEOUT_S = 120.0
MIB = 1024.0 * 1024.0

GZIP = 'seed: mysqldump | gzip'
RAW = 'raw: mariadb-dump | zstd -T2'
RAW1 = 'raw: mariadb-dump | zstd -T2 -1'
RAW_S3 = 'raw: mariadb-dump | zstd -T2 -> S3'
OURS = 'db_backup -> local (exact counts)'
OURS_EST = 'db_backup -> local (estimate)'
OURS_S3 = 'db_backup -> S3 (exact counts)'
RAW_RESTORE = 'raw: zstd -d | mariadb + count'
RAW_RESTORE_DROP = 'raw: zstd -d | mariadb + count + drop'
OURS_RESTORE = 'db_restore mode verify'
# (name, numerator, denominator, target, 'max' | 'min' | 'info')
RATIOS = (
    ('db_backup local / raw zstd', OURS, RAW, 1.15, 'max'),
    ('db_backup S3 / raw zstd -> S3', OURS_S3, RAW_S3, 1.15, 'max'),
    ('seed gzip / db_backup local', GZIP, OURS, 2.5, 'min'),
    ('db_restore verify / raw restore + count', OURS_RESTORE, RAW_RESTORE, 1.2, 'max'),
    ('db_restore verify / raw restore + count + drop', OURS_RESTORE, RAW_RESTORE_DROP, None, 'info'),
    ('db_backup local / raw zstd -1', OURS, RAW1, None, 'info'),
    ('db_backup estimate / raw zstd -1', OURS_EST, RAW1, None, 'info'),
)


def setup_paths():
    sys.path.insert(0, os.path.join(REPO, '.build', 'collections'))
    sys.path.insert(0, os.path.join(REPO, 'tests', 'integration'))
    link = os.path.join(REPO, '.build', 'collections', 'ansible_collections', 'runbook', 'ops')
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO, link)


def backup_bench():
    """bench/backup/bench.py, for its pipeline timers (it runs nothing when imported)."""
    spec = importlib.util.spec_from_file_location('rbo_bench_backup', os.path.join(REPO, 'bench', 'backup', 'bench.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Bench(object):
    def __init__(self, server, endpoint, work, bb):
        import boto3
        from ansible_collections.runbook.ops.plugins.module_utils import mysql_backup, mysql_restore
        self.server, self.endpoint, self.work, self.bb = server, endpoint, work, bb
        self.mysql_backup, self.mysql_restore = mysql_backup, mysql_restore
        self.s3 = boto3.client('s3', endpoint_url=endpoint)
        self.s3.create_bucket(Bucket='bench')

    def load(self, rows):
        db = 'bench_%d' % rows
        self.server.sql('CREATE DATABASE %s' % db)
        self.server.sql('CREATE TABLE t (id INT PRIMARY KEY, h CHAR(32), n BIGINT, note VARCHAR(40)) ENGINE=InnoDB',
                        db=db)
        t0 = time.monotonic()
        for start in range(0, rows, 250000):
            self.server.sql("INSERT INTO t SELECT seq, MD5(seq), seq * 7919, CONCAT('row ', seq) FROM seq_%d_to_%d"
                            % (start + 1, min(rows, start + 250000)), db=db)
        self.server.sql('ANALYZE TABLE t', db=db)
        return db, time.monotonic() - t0

    def empty_stores(self):
        """Outside the timings: every backup starts from an empty bucket and store (moto keeps objects in RAM)."""
        keys = [o['Key'] for o in self.s3.list_objects_v2(Bucket='bench').get('Contents', [])]
        if keys:
            self.s3.delete_objects(Bucket='bench', Delete={'Objects': [{'Key': k} for k in keys]})
        shutil.rmtree(os.path.join(self.work, 'store'), ignore_errors=True)

    def contenders(self, db, cnf):
        bb, out, py = self.bb, os.path.join(self.work, 'out'), sys.executable
        dump = ['mariadb-dump', '--defaults-file=%s' % cnf, '--single-transaction', '--quick', db]
        seed = ['mysqldump', '--defaults-file=%s' % cnf, '--single-transaction', db]
        zstd = ['zstd', '-q', '-c', '-T2']
        uploader = os.path.join(REPO, 'bench', 'backup', 's3_upload.py')
        params = dict(self.server.params, db=db, config_file='/nonexistent', compression='zstd',
                      compression_threads=2, retention={}, timeout=0, tags={})
        s3 = dict(store='s3://bench/%s' % db, s3_endpoint_url=self.endpoint, aws_access_key='testing',
                  aws_secret_key='testing', aws_region='us-east-1')
        env = dict(os.environ)

        def raw(stages):
            def run():
                s, _rss = bb.pipeline(stages, out, env)
                return {'s': s, 'mib': os.path.getsize(out) / MIB}
            return run

        def raw_s3(stages):
            def run():
                key = 'raw/%s.sql.zst' % db
                s, _rss = bb.pipeline_to_s3(stages, [py, uploader, self.endpoint, 'bench', key], env)
                return {'s': s, 'mib': self.s3.head_object(Bucket='bench', Key=key)['ContentLength'] / MIB}
            return run

        def ours(store, row_counts):
            def run():
                t = time.monotonic()
                r = self.mysql_backup.run_backup(dict(params, row_counts=row_counts, **store))
                return {'s': time.monotonic() - t, 'mib': r['manifest']['size'] / MIB, 'timings': r['timings']}
            return run

        local = dict(store=os.path.join(self.work, 'store'))
        return [(GZIP, raw([seed, ['gzip', '-c']])), (RAW, raw([dump, zstd])), (RAW1, raw([dump, zstd + ['-1']])),
                (RAW_S3, raw_s3([dump, zstd])), (OURS, ours(local, 'exact')), (OURS_EST, ours(local, 'estimate')),
                (OURS_S3, ours(s3, 'exact'))], params

    def one(self, rows):
        from ansible_collections.runbook.ops.plugins.module_utils import mysql as my
        db, load_s = self.load(rows)
        print('\n%d rows: loaded in %.1f s' % (rows, load_s), flush=True)
        runs = {}
        with my.defaults_file(dict(self.server.params, config_file='/nonexistent'), tmp_dir=self.work) as cnf:
            contenders, params = self.contenders(db, cnf)
            for _i in range(REPEAT):
                for name, run in contenders:
                    self.empty_stores()
                    runs.setdefault(name, []).append(run())
            runs.update(self.restores(db, cnf, params))
        self.server.sql('DROP DATABASE %s' % db)
        return {'rows': rows, 'load_s': round(load_s, 1), 'runs': runs}

    def settle(self):
        """Outside the timings, before each restore: InnoDB flushes its dirty pages and the OS its page cache, so a
        contender does not pay for the writes (or the drop) of the one before it."""
        (_name, pct), = self.server.sql("SHOW GLOBAL VARIABLES LIKE 'innodb_max_dirty_pages_pct'")
        self.server.sql('SET GLOBAL innodb_max_dirty_pages_pct = 0')
        try:
            stop = time.monotonic() + SETTLE_TIMEOUT_S
            while time.monotonic() < stop:
                (_name, dirty), = self.server.sql("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
                if int(dirty) == 0:
                    break
                time.sleep(0.2)
        finally:
            self.server.sql('SET GLOBAL innodb_max_dirty_pages_pct = %s' % float(pct))
        os.sync()

    def restores(self, db, cnf, params):
        """Raw ``zstd -d | mariadb`` into a new database plus a COUNT(*) of its table (its DROP timed apart), and
        db_restore mode verify (whose ``switch_s`` is the drop of its scratch database), both of the same backup
        (db_backup's object in a local store); the order alternates from one round to the next, and each restore
        starts on a settled server (:meth:`settle`)."""
        self.empty_stores()
        store = os.path.join(self.work, 'store')
        r = self.mysql_backup.run_backup(dict(params, store=store, row_counts='exact'))
        data = os.path.join(store, r['backup_id'], r['manifest']['data_key'])
        out = {RAW_RESTORE: [], RAW_RESTORE_DROP: [], OURS_RESTORE: []}

        def raw(i):
            target = 'bench_raw_restore_%d' % i
            self.server.sql('CREATE DATABASE %s' % target)
            t = time.monotonic()
            self.bb.pipeline([['zstd', '-q', '-d', '-c', data],
                              ['mariadb', '--defaults-file=%s' % cnf, '--database=%s' % target]], None, None)
            self.server.sql('SELECT COUNT(*) FROM %s.t' % target)
            out[RAW_RESTORE].append({'s': time.monotonic() - t})
            self.server.sql('DROP DATABASE %s' % target)
            out[RAW_RESTORE_DROP].append({'s': time.monotonic() - t})

        def ours(_i):
            t = time.monotonic()
            v = self.mysql_restore.run_restore(dict(params, store=store, mode='verify', backup='latest',
                                                    verify_row_counts=True, keep_previous=True))
            out[OURS_RESTORE].append({'s': time.monotonic() - t, 'timings': v['timings']})
            assert v['verification']['ok'] is True, v

        for i in range(RESTORE_REPEAT):
            for run in ((raw, ours) if i % 2 == 0 else (ours, raw)):
                self.settle()
                run(i)
        return out


def report(res):
    med = dict((k, res_median(v)) for k, v in res['runs'].items())
    print('%d rows, medians of %d backup rounds and %d restore(s):' % (res['rows'], REPEAT, RESTORE_REPEAT))
    print('  %-38s %8s %9s  %s' % ('contender', 'median s', 'MiB', 'runs (s)'))
    for name, runs in res['runs'].items():
        mib = runs[-1].get('mib')
        size = '%.1f' % mib if mib is not None else ''
        print('  %-38s %8.2f %9s  %s' % (name, med[name], size, ', '.join('%.2f' % r['s'] for r in runs)))
    print('  ratios:')
    for label, num, den, target, kind in RATIOS:
        v = med[num] / med[den]
        verdict = '' if kind == 'info' else '  target %s %.2f: %s' % (
            '<=' if kind == 'max' else '>=', target, 'met' if (v <= target if kind == 'max' else v >= target)
            else 'MISSED')
        print('    %-40s %5.2f%s' % (label, v, verdict))
    for label, name, order in (('db_backup local (exact)', OURS, None),
                               ('db_restore verify', OURS_RESTORE, ('preflight_s', 'download_s', 'restore_s',
                                                                    'verify_s', 'switch_s', 'total_s'))):
        timings = [r['timings'] for r in res['runs'][name]]
        keys = order or sorted(set(k for t in timings for k in t))
        print('  %s timings, medians: %s' % (label, ', '.join(
            '%s %.3f' % (k, res_median([{'s': t[k]} for t in timings if k in t])) for k in keys)))


def res_median(runs):
    v = sorted(r['s'] for r in runs)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


def main():
    setup_paths()
    bb = backup_bench()
    from mysql_fixtures import MariaDB  # pylint: disable=import-error
    from servers import free_port, wait_port  # pylint: disable=import-error
    import subprocess
    os.environ.update(AWS_ACCESS_KEY_ID='testing', AWS_SECRET_ACCESS_KEY='testing', AWS_DEFAULT_REGION='us-east-1')
    work = tempfile.mkdtemp(prefix='rbo-bench-my-')
    server = MariaDB().start()
    port = free_port()
    moto = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), 'moto_server'), '-H', '127.0.0.1', '-p',
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc=moto)
        bench = Bench(server, 'http://127.0.0.1:%d' % port, work, bb)
        print('sizes %s, %d backup rounds (contenders interleaved), %d cores, load average at the start %.1f %.1f %.1f'
              % (','.join(str(s) for s in SIZES), REPEAT, os.cpu_count(), *os.getloadavg()), flush=True)
        results = []
        for rows in SIZES:
            res = bench.one(rows)
            report(res)
            print('  load average now %.1f %.1f %.1f' % os.getloadavg(), flush=True)
            results.append(res)
        path = os.path.join(REPO, 'bench', 'results', 'mysql-%s.json' % datetime.datetime.now(
            datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ'))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            json.dump({'sizes': SIZES, 'repeat': REPEAT, 'cpus': os.cpu_count(), 'load': os.getloadavg(),
                       'results': results}, f, indent=2)
        print('\nload average at the end: %.1f %.1f %.1f; results in %s' % (os.getloadavg() + (path,)))
        print('db_backup seconds: run_backup in this process (no ansible start-up); raw seconds: the pipeline\'s wall '
              'time, output fsynced.')
    finally:
        moto.terminate()
        moto.wait(10)
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
