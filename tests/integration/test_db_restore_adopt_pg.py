# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_restore (engine postgresql) of dumps made without this collection (seed 002's ``pg_dump db > backup.sql``),
against the session's real PostgreSQL and moto S3: verify and replace from S3 and from a local path, a custom-format
archive, and the refusals (corrupted gzip, pg_dump --create, a failing statement) that leave the live database as
it was and no scratch database behind."""
from __future__ import annotations

import gzip
import os
import re
import subprocess

import pytest

from backup_fixtures import (create_db, databases, drop_db, fingerprint, new_bucket, no_secret, qi, s3_client,
                             unique_db)


def pg_ident(name):
    """format('%I') of PostgreSQL, as fingerprint() names tables."""
    return name if re.match(r'^[a-z_][a-z0-9_$]*$', name) else qi(name)


def pg_dump(pg, db, *extra):
    env = dict(os.environ, PGPASSWORD=pg.password)
    return subprocess.run(['pg_dump', '-h', '127.0.0.1', '-p', str(pg.port), '-U', 'postgres'] + list(extra) + [db],
                          env=env, capture_output=True, check=True).stdout


def scratches(pg):
    return [d for d in databases(pg) if d.startswith('rbo_restore_')]


@pytest.fixture(scope='module')
def dumped(postgres_server):
    """A database with a hostile schema/table name, a database setting, and its plain pg_dump (the seed's way)."""
    pg = postgres_server
    db = create_db(pg, unique_db('adopt'), rows=300, hostile_table=True)
    pg.psql("ALTER DATABASE %s SET statement_timeout = '123s'" % db)
    yield pg, db, pg_dump(pg, db), fingerprint(pg, db)
    drop_db(pg, db)


def _ok(r):
    assert r.get('failed') is not True, r.get('msg')
    return r


def test_plain_gzip_dump_from_s3_and_local_verify_and_replace(dumped, moto_server, run_module, tmp_path):
    pg, db, dump, live = dumped
    bucket = new_bucket(moto_server)
    s3_client(moto_server).put_object(Bucket=bucket, Key='daily/backup-2026-01-31.sql.gz', Body=gzip.compress(dump))
    s3 = dict(store='s3://%s/daily' % bucket, s3_endpoint_url=moto_server)
    dbs = databases(pg)

    v = _ok(run_module('db_restore', dict(pg.params, backup='s3://%s/daily/backup-2026-01-31.sql.gz' % bucket,
                                          mode='verify', **s3)))
    assert v['adopted']['compression'] == 'gzip' and v['adopted']['format'] == 'plain'
    assert v['verification']['ok'] is None and v['backup_id'] is None
    assert 'no manifest: nothing to verify the counts against' in v['verification']['summary']
    got = dict(('%s.%s' % (pg_ident(t['schema']), pg_ident(t['table'])), t['actual'])
               for t in v['verification']['tables'])
    assert got == dict((k, n) for k, (n, _md5) in live.items())
    assert v['scratch_db'].startswith('rbo_restore_') and databases(pg) == dbs
    no_secret(v, pg.password)

    # check mode plans, touches nothing
    path = tmp_path / 'backup.sql.gz'
    path.write_bytes(gzip.compress(dump))
    c = _ok(run_module('db_restore', dict(pg.params, backup=str(path), store=str(tmp_path), mode='replace',
                                          target_db=db), check=True))
    assert c['msg'].startswith('would restore %s' % path) and databases(pg) == dbs and fingerprint(pg, db) == live

    # replace from the local path: the damaged live database comes back, the old one is kept
    pg.psql('DELETE FROM events; DELETE FROM items WHERE id > 10', db=db)
    damaged = fingerprint(pg, db)
    r = _ok(run_module('db_restore', dict(pg.params, backup=str(path), store=str(tmp_path), mode='replace',
                                          target_db=db)))
    assert r['adopted']['source'] == str(path) and r['target_db'] == db
    assert fingerprint(pg, db) == live
    assert fingerprint(pg, r['previous_db']) == damaged
    # the live database's own settings came along (read from it, there is no manifest)
    assert '123s' in pg.psql("SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting s JOIN pg_database d "
                             "ON d.oid = s.setdatabase WHERE d.datname = '%s'" % db)
    assert not scratches(pg)
    drop_db(pg, r['previous_db'])


def test_custom_format_zstd_as_new_database(dumped, run_module, tmp_path):
    pg, db, _dump, live = dumped
    path = tmp_path / 'app.dump.zst'
    custom = pg_dump(pg, db, '-Fc')
    path.write_bytes(subprocess.run(['zstd', '-q', '-c'], input=custom, capture_output=True, check=True).stdout)
    target = db + '_copy'
    r = _ok(run_module('db_restore', dict(pg.params, backup=str(path), store=str(tmp_path), mode='new',
                                          target_db=target)))
    assert r['adopted']['compression'] == 'zstd' and r['adopted']['format'] == 'custom'
    assert fingerprint(pg, target) == live
    drop_db(pg, target)


def test_corrupted_gzip_and_create_dump_refused_before_any_database(dumped, run_module, tmp_path):
    pg, db, dump, live = dumped
    data = bytearray(gzip.compress(dump))
    middle = len(data) // 2
    data[middle:middle + 16] = b'\x00CORRUPTCORRUPT\x00'
    bad = tmp_path / 'backup.sql.gz'
    bad.write_bytes(bytes(data))
    dbs = databases(pg)
    r = run_module('db_restore', dict(pg.params, backup=str(bad), store=str(tmp_path), mode='replace',
                                      target_db=db))
    assert r['failed'] is True and 'No database was touched' in r['msg'], r['msg']
    assert 'gzip could not decompress it' in r['msg'] and 'corrupted' in r['msg']
    assert databases(pg) == dbs and fingerprint(pg, db) == live

    # pg_dump --create writes CREATE DATABASE + \connect: it would write outside the scratch database
    created = tmp_path / 'create.sql'
    created.write_bytes(pg_dump(pg, db, '--create'))
    r = run_module('db_restore', dict(pg.params, backup=str(created), store=str(tmp_path), mode='verify'))
    assert r['failed'] is True and 'outside the scratch database' in r['msg'] and '--create' in r['msg'], r['msg']
    assert 'No database was touched' in r['msg']
    assert databases(pg) == dbs and fingerprint(pg, db) == live


def test_failing_statement_leaves_live_untouched_and_scratch_swept(dumped, run_module, tmp_path):
    pg, db, dump, live = dumped
    broken = dump + b"\nINSERT INTO public.items (id, name) VALUES (1, 'duplicate key');\n"
    path = tmp_path / 'broken.sql'
    path.write_bytes(broken)
    dbs = databases(pg)
    r = run_module('db_restore', dict(pg.params, backup=str(path), store=str(tmp_path), mode='replace',
                                      target_db=db))
    assert r['failed'] is True, r
    assert 'duplicate key' in r['msg'] and 'rolled back' in r['msg'] and 'was dropped' in r['msg'], r['msg']
    assert 'The live database was not touched' in r['msg']
    assert fingerprint(pg, db) == live and databases(pg) == dbs
    no_secret(r, pg.password)
