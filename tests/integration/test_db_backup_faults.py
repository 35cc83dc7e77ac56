# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fault table of db_backup: each fault fails clearly and leaves nothing under a valid name."""
from __future__ import annotations

import os

from backup_fixtures import (clone_local_backup, create_db, drop_db, killed_pg_dump, local_files,
                             new_bucket, no_secret, old_pg_dump, s3_keys, s3_uploads, unique_db)
from servers import free_port


def test_pg_dump_killed_mid_stream_s3(postgres_server, moto_server, run_module, tmp_path):
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=100, big_rows=300000)
    bucket = new_bucket(moto_server)
    s3 = dict(store='s3://%s/p' % bucket, s3_endpoint_url=moto_server)
    good = run_module('db_backup', dict(pg.params, db=db, compression='none', **s3))
    assert good.get('failed') is not True, good.get('msg')
    keys_before = s3_keys(moto_server, bucket)
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    killed_pg_dump(str(bindir))
    r = run_module('db_backup', dict(pg.params, db=db, compression='none', bin_dir=str(bindir),
                                     retention={'keep_last': 1}, **s3))
    assert r['failed'] is True
    assert 'pg_dump was killed by signal 9' in r['msg']
    assert 'retention did not run' in r['msg']
    # no manifest, no data object, no pending multipart upload; the older backup is still there and whole
    assert s3_keys(moto_server, bucket) == keys_before
    assert s3_uploads(moto_server, bucket) == []
    info = run_module('db_backup_info', dict(db=db, **s3))
    assert [e['id'] for e in info['backups']] == [good['backup_id']] and info['valid_count'] == 1
    no_secret(r, pg.password)
    drop_db(pg, db)


def test_pg_dump_killed_mid_stream_local_and_old_pg_dump(postgres_server, run_module, tmp_path):
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=100, big_rows=300000)
    store = str(tmp_path / 'store')
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    killed_pg_dump(str(bindir))
    r = run_module('db_backup', dict(pg.params, db=db, store=store, bin_dir=str(bindir)))
    assert r['failed'] is True and 'killed by signal 9' in r['msg']
    assert local_files(store) == []  # temp file removed, no folder left behind

    old = tmp_path / 'old'
    old.mkdir()
    old_pg_dump(str(old))
    r = run_module('db_backup', dict(pg.params, db=db, store=store, bin_dir=str(old)))
    assert r['failed'] is True
    assert 'pg_dump 13.4 is older than the server (PostgreSQL 15' in r['msg']
    assert 'bin_dir' in r['msg']
    assert local_files(store) == []
    drop_db(pg, db)


def test_s3_endpoint_down_and_bucket_missing(postgres_server, moto_server, run_module):
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=10)
    down = 'http://127.0.0.1:%d' % free_port()
    r = run_module('db_backup', dict(pg.params, db=db, store='s3://bucket/x', s3_endpoint_url=down,
                                     aws_access_key='AKIAEXAMPLE', aws_secret_key='s3cr3t-k3y-value'))
    assert r['failed'] is True
    assert 'cannot be reached' in r['msg'] and down in r['msg']
    no_secret(r, 's3cr3t-k3y-value', pg.password)
    missing = 'rbo-missing-%s' % db.replace('_', '-')
    r = run_module('db_backup', dict(pg.params, db=db, store='s3://%s/x' % missing, s3_endpoint_url=moto_server))
    assert r['failed'] is True and 'does not exist' in r['msg'] and missing in r['msg']
    r = run_module('db_restore', dict(pg.params, store='s3://%s/x' % missing, s3_endpoint_url=moto_server))
    assert r['failed'] is True and 'does not exist' in r['msg']
    drop_db(pg, db)


def test_wrong_password_is_not_echoed(postgres_server, run_module, tmp_path):
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=10)
    store = str(tmp_path / 'store')
    wrong = 'Wr0ng-Pa55-%s' % db
    params = dict(pg.params, login_password=wrong)
    r = run_module('db_backup', dict(params, db=db, store=store))
    assert r['failed'] is True
    assert 'password authentication failed' in r['msg'] and 'Could not connect' in r['msg']
    no_secret(r, wrong)
    assert not os.path.exists(store) or local_files(store) == []
    drop_db(pg, db)


def test_disk_full_on_local_store(postgres_server, run_module, tmpfs_dir):
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=100, big_rows=200000)
    r = run_module('db_backup', dict(pg.params, db=db, store=tmpfs_dir, compression='none'))
    assert r['failed'] is True
    assert 'no space left on the device' in r['msg'] and 'retention did not run' in r['msg']
    assert local_files(tmpfs_dir) == []
    assert os.listdir(tmpfs_dir) == []
    drop_db(pg, db)


def test_retention_never_runs_after_failure(postgres_server, run_module, tmp_path):
    """A failed backup with a retention policy deletes nothing, even expired backups."""
    import datetime
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=10)
    store = str(tmp_path / 'store')
    b = run_module('db_backup', dict(pg.params, db=db, store=store))
    assert b.get('failed') is not True, b.get('msg')
    old = clone_local_backup(store, b['backup_id'],
                             datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=400))
    before = local_files(store)
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    old_pg_dump(str(bindir))
    r = run_module('db_backup', dict(pg.params, db=db, store=store, bin_dir=str(bindir),
                                     retention={'max_age_days': 1}))
    assert r['failed'] is True
    assert local_files(store) == before and os.path.isdir(os.path.join(store, old))
    drop_db(pg, db)
