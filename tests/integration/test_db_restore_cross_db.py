# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_restore on a store holding backups of several databases (issue 17, defect 1): a replace restores only a
backup of its target database unless the cross-database restore is named (source_db) and confirmed
(allow_cross_database). Real PostgreSQL, a local store; every data check goes through psql."""
from __future__ import annotations

import pytest

from backup_fixtures import create_db, databases, drop_db, fingerprint, unique_db


@pytest.fixture(scope='module')
def two_databases(postgres_server, run_module, tmp_path_factory):
    """``victim`` backed up first, ``other`` (different data) backed up after it: other's backup is the newest."""
    pg = postgres_server
    victim = create_db(pg, unique_db('victim'), rows=300)
    other = create_db(pg, unique_db('other'), rows=700)
    store = str(tmp_path_factory.mktemp('cross-db') / 'store')
    for db in (victim, other):
        b = run_module('db_backup', dict(pg.params, db=db, store=store))
        assert b.get('failed') is not True, b.get('msg')
    victim_at_backup = fingerprint(pg, victim)
    yield pg, victim, other, store, victim_at_backup
    for d in databases(pg):
        if d.startswith(victim) or d.startswith(other):
            drop_db(pg, d)


def test_replace_without_source_db_restores_the_targets_own_backup(two_databases, run_module):
    pg, victim, other, store, victim_at_backup = two_databases
    pg.psql("DELETE FROM events; INSERT INTO items VALUES (-5, 'after the backup')", db=victim)
    r = run_module('db_restore', dict(pg.params, store=store, mode='replace', target_db=victim, keep_previous=False))
    assert r.get('failed') is not True, r.get('msg')
    assert r['source_db'] == victim and r['target_db'] == victim
    # independent check: victim holds victim's 300 items again, not other's 700
    assert pg.psql('SELECT count(*) FROM items', db=victim) == '300'
    assert fingerprint(pg, victim) == victim_at_backup


def test_cross_restore_without_confirmation_is_refused_and_victim_untouched(two_databases, run_module):
    pg, victim, other, store, _snap = two_databases
    live = fingerprint(pg, victim)
    dbs = databases(pg)
    r = run_module('db_restore', dict(pg.params, store=store, mode='replace', target_db=victim, source_db=other))
    assert r['failed'] is True
    assert 'allow_cross_database' in r['msg'] and victim in r['msg'] and other in r['msg']
    assert fingerprint(pg, victim) == live and databases(pg) == dbs
    assert pg.psql("SELECT datallowconn FROM pg_database WHERE datname = '%s'" % victim) == 't'


def test_replace_by_backup_id_of_another_database_is_refused(two_databases, run_module):
    pg, victim, other, store, _snap = two_databases
    info = run_module('db_backup_info', dict(store=store, db=other))
    other_id = info['backups'][0]['id']
    live = fingerprint(pg, victim)
    r = run_module('db_restore', dict(pg.params, store=store, mode='replace', target_db=victim, backup=other_id))
    assert r['failed'] is True and 'allow_cross_database' in r['msg'] and other_id in r['msg']
    assert fingerprint(pg, victim) == live


def test_replace_without_any_database_name_on_a_multi_db_store_is_refused(two_databases, run_module):
    pg, victim, other, store, _snap = two_databases
    live = fingerprint(pg, other)
    r = run_module('db_restore', dict(pg.params, store=store, mode='replace'))
    assert r['failed'] is True and 'target_db' in r['msg'] and 'several databases' in r['msg']
    assert fingerprint(pg, other) == live


def test_confirmed_cross_restore_replaces_with_the_named_source(two_databases, run_module):
    pg, victim, other, store, _snap = two_databases
    other_now = fingerprint(pg, other)
    scratch = unique_db('cross_target')
    create_db(pg, scratch, rows=10)
    r = run_module('db_restore', dict(pg.params, store=store, mode='replace', target_db=scratch, source_db=other,
                                      allow_cross_database=True, keep_previous=False))
    assert r.get('failed') is not True, r.get('msg')
    assert r['source_db'] == other and r['target_db'] == scratch
    assert fingerprint(pg, scratch) == other_now
    drop_db(pg, scratch)


def test_verify_latest_on_a_multi_db_store_names_the_source(two_databases, run_module):
    pg, victim, other, store, _snap = two_databases
    v = run_module('db_restore', dict(pg.params, store=store, mode='verify'))
    assert v.get('failed') is not True, v.get('msg')
    assert v['source_db'] == other and other in v['msg']


def test_new_latest_on_a_multi_db_store_needs_source_db(two_databases, run_module):
    pg, victim, other, store, _snap = two_databases
    dbs = databases(pg)
    target = unique_db('copy')
    r = run_module('db_restore', dict(pg.params, store=store, mode='new', target_db=target))
    assert r['failed'] is True and 'source_db' in r['msg'] and 'several databases' in r['msg']
    assert databases(pg) == dbs
    ok = run_module('db_restore', dict(pg.params, store=store, mode='new', target_db=target, source_db=victim))
    assert ok.get('failed') is not True, ok.get('msg')
    assert pg.psql('SELECT count(*) FROM items', db=target) == '300'
    drop_db(pg, target)
