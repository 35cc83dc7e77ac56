# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup store against two real S3 implementations: moto and SeaweedFS (`weed mini`).

Every test runs once per server (the ``s3_endpoint`` fixture): put, get, list, delete, the multipart writer and its
abort, the manifest and retention through db_backup, a db_restore round trip and a files_restore tree. Independent
checks read the bucket with boto3 and the database with psql.
"""
from __future__ import annotations

import hashlib
import json
import os

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from backup_fixtures import create_db, drop_db, fingerprint, unique_db
from files_restore_fixtures import md5, tree


def _keys(ep, bucket, prefix=''):
    pages = ep.client().get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=prefix)
    return {o['Key']: o['Size'] for page in pages for o in page.get('Contents', [])}


def _store(ep, bucket, prefix='st'):
    return bs.open_store(dict(ep.module_args(), store='s3://%s/%s' % (bucket, prefix)))


def test_put_get_size_list_delete(s3_endpoint):
    ep = s3_endpoint
    bucket = ep.new_bucket()
    store = _store(ep, bucket)
    store.check()
    store.put_bytes('a/one.bin', b'x' * 10)
    store.put_bytes('a/b/two.json', b'{"k": 1}')
    assert store.read_bytes('a/b/two.json') == b'{"k": 1}'
    assert store.size('a/one.bin') == 10 and store.size('a/none') is None
    assert store.list_objects() == {'a/one.bin': 10, 'a/b/two.json': 8}
    assert _keys(ep, bucket) == {'st/a/one.bin': 10, 'st/a/b/two.json': 8}      # boto3, not the store
    with pytest.raises(bs.StoreError):
        store.read_bytes('a/none')
    store.delete(['a/one.bin', 'a/b/two.json'])
    assert _keys(ep, bucket) == {}


def test_multipart_writer_commit_and_abort(s3_endpoint):
    ep = s3_endpoint
    bucket = ep.new_bucket()
    store = _store(ep, bucket)
    data = os.urandom(bs.S3_PART_SIZE * 2 + 12345)          # three parts
    w = store.open_writer('big/data.bin')
    for i in range(0, len(data), 1 << 20):
        w.write(data[i:i + (1 << 20)])
    w.commit()
    body = ep.client().get_object(Bucket=bucket, Key='st/big/data.bin')['Body'].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
    assert ep.client().list_multipart_uploads(Bucket=bucket).get('Uploads', []) == []

    w = store.open_writer('big/aborted.bin')
    w.write(data[:bs.S3_PART_SIZE + 1])
    w.abort()
    assert 'st/big/aborted.bin' not in _keys(ep, bucket)
    assert ep.client().list_multipart_uploads(Bucket=bucket).get('Uploads', []) == []


def test_db_backup_manifest_retention_and_restore_round_trip(s3_endpoint, postgres_server, run_module):
    ep = s3_endpoint
    pg = postgres_server
    db = create_db(pg, unique_db('sw'), rows=1500)
    before = fingerprint(pg, db)
    bucket = ep.new_bucket()
    s3 = dict(ep.module_args(), store='s3://%s/pg' % bucket)
    ids = []
    try:
        for _round in range(3):
            r = run_module('db_backup', dict(pg.params, db=db, retention={'keep_last': 2}, **s3))
            assert r.get('failed') is not True, r.get('msg')
            ids.append(r['backup_id'])
        assert r['pruned'] == [ids[0]]
        keys = _keys(ep, bucket, 'pg/')
        assert sorted({k.split('/')[1] for k in keys}) == sorted(ids[1:])        # retention pruned the oldest
        stored = json.loads(ep.client().get_object(Bucket=bucket, Key='pg/%s/manifest.json' % ids[2])['Body'].read())
        body = ep.client().get_object(Bucket=bucket, Key='pg/%s/%s' % (ids[2], stored['data_key']))['Body'].read()
        assert hashlib.sha256(body).hexdigest() == stored['sha256'] and len(body) == stored['size']

        info = run_module('db_backup_info', dict(db=db, backup='latest', verify_checksum=True, **s3))
        assert info['valid_count'] == 2 and info['selected']['id'] == ids[2]
        copy = db + '_copy'
        n = run_module('db_restore', dict(pg.params, source_db=db, mode='new', target_db=copy, **s3))
        assert n.get('failed') is not True, n.get('msg')
        assert n['backup_id'] == ids[2] and fingerprint(pg, copy) == before
        assert ep.secret_key not in n['_stdout'] or ep.secret_key == 'testing'
    finally:
        drop_db(pg, db)
        drop_db(pg, db + '_copy')


def test_files_restore_tree(s3_endpoint, workdir, run_module):
    ep = s3_endpoint
    bucket = ep.new_bucket('fr')
    files = {'index.html': b'<h1>x</h1>', 'a/b/c.json': b'{}', 'img/big.bin': os.urandom(300000), 'a/empty': b''}
    for k, v in files.items():
        ep.client().put_object(Bucket=bucket, Key='site/' + k, Body=v)
    dest = os.path.join(workdir, 'site')
    args = dict(ep.module_args(), src='s3://%s/site' % bucket, dest=dest)
    r = run_module('files_restore', args)
    assert r.get('failed') is not True, r.get('msg')
    assert r['downloaded'] == 4 and tree(dest) == {k: md5(v) for k, v in files.items()}
    again = run_module('files_restore', args)
    assert again['changed'] is False and again['unchanged'] == 4
