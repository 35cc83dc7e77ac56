# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""health_check backup_age and db_backup_info on a store holding MySQL backups (real MariaDB, moto S3)."""
from __future__ import annotations

import json

from backup_fixtures import new_bucket, no_secret, s3_client
from mysql_fixtures import counts, create_db, drop_db, unique_db


def test_backup_age_and_catalogue_see_a_mysql_backup(mariadb_server, moto_server, run_module):
    my = mariadb_server
    db = create_db(my, unique_db('ageapp'), rows=120)
    bucket = new_bucket(moto_server)
    s3 = dict(s3_endpoint_url=moto_server, aws_region='us-east-1')
    store = 's3://%s/mysql1' % bucket
    try:
        b = run_module('db_backup', dict(my.params, engine='mysql', db=db, store=store, compression='gzip',
                                         retention={'max_age_days': 30}, **s3))
        assert b.get('failed') is not True, b.get('msg')
        bid = b['backup_id']
        r = run_module('health_check', {'fail_on': 'never', 'checks': [
            dict({'name': 'nightly', 'type': 'backup_age', 'store': store, 'source_db': db,
                  'thresholds': {'age_h': {'warning': 26, 'critical': 50}}}, **s3)]})
        assert r.get('failed') is not True, r.get('msg')
        nightly = r['checks'][0]
        assert (nightly['status'], nightly['message']) == ('ok', 'ok')
        # independent: the manifest in the bucket, read with boto3
        manifest = json.loads(s3_client(moto_server).get_object(
            Bucket=bucket, Key='mysql1/%s/manifest.json' % bid)['Body'].read())
        assert manifest['engine'] == 'mysql' and 'pg_dump_version' not in manifest
        assert nightly['metrics']['backup_id'] == bid == manifest['id']
        assert nightly['metrics']['valid_count'] == 1 and nightly['metrics']['invalid_count'] == 0

        info = run_module('db_backup_info', dict(store=store, db=db, engine='mysql', backup='latest',
                                                 verify_checksum=True, **s3))
        assert info.get('failed') is not True, info.get('msg')
        assert info['valid_count'] == 1 and info['selected']['id'] == bid
        assert dict((t['table'], t['rows']) for t in manifest['tables']) == counts(my, db)
        # the PostgreSQL catalogue lists it, not valid, and says why
        pg = run_module('db_backup_info', dict(store=store, db=db, **s3))
        assert pg.get('failed') is not True, pg.get('msg')
        assert pg['valid_count'] == 0 and 'mysql' in pg['backups'][0]['reason']
        no_secret(r, my.password)
    finally:
        drop_db(my, db)
