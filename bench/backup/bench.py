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
MIB = 1024.0 * 1024.0
TARGETS = {'backup_vs_zstd': 1.15, 'gzip_vs_backup': 4.0, 'restore_vs_raw': 1.15}


def load_conftest():
    sys.path.insert(0, os.path.join(REPO, '.build', 'collections'))
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
    """Run ``stages[0] | stages[1] | ...`` with the last stage writing ``out_path``; return seconds."""
    t = time.monotonic()
    procs = []
    with open(out_path, 'wb') as out:
        prev = None
        for i, argv in enumerate(stages):
            last = i == len(stages) - 1
            p = subprocess.Popen(argv, stdin=prev, stdout=out if last else subprocess.PIPE, env=env)
            if prev is not None:
                prev.close()
            prev = p.stdout
            procs.append(p)
        rcs = [p.wait() for p in procs]
    if any(rcs):
        raise RuntimeError('%s failed: %s' % (' | '.join(s[0] for s in stages), rcs))
    return time.monotonic() - t


def timed(argv, env):
    t = time.monotonic()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t


class Bench(object):
    def __init__(self, conf, pg, moto, work):
        self.conf, self.pg, self.moto, self.work = conf, pg, moto, work
        self.env = dict(os.environ, PGHOST='127.0.0.1', PGPORT=str(pg.port), PGUSER='postgres',
                        PGPASSWORD=pg.password)
        self.rows = []

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

    def one(self, db):
        env = dict(self.env, PGDATABASE=db)
        dbsize = int(self.pg.psql("SELECT pg_database_size('%s')" % db))
        raw = os.path.join(self.work, db + '.raw.dump')
        res = {'database': db, 'db_size_mib': round(dbsize / MIB, 1)}
        # the size of the uncompressed custom-format dump: the MiB/s basis for every contender
        t_raw = pipeline([['pg_dump', '-Fc', '-Z0']], raw, env)
        dump_mib = os.path.getsize(raw) / MIB
        res['dump_mib'] = round(dump_mib, 1)
        gz = os.path.join(self.work, db + '.sql.gz')
        res['gzip_s'] = pipeline([['pg_dump'], ['gzip']], gz, env)
        res['gzip_mib'] = os.path.getsize(gz) / MIB
        zst = os.path.join(self.work, db + '.dump.zst')
        res['zstd_s'] = pipeline([['pg_dump', '-Fc', '-Z0'], ['zstd', '-q', '-c', '-T2']], zst, env)
        res['zstd_mib'] = os.path.getsize(zst) / MIB
        res['raw_dump_only_s'] = t_raw

        s3 = dict(store='s3://bench/%s' % db, s3_endpoint_url=self.moto, aws_access_key='testing',
                  aws_secret_key='testing', aws_region='us-east-1')
        local = dict(store=os.path.join(self.work, 'store'))
        login = self.pg.params
        r, wall = self.module('db_backup', dict(login, db=db, **s3))
        res['db_backup_s3_s'], res['db_backup_s3_wall_s'] = r['timings']['total_s'], wall
        res['db_backup_mib'] = r['manifest']['size'] / MIB
        r, wall = self.module('db_backup', dict(login, db=db, **local))
        res['db_backup_local_s'], res['db_backup_local_wall_s'] = r['timings']['total_s'], wall

        # raw restore: decompress, createdb, pg_restore -j2, count rows (the same verification)
        t = time.monotonic()
        pipeline([['zstd', '-q', '-d', '-c', zst]], raw, env)
        target = db + '_rawrestore'
        self.pg.psql('DROP DATABASE IF EXISTS %s' % target)
        self.pg.psql('CREATE DATABASE %s' % target)
        t_pr = timed(['pg_restore', '--exit-on-error', '-j', '2', '-d', target, raw], env)
        self.counts(target)
        res['raw_restore_s'] = time.monotonic() - t
        res['raw_pg_restore_only_s'] = t_pr
        self.pg.psql('DROP DATABASE %s' % target)

        r, wall = self.module('db_restore', dict(login, source_db=db, mode='verify', jobs=2, tmp_dir=self.work, **s3))
        res['db_restore_verify_s3_s'], res['db_restore_verify_s3_wall_s'] = r['timings']['total_s'], wall
        r, wall = self.module('db_restore', dict(login, source_db=db, mode='replace', jobs=2, tmp_dir=self.work,
                                                 **local))
        res['db_restore_replace_local_s'], res['db_restore_replace_local_wall_s'] = r['timings']['total_s'], wall
        self.pg.psql('DROP DATABASE %s' % r['previous_db'])  # outside the timing: raw keeps nothing to drop
        for f in (raw, gz, zst):
            os.unlink(f)
        return res


