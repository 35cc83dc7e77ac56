# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helper of bench/backup/run.sh: one PostgreSQL and one moto server on 127.0.0.1, every contender timed
on the same data in the same run. Raw pipelines are argv lists chained with pipes (no shell)."""
from __future__ import annotations

import datetime
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCALE = int(os.environ.get('BENCH_SCALE', '10'))
ROWS = int(os.environ.get('BENCH_ROWS', '300000'))
REPEAT = int(os.environ.get('BENCH_REPEAT', '3'))
RESTORE = os.environ.get('BENCH_RESTORE', '1') != '0'
DBS = [d for d in os.environ.get('BENCH_DBS', 'bench_md5,bench_pgbench').split(',') if d]
MIB = 1024.0 * 1024.0
TARGETS = {'backup_vs_zstd': 1.15, 'gzip_vs_backup': 4.0, 'restore_vs_raw': 1.15}


def load_conftest():
    sys.path.insert(0, os.path.join(REPO, '.build', 'collections'))
    sys.path.insert(0, os.path.join(REPO, 'tests'))                # ... and tests/testkit.py
    sys.path.insert(0, os.path.join(REPO, 'tests', 'integration'))  # conftest imports its sibling servers.py
    link = os.path.join(REPO, '.build', 'collections', 'ansible_collections', 'runbook', 'ops')
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO, link)
    spec = importlib.util.spec_from_file_location('rbo_it_conftest', os.path.join(REPO, 'tests', 'integration',
                                                                                  'conftest.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pipeline(stages, out_path, env):
    """Run ``stages[0] | stages[1] | ...`` with the last stage writing ``out_path`` (None: its own output);
    return (seconds, peak RSS in MiB of the last stage).  ``pipeline.fsync_s`` is then the time an fsync of
    the output took afterwards (db_backup's local store fsyncs before its rename; a shell redirect does not)."""
    t = time.monotonic()
    procs = []
    with open(out_path or os.devnull, 'wb') as out:
        prev = None
        for i, argv in enumerate(stages):
            last = i == len(stages) - 1
            p = subprocess.Popen(argv, stdin=prev, stdout=out if last else subprocess.PIPE, env=env)
            if prev is not None:
                prev.close()
            prev = p.stdout
            procs.append(p)
        rcs, rss = [], 0.0
        for p in procs:
            _pid, status, usage = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            rcs.append(p.returncode)
            rss = usage.ru_maxrss / 1024.0
        seconds = time.monotonic() - t
        pipeline.fsync_s = None
        if out_path:
            os.fsync(out.fileno())
            pipeline.fsync_s = time.monotonic() - t - seconds
    if any(rcs):
        raise RuntimeError('%s failed: %s' % (' | '.join(s[0] for s in stages), rcs))
    return seconds, rss


def pipeline_to_s3(stages, uploader, env):
    """``stages | uploader``, the uploader started first and timed from its ``ready`` (after its imports);
    return (seconds, peak RSS in MiB of the uploader)."""
    read_end, write_end = os.pipe()
    up = subprocess.Popen(uploader, stdin=read_end, stdout=subprocess.PIPE, env=env)
    os.close(read_end)
    procs = []
    try:
        if up.stdout.readline().strip() != b'ready':
            raise RuntimeError('%s did not start' % uploader[1])
        t = time.monotonic()
        prev = None
        for i, argv in enumerate(stages):
            last = i == len(stages) - 1
            p = subprocess.Popen(argv, stdin=prev, stdout=write_end if last else subprocess.PIPE, env=env)
            if prev is not None:
                prev.close()
            prev = p.stdout
            procs.append(p)
    finally:
        os.close(write_end)
    rcs = [p.wait() for p in procs]
    _pid, status, usage = os.wait4(up.pid, 0)
    up.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - t
    up.stdout.close()
    if any(rcs) or up.returncode:
        raise RuntimeError('raw S3 pipeline failed: %s, uploader %s' % (rcs, up.returncode))
    return seconds, usage.ru_maxrss / 1024.0


def timed(argv, env):
    t = time.monotonic()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


class Bench(object):
    def __init__(self, conf, pg, moto, work):
        self.conf, self.pg, self.moto, self.work = conf, pg, moto, work
        self.env = dict(os.environ, PGHOST='127.0.0.1', PGPORT=str(pg.port), PGUSER='postgres',
                        PGPASSWORD=pg.password)
        import boto3
        self.s3 = boto3.client('s3', endpoint_url=moto)

    def module(self, name, args):
        t = time.monotonic()
        r = self.conf._run_ansible_module(name, args, timeout=3600)
        wall = time.monotonic() - t
        if r.get('failed'):
            raise RuntimeError('%s failed: %s' % (name, r.get('msg')))
        return r, wall

    def counts(self, db):
        listing = self.pg.psql("SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
                               "WHERE schemaname = 'public' ORDER BY 1", db=db).split()
        return dict((t, int(self.pg.psql('SELECT count(*) FROM %s' % t, db=db))) for t in listing)

    def empty_stores(self):
        """Outside the timings: every run starts from an empty bucket and store (moto keeps objects in RAM)."""
        keys = [o['Key'] for o in self.s3.list_objects_v2(Bucket='bench').get('Contents', [])]
        if keys:
            self.s3.delete_objects(Bucket='bench', Delete={'Objects': [{'Key': k} for k in keys]})
        shutil.rmtree(os.path.join(self.work, 'store'), ignore_errors=True)

    def contenders(self, db):
        """name -> callable returning {'s': seconds, 'mib': output MiB, 'rss': peak MiB of our/uploader process}."""
        env = dict(self.env, PGDATABASE=db)
        py = sys.executable
        uploader = os.path.join(REPO, 'bench', 'backup', 's3_upload.py')
        s3 = dict(store='s3://bench/%s' % db, s3_endpoint_url=self.moto, aws_access_key='testing',
                  aws_secret_key='testing', aws_region='us-east-1')
        local = dict(store=os.path.join(self.work, 'store'))
        out = os.path.join(self.work, 'out')

        def raw(stages):
            def run():
                s, _rss = pipeline(stages, out, env)
                return {'s': s, 'mib': os.path.getsize(out) / MIB, 'rss': None, 'fsync_s': pipeline.fsync_s}
            return run

        def raw_s3(stages, key):
            def run():
                s, rss = pipeline_to_s3(stages, [py, uploader, self.moto, 'bench', key], env)
                return {'s': s, 'mib': self.s3.head_object(Bucket='bench', Key=key)['ContentLength'] / MIB,
                        'rss': rss}
            return run

        def ours(store, row_counts, count_method=None, **extra):
            def run():
                args = dict(self.pg.params, db=db, row_counts=row_counts, **store)
                args.update(extra)
                if count_method:  # the module reads it from its environment
                    os.environ[COUNT_METHOD_ENV] = count_method
                try:
                    r, wall = self.module('db_backup', args)
                finally:
                    os.environ.pop(COUNT_METHOD_ENV, None)
                return {'s': r['timings']['total_s'], 'wall': wall, 'mib': r['manifest']['size'] / MIB,
                        'rss': r.get('peak_rss_mib'), 'count_wait_s': r['timings'].get('count_wait_s'),
                        'commit_s': r['timings'].get('commit_s')}
            return run

        dump = ['pg_dump', '-Fc', '-Z0']
        zstd = ['zstd', '-q', '-c', '-T2', '-1']  # db_backup's default level
        return [
            (FLOOR, raw([dump])),
            (GZIP, raw([['pg_dump'], ['gzip']])),
            (ZFILE, raw([dump, zstd])),
            (ZS3, raw_s3([dump, zstd], 'raw/%s.dump.zst' % db)),
            ('db_backup -> local (exact counts)', ours(local, 'exact')),
            (OURSTREAM, ours(local, 'exact', count_method='stream')),
            ('db_backup -> local (estimate)', ours(local, 'estimate')),
            ('db_backup -> S3 (exact counts)', ours(s3, 'exact')),
            ('db_backup -> S3 (estimate)', ours(s3, 'estimate')),
            # zstd's own default level 3 (db_backup's default before 0.1.0): what the speed of level 1 costs in size
            (Z3FILE, raw([dump, zstd[:-1] + ['-3']])),
            (OURS3, ours(local, 'exact', compression_level=3)),
        ]

    def backups(self, db):
        contenders = self.contenders(db)
        runs = dict((name, []) for name, _fn in contenders)
        for rep in range(REPEAT):  # interleaved: one of each, REPEAT times
            for name, fn in contenders:
                self.empty_stores()
                runs[name].append(fn())
            print('  %s: round %d/%d done (load %.1f)' % (db, rep + 1, REPEAT, os.getloadavg()[0]), flush=True)
        self.empty_stores()
        out = os.path.join(self.work, 'out')
        if os.path.exists(out):
            os.unlink(out)
        return [(name, runs[name]) for name, _fn in contenders]

    def restores(self, db):
        """Once each: raw zstd -d + pg_restore -j2 + counts, db_restore verify (S3) and replace (local)."""
        env = dict(self.env, PGDATABASE=db)
        res = {}
        raw = os.path.join(self.work, db + '.raw.dump')
        zst = os.path.join(self.work, db + '.dump.zst')
        pipeline([['pg_dump', '-Fc', '-Z0'], ['zstd', '-q', '-c', '-T2', '-1']], zst, env)
        s3 = dict(store='s3://bench/%s' % db, s3_endpoint_url=self.moto, aws_access_key='testing',
                  aws_secret_key='testing', aws_region='us-east-1')
        local = dict(store=os.path.join(self.work, 'store'))
        self.module('db_backup', dict(self.pg.params, db=db, **s3))
        self.module('db_backup', dict(self.pg.params, db=db, **local))
        t = time.monotonic()
        pipeline([['zstd', '-q', '-d', '-c', zst]], raw, env)
        target = db + '_rawrestore'
        self.pg.psql('DROP DATABASE IF EXISTS %s' % target)
        self.pg.psql('CREATE DATABASE %s' % target)
        res['raw_pg_restore_only_s'] = timed(['pg_restore', '--exit-on-error', '-j', '2', '-d', target, raw], env)
        self.counts(target)
        res['raw_restore_s'] = time.monotonic() - t
        self.pg.psql('DROP DATABASE %s' % target)
        r, wall = self.module('db_restore', dict(self.pg.params, source_db=db, mode='verify', jobs=2,
                                                 tmp_dir=self.work, **s3))
        res['db_restore_verify_s3_s'], res['db_restore_verify_s3_wall_s'] = r['timings']['total_s'], wall
        r, wall = self.module('db_restore', dict(self.pg.params, source_db=db, mode='replace', jobs=2,
                                                 tmp_dir=self.work, **local))
        res['db_restore_replace_local_s'], res['db_restore_replace_local_wall_s'] = r['timings']['total_s'], wall
        self.pg.psql('DROP DATABASE %s' % r['previous_db'])  # outside the timing: raw keeps nothing to drop
        for f in (raw, zst):
            os.unlink(f)
        self.empty_stores()
        return res

    def one(self, db):
        dbsize = int(self.pg.psql("SELECT pg_database_size('%s')" % db))
        res = {'database': db, 'db_size_mib': round(dbsize / MIB, 1), 'repeat': REPEAT}
        # the size of the uncompressed custom-format dump: the MiB/s basis for every contender
        out = os.path.join(self.work, 'size.dump')
        pipeline([['pg_dump', '-Fc', '-Z0']], out, dict(self.env, PGDATABASE=db))
        res['dump_mib'] = round(os.path.getsize(out) / MIB, 1)
        os.unlink(out)
        res['backups'] = [{'name': name, 'runs': runs, 'median_s': median([r['s'] for r in runs])}
                          for name, runs in self.backups(db)]
        if RESTORE:
            res['restores'] = self.restores(db)
        return res


FLOOR = 'pg_dump -Fc -Z0 > file (floor)'
GZIP = 'pg_dump | gzip (seeds)'
ZFILE = 'raw pg_dump -Fc -Z0 | zstd -T2 -1 > file'
ZS3 = 'raw pg_dump -Fc -Z0 | zstd -T2 -1 | boto3 -> S3'
Z3FILE = 'raw pg_dump -Fc -Z0 | zstd -T2 -3 > file'
OURS3 = 'db_backup -> local (exact, compression_level 3)'
# exact counts read from pg_dump's own COPY stream (issue 16), side by side with the default, count(*) in the
# dump's snapshot while it streams; the module reads the method from its environment
OURSTREAM = 'db_backup -> local (exact from the dump stream)'
COUNT_METHOD_ENV = 'RBO_BENCH_PG_COUNT_METHOD'


def report(res):
    d = res['dump_mib']
    print('\n== %s: database %.1f MiB, pg_dump -Fc -Z0 %.1f MiB; backups: median of %d interleaved runs'
          % (res['database'], res['db_size_mib'], d, res['repeat']))
    print('%-46s %8s %8s %22s %8s %9s' % ('contender', 'median s', 'MiB/s', 'runs s', 'out MiB', 'peak RSS'))
    med = {}
    for b in res['backups']:
        runs = b['runs']
        med[b['name']] = b['median_s']
        rss = [r['rss'] for r in runs if r.get('rss')]
        mib = runs[-1]['mib']
        print('%-46s %8.2f %8.1f %22s %8s %9s' % (
            b['name'], b['median_s'], d / b['median_s'] if b['median_s'] else 0,
            ' '.join('%.2f' % r['s'] for r in runs), '%.1f' % mib if mib is not None else '-',
            '%.0f MiB' % max(rss) if rss else '-'))
        for field, what in (('count_wait_s', 'exact counts still running after the dump'),
                            ('commit_s', 'fsync+rename / last parts+completion'),
                            ('fsync_s', 'an fsync of the output after the pipeline, not in its time')):
            values = [r[field] for r in runs if r.get(field) is not None]
            if values:
                print('%-46s %s (%s): %s' % ('', field, what, ' '.join('%.2f' % w for w in values)))
    floor, gz, zfile, zs3 = med[FLOOR], med[GZIP], med[ZFILE], med[ZS3]
    lx, le = med['db_backup -> local (exact counts)'], med['db_backup -> local (estimate)']
    sx, se = med['db_backup -> S3 (exact counts)'], med['db_backup -> S3 (estimate)']
    ratios = [
        ('db_backup local exact / raw zstd file', lx / zfile, '<= %.2f' % TARGETS['backup_vs_zstd']),
        ('db_backup local estimate / raw zstd file', le / zfile, '<= %.2f' % TARGETS['backup_vs_zstd']),
        ('db_backup S3 exact / raw zstd -> S3', sx / zs3, '<= %.2f' % TARGETS['backup_vs_zstd']),
        ('db_backup S3 estimate / raw zstd -> S3', se / zs3, '<= %.2f' % TARGETS['backup_vs_zstd']),
        ('db_backup S3 exact / raw zstd file (old basis)', sx / zfile, 'info'),
        ('raw zstd -> S3 / raw zstd file (cost of moto)', zs3 / zfile, 'info'),
        ('gzip way / db_backup local exact', gz / lx, '>= %.1f' % TARGETS['gzip_vs_backup']),
        ('gzip way / db_backup local estimate', gz / le, '>= %.1f' % TARGETS['gzip_vs_backup']),
        ('gzip way / raw zstd file (best raw pipeline)', gz / zfile, 'info'),
        ('gzip way / pg_dump alone (ceiling)', gz / floor, 'info'),
        ('db_backup local exact -3 / raw zstd -3 file', med[OURS3] / med[Z3FILE], '<= %.2f' % TARGETS['backup_vs_zstd']),
        ('gzip way / db_backup local exact -3', gz / med[OURS3], 'info'),
        ('gzip way / raw zstd -3 file', gz / med[Z3FILE], 'info'),
        ('raw zstd -3 file / raw zstd -1 file', med[Z3FILE] / med[ZFILE], 'info'),
        ('db_backup local exact from the stream / raw zstd file', med[OURSTREAM] / zfile, 'info'),
        ('db_backup exact: stream counts / count(*)', med[OURSTREAM] / lx, '< 1 to switch (issue 16)'),
    ]
    # the same ratios round by round (each round runs every contender once, back to back, so a round's
    # contenders see about the same load): the median of those is less sensitive to a busy machine
    runs = dict((b['name'], [r['s'] for r in b['runs']]) for b in res['backups'])
    pairs = {
        'db_backup local exact / raw zstd file': ('db_backup -> local (exact counts)', ZFILE),
        'db_backup local estimate / raw zstd file': ('db_backup -> local (estimate)', ZFILE),
        'db_backup S3 exact / raw zstd -> S3': ('db_backup -> S3 (exact counts)', ZS3),
        'db_backup S3 estimate / raw zstd -> S3': ('db_backup -> S3 (estimate)', ZS3),
        'db_backup S3 exact / raw zstd file (old basis)': ('db_backup -> S3 (exact counts)', ZFILE),
        'raw zstd -> S3 / raw zstd file (cost of moto)': (ZS3, ZFILE),
        'gzip way / db_backup local exact': (GZIP, 'db_backup -> local (exact counts)'),
        'gzip way / db_backup local estimate': (GZIP, 'db_backup -> local (estimate)'),
        'gzip way / raw zstd file (best raw pipeline)': (GZIP, ZFILE),
        'gzip way / pg_dump alone (ceiling)': (GZIP, FLOOR),
        'db_backup local exact -3 / raw zstd -3 file': (OURS3, Z3FILE),
        'db_backup local exact from the stream / raw zstd file': (OURSTREAM, ZFILE),
        'db_backup exact: stream counts / count(*)': (OURSTREAM, 'db_backup -> local (exact counts)'),
        'gzip way / db_backup local exact -3': (GZIP, OURS3),
        'gzip way / raw zstd -3 file': (GZIP, Z3FILE),
        'raw zstd -3 file / raw zstd -1 file': (Z3FILE, ZFILE),
    }
    res['ratios'] = {}
    print('  %-48s %6s   %-16s %s' % ('ratio', 'medians', 'per round', 'median per round'))
    for k, v, target in ratios:
        num, den = pairs[k]
        per_round = [a / b for a, b in zip(runs[num], runs[den]) if b]
        print('  %-48s %6.2f   %-16s %6.2f   (target %s)' % (
            k, v, ' '.join('%.2f' % x for x in per_round), median(per_round), target))
        res['ratios'][k] = {'of_medians': round(v, 3), 'per_round': [round(x, 3) for x in per_round],
                            'median_per_round': round(median(per_round), 3)}
    r = res.get('restores')
    if r:
        print('  restore, one run each: raw zstd -d + pg_restore -j2 + counts %.2fs (pg_restore alone %.2fs); '
              'db_restore verify <- S3 %.2fs (%.2f); replace <- local %.2fs (%.2f)' % (
                  r['raw_restore_s'], r['raw_pg_restore_only_s'], r['db_restore_verify_s3_s'],
                  r['db_restore_verify_s3_s'] / r['raw_restore_s'], r['db_restore_replace_local_s'],
                  r['db_restore_replace_local_s'] / r['raw_restore_s']))
        res['ratios']['db_restore verify / raw restore'] = round(r['db_restore_verify_s3_s'] / r['raw_restore_s'], 3)
        res['ratios']['db_restore replace / raw restore'] = round(
            r['db_restore_replace_local_s'] / r['raw_restore_s'], 3)
    print('  db_backup seconds are the module\'s own timings.total_s (without ansible start-up, which adds '
          'about 2-3 s of wall time); raw seconds are the pipeline\'s wall time.')


def main():
    if sys.argv[1:2] == ['--report']:  # print a saved results file again: bench/backup/run.sh --report FILE
        with open(sys.argv[2]) as f:
            saved = json.load(f)
        print('saved run: scale %s, rows %s, load at the end %s' % (saved['scale'], saved['rows'], saved['load']))
        for res in saved['results']:
            report(res)
        return
    conf = load_conftest()
    work = tempfile.mkdtemp(prefix='rbo-bench-backup-')
    pg = conf.PostgresServer(extra_conf=['max_wal_size = 4GB', 'checkpoint_timeout = 30min']).start()
    moto = None
    try:
        port = conf.free_port()
        moto = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), 'moto_server'), '-H', '127.0.0.1',
                                 '-p', str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        conf.wait_port(port, proc=moto)
        endpoint = 'http://127.0.0.1:%d' % port
        os.environ.update(AWS_ACCESS_KEY_ID='testing', AWS_SECRET_ACCESS_KEY='testing', AWS_DEFAULT_REGION='us-east-1')
        import boto3
        boto3.client('s3', endpoint_url=endpoint).create_bucket(Bucket='bench')
        env = dict(os.environ, PGHOST='127.0.0.1', PGPORT=str(pg.port), PGUSER='postgres', PGPASSWORD=pg.password)
        t = time.monotonic()
        pg.psql('CREATE DATABASE bench_pgbench')
        subprocess.run(['pgbench', '-i', '-q', '-s', str(SCALE), 'bench_pgbench'], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pg.psql('CREATE DATABASE bench_md5')
        pg.psql('CREATE TABLE events (id bigint PRIMARY KEY, a text, b text, c text, at timestamptz);'
                'INSERT INTO events SELECT g, md5(g::text), md5(random()::text), md5((g * 31)::text) || md5(g::text),'
                " now() - g * interval '1 second' FROM generate_series(1, %d) g;" % ROWS, db='bench_md5')
        pg.psql('VACUUM ANALYZE', db='bench_md5')  # statistics as in production (row_counts=estimate reads them)
        took = time.monotonic() - t
        print('setup: pgbench scale %d + %d md5 rows in %.1fs (work dir %s)' % (SCALE, ROWS, took, work))
        bench = Bench(conf, pg, endpoint, work)
        results = []
        for db in DBS:
            res = bench.one(db)
            report(res)
            results.append(res)
        out_dir = os.path.join(REPO, 'bench', 'results')
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, 'backup-%s.json' % datetime.datetime.now(datetime.timezone.utc).strftime(
            '%Y%m%dT%H%M%SZ'))
        with open(path, 'w') as f:
            json.dump({'scale': SCALE, 'rows': ROWS, 'repeat': REPEAT, 'cpus': os.cpu_count(),
                       'load': os.getloadavg(), 'results': results}, f, indent=2)
        print('\nload average during the run: %.1f %.1f %.1f; results in %s' % (os.getloadavg() + (path,)))
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait(10)
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
