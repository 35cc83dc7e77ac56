# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_backup + db_backup_info + db_restore round trips against real PostgreSQL and moto S3."""
from __future__ import annotations

import hashlib
import json
import os

from backup_fixtures import (HOSTILE_SCHEMA, HOSTILE_TABLE, create_db, databases, drop_db, fingerprint,
                             local_files, new_bucket, no_secret, s3_client, s3_keys, unique_db)


def test_s3_round_trip_zstd_with_globals_and_verify(postgres_server, moto_server, run_module):
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=3000, hostile_table=True)
    before = fingerprint(pg, db)
    bucket = new_bucket(moto_server)
    store = 's3://%s/pg/prod' % bucket
    s3 = dict(store=store, s3_endpoint_url=moto_server, aws_region='us-east-1', aws_access_key='testing',
              aws_secret_key='testing', s3_sse='AES256')

    r = run_module('db_backup', dict(pg.params, db=db, globals=True, tags={'release': 'r42'}, **s3))
    assert r.get('failed') is not True, r.get('msg')
    assert r['changed'] is True
    m = r['manifest']
    bid = r['backup_id']
    assert r['key'] == '%s/data.dump.zst' % bid
    # independent check of the store: three objects, manifest JSON matches, sha256 of the data object
    keys = s3_keys(moto_server, bucket, 'pg/prod/')
    names = ('data.dump.zst', 'globals.sql.zst', 'manifest.json')
    assert sorted(keys) == sorted(['pg/prod/%s/%s' % (bid, n) for n in names])
    body = s3_client(moto_server).get_object(Bucket=bucket, Key='pg/prod/%s/data.dump.zst' % bid)['Body'].read()
    assert hashlib.sha256(body).hexdigest() == m['sha256'] and len(body) == m['size']
    assert body[:4] == b'\x28\xb5\x2f\xfd'  # zstd frame magic
    stored = json.loads(s3_client(moto_server).get_object(Bucket=bucket, Key='pg/prod/%s/manifest.json'
                                                          % bid)['Body'].read())
    assert stored == m
    head = s3_client(moto_server).head_object(Bucket=bucket, Key='pg/prod/%s/data.dump.zst' % bid)
    assert head.get('ServerSideEncryption') == 'AES256'
    for field in ('id', 'engine', 'server_version', 'database', 'created_at', 'duration_s', 'format', 'compression',
                  'size', 'sha256', 'tables', 'pg_dump_version', 'globals', 'tags'):
        assert field in m
    assert m['database'] == db and m['engine'] == 'postgresql' and m['format'] == 'custom'
    assert m['tags'] == {'release': 'r42'} and m['globals']['key'] == 'globals.sql.zst'
    counts = {'%s.%s' % (t['schema'], t['table']): t['rows'] for t in m['tables']}
    assert counts == {'public.items': 3000, 'public.events': 6000, '%s.%s' % (HOSTILE_SCHEMA, HOSTILE_TABLE): 2}
    assert 'secret' not in json.dumps(m) and pg.password not in r['_stdout']

    # info lists it as valid, newest first
    info = run_module('db_backup_info', dict(db=db, backup='latest', verify_checksum=True, **s3))
    assert info['changed'] is False and info['count'] == 1 and info['valid_count'] == 1
    assert info['selected']['id'] == bid and info['backups'][0]['reason'] == 'ok'

    # verify restore: scratch restored, counted, dropped; live untouched
    dbs_before = databases(pg)
    v = run_module('db_restore', dict(pg.params, source_db=db, mode='verify', globals=True, **s3))
    assert v.get('failed') is not True, v.get('msg')
    assert v['changed'] is False and v['backup_id'] == bid and v['verification']['ok'] is True
    assert v['verification']['checksum']['actual'] == m['sha256']
    assert all(t['ok'] for t in v['verification']['tables']) and v['verification']['rows'] == 9002
    assert v['backup_age_s'] >= 0 and v['timings']['total_s'] > 0
    assert databases(pg) == dbs_before
    no_secret(v, pg.password)

    # new: a second copy whose content is identical (independent md5 of every table)
    copy = db + '_copy'
    n = run_module('db_restore', dict(pg.params, source_db=db, mode='new', target_db=copy, jobs=2, **s3))
    assert n.get('failed') is not True, n.get('msg')
    assert fingerprint(pg, copy) == before
    # new again: the target exists now -> refuses, nothing changes
    again = run_module('db_restore', dict(pg.params, source_db=db, mode='new', target_db=copy, **s3))
    assert again['failed'] is True and 'already exists' in again['msg']
    drop_db(pg, copy)
    drop_db(pg, db)


def test_local_round_trip_replace_keeps_previous(postgres_server, run_module, tmp_path):
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=1500)
    store = str(tmp_path / 'store')
    b = run_module('db_backup', dict(pg.params, db=db, store=store, compression='gzip'))
    assert b.get('failed') is not True, b.get('msg')
    assert local_files(store) == sorted(['%s/data.dump.gz' % b['backup_id'], '%s/manifest.json' % b['backup_id']])
    with open(os.path.join(store, b['backup_id'], 'data.dump.gz'), 'rb') as f:
        assert f.read(2) == b'\x1f\x8b'
    snapshot = fingerprint(pg, db)
    # the live database changes after the backup
    pg.psql('DELETE FROM events; UPDATE items SET name = \'changed\'; CREATE TABLE later (x int)', db=db)
    changed = fingerprint(pg, db)
    assert changed != snapshot

    chk = run_module('db_restore', dict(pg.params, store=store, source_db=db, mode='replace'), check=True)
    assert chk['changed'] is True and chk['backup_id'] == b['backup_id']
    assert fingerprint(pg, db) == changed  # check mode touched nothing

    r = run_module('db_restore', dict(pg.params, store=store, source_db=db, mode='replace'))
    assert r.get('failed') is not True, r.get('msg')
    assert r['changed'] is True and r['target_db'] == db
    prev = r['previous_db']
    assert prev.startswith(db + '_pre_restore_')
    assert fingerprint(pg, db) == snapshot          # restored content
    assert fingerprint(pg, prev) == changed         # the previous live copy, kept intact
    assert pg.psql("SELECT datallowconn FROM pg_database WHERE datname = '%s'" % prev) == 't'

    # replace again without keeping the previous copy
    r2 = run_module('db_restore', dict(pg.params, store=store, source_db=db, mode='replace', keep_previous=False))
    assert r2.get('failed') is not True, r2.get('msg')
    assert r2['previous_db'] is None
    assert fingerprint(pg, db) == snapshot
    assert not [d for d in databases(pg) if d.startswith('rbo_restore_')]
    drop_db(pg, prev)
    drop_db(pg, db)