def report(res):
    d = res['dump_mib']
    print('\n== %s: database %.1f MiB, pg_dump -Fc -Z0 %.1f MiB' % (res['database'], res['db_size_mib'], d))
    lines = [
        ('pg_dump | gzip (seeds)', res['gzip_s'], res['gzip_mib']),
        ('pg_dump -Fc -Z0 | zstd -T2 (raw)', res['zstd_s'], res['zstd_mib']),
        ('db_backup -> S3 (moto)', res['db_backup_s3_s'], res['db_backup_mib']),
        ('db_backup -> local store', res['db_backup_local_s'], res['db_backup_mib']),
        ('raw zstd -d + pg_restore -j2 + counts', res['raw_restore_s'], None),
        ('db_restore verify <- S3', res['db_restore_verify_s3_s'], None),
        ('db_restore replace <- local', res['db_restore_replace_local_s'], None),
    ]
    print('%-40s %9s %9s %10s' % ('contender', 'seconds', 'MiB/s', 'out MiB'))
    for name, s, out in lines:
        print('%-40s %9.2f %9.1f %10s' % (name, s, d / s if s else 0, '%.1f' % out if out is not None else '-'))
    best_backup = min(res['db_backup_s3_s'], res['db_backup_local_s'])
    ratios = {
        'db_backup_local / raw zstd': res['db_backup_local_s'] / res['zstd_s'],
        'db_backup_s3 / raw zstd': res['db_backup_s3_s'] / res['zstd_s'],
        'gzip way / db_backup (best)': res['gzip_s'] / best_backup,
        'db_restore verify / raw restore': res['db_restore_verify_s3_s'] / res['raw_restore_s'],
        'db_restore replace / raw restore': res['db_restore_replace_local_s'] / res['raw_restore_s'],
    }
    target = {'db_backup_local / raw zstd': '<= %.2f' % TARGETS['backup_vs_zstd'],
              'db_backup_s3 / raw zstd': '<= %.2f' % TARGETS['backup_vs_zstd'],
              'gzip way / db_backup (best)': '>= %.1f' % TARGETS['gzip_vs_backup'],
              'db_restore verify / raw restore': '<= %.2f' % TARGETS['restore_vs_raw'],
              'db_restore replace / raw restore': '<= %.2f' % TARGETS['restore_vs_raw']}
    for k, v in ratios.items():
        print('  %-36s %6.2f   (target %s)' % (k, v, target[k]))
    print('  module wall time incl. ansible start-up: backup s3 %.1fs, local %.1fs, restore verify %.1fs, '
          'replace %.1fs' % (res['db_backup_s3_wall_s'], res['db_backup_local_wall_s'],
                             res['db_restore_verify_s3_wall_s'], res['db_restore_replace_local_wall_s']))
    res['ratios'] = ratios


def main():
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
        took = time.monotonic() - t
        print('setup: pgbench scale %d + %d md5 rows in %.1fs (work dir %s)' % (SCALE, ROWS, took, work))
        bench = Bench(conf, pg, endpoint, work)
        results = []
        for db in ('bench_md5', 'bench_pgbench'):
            res = bench.one(db)
            report(res)
            results.append(res)
        out_dir = os.path.join(REPO, 'bench', 'results')
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, 'backup-%s.json' % datetime.datetime.now(datetime.timezone.utc).strftime(
            '%Y%m%dT%H%M%SZ'))
        with open(path, 'w') as f:
            json.dump({'scale': SCALE, 'rows': ROWS, 'cpus': os.cpu_count(), 'load': os.getloadavg(),
                       'results': results}, f, indent=2)
        print('\nload average during the run: %.1f %.1f %.1f; results in %s' % (os.getloadavg() + (path,)))
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait(10)
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
