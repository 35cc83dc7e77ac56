# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_maintenance without a server: names, timeouts, thresholds, exclusions, SQL text and the plan of a run
(the database access methods of ``Maintenance`` are replaced by a fake)."""
from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pg_errors

from ansible_collections.runbook.ops.plugins.module_utils import pg_maintenance as pm
from ansible_collections.runbook.ops.plugins.modules import db_maintenance

HOSTILE = 'x"; DROP TABLE y; --'


def sql_text(composed):
    return composed.as_string(None)


# ---------------------------------------------------------------- interface (the maintenance role relies on it)

def test_argument_spec_keeps_the_agreed_interface():
    spec = db_maintenance.argument_spec()
    expected = {
        'db': None, 'tables': [], 'vacuum': True, 'analyze': True, 'vacuum_min_dead_tuples': 0, 'reindex': False,
        'reindex_min_bloat_pct': 30, 'reindex_min_size_mb': 1, 'reindex_concurrently': True,
        'terminate_idle_in_transaction_s': None, 'terminate_running_longer_than_s': None,
        'terminate_exclude_applications': [], 'terminate_exclude_users': [], 'terminate_scope': 'database',
        'lock_timeout': '5s', 'statement_timeout': '0', 'on_standby': 'skip',
    }
    for name, default in expected.items():
        assert spec[name].get('default') == default, name
    assert spec['db']['required'] is True
    assert spec['terminate_scope']['choices'] == ['database', 'cluster']
    assert spec['on_standby']['choices'] == ['skip', 'fail']
    assert spec['login_password']['no_log'] is True


# ---------------------------------------------------------------- helpers

@pytest.mark.parametrize('value, expected', [
    ('0', '0'), ('5s', '5s'), ('500ms', '500ms'), (' 10 s ', '10 s'), ('1.5min', '1.5min'), ('2h', '2h'),
    ('1d', '1d'), ('250us', '250us'), ('300', '300'),
])
def test_valid_timeouts(value, expected):
    assert pm.validate_timeout('lock_timeout', value) == expected


@pytest.mark.parametrize('value', ['', None, '-1', '5 seconds', '5S', "5s'; DROP TABLE y; --", '5s; RESET ALL',
                                   '1e3', 'ms', '5s\x00'])
def test_invalid_timeouts(value):
    with pytest.raises(pm.MaintenanceError) as e:
        pm.validate_timeout('statement_timeout', value)
    assert str(e.value) == ('Could not use statement_timeout=%r: it is not a PostgreSQL duration. Use a number with '
                            'an optional unit among us, ms, s, min, h, d (for example 5s, 500ms or 0 for no limit).'
                            % (value,))


@pytest.mark.parametrize('name, expected', [
    ('orders', ('public', 'orders')),
    ('sales.orders', ('sales', 'orders')),
    ('Sales.Orders', ('Sales', 'Orders')),
    (HOSTILE, ('public', HOSTILE)),
    ('"my.schema"."my.table"', ('my.schema', 'my.table')),
    ('"a""b".c', ('a"b', 'c')),
    ('s."t.x"', ('s', 't.x')),
    ('a.b.c', ('a', 'b.c')),
    ('"unbalanced', ('public', '"unbalanced')),
    ('y."; --', ('y', '"; --')),
    ('*', ('public', '*')),
])
def test_parse_table_name(name, expected):
    assert pm.parse_table_name(name) == expected


@pytest.mark.parametrize('name', ['', '.orders', 'sales.', 'a\x00b'])
def test_parse_table_name_refuses_empty_parts(name):
    with pytest.raises(pm.MaintenanceError) as e:
        pm.parse_table_name(name)
    assert str(e.value).startswith('Could not use the table name %r' % (name,))


def test_sql_is_built_from_identifiers():
    assert sql_text(pm.maintenance_sql('vacuum_analyze', 'public', HOSTILE)) == \
        'VACUUM (ANALYZE) "public"."x""; DROP TABLE y; --"'
    assert sql_text(pm.maintenance_sql('vacuum', 's', 't')) == 'VACUUM "s"."t"'
    assert sql_text(pm.maintenance_sql('analyze', 's', 't')) == 'ANALYZE "s"."t"'
    assert sql_text(pm.reindex_sql('s', 'i"x', True)) == 'REINDEX INDEX CONCURRENTLY "s"."i""x"'
    assert sql_text(pm.reindex_sql('s', 'i', False)) == 'REINDEX INDEX "s"."i"'
    assert sql_text(pm.drop_index_sql('s', 'i_ccnew')) == 'DROP INDEX CONCURRENTLY IF EXISTS "s"."i_ccnew"'
    with pytest.raises(ValueError):
        pm.maintenance_sql('truncate', 's', 't')


def test_vacuum_action_and_table_plan_thresholds():
    assert pm.vacuum_action(True, True) == 'vacuum_analyze'
    assert pm.vacuum_action(True, False) == 'vacuum'
    assert pm.vacuum_action(False, True) == 'analyze'
    assert pm.vacuum_action(False, False) is None
    t = {'dead_tuples_before': 500}
    assert pm.table_plan(t, True, True, 0) == ('vacuum_analyze', '500 dead tuples')
    assert pm.table_plan(t, True, True, 500) == ('vacuum_analyze', '500 dead tuples >= vacuum_min_dead_tuples 500')
    assert pm.table_plan(t, True, True, 501) == ('analyze',
                                                 '500 dead tuples < vacuum_min_dead_tuples 501: analyze only')
    assert pm.table_plan(t, True, False, 501) == (None, '500 dead tuples < vacuum_min_dead_tuples 501')
    assert pm.table_plan(t, False, True, 501) == ('analyze', 'refresh planner statistics')
    assert pm.table_plan(t, False, False, 0) == (None, 'vacuum and analyze are off')
    assert pm.table_plan({'dead_tuples_before': None}, True, False, 0) == ('vacuum', '0 dead tuples')


def test_bloat_from_density_and_fillfactor():
    assert pm.bloat_from_density(90.0, 90) == 0.0
    assert pm.bloat_from_density(9.0, 90) == 90.0
    assert pm.bloat_from_density(95.0, 90) == 0.0          # denser than a fresh index
    assert pm.bloat_from_density(50.0, 100) == 50.0
    assert pm.bloat_from_density(float('nan'), 90) == 0.0  # empty index
    assert pm.bloat_from_density(None, None) == 0.0
    assert pm.fillfactor_of(None) == 90
    assert pm.fillfactor_of(['deduplicate_items=off', 'fillfactor=70']) == 70
    assert pm.fillfactor_of(['fillfactor=x']) == 90


@pytest.mark.parametrize('index, reindex, expected', [
    ({'size_bytes_before': 10 * 1048576, 'bloat_pct': 45.0, 'bloat_method': 'pgstattuple'}, True,
     (True, 'bloat 45.0% >= 30% and size 10.00 MB >= 1 MB (pgstattuple)')),
    ({'size_bytes_before': 10 * 1048576, 'bloat_pct': 30.0, 'bloat_method': 'estimate'}, True,
     (True, 'bloat 30.0% >= 30% and size 10.00 MB >= 1 MB (estimate)')),
    ({'size_bytes_before': 10 * 1048576, 'bloat_pct': 29.9, 'bloat_method': 'estimate'}, True,
     (False, 'bloat 29.9% < reindex_min_bloat_pct 30')),
    ({'size_bytes_before': 512 * 1024, 'bloat_pct': 90.0, 'bloat_method': 'estimate'}, True,
     (False, 'size 0.50 MB < reindex_min_size_mb 1')),
    ({'size_bytes_before': 10 * 1048576, 'bloat_pct': None, 'bloat_method': 'not_estimated',
      'bloat_note': 'only btree indexes are estimated (this one is gin)'}, True,
     (False, 'bloat not estimated: only btree indexes are estimated (this one is gin)')),
    ({'size_bytes_before': None, 'bloat_pct': 90.0, 'bloat_method': 'estimate'}, True,
     (False, 'size unknown (the index could not be read, locked?)')),
    ({'size_bytes_before': 10 * 1048576, 'bloat_pct': 90.0, 'bloat_method': 'estimate'}, False,
     (False, 'reindex is off')),
])
def test_index_decision(index, reindex, expected):
    assert pm.index_decision(index, reindex, 30.0, 1.0) == expected


def row(pid, state, state_s=0.0, query_s=0.0, app='app', user='app'):
    return {'pid': pid, 'state': state, 'state_s': state_s, 'query_s': query_s, 'application_name': app,
            'user': user, 'query': 'SELECT 1', 'datname': 'app'}


def test_session_exclusion_rules():
    def reason(r, idle=60, running=600, apps=(), users=(), own=1):
        return pm.session_reason(r, idle, running, list(apps), list(users), own)
    assert reason(row(2, 'idle in transaction', state_s=61)) == \
        'idle in transaction for 61 s > terminate_idle_in_transaction_s 60'
    assert reason(row(2, 'idle in transaction (aborted)', state_s=61)).startswith('idle in transaction (aborted)')
    assert reason(row(2, 'idle in transaction', state_s=60)) is None           # not longer than the limit
    assert reason(row(2, 'active', query_s=601)) == 'query running for 601 s > terminate_running_longer_than_s 600'
    assert reason(row(2, 'active', query_s=599)) is None
    assert reason(row(2, 'idle', state_s=10000, query_s=10000)) is None       # plain idle is never terminated
    assert reason(row(1, 'active', query_s=10000)) is None                    # our own backend
    assert reason(row(2, 'active', query_s=10000, app='pg_dump'), apps=['pg_dump']) is None
    assert reason(row(2, 'active', query_s=10000, user='replicator'), users=['replicator']) is None
    assert reason(row(2, 'active', query_s=10000, app='pg_dump2'), apps=['pg_dump']) is not None   # exact match
    assert reason(row(2, 'active', query_s=10000), running=None) is None      # off
    assert reason(row(2, 'idle in transaction', state_s=10000), idle=None) is None
    assert reason(row(2, 'active', query_s=None)) is None
    assert pm.session_duration(row(2, 'idle in transaction', state_s=5, query_s=9)) == 5
    assert pm.session_duration(row(2, 'active', state_s=5, query_s=9)) == 9


def test_leftover_names():
    before = ['other_ccnew']
    after = ['other_ccnew', 'orders_idx_ccnew', 'orders_idx_ccnew1', 'orders_idx_ccold', 'unrelated']
    expected = ['orders_idx_ccnew', 'orders_idx_ccnew1', 'orders_idx_ccold']
    assert pm.leftover_names('orders_idx', before, after) == expected
    assert pm.leftover_names('orders_idx', after, after) == []


# ---------------------------------------------------------------- a run with a fake database

class FakeCursor(object):
    def __init__(self, log, rows):
        self.log = log
        self.rows = rows
        self.description = None

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def execute(self, query, args=None):
        self.log.append((query, args))
        self.description = [('x',)]

    def fetchall(self):
        return self.rows


class FakeConn(object):
    broken = False
    closed = False

    def __init__(self, rows=None):
        self.log = []
        self.rows = rows or [('5s', '0', 4242)]

    def cursor(self):
        return FakeCursor(self.log, self.rows)

    def close(self):
        self.closed = True


class FakeMaintenance(pm.Maintenance):
    """Replaces every database access; records the statements run."""

    def __init__(self, params, check_mode=False, tables=None, indexes=None, sessions=None, standby=False,
                 fail_on=(), pgstattuple=None, density=None):
        super(FakeMaintenance, self).__init__(params, check_mode=check_mode, conn=FakeConn(),
                                              clock=self._clock, sleep=lambda s: None)
        self.t = 0.0
        self.executed = []
        self._tables = tables or []
        self._indexes = indexes or []
        self._sessions = sessions or []
        self._standby = standby
        self.fail_on = fail_on
        self._pgstattuple = pgstattuple
        self._density = density or {}
        self.killed = []

    def _clock(self):
        self.t += 0.5
        return self.t

    def set_timeouts(self, lock_timeout, statement_timeout):
        self.timeouts = (lock_timeout, statement_timeout)
        self.own_pid = 1

    def in_recovery(self):
        return self._standby

    def fetch_tables(self):
        return [dict(t) for t in self._tables]

    def relation_size(self, oid, table=True):
        return 8192 * 100 if table else {11: 50 * 1048576, 12: 100 * 1024, 13: 5 * 1048576}.get(oid, 8192)

    def fetch_indexes(self, table_oids):
        return [dict(i) for i in self._indexes if i['table_oid'] in table_oids]

    def pgstattuple_schema(self):
        return self._pgstattuple

    def pgstatindex_density(self, schema, index_oid):
        return self._density[index_oid]

    def btree_estimates(self, index_oids):
        return {oid: {'reltuples': 1000.0, 'relpages': 10, 'bloat_pct': 55.0, 'is_na': False} for oid in index_oids}

    def fetch_sessions(self, cluster):
        self.cluster = cluster
        return list(self._sessions)

    def terminate_backend(self, pid):
        self.killed.append(pid)
        return True

    def live_pids(self, pids):
        return []

    def invalid_index_names(self, table_oid):
        return []

    def _execute(self, query, args=None):
        text = sql_text(query) if not isinstance(query, str) else query
        self.executed.append(text)
        for marker in self.fail_on:
            if marker in text:
                raise pg_errors.LockNotAvailable('canceling statement due to lock timeout')


TABLES = [
    {'oid': 1, 'schema': 'public', 'table': 'orders', 'relkind': 'r', 'dead_tuples': 5000, 'live_tuples': 100},
    {'oid': 2, 'schema': 'public', 'table': HOSTILE, 'relkind': 'r', 'dead_tuples': 10, 'live_tuples': 5},
    {'oid': 3, 'schema': 'sales', 'table': 'parent', 'relkind': 'p', 'dead_tuples': 0, 'live_tuples': 0},
]
INDEXES = [
    {'oid': 11, 'table_oid': 1, 'schema': 'public', 'table': 'orders', 'index': 'orders_pkey', 'method': 'btree',
     'valid': True, 'fillfactor': 90},
    {'oid': 12, 'table_oid': 1, 'schema': 'public', 'table': 'orders', 'index': 'orders_small', 'method': 'btree',
     'valid': True, 'fillfactor': 90},
    {'oid': 13, 'table_oid': 1, 'schema': 'public', 'table': 'orders', 'index': 'orders_gin', 'method': 'gin',
     'valid': True, 'fillfactor': 90},
]


def params(**extra):
    p = {k: v.get('default') for k, v in db_maintenance.argument_spec().items()}
    p.update(db='app', login_password='S3cret-pw')
    p.update(extra)
    return p


def test_check_mode_builds_the_plan_and_executes_nothing():
    sessions = [row(7, 'idle in transaction', state_s=120, app='worker'),
                row(8, 'idle in transaction', state_s=120, app='pg_dump'),
                row(1, 'active', query_s=9999)]
    m = FakeMaintenance(params(reindex=True, vacuum_min_dead_tuples=100, terminate_idle_in_transaction_s=60,
                               terminate_running_longer_than_s=600, terminate_exclude_applications=['pg_dump']),
                        check_mode=True, tables=TABLES, indexes=INDEXES, sessions=sessions)
    r = m.run()
    assert m.executed == [] and m.killed == [] and r['actions'] == [] and r['terminated'] == []
    assert [(p['action'], p['target']) for p in r['plan']] == [
        ('terminate', 'pid:7'),
        ('vacuum_analyze', 'public.orders'),
        ('analyze', 'public.' + HOSTILE),
        ('reindex', 'public.orders_pkey')]
    assert r['plan'][0]['application_name'] == 'worker' and r['plan'][0]['duration_s'] == 120.0
    assert r['changed'] is True and r['msg'].startswith('check mode: 4 step(s) planned on postgres@localhost')
    assert [t['table'] for t in r['tables']] == ['orders', HOSTILE]          # the partitioned parent is left out
    assert all(t['size_bytes_after'] is None and t['dead_tuples_after'] is None for t in r['tables'])
    ix = {i['index']: i for i in r['indexes']}
    assert ix['orders_pkey']['bloat_method'] == 'estimate' and ix['orders_pkey']['bloat_pct'] == 55.0
    assert ix['orders_small']['reason'] == 'size 0.10 MB < reindex_min_size_mb 1'
    assert ix['orders_gin']['bloat_method'] == 'not_estimated' and ix['orders_gin']['reindexed'] is False
    assert m.timeouts == ('5s', '0') and m.cluster is False


def test_empty_plan_in_check_mode_is_not_a_change():
    m = FakeMaintenance(params(vacuum=False, analyze=False), check_mode=True, tables=TABLES)
    r = m.run()
    assert r['plan'] == [] and r['changed'] is False


def test_run_continues_after_a_failed_step_and_names_it():
    m = FakeMaintenance(params(reindex=True, tables=['orders', HOSTILE]), tables=TABLES, indexes=INDEXES,
                        fail_on=['VACUUM (ANALYZE) "public"."orders"'], pgstattuple='public',
                        density={11: 30.0})
    r = m.run()
    assert m.executed == ['VACUUM (ANALYZE) "public"."orders"',
                          'VACUUM (ANALYZE) "public"."x""; DROP TABLE y; --"',
                          'REINDEX INDEX CONCURRENTLY "public"."orders_pkey"']
    assert [(a['action'], a['status']) for a in r['actions']] == [('vacuum_analyze', 'failed'),
                                                                  ('vacuum_analyze', 'ok'), ('reindex', 'ok')]
    assert r['actions'][0]['error'] == 'canceling statement due to lock timeout'
    assert r['actions'][0]['duration_s'] == 0.5
    assert r['failed_steps'] == ['vacuum_analyze public.orders'] and r['changed'] is True
    ix = {i['index']: i for i in r['indexes']}
    assert ix['orders_pkey']['bloat_method'] == 'pgstattuple' and ix['orders_pkey']['bloat_pct'] == 66.7
    assert ix['orders_pkey']['reindexed'] is True
    assert ix['orders_small']['bloat_method'] == 'estimate'        # below the size threshold: no pgstatindex
    assert r['tables'][0]['size_bytes_after'] == 819200


def test_terminate_never_touches_our_own_pid_and_reports_sessions():
    sessions = [row(1, 'active', query_s=9999), row(9, 'active', query_s=9999, user='etl', app='loader')]
    m = FakeMaintenance(params(vacuum=False, analyze=False, terminate_running_longer_than_s=0,
                               terminate_scope='cluster'), tables=TABLES, sessions=sessions)
    r = m.run()
    assert m.killed == [9] and m.cluster is True
    assert r['terminated'] == [{'pid': 9, 'user': 'etl', 'application_name': 'loader', 'state': 'active',
                                'duration_s': 9999.0, 'query': 'SELECT 1', 'client': 'local', 'database': 'app',
                                'reason': 'query running for 9999 s > terminate_running_longer_than_s 0',
                                'terminate_reason': None}]


def test_unknown_tables_fail_before_anything_is_done():
    m = FakeMaintenance(params(tables=['orders', 'nope', 'sales.nope', HOSTILE], terminate_idle_in_transaction_s=1),
                        tables=TABLES, sessions=[row(7, 'idle in transaction', state_s=100)])
    with pytest.raises(pm.MaintenanceError) as e:
        m.run()
    assert str(e.value) == ("Could not run maintenance on postgres@localhost:5432/app: unknown table(s) 'nope', "
                            "'sales.nope'. Nothing was done. Name existing tables as schema.table or table "
                            "(public); names are case-sensitive.")
    assert m.executed == [] and m.killed == []


def test_standby_skip_and_fail():
    m = FakeMaintenance(params(), tables=TABLES, standby=True)
    r = m.run()
    assert r['skipped'] is True and r['standby'] is True and r['changed'] is False and m.executed == []
    assert r['msg'] == 'skipped: postgres@localhost:5432/app is a standby (in recovery); run maintenance on the primary'
    with pytest.raises(pm.MaintenanceError) as e:
        FakeMaintenance(params(on_standby='fail'), tables=TABLES, standby=True).run()
    assert str(e.value) == ('Could not run maintenance on postgres@localhost:5432/app: the server is a standby (in '
                            'recovery) and changes nothing there. Run it on the primary, or set on_standby=skip.')
    assert e.value.result['standby'] is True


def test_invalid_timeout_fails_before_connecting():
    m = FakeMaintenance(params(lock_timeout='5s; SET role postgres'), tables=TABLES)
    with pytest.raises(pm.MaintenanceError):
        m.run()
    assert m.conn.log == [] and m.executed == []


@pytest.mark.parametrize('name', ['vacuum_min_dead_tuples', 'terminate_idle_in_transaction_s',
                                  'reindex_min_bloat_pct'])
def test_negative_thresholds_are_refused(name):
    with pytest.raises(pm.MaintenanceError) as e:
        FakeMaintenance(params(**{name: -1}), tables=TABLES).run()
    assert str(e.value) == 'Could not use %s=-1: it must be 0 or more.' % name


def test_set_timeouts_passes_values_as_parameters():
    conn = FakeConn()
    m = pm.Maintenance(params(), conn=conn)
    m.set_timeouts("5s'; DROP", '0')
    query, args = conn.log[0]
    assert args == ("5s'; DROP", '0')
    assert sql_text(query) == ("SELECT pg_catalog.set_config('lock_timeout', %s, false), "
                               "pg_catalog.set_config('statement_timeout', %s, false), pg_catalog.pg_backend_pid()")
    assert m.own_pid == 4242


def test_failed_concurrent_reindex_drops_leftovers_and_redacts():
    class Leftover(FakeMaintenance):
        calls = 0

        def invalid_index_names(self, table_oid):
            self.calls += 1
            return [] if self.calls == 1 else ['orders_pkey_ccnew']

    m = Leftover(params(reindex=True, vacuum=False, analyze=False, login_password='S3cret-pw'), tables=TABLES,
                 indexes=INDEXES[:1], fail_on=['REINDEX'])

    def boom(query, args=None):
        text = sql_text(query)
        m.executed.append(text)
        if 'REINDEX' in text:
            raise psycopg.OperationalError('deadlock detected; password=S3cret-pw')
    m._execute = boom
    r = m.run()
    step = r['actions'][0]
    assert step['status'] == 'failed' and step['error'] == 'deadlock detected; password=********'
    assert step['leftover_indexes'] == [{'index': 'public.orders_pkey_ccnew', 'dropped': True, 'error': None}]
    assert m.executed[-1] == 'DROP INDEX CONCURRENTLY IF EXISTS "public"."orders_pkey_ccnew"'
    assert r['indexes'][0]['leftover_indexes'][0]['dropped'] is True


@pytest.mark.parametrize('cluster', [True, False])
def test_session_query_itself_excludes_our_own_backend(cluster):
    # the Python guard (session_reason's own_pid) is the second line: the query that lists the candidates must
    # never return the module's own backend in the first place
    conn = FakeConn()
    conn.rows = []
    m = pm.Maintenance(params(), conn=conn)
    assert m.fetch_sessions(cluster) == []
    [(query, args)] = conn.log
    text = ' '.join(str(query).split())
    where = text[text.index(' WHERE '):]
    assert 'AND pid <> pg_catalog.pg_backend_pid() AND' in where
    assert args[-1] is cluster
