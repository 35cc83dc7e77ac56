# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_integrity against a real PostgreSQL and a local backup store written by db_backup.

Independent checks go through psql, never through the module."""
from __future__ import annotations

from backup_fixtures import drop_db, no_secret, qi, unique_db

HOSTILE = 'a"b; --'


def _db(pg, rows=100):
    db = unique_db('integ')
    pg.psql('CREATE DATABASE %s' % qi(db))
    pg.psql('CREATE TABLE orders (id int PRIMARY KEY, total numeric(10,2));'
            'INSERT INTO orders SELECT g, g / 4.0 FROM generate_series(1, %d) g;'
            'CREATE TABLE %s (v text); INSERT INTO %s VALUES (\'x\'), (NULL);'
            'CREATE TABLE gone (id int); INSERT INTO gone VALUES (1);' % (rows, qi(HOSTILE), qi(HOSTILE)), db=db)
    return db


def test_assertions_pass_fail_and_are_read_only(postgres_server, run_module):
    pg = postgres_server
    db = _db(pg)
    try:
        checks = [
            {'name': 'orders count', 'query': 'SELECT count(*) FROM orders', 'expect': 100},
            {'name': 'total of the first order', 'query': 'SELECT total FROM orders WHERE id = 1', 'expect': 0.25},
            {'name': 'first orders', 'query': 'SELECT id, total FROM orders ORDER BY id LIMIT 2',
             'expect': [[1, 0.25], [2, 0.5]]},
            {'name': 'no negative totals', 'query': 'SELECT count(*) FROM orders WHERE total < 1', 'expect': 0},
            {'name': 'sneaky write', 'query': 'DELETE FROM orders RETURNING id', 'expect': []},
            {'name': 'escape the transaction', 'query': 'COMMIT; DELETE FROM orders', 'expect': []},
            {'name': 'turn the session default off', 'db': db,
             'query': "SELECT set_config('default_transaction_read_only', 'off', false)", 'expect': 'off'},
            {'name': 'then write', 'query': 'TRUNCATE orders', 'expect': []},
            {'name': 'slow', 'query': 'SELECT pg_sleep(60)', 'expect': ''},
        ]
        args = dict(pg.params, db=db, assertions=checks, statement_timeout='500ms')
        r = run_module('db_integrity', args)
        assert r['failed'] is True and r['changed'] is False
        res = dict((a['name'], a) for a in r['assertions'])
        assert [a['name'] for a in r['assertions']] == [c['name'] for c in checks]
        assert all(a['db'] == db for a in r['assertions'])
        for name in ('orders count', 'total of the first order', 'first orders', 'turn the session default off'):
            assert res[name]['ok'] is True and res[name]['error'] == '', res[name]
        assert res['no negative totals']['ok'] is False and res['no negative totals']['actual'] == 3
        assert 'read-only transaction' in res['sneaky write']['error']
        assert 'multiple commands' in res['escape the transaction']['error']
        assert 'read-only transaction' in res['then write']['error']
        assert 'statement timeout' in res['slow']['error']
        assert r['assertions_passed'] == 4 and r['assertions_failed'] == 5 and len(r['failures']) == 5
        assert r['failures'][0] == 'assertion no negative totals (db %s): expected 0, got 3' % db
        assert r['msg'].startswith('Integrity check(s) failed: assertion no negative totals')
        assert 'assertion slow (db %s): canceling statement due to statement timeout' % db in r['msg']
        no_secret(r, pg.password)
        # nothing was written: checked through psql
        assert pg.psql('SELECT count(*) FROM orders', db=db) == '100'
        # fail_on_failure=false returns the same failures; check mode runs the same read-only queries
        for check in (False, True):
            again = run_module('db_integrity', dict(args, fail_on_failure=False), check=check)
            assert again.get('failed') is not True and again['changed'] is False
            assert again['failures'] == r['failures'] and again['assertions'] == r['assertions']
        assert pg.psql('SELECT count(*) FROM orders', db=db) == '100'
        ok = run_module('db_integrity', dict(pg.params, db=db, assertions=checks[:3]))
        assert ok.get('failed') is not True and ok['failures'] == [] and ok['assertions_passed'] == 3
        assert ok['msg'].startswith('3 assertion(s) passed, 0 failed')
    finally:
        drop_db(pg, db)


def test_an_unreachable_database_fails_its_assertions_with_a_redacted_message(postgres_server, run_module):
    pg = postgres_server
    r = run_module('db_integrity', dict(pg.params, fail_on_failure=False, assertions=[
        {'name': 'elsewhere', 'db': 'no_such_db_%s' % unique_db(), 'query': 'SELECT 1', 'expect': 1}]))
    assert r['assertions'][0]['ok'] is False
    assert r['assertions'][0]['error'].startswith('Could not connect read-only to postgres@127.0.0.1:')
    assert 'does not exist' in r['assertions'][0]['error']
    no_secret(r, pg.password)
    bad = run_module('db_integrity', dict(pg.params, db='postgres', statement_timeout='5 min; DROP'))
    assert bad['failed'] is True and bad['msg'].startswith("Could not use statement_timeout='5 min; DROP'")


def test_row_counts_against_the_newest_backup(postgres_server, run_module, tmp_path):
    pg = postgres_server
    db = _db(pg)
    store = str(tmp_path / 'store')
    try:
        b = run_module('db_backup', dict(pg.params, db=db, store=store))
        assert b.get('failed') is not True, b.get('msg')
        args = dict(pg.params, databases=[db], row_counts=True, store=store, fail_on_failure=False)
        same = run_module('db_integrity', args)
        assert same['failures'] == [] and same['no_backup_to_compare'] == [] and same['store_errors'] == []
        entry = same['row_counts'][0]
        assert entry['db'] == db and entry['backup_id'] == b['backup_id'] and entry['ok'] is True
        counts = dict((t['table'], t['rows']) for t in entry['tables'])
        assert counts == {'orders': 100, HOSTILE: 2, 'gone': 1}
        # fewer rows than the manifest fails; within the tolerance passes; a dropped table is missing
        pg.psql('DELETE FROM orders WHERE id > 96; DROP TABLE gone; DELETE FROM %s WHERE v IS NULL' % qi(HOSTILE),
                db=db)
        off = run_module('db_integrity', args)
        tables = dict((t['table'], t) for t in off['row_counts'][0]['tables'])
        assert tables['orders']['rows'] == 96 and tables['orders']['diff_pct'] == 4.0 and not tables['orders']['ok']
        assert tables['gone']['ok'] is False and tables['gone']['note'] == 'table missing'
        assert tables[HOSTILE]['rows'] == 1 and tables[HOSTILE]['ok'] is False
        assert sorted(off['failures']) == sorted([
            'row count of %s.public.orders: 96 rows now, 100 in backup %s (4.0%% off, tolerance 0%%)'
            % (db, b['backup_id']),
            'row count of %s.public.%s: 1 rows now, 2 in backup %s (50.0%% off, tolerance 0%%)'
            % (db, HOSTILE, b['backup_id']),
            'row count of %s.public.gone: table missing' % db])
        tolerant = run_module('db_integrity', dict(args, tolerance_pct=50), check=True)
        assert [t['table'] for t in tolerant['row_counts'][0]['tables'] if not t['ok']] == ['gone']
        failed = run_module('db_integrity', dict(args, fail_on_failure=True))
        assert failed['failed'] is True and 'table missing' in failed['msg'] and '96 rows now' in failed['msg']
        # the hostile table is still there, untouched
        assert pg.psql('SELECT count(*) FROM %s' % qi(HOSTILE), db=db) == '1'
        no_secret(failed, pg.password)
    finally:
        drop_db(pg, db)


def test_no_backup_to_compare_and_unreadable_store(postgres_server, run_module, tmp_path):
    pg = postgres_server
    (tmp_path / 'empty').mkdir()
    r = run_module('db_integrity', dict(pg.params, db='postgres', row_counts=True, store=str(tmp_path / 'empty')))
    assert r.get('failed') is not True and r['no_backup_to_compare'] == ['postgres'] and r['row_counts'] == []
    missing = dict(pg.params, db='postgres', row_counts=True, store=str(tmp_path / 'missing'))
    r = run_module('db_integrity', missing)
    assert r['failed'] is True and 'does not exist' in r['store_errors'][0] and r['failures'] == r['store_errors']
    # check mode reports the store error but does not fail on it
    r = run_module('db_integrity', missing, check=True)
    assert r.get('failed') is not True and r['store_errors'] and r['failures'] == []
    r = run_module('db_integrity', dict(pg.params, db='postgres', row_counts=True))
    assert r['failed'] is True and 'store' in r['msg']
