# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_backup_info against moto S3: selection, invalid entries, read-only."""
from __future__ import annotations

from backup_fixtures import create_db, drop_db, new_bucket, s3_client, s3_uploads, unique_db


def test_info_selection_and_invalid_entries(postgres_server, moto_server, run_module):
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=10)
    bucket = new_bucket(moto_server)
    s3 = dict(store='s3://%s' % bucket, s3_endpoint_url=moto_server)
    ids = []
    for dummy in range(2):
        b = run_module('db_backup', dict(pg.params, db=db, **s3))
        assert b.get('failed') is not True, b.get('msg')
        ids.append(b['backup_id'])
    info = run_module('db_backup_info', dict(db=db, backup='before:%s' % run_module(
        'db_backup_info', dict(db=db, **s3))['backups'][0]['created_at'], **s3))
    assert info['selected']['id'] == ids[0]
    # truncate the newest data object: it becomes invalid, latest falls back to the older one
    client = s3_client(moto_server)
    key = '%s/data.dump.zst' % ids[1]
    data = client.get_object(Bucket=bucket, Key=key)['Body'].read()
    client.put_object(Bucket=bucket, Key=key, Body=data[:len(data) // 2])
    info = run_module('db_backup_info', dict(db=db, backup='latest', **s3))
    by_id = {e['id']: e for e in info['backups']}
    assert by_id[ids[1]]['valid'] is False and 'truncated' in by_id[ids[1]]['reason']
    assert info['selected']['id'] == ids[0] and info['valid_count'] == 1
    bad = run_module('db_backup_info', dict(db=db, backup=ids[1], **s3))
    assert bad['failed'] is True and 'not valid' in bad['msg'] and ids[1] in bad['msg']
    none = run_module('db_backup_info', dict(db=db, backup='before:2001-01-01T00:00:00Z', fail_if_none=False, **s3))
    assert none['selected'] == {} and 'before 2001' in none['selected_reason']
    assert s3_uploads(moto_server, bucket) == []
    drop_db(pg, db)
