# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_maintenance's plain-idle rule (``terminate_idle_s``), the operator's ``terminate_reason`` and the record of
each terminated session, without a server (the database access methods are replaced by a fake)."""
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import pg_maintenance as pm
from ansible_collections.runbook.ops.plugins.modules import db_maintenance


def row(pid, state, state_s=0.0, query_s=0.0, app='app', user='app', query='SELECT 1', addr=None, port=None):
    return {'pid': pid, 'state': state, 'state_s': state_s, 'query_s': query_s, 'application_name': app,
            'user': user, 'query': query, 'datname': 'app', 'client_addr': addr, 'client_port': port}


def reason(r, idle=None, running=None, plain=3600, apps=(), users=(), own=1):
    return pm.session_reason(r, idle, running, list(apps), list(users), own, plain_idle_s=plain)


def test_plain_idle_rule():
    assert reason(row(2, 'idle', state_s=3601)) == 'idle for 3601 s > terminate_idle_s 3600'
    assert reason(row(2, 'idle', state_s=3600)) is None                        # not longer than the limit
    assert reason(row(2, 'idle', state_s=10)) is None
    assert reason(row(2, 'idle', state_s=None)) is None
    assert reason(row(2, 'idle', state_s=99999), plain=None) is None           # off by default
    assert reason(row(2, 'idle', state_s=99999), plain=0) is not None          # 0 = any idle connection
    # the plain-idle rule never catches the other states
    assert reason(row(2, 'active', state_s=99999, query_s=99999)) is None
    assert reason(row(2, 'idle in transaction', state_s=99999)) is None
    # same exclusions as the other rules, and never our own backend
    assert reason(row(1, 'idle', state_s=99999)) is None
    assert reason(row(2, 'idle', state_s=99999, app='pgbouncer'), apps=['pgbouncer']) is None
    assert reason(row(2, 'idle', state_s=99999, user='replicator'), users=['replicator']) is None
    assert reason(row(2, 'idle', state_s=99999, app='pgbouncer2'), apps=['pgbouncer']) is not None


def test_the_rules_keep_their_own_thresholds():
    both = dict(idle=60, running=600, plain=3600)
    assert reason(row(2, 'idle in transaction', state_s=61), **both).startswith('idle in transaction for 61 s')
    assert reason(row(2, 'idle', state_s=61), **both) is None                  # 61 s idle is under 3600
    assert reason(row(2, 'active', query_s=601), **both).startswith('query running for 601 s')


def test_duration_is_the_age_of_the_state_that_chose_it():
    assert pm.session_duration(row(2, 'idle', state_s=4000, query_s=9000)) == 4000
    assert pm.session_duration(row(2, 'active', state_s=5, query_s=9)) == 9


@pytest.mark.parametrize('addr, port, expected', [
    (None, None, 'local'), (None, -1, 'local'), ('', None, 'local'),
    ('10.0.3.7', 51422, '10.0.3.7:51422'), ('127.0.0.1', -1, '127.0.0.1'),
    ('::1', 5000, '[::1]:5000'),
])
def test_client_of(addr, port, expected):
    assert pm.client_of({'client_addr': addr, 'client_port': port}) == expected


@pytest.mark.parametrize('query, expected', [
    ("ALTER ROLE app PASSWORD 'hunter2'", "ALTER ROLE app PASSWORD ********"),
    ("create user x with password E'it''s secret' valid until 'infinity'",
     "create user x with password ******** valid until 'infinity'"),
    ("ALTER ROLE app PASSWORD 'cut-in-the-midd", "ALTER ROLE app PASSWORD ********"),   # truncated text
    ("ALTER ROLE app PASSWORD $pw$x'y$pw$", "ALTER ROLE app PASSWORD ********"),
    ("SELECT 'password' FROM t", "SELECT 'password' FROM t"),
    (None, ''),
])
def test_query_text_masks_password_literals(query, expected):
    assert pm.safe_query(query) == expected
    assert len(pm.safe_query('x' * 1000)) == pm.QUERY_CHARS


def test_terminated_entry_carries_who_why_and_the_operator_reason():
    e = pm.terminated_entry(row(42, 'idle', state_s=3700.04, user='web', app='rails', addr='10.0.0.5', port=40000,
                                query="ALTER ROLE web PASSWORD 'p'"),
                            'idle for 3700 s > terminate_idle_s 3600', 'INC-7: slots exhausted')
    assert e == {'pid': 42, 'user': 'web', 'application_name': 'rails', 'client': '10.0.0.5:40000',
                 'database': 'app', 'state': 'idle', 'duration_s': 3700.0, 'query': 'ALTER ROLE web PASSWORD ********',
                 'reason': 'idle for 3700 s > terminate_idle_s 3600', 'terminate_reason': 'INC-7: slots exhausted'}


# ---------------------------------------------------------------- a run with a fake connection

class FakeMaintenance(pm.Maintenance):
    def __init__(self, params, sessions, check_mode=False):
        super(FakeMaintenance, self).__init__(params, check_mode=check_mode, conn=object(),
                                              clock=self._clock, sleep=lambda s: None)
        self.t = 0.0
        self._sessions = sessions
        self.killed = []

    def _clock(self):
        self.t += 0.5
        return self.t

    def open(self):
        pass

    def close(self):
        pass

    def set_timeouts(self, lock_timeout, statement_timeout):
        self.own_pid = 1

    def in_recovery(self):
        return False

    def fetch_tables(self):
        return []

    def fetch_indexes(self, table_oids):
        return []

    def fetch_sessions(self, cluster):
        return list(self._sessions)

    def pgstattuple_schema(self):
        return None

    def terminate_backend(self, pid):
        self.killed.append(pid)
        return True

    def live_pids(self, pids):
        return []

    def _execute(self, query, args=None):
        raise AssertionError('no SQL expected: %r' % (query,))


def params(**extra):
    p = {k: v.get('default') for k, v in db_maintenance.argument_spec().items()}
    p.update(db='app', login_password='S3cret-pw', vacuum=False, analyze=False)
    p.update(extra)
    return p


SESSIONS = [row(1, 'idle', state_s=99999),                                  # our own: never
            row(5, 'idle', state_s=7200, app='leaky', addr='10.1.1.1', port=5555),
            row(6, 'idle', state_s=60, app='fresh'),
            row(7, 'idle', state_s=7200, app='pgbouncer'),
            row(8, 'active', query_s=7200, app='report')]


def test_check_mode_lists_idle_sessions_with_the_reason_and_kills_nothing():
    m = FakeMaintenance(params(terminate_idle_s=3600, terminate_exclude_applications=['pgbouncer'],
                               terminate_reason='INC-9'), SESSIONS, check_mode=True)
    r = m.run()
    assert m.killed == [] and r['terminated'] == [] and r['actions'] == []
    assert r['changed'] is True and r['terminate_reason'] == 'INC-9'
    assert [(p['action'], p['target'], p['client'], p['reason'], p['terminate_reason']) for p in r['plan']] == [
        ('terminate', 'pid:5', '10.1.1.1:5555', 'idle for 7200 s > terminate_idle_s 3600', 'INC-9')]


def test_run_terminates_idle_sessions_and_records_the_reason():
    m = FakeMaintenance(params(terminate_idle_s=3600, terminate_running_longer_than_s=3600,
                               terminate_exclude_applications=['pgbouncer'], terminate_reason='INC-9'), SESSIONS)
    r = m.run()
    assert m.killed == [5, 8]
    assert [(t['pid'], t['state'], t['terminate_reason']) for t in r['terminated']] == [
        (5, 'idle', 'INC-9'), (8, 'active', 'INC-9')]
    assert r['terminated'][1]['reason'] == 'query running for 7200 s > terminate_running_longer_than_s 3600'
    assert [a['reason'] for a in r['actions']] == [t['reason'] for t in r['terminated']]
    assert r['terminate_reason'] == 'INC-9' and r['changed'] is True


def test_without_a_reason_the_result_says_so():
    r = FakeMaintenance(params(terminate_idle_s=3600), SESSIONS).run()
    assert r['terminate_reason'] is None and r['terminated'][0]['terminate_reason'] is None


def test_negative_idle_threshold_is_refused():
    with pytest.raises(pm.MaintenanceError) as e:
        FakeMaintenance(params(terminate_idle_s=-1), SESSIONS).run()
    assert str(e.value) == 'Could not use terminate_idle_s=-1: it must be 0 or more.'


def test_argument_spec_has_the_new_options():
    spec = db_maintenance.argument_spec()
    assert spec['terminate_idle_s'] == {'type': 'int'}
    assert spec['terminate_reason'] == {'type': 'str'}


def test_a_sessions_only_run_reads_no_table_or_index_size():
    class Strict(FakeMaintenance):
        def fetch_tables(self):
            return [{'oid': 1, 'schema': 'public', 'table': 't', 'relkind': 'r', 'dead_tuples': 0, 'live_tuples': 0}]

        def relation_size(self, oid, table=True):
            raise AssertionError('a size was read (it waits for lock_timeout on a locked table)')

        def fetch_indexes(self, table_oids):
            raise AssertionError('indexes were read')

    r = Strict(params(terminate_idle_s=3600), SESSIONS).run()
    assert r['tables'] == [] and r['indexes'] == [] and [t['pid'] for t in r['terminated']] == [5, 7]
    # an unknown table is still refused before anything is done
    with pytest.raises(pm.MaintenanceError):
        Strict(params(terminate_idle_s=3600, tables=['nope']), SESSIONS).run()


def test_mysql_engine_refuses_terminate_idle_s_before_connecting(monkeypatch, capsys):
    import json as _json
    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes
    args = {'ANSIBLE_MODULE_ARGS': {'db': 'app', 'engine': 'mysql', 'terminate_idle_s': 3600,
                                    'login_password': 'S3cret-pw', '_ansible_remote_tmp': '/tmp',
                                    '_ansible_keep_remote_files': False}}
    monkeypatch.setattr(basic, '_ANSIBLE_ARGS', to_bytes(_json.dumps(args)))
    monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy', raising=False)
    monkeypatch.setattr(db_maintenance.mysql_maintenance, 'run_maintenance',
                        lambda *a, **k: pytest.fail('connected'))
    with pytest.raises(SystemExit):
        db_maintenance.main()
    out = _json.loads(capsys.readouterr().out)
    assert out['failed'] is True
    assert out['msg'] == ('Could not terminate idle connections on app: terminate_idle_s applies to '
                          'engine=postgresql only. Unset it for MySQL.')
