# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_backup row_counts exact | estimate | none, and how db_restore verifies each (real PostgreSQL, moto S3)."""
from __future__ import annotations

import json
import os

from backup_fixtures import (HOSTILE_SCHEMA, HOSTILE_TABLE, create_db, databases, drop_db, fingerprint,
                             local_files, new_bucket, no_secret, qi, ql, s3_client, unique_db)


def reltuples(pg, db):
    """{schema.table: reltuples} via psql, independent of the module."""
    out = {}
    rows = pg.psql("SELECT n.nspname || '|' || c.relname || '|' || c.reltuples FROM pg_class c JOIN pg_namespace n "
                   "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN "
                   "('pg_catalog', 'information_schema')", db=db)
    for line in rows.splitlines():
        schema, table, tuples = line.rsplit('|', 2)
        out['%s.%s' % (schema, table)] = float(tuples)
    return out


def test_estimate_is_recorded_and_restore_accepts_stale_estimates(postgres_server, moto_server, run_module):
    pg = postgres_server
    db = create_db(pg, unique_db('rc'), rows=1200, hostile_table=True)
    pg.psql('ALTER TABLE items SET (autovacuum_enabled = false); ANALYZE', db=db)
    # the statistics go stale: rows added after ANALYZE (autovacuum may not refresh them before the backup)
    pg.psql('INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1201, 1500) g;'
            'CREATE TABLE never_analyzed (v int); INSERT INTO never_analyzed VALUES (1), (2), (3)', db=db)
    stats = reltuples(pg, db)
    bucket = new_bucket(moto_server)
    s3 = dict(store='s3://%s/rc' % bucket, s3_endpoint_url=moto_server, aws_region='us-east-1',
              aws_access_key='testing', aws_secret_key='testing')

    # check mode first: nothing written
    chk = run_module('db_backup', dict(pg.params, db=db, row_counts='estimate', **s3), check=True)
    assert chk.get('failed') is not True, chk.get('msg')
    assert chk['changed'] is True and chk['manifest'] == {}
    assert s3_client(moto_server).list_objects_v2(Bucket=bucket).get('KeyCount', 0) == 0

    r = run_module('db_backup', dict(pg.params, db=db, row_counts='estimate', **s3))
    assert r.get('failed') is not True, r.get('msg')
    m = r['manifest']
    assert m['row_counts'] == 'estimate'
    got = {'%s.%s' % (t['schema'], t['table']): t['rows'] for t in m['tables']}
    # the estimates are pg_class.reltuples (independently read), None for the table never analyzed
    hostile = '%s.%s' % (HOSTILE_SCHEMA, HOSTILE_TABLE)
    assert set(got) == {'public.items', 'public.events', 'public.never_analyzed', hostile}
    assert got['public.items'] == int(round(stats['public.items'])) == 1200  # stale: 1500 rows now
    assert got['public.events'] == 2400 and got[hostile] == 2
    assert stats['public.never_analyzed'] < 0 and got['public.never_analyzed'] is None
    assert r['peak_rss_mib'] > 0 and 'count_wait_s' not in r['timings']
    stored = json.loads(s3_client(moto_server).get_object(
        Bucket=bucket, Key='rc/%s/manifest.json' % r['backup_id'])['Body'].read())
    assert stored == m
    no_secret(r, pg.password)

    # db_restore verify: the counts differ from the estimates, every table exists -> verified, reported
    before = databases(pg)
    v = run_module('db_restore', dict(pg.params, source_db=db, mode='verify', **s3))
    assert v.get('failed') is not True, v.get('msg')
    assert v['verification']['ok'] is True and v['verification']['row_counts'] == 'estimate'
    tables = {'%s.%s' % (t['schema'], t['table']): t for t in v['verification']['tables']}
    assert tables['public.items']['expected'] == 1200 and tables['public.items']['actual'] == 1500
    assert tables['public.never_analyzed']['expected'] is None and tables['public.never_analyzed']['actual'] == 3
    assert all(t['ok'] for t in tables.values())
    for t in v['verification']['tables']:  # the reported counts are the live ones (independent psql count)
        assert int(pg.psql('SELECT count(*) FROM %s.%s' % (qi(t['schema']), qi(t['table'])), db=db)) == t['actual']
    assert databases(pg) == before
    drop_db(pg, db)


def test_none_records_tables_and_restore_still_fails_on_a_missing_table(postgres_server, run_module, tmp_path):
    pg = postgres_server
    db = create_db(pg, unique_db('rn'), rows=800)
    store = str(tmp_path / 'store')
    r = run_module('db_backup', dict(pg.params, db=db, store=store, row_counts='none'))
    assert r.get('failed') is not True, r.get('msg')
    m = r['manifest']
    assert m['row_counts'] == 'none'
    assert sorted((t['schema'], t['table'], t['rows']) for t in m['tables']) == [
        ('public', 'events', None), ('public', 'items', None)]

    # replace restore works with no counts to compare: content identical (independent md5 of every table)
    snapshot = fingerprint(pg, db)
    pg.psql('DELETE FROM events', db=db)
    rep = run_module('db_restore', dict(pg.params, store=store, source_db=db, mode='replace', keep_previous=False))
    assert rep.get('failed') is not True, rep.get('msg')
    assert rep['verification']['row_counts'] == 'none' and rep['verification']['rows'] == 2400
    assert fingerprint(pg, db) == snapshot

    # a manifest naming a table the archive does not hold (the data itself matches its checksum):
    # the restore must still refuse, and the live database stays as it is
    path = os.path.join(store, r['backup_id'], 'manifest.json')
    with open(path) as f:
        manifest = json.load(f)
    manifest['tables'].append({'schema': 'public', 'table': 'gone"; --', 'rows': None})
    with open(path, 'w') as f:
        json.dump(manifest, f)
    pg.psql('INSERT INTO items VALUES (100000, %s)' % ql('after'), db=db)
    live = fingerprint(pg, db)
    before = databases(pg)
    bad = run_module('db_restore', dict(pg.params, store=store, source_db=db, mode='replace'))
    assert bad['failed'] is True
    assert bad['msg'].startswith('Could not verify backup %s: tables of the manifest are missing after the restore '
                                 '(its row counts are not recorded): "public"."gone\\"; --" expected the table, '
                                 'got no table. The live database was not touched.' % r['backup_id']), bad['msg']
    assert fingerprint(pg, db) == live and databases(pg) == before
    assert local_files(store) == sorted(['%s/data.dump.zst' % r['backup_id'], '%s/manifest.json' % r['backup_id']])
    drop_db(pg, db)


def test_exact_is_the_default_and_a_wrong_value_is_refused(postgres_server, run_module, tmp_path):
    pg = postgres_server
    db = create_db(pg, unique_db('rx'), rows=300)
    store = str(tmp_path / 'store')
    r = run_module('db_backup', dict(pg.params, db=db, store=store))
    assert r.get('failed') is not True, r.get('msg')
    assert r['manifest']['row_counts'] == 'exact' and r['timings']['count_wait_s'] >= 0
    assert {(t['table'], t['rows']) for t in r['manifest']['tables']} == {('items', 300), ('events', 600)}
    bad = run_module('db_backup', dict(pg.params, db=db, store=store, row_counts='sometimes'))
    assert bad['failed'] is True and 'row_counts' in bad['msg'] and 'sometimes' in bad['msg']
    assert len(os.listdir(store)) == 1
    drop_db(pg, db)
