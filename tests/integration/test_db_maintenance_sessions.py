# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_maintenance against a real PostgreSQL: terminating sessions, lock timeouts, a failed REINDEX CONCURRENTLY
and the validation of the timeouts.

The file uses a server of its own, so terminating sessions (scope=cluster) never touches other test files.
"""
from __future__ import annotations

import threading
import time

import psycopg
import pytest

from ansible_collections.runbook.ops.plugins.module_utils import pg_maintenance as pm
from ansible_collections.runbook.ops.plugins.modules.db_maintenance import argument_spec
from maintenance_fixtures import Holder, args, backend_alive, dead_tuples, direct, fresh_db, wait_for


@pytest.fixture(scope='module')
def server(postgres_factory):
    s = postgres_factory()
    s.psql("CREATE ROLE keeper LOGIN PASSWORD 'keeper-pw'")
    return s


def test_terminates_idle_in_transaction_sessions_except_excluded(server, run_module):
    db = fresh_db(server)
    server.psql('GRANT ALL ON DATABASE %s TO keeper' % db)
    holders = []
    try:
        victim = Holder(server, db, 'victim').idle_in_transaction()
        kept_app = Holder(server, db, 'keepme').idle_in_transaction()
        kept_user = Holder(server, db, 'other', user='keeper', password='keeper-pw').idle_in_transaction()
        elsewhere = Holder(server, 'postgres', 'elsewhere').idle_in_transaction()
        fresh = None
        holders += [victim, kept_app, kept_user, elsewhere]
        time.sleep(1.3)
        fresh = Holder(server, db, 'fresh').idle_in_transaction()   # idle for less than the limit
        holders.append(fresh)
        opts = dict(vacuum=False, analyze=False, terminate_idle_in_transaction_s=1,
                    terminate_exclude_applications=['keepme'], terminate_exclude_users=['keeper'])

        r = direct(server, db, check_mode=True, **opts)
        assert [(p['action'], p['target'], p['pid'], p['application_name']) for p in r['plan']] == [
            ('terminate', 'pid:%d' % victim.pid, victim.pid, 'victim')]
        assert 'idle in transaction for' in r['plan'][0]['reason'] and r['changed'] is True
        assert r['terminated'] == [] and r['actions'] == []
        assert all(backend_alive(server, h.pid) for h in holders)          # check mode killed nobody

        fresh.close()
        holders.remove(fresh)
        r = run_module('db_maintenance', args(server, db, **opts))
        assert not r.get('failed'), r['msg']
        assert r['changed'] is True
        assert [(t['pid'], t['user'], t['application_name'], t['state']) for t in r['terminated']] == [
            (victim.pid, 'postgres', 'victim', 'idle in transaction')]
        assert r['terminated'][0]['duration_s'] >= 1 and r['terminated'][0]['query'] == 'SELECT 1'
        assert [(a['action'], a['status']) for a in r['actions']] == [('terminate', 'ok')]
        assert not backend_alive(server, victim.pid) and not victim.alive()
        for h in (kept_app, kept_user, elsewhere):
            assert backend_alive(server, h.pid), h.pid

        # scope=cluster also looks at other databases; the exclusions still hold
        r = direct(server, db, terminate_scope='cluster', **opts)
        assert [t['pid'] for t in r['terminated']] == [elsewhere.pid]
        assert not backend_alive(server, elsewhere.pid)
        assert kept_app.alive() and kept_user.alive()       # their sessions still work
    finally:
        for h in holders:
            h.close()


def test_terminates_long_queries_never_its_own_session(server):
    db = fresh_db(server)
    sleeper = Holder(server, db, 'sleeper').run_in_thread('SELECT pg_sleep(30)')
    backup = Holder(server, db, 'pg_dump').run_in_thread('SELECT pg_sleep(30)')
    try:
        assert wait_for(lambda: server.psql("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
                                            "query LIKE 'SELECT pg_sleep%%' AND now() - query_start > "
                                            "interval '1 second'") == '2')
        # 0 s: every active query qualifies, our own included if it were not excluded
        r = direct(server, db, vacuum=False, analyze=False, terminate_running_longer_than_s=0,
                   terminate_exclude_applications=['pg_dump'])
        assert [t['pid'] for t in r['terminated']] == [sleeper.pid]
        assert r['terminated'][0]['state'] == 'active' and r['terminated'][0]['query'] == 'SELECT pg_sleep(30)'
        assert 'query running for' in r['actions'][0]['reason'] and r['failed_steps'] == []
        sleeper.thread.join(10)
        assert isinstance(sleeper.error, psycopg.OperationalError)
        assert backend_alive(server, backup.pid)
    finally:
        server.psql('SELECT pg_cancel_backend(%d)' % backup.pid)
        sleeper.close()
        backup.close()


def test_lock_timeout_fails_one_table_and_goes_on(server, run_module):
    db = fresh_db(server)
    server.psql("""
        CREATE TABLE locked (id int) WITH (autovacuum_enabled = false);
        CREATE TABLE free (id int) WITH (autovacuum_enabled = false);
        INSERT INTO locked SELECT generate_series(1, 2000); DELETE FROM locked WHERE id > 1000;
        INSERT INTO free SELECT generate_series(1, 2000); DELETE FROM free WHERE id > 1000;
    """, db=db)
    holder = Holder(server, db, 'locker').idle_in_transaction('LOCK TABLE locked IN ACCESS EXCLUSIVE MODE')
    try:
        r = run_module('db_maintenance', args(server, db, tables=['locked', 'public.free'], lock_timeout='300ms'))
        assert r.get('failed')
        assert r['msg'].startswith('Could not complete the maintenance of %s: 1 step(s) failed: vacuum_analyze '
                                   'public.locked (canceling statement due to lock timeout' % db), r['msg']
        assert r['failed_steps'] == ['vacuum_analyze public.locked']
        status = {a['target']: a['status'] for a in r['actions']}
        assert status == {'public.locked': 'failed', 'public.free': 'ok'}
        free = [t for t in r['tables'] if t['table'] == 'free'][0]
        assert free['dead_tuples_before'] == 1000 and free['dead_tuples_after'] == 0
        assert dead_tuples(server, db, 'public', 'free') == 0
        assert dead_tuples(server, db, 'public', 'locked') == 1000
        assert server.password not in r['_stdout'] + r['_stderr']
    finally:
        holder.close()


@pytest.mark.parametrize('blocker, suffix', [
    ('INSERT INTO blk VALUES (0)', 'ccnew'),         # blocks the build: the new copy is left invalid
    ('SELECT count(*) FROM blk', 'ccold'),           # blocks the final drop: the old copy is left invalid
])
def test_failed_concurrent_reindex_drops_its_invalid_copy(server, blocker, suffix):
    db = fresh_db(server)
    server.psql("""
        CREATE TABLE blk (id int NOT NULL) WITH (autovacuum_enabled = false);
        INSERT INTO blk SELECT generate_series(1, 100000);
        CREATE INDEX blk_id_idx ON blk (id);
        DELETE FROM blk WHERE id % 10 <> 0;
    """, db=db)
    server.psql('VACUUM ANALYZE blk', db=db)
    reader = Holder(server, db, 'reader').idle_in_transaction(blocker)
    seen = []

    def release_after_ccnew():
        # keep the lock until the REINDEX has made its copy and timed out waiting for us
        if wait_for(lambda: server.psql("SELECT count(*) FROM pg_class WHERE relname = 'blk_id_idx_%s'" % suffix,
                                        db=db) == '1', timeout=20):
            seen.append(True)
            time.sleep(1.5)
        reader.conn.execute('COMMIT')

    t = threading.Thread(target=release_after_ccnew, daemon=True)
    t.start()
    try:
        r = direct(server, db, tables=['blk'], vacuum=False, analyze=False, reindex=True, lock_timeout='1s')
    finally:
        t.join(30)
        reader.close()
    assert seen, 'REINDEX CONCURRENTLY never made its _%s copy' % suffix
    step = [a for a in r['actions'] if a['action'] == 'reindex'][0]
    assert step['status'] == 'failed' and 'lock timeout' in step['error'], step
    assert step['leftover_indexes'] == [{'index': 'public.blk_id_idx_' + suffix, 'dropped': True, 'error': None}]
    assert r['failed_steps'] == ['reindex public.blk_id_idx']
    ix = [i for i in r['indexes'] if i['index'] == 'blk_id_idx'][0]
    assert ix['reindexed'] is False and ix['leftover_indexes'][0]['dropped'] is True
    # independently: no invalid copy left, the original is still valid
    assert server.psql("SELECT count(*) FROM pg_class WHERE relname LIKE 'blk_id_idx_cc%'", db=db) == '0'
    assert server.psql("SELECT indisvalid FROM pg_index WHERE indexrelid = 'blk_id_idx'::regclass", db=db) == 't'


def test_timeouts_are_validated(server):
    with pytest.raises(pm.MaintenanceError) as e:
        direct(server, 'postgres', lock_timeout="5s'; DROP TABLE y; --")
    assert str(e.value).startswith("Could not use lock_timeout=\"5s'; DROP TABLE y; --\": it is not a PostgreSQL "
                                   "duration.")
    with pytest.raises(pm.MaintenanceError) as e:                      # accepted by the format, refused by the server
        direct(server, 'postgres', statement_timeout='99999999999d')
    assert str(e.value).startswith('Could not set lock_timeout=5s / statement_timeout=99999999999d on postgres@')
    assert server.password not in str(e.value)


def test_a_role_without_rights_gets_skipped_and_failed_steps(server):
    db = fresh_db(server)
    server.psql('CREATE TABLE owned (id int) WITH (autovacuum_enabled = false); '
                'INSERT INTO owned SELECT generate_series(1, 100); DELETE FROM owned;', db=db)
    server.psql('GRANT ALL ON DATABASE %s TO keeper' % db)
    server.psql('GRANT pg_read_all_stats TO keeper')        # to see the state of other roles' sessions
    holder = Holder(server, db, 'admin-session').idle_in_transaction()
    try:
        r = direct(server, db, login_user='keeper', login_password='keeper-pw', tables=['owned'],
                   terminate_idle_in_transaction_s=0)
        steps = {a['action']: a for a in r['actions']}
        # VACUUM of a table it does not own only warns: reported as skipped, with the server's (15) words
        assert steps['vacuum_analyze']['status'] == 'skipped'
        assert steps['vacuum_analyze']['error'] == 'skipping "owned" --- only table or database owner can vacuum it'
        # terminating a superuser's session is refused: a failed step
        assert steps['terminate']['status'] == 'failed'
        assert steps['terminate']['error'] == 'must be a superuser to terminate superuser process'
        assert r['failed_steps'] == ['terminate pid:%d' % holder.pid] and r['terminated'] == []
        assert backend_alive(server, holder.pid)
        assert dead_tuples(server, db, 'public', 'owned') == 100
        assert 'keeper-pw' not in repr(r)
    finally:
        holder.close()
        server.psql('REVOKE pg_read_all_stats FROM keeper')


@pytest.mark.parametrize('scope', ['cluster', 'database'])
def test_session_candidates_never_include_our_own_backend_even_without_the_python_guard(server, scope):
    # the Python guard needs own_pid, which set_timeouts() fills in; here it stays None, so only the query's own
    # `pid <> pg_backend_pid()` keeps the module's connection off the list
    db = fresh_db(server)
    other = Holder(server, db, 'other').idle_in_transaction()
    params = {k: v.get('default') for k, v in argument_spec().items()}
    params.update(args(server, db, terminate_scope=scope, terminate_idle_in_transaction_s=0,
                       terminate_running_longer_than_s=0))
    m = pm.Maintenance(params)
    try:
        m.open()
        own = m.conn.info.backend_pid
        assert m.own_pid is None
        pids = [r['pid'] for r in m.fetch_sessions(scope == 'cluster')]
        assert other.pid in pids          # the list is not empty by accident
        assert own not in pids
        assert own not in [r['pid'] for r, reason in m.sessions_to_terminate()]
    finally:
        m.close()
        other.close()
