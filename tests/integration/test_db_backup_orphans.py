# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_backup orphans (issue 16): the objects of a backup that never got its manifest (a run killed after its data
object was committed) are deleted after the next successful backup and reported as ``orphans``; check mode lists
them; an object of a backup that has a manifest, or one younger than the grace period, is never touched.

Real PostgreSQL; a local store (object times set by hand) and real S3 servers (moto and SeaweedFS)."""
from __future__ import annotations

import datetime
import os
import shutil

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs

from backup_fixtures import clone_local_backup, create_db, drop_db, local_files, unique_db

DAYS_AGO = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)


def _age_tree(path, when):
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            os.utime(os.path.join(dirpath, f), (when.timestamp(), when.timestamp()))


def _orphan_of(root, src_id, when, age_files=True):
    """A folder like a killed run leaves: a real data object under a backup id, no manifest."""
    new_id = bs.new_backup_id(src_id.split('-', 1)[1].rsplit('-', 1)[0], when)
    os.makedirs(os.path.join(root, new_id))
    src = [n for n in os.listdir(os.path.join(root, src_id)) if n.startswith('data.dump')][0]
    shutil.copy(os.path.join(root, src_id, src), os.path.join(root, new_id, src))
    if age_files:
        _age_tree(os.path.join(root, new_id), when)
    return new_id, '%s/%s' % (new_id, src)


def test_orphans_pruned_after_a_backup_listed_in_check_mode_valid_and_young_ones_kept(
        postgres_server, run_module, tmp_path):
    pg = postgres_server
    db = create_db(pg, unique_db('orphan'), rows=300)
    store = str(tmp_path / 'store')
    try:
        first = run_module('db_backup', dict(pg.params, db=db, store=store))
        assert first.get('failed') is not True, first.get('msg')
        assert first['orphans'] == []
        _killed, orphan_key = _orphan_of(store, first['backup_id'], DAYS_AGO)
        young_id, young_key = _orphan_of(store, first['backup_id'], DAYS_AGO, age_files=False)  # being written
        old_valid = clone_local_backup(store, first['backup_id'], DAYS_AGO)
        _age_tree(os.path.join(store, old_valid), DAYS_AGO)
        before = local_files(store)

        chk = run_module('db_backup', dict(pg.params, db=db, store=store), check=True)
        assert chk.get('failed') is not True, chk.get('msg')
        assert [o['key'] for o in chk['orphans']] == [orphan_key], chk['orphans']
        assert chk['orphans'][0]['kind'] == 'orphan_object' and chk['orphans'][0]['stale'] is True
        assert local_files(store) == before

        r = run_module('db_backup', dict(pg.params, db=db, store=store))
        assert r.get('failed') is not True, r.get('msg')
        assert [o['key'] for o in r['orphans']] == [orphan_key]
        after = set(local_files(store))
        assert orphan_key.replace('/', os.sep) not in after
        assert young_key.replace('/', os.sep) in after
        for bid in (first['backup_id'], old_valid, r['backup_id']):
            assert os.path.join(bid, bs.MANIFEST_NAME) in after
        valid = [e['id'] for e in bs.list_backups(bs.open_store({'store': store}), database=db) if e['valid']]
        assert sorted(valid) == sorted([first['backup_id'], old_valid, r['backup_id']])

        again = run_module('db_backup', dict(pg.params, db=db, store=store))
        assert again.get('failed') is not True and again['orphans'] == []
        assert young_id in os.listdir(store)
    finally:
        drop_db(pg, db)


def test_orphans_on_real_s3(postgres_server, run_module, s3_endpoint):
    """moto and SeaweedFS: a fresh orphan survives a backup; past the grace period only it is deleted."""
    pg = postgres_server
    db = create_db(pg, unique_db('orphs3'), rows=200)
    bucket = s3_endpoint.new_bucket()
    args = dict(pg.params, db=db, store='s3://%s/pg' % bucket, **s3_endpoint.module_args())
    client = s3_endpoint.client()
    try:
        b = run_module('db_backup', args)
        assert b.get('failed') is not True, b.get('msg')
        killed = bs.new_backup_id(db, DAYS_AGO)
        orphan = 'pg/%s/data.dump.zst' % killed
        client.put_object(Bucket=bucket, Key=orphan, Body=b'\x28\xb5\x2f\xfd' + b'0' * 100)
        client.put_object(Bucket=bucket, Key='pg/%s/notes.txt' % killed, Body=b'not ours')

        # written a moment ago (LastModified), so it may be a backup in progress: kept
        r = run_module('db_backup', args)
        assert r.get('failed') is not True, r.get('msg')
        assert r['orphans'] == []
        keys = {o['Key'] for o in client.list_objects_v2(Bucket=bucket).get('Contents', [])}
        assert orphan in keys

        store = bs.open_store(dict(args, store='s3://%s/pg' % bucket))
        later = bs.utcnow() + datetime.timedelta(seconds=bs.LEFTOVER_STALE_S + 60)
        planned = bs.sweep_orphans(store, now=later, check_mode=True)
        assert [o['key'] for o in planned] == ['%s/data.dump.zst' % killed]
        swept = bs.sweep_orphans(store, now=later)
        assert [o['key'] for o in swept] == ['%s/data.dump.zst' % killed]
        left = {o['Key'] for o in client.list_objects_v2(Bucket=bucket).get('Contents', [])}
        assert keys - left == {orphan}
        valid = [e['id'] for e in bs.list_backups(store, database=db) if e['valid']]
        assert sorted(valid) == sorted([b['backup_id'], r['backup_id']])
    finally:
        drop_db(pg, db)
