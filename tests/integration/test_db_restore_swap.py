# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_restore replace: a connection lost during the swap (issue 17, defect 5).

Real PostgreSQL and a local store. The restore runs in-process (``pg_restore.run_restore``) so that the fault can
be injected at the exact step: ``_terminate`` (the step between blocking new connections and the rename
transaction) is patched to kill the swap connection's own backend with ``pg_terminate_backend`` from a second
connection. In the second test every NEW connection is also refused after that kill (simulating an unreachable
server), so the live database stays blocked; the next run of the real module must repair it.
"""
from __future__ import annotations

import psycopg
import pytest

from ansible_collections.runbook.ops.plugins.module_utils import pg_restore as pr
from ansible_collections.runbook.ops.plugins.modules import db_restore as db_restore_module

from backup_fixtures import create_db, databases, drop_db, fingerprint, qi, unique_db


def restore_params(pg, **kw):
    params = {k: v.get('default') for k, v in db_restore_module.argument_spec().items()}
    params.update(pg.params)
    params.update(kw)
    return params


def allowconn(pg, db):
    return pg.psql("SELECT datallowconn FROM pg_database WHERE datname = '%s'" % db.replace("'", "''"))


def comment(pg, db):
    return pg.psql("SELECT coalesce(shobj_description(oid, 'pg_database'), '<none>') FROM pg_database "
                   "WHERE datname = '%s'" % db.replace("'", "''"))


@pytest.fixture
def backed_up(postgres_server, run_module, tmp_path):
    pg = postgres_server
    db = create_db(pg, unique_db('swap'), rows=400)
    pg.psql("COMMENT ON DATABASE %s IS 'orders of the shop'" % qi(db))
    store = str(tmp_path / 'store')
    b = run_module('db_backup', dict(pg.params, db=db, store=store))
    assert b.get('failed') is not True, b.get('msg')
    pg.psql("INSERT INTO items VALUES (-1, 'after the backup')", db=db)
    yield pg, db, store
    for d in databases(pg):
        if d.startswith(db):
            drop_db(pg, d)


def _kill_swap_connection(pg, state):
    def fake_terminate(cur, name, timeout=15.0):
        pid = cur.connection.info.backend_pid
        with psycopg.connect(host='127.0.0.1', port=pg.port, user='postgres', password=pg.password,
                             dbname='postgres', autocommit=True) as other:
            other.execute('SELECT pg_terminate_backend(%s)', (pid,))
        state['killed'] = True
        return 0
    return fake_terminate


def test_swap_connection_terminated_before_rename_reopens_live_db_on_a_fresh_connection(backed_up, monkeypatch):
    pg, db, store = backed_up
    live = fingerprint(pg, db)
    dbs = databases(pg)
    state = {}
    monkeypatch.setattr(pr, '_terminate', _kill_swap_connection(pg, state))
    with pytest.raises(pr.RestoreError) as exc:
        pr.run_restore(restore_params(pg, store=store, source_db=db, mode='replace'))
    msg = str(exc.value)
    assert state['killed'] is True
    assert 'not touched' not in msg, msg
    assert 'connections' in msg and db in msg, msg
    # independent checks: the live database accepts connections again, keeps its data and its comment
    assert allowconn(pg, db) == 't'
    assert comment(pg, db) == 'orders of the shop'
    assert fingerprint(pg, db) == live
    assert databases(pg) == dbs  # the scratch copy was dropped


def test_swap_connection_lost_and_server_unreachable_leaves_db_blocked_then_next_run_repairs_it(
        backed_up, monkeypatch, run_module):
    pg, db, store = backed_up
    live = fingerprint(pg, db)
    state = {}
    monkeypatch.setattr(pr, '_terminate', _kill_swap_connection(pg, state))
    real_connect = pr.connect

    def connect(params, *a, **kw):
        if state.get('killed'):
            raise psycopg.OperationalError('connection refused (simulated by the test)')
        return real_connect(params, *a, **kw)
    monkeypatch.setattr(pr, 'connect', connect)
    # a look-alike: blocked by hand, no marker -> never reopened by the module
    other = create_db(pg, unique_db('blocked'), rows=1)
    pg.psql('ALTER DATABASE %s ALLOW_CONNECTIONS false' % qi(other))
    try:
        with pytest.raises(pr.RestoreError) as exc:
            pr.run_restore(restore_params(pg, store=store, source_db=db, mode='replace'))
        msg = str(exc.value)
        assert 'not touched' not in msg, msg
        assert 'refusing' in msg and 'next db_restore run' in msg and db in msg, msg
        assert allowconn(pg, db) == 'f'  # what the module's own step left behind
        monkeypatch.undo()

        # the next run (the real module, mode verify) repairs it and says so
        r = run_module('db_restore', dict(pg.params, store=store, source_db=db, mode='verify'))
        assert r.get('failed') is not True, r.get('msg')
        assert [x['database'] for x in r['repaired']] == [db], r['repaired']
        assert r['repaired'][0]['allow_connections'] is True
        assert db in r['msg'] and r['changed'] is True
        assert [s['type'] for s in r['swept']] == ['scratch_database']  # the scratch copy it could not drop
        assert allowconn(pg, db) == 't' and comment(pg, db) == 'orders of the shop'
        assert fingerprint(pg, db) == live
        assert allowconn(pg, other) == 'f'
        assert not [d for d in databases(pg) if d.startswith('rbo_restore_')]
    finally:
        pg.psql('ALTER DATABASE %s ALLOW_CONNECTIONS true' % qi(other))
        drop_db(pg, other)
