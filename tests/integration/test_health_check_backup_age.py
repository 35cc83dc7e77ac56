# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""health_check's backup_age probe against real backups written by db_backup, in a local directory and
in an S3 bucket (moto server), through ansible itself: grading, a broken backup, check mode, secrets."""

from __future__ import annotations

import datetime
import json
import os
import secrets

from backup_fixtures import HOSTILE_DB, create_db, drop_db, new_bucket, no_secret, s3_client, unique_db
from health_fixtures import closed_port

from ansible_collections.runbook.ops.plugins.module_utils import health


def _created_at(manifest):
    return datetime.datetime.fromisoformat(manifest['created_at'].replace('Z', '+00:00'))


def _age_now(manifest):
    return (datetime.datetime.now(datetime.timezone.utc) - _created_at(manifest)).total_seconds()


def _check(result, name):
    return [c for c in result['checks'] if c['name'] == name][0]


def _in_process(check):
    """The same probe through the code the module runs, without the cost of an ansible run."""
    return health.run_checks(health.normalize_checks([dict(check)]))['checks'][0]


def test_local_store_backup_age(run_module, postgres_server, tmp_path):
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=200)
    store = str(tmp_path / 'store')
    try:
        b = run_module('db_backup', dict(pg.params, db=db, store=store))
        assert b.get('failed') is not True, b.get('msg')
        bid = b['backup_id']

        checks = [
            {'name': 'nightly', 'type': 'backup_age', 'store': store, 'source_db': db},
            {'name': 'strict', 'type': 'backup_age', 'store': store, 'source_db': db,
             'thresholds': {'age_s': {'warning': 0, 'critical': 86400}}},
            {'name': 'other db', 'type': 'backup_age', 'store': store, 'source_db': HOSTILE_DB},
        ]
        r = run_module('health_check', {'checks': checks, 'fail_on': 'never'})
        assert r.get('failed') is not True, r.get('msg')
        assert r['changed'] is False
        nightly = _check(r, 'nightly')
        assert (nightly['status'], nightly['message']) == ('ok', 'ok')
        assert nightly['thresholds'] == {'age_h': {'warning': 26.0, 'critical': 50.0}}
        m = nightly['metrics']
        # independent: the manifest db_backup wrote, read from the file system
        with open(os.path.join(store, bid, 'manifest.json')) as f:
            manifest = json.load(f)
        assert m['found'] is True and m['backup_id'] == bid == manifest['id']
        assert _created_at({'created_at': m['created_at']}) == _created_at(manifest)
        assert 0 <= m['age_s'] <= _age_now(manifest) + 1
        assert m['age_s'] < 3600 and abs(m['age_h'] - m['age_s'] / 3600.0) < 0.001
        assert (m['valid_count'], m['invalid_count']) == (1, 0)
        assert m['store'] == store
        strict = _check(r, 'strict')
        assert strict['status'] == 'warning' and strict['message'].startswith('age_s ')
        assert strict['message'].endswith(' >= warning 0')
        other = _check(r, 'other db')
        assert other['status'] == 'critical'
        assert other['message'] == 'no valid backup of database %r in %s' % (HOSTILE_DB, store)
        assert r['status'] == 'critical'

        # check mode runs the same read-only probe and reports the same backup; the store is untouched
        before = sorted(os.listdir(os.path.join(store, bid)))
        rc = run_module('health_check', {'checks': checks[:1]}, check=True)
        assert rc.get('failed') is not True and rc['changed'] is False
        assert _check(rc, 'nightly')['metrics']['backup_id'] == bid
        assert sorted(os.listdir(os.path.join(store, bid))) == before == sorted([manifest['data_key'], 'manifest.json'])

        # truncate the data object: the only backup is no longer valid -> critical
        data = os.path.join(store, bid, manifest['data_key'])
        with open(data, 'r+b') as f:
            f.truncate(os.path.getsize(data) // 2)
        n = _in_process(checks[0])
        assert n['status'] == 'critical'
        assert n['message'] == 'no valid backup of database %r in %s (1 invalid or unfinished)' % (db, store)
        assert n['metrics']['found'] is False and n['metrics']['age_s'] is None
        assert n['metrics']['backup_id'] is None
    finally:
        drop_db(pg, db)


def test_s3_store_backup_age_and_secrets(run_module, postgres_server, moto_server):
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=200)
    bucket = new_bucket(moto_server)
    access, secret = 'AKIA' + secrets.token_hex(6).upper(), 'sec-' + secrets.token_hex(12)
    s3 = dict(s3_endpoint_url=moto_server, aws_region='us-east-1', aws_access_key=access, aws_secret_key=secret)
    store = 's3://%s/pg/nightly' % bucket
    try:
        b = run_module('db_backup', dict(pg.params, db=db, store=store, **s3))
        assert b.get('failed') is not True, b.get('msg')
        bid = b['backup_id']

        checks = [
            dict({'name': 'nightly', 'type': 'backup_age', 'store': store, 'source_db': db}, **s3),
            dict({'name': 'one minute', 'type': 'backup_age', 'store': store,
                  'thresholds': {'age_h': {'critical': 0}}}, **s3),
            dict({'name': 'empty prefix', 'type': 'backup_age', 'store': 's3://%s/elsewhere' % bucket}, **s3),
            dict({'name': 'no bucket', 'type': 'backup_age', 'store': 's3://nope-%s/pg' % secrets.token_hex(4)}, **s3),
        ]
        r = run_module('health_check', {'checks': checks, 'fail_on': 'never'})
        assert r.get('failed') is not True, r.get('msg')
        no_secret(r, secret)
        nightly = _check(r, 'nightly')
        assert (nightly['status'], nightly['message']) == ('ok', 'ok')
        # independent: the manifest in the bucket, read with boto3
        key = 'pg/nightly/%s/manifest.json' % bid
        manifest = json.loads(s3_client(moto_server).get_object(Bucket=bucket, Key=key)['Body'].read())
        m = nightly['metrics']
        assert m['backup_id'] == bid == manifest['id'] and m['found'] is True
        assert _created_at({'created_at': m['created_at']}) == _created_at(manifest)
        assert 0 <= m['age_s'] <= _age_now(manifest) + 1 and m['age_s'] < 3600
        assert m['store'] == '%s (endpoint %s)' % (store, moto_server)
        crit = _check(r, 'one minute')
        assert crit['status'] == 'critical' and crit['message'].startswith('age_h ')
        assert crit['message'].endswith(' >= critical 0')
        empty = _check(r, 'empty prefix')
        assert empty['status'] == 'critical'
        assert empty['message'] == 'no valid backup in s3://%s/elsewhere (endpoint %s)' % (bucket, moto_server)
        missing = _check(r, 'no bucket')
        assert missing['status'] == 'critical'
        assert missing['message'].startswith('Could not read the backup store s3://nope-')
        assert 'does not exist' in missing['message']

        # probing only reads: the same objects after another probe, which still finds the same backup
        keys = sorted(o['Key'] for o in s3_client(moto_server).list_objects_v2(Bucket=bucket)['Contents'])
        again = _in_process(checks[0])
        assert again['status'] == 'ok' and again['metrics']['backup_id'] == bid
        assert sorted(o['Key'] for o in s3_client(moto_server).list_objects_v2(Bucket=bucket)['Contents']) == keys
        assert len(keys) == 2 and keys[-1].endswith('/manifest.json')
        # an S3 endpoint that cannot be reached is critical, and the message holds no secret
        down = _in_process(dict(checks[0], s3_endpoint_url='http://127.0.0.1:%d' % closed_port()))
        assert down['status'] == 'critical' and 'cannot be reached' in down['message']
        assert secret not in down['message']
    finally:
        drop_db(pg, db)


def test_endpoint_url_password_never_reported(run_module, postgres_server, moto_server):
    """A password inside s3_endpoint_url reaches neither the message, the metrics nor the output (defect 8)."""
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=20)
    bucket = new_bucket(moto_server)
    store = 's3://%s/pg' % bucket
    endpoint_password = 'ep-pw-' + secrets.token_hex(8)
    with_password = moto_server.replace('http://', 'http://minio:%s@' % endpoint_password)
    down = 'http://minio:%s@127.0.0.1:%d' % (endpoint_password, closed_port())
    s3 = dict(aws_region='us-east-1', aws_access_key='testing', aws_secret_key='testing')
    try:
        b = run_module('db_backup', dict(pg.params, db=db, store=store, s3_endpoint_url=moto_server, **s3))
        assert b.get('failed') is not True, b.get('msg')
        checks = [
            dict({'name': 'live', 'type': 'backup_age', 'store': store, 's3_endpoint_url': with_password}, **s3),
            dict({'name': 'empty', 'type': 'backup_age', 'store': 's3://%s/none' % bucket,
                  's3_endpoint_url': with_password}, **s3),
            dict({'name': 'down', 'type': 'backup_age', 'store': store, 's3_endpoint_url': down, 'timeout': 5}, **s3),
        ]
        r = run_module('health_check', {'checks': checks, 'fail_on': 'never'})
        assert r.get('failed') is not True, r.get('msg')
        no_secret(r, endpoint_password)
        shown = '********@' + moto_server[len('http://'):] + ')'     # the user name may be masked too
        live = _check(r, 'live')
        assert live['status'] == 'ok' and live['metrics']['backup_id'] == b['backup_id']
        assert live['metrics']['store'].startswith('%s (endpoint http://' % store)
        assert live['metrics']['store'].endswith(shown)
        empty = _check(r, 'empty')
        assert empty['message'].startswith('no valid backup in s3://%s/none (endpoint http://' % bucket)
        assert empty['message'].endswith(shown)
        down_r = _check(r, 'down')
        assert down_r['status'] == 'critical' and 'minio:********@127.0.0.1' in down_r['message']
        assert endpoint_password not in json.dumps(r['checks'])
    finally:
        drop_db(pg, db)
