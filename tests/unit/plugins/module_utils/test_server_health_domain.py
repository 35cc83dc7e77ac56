# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The server facts health_check's postgres and redis probes grade come from postgres.py / redis_client.py."""
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import health
from ansible_collections.runbook.ops.plugins.module_utils import health_postgres
from ansible_collections.runbook.ops.plugins.module_utils import health_redis
from ansible_collections.runbook.ops.plugins.module_utils import postgres as pg
from ansible_collections.runbook.ops.plugins.module_utils import redis_client as rc

psycopg = pytest.importorskip('psycopg')
redis = pytest.importorskip('redis')


class _Clock(object):
    def __init__(self, *ticks):
        self.ticks = list(ticks)

    def __call__(self):
        return self.ticks.pop(0)


class _Cursor(object):
    def __init__(self, row):
        self.row = row

    def fetchone(self):
        return self.row


class _Conn(object):
    def __init__(self, in_recovery=False, fail_on=None):
        self.sql = []
        self.in_recovery = in_recovery
        self.fail_on = fail_on

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, query, args=None):
        self.sql.append((query, args))
        if self.fail_on and self.fail_on in query:
            raise psycopg.OperationalError('canceling statement due to statement timeout')
        if query is pg.SERVER_STATS_SQL:
            return _Cursor((100, 25, 1.23456, 2, self.in_recovery, '15.8'))
        if query is pg.PRIMARY_REPLICATION_SQL:
            return _Cursor((1, 2048.0, 0.5))
        if query is pg.REPLICA_REPLICATION_SQL:
            return _Cursor((None, None))
        return _Cursor((1,))


def test_postgres_facts_of_a_primary(monkeypatch):
    conn = _Conn()
    monkeypatch.setattr(pg, 'connect', lambda params, **kw: conn)
    facts = pg.server_health({}, 2.5, clock=_Clock(10.0, 10.25, 10.5))
    assert facts == {'connect_s': 0.25, 'latency_s': 0.25, 'server_version': '15.8', 'in_recovery': False,
                     'max_connections': 100, 'connections': 25, 'longest_query_s': 1.235, 'ungranted_locks': 2,
                     'replicas': 1, 'replication_lag_bytes': 2048, 'replication_lag_s': 0.5}
    assert ('SELECT set_config(%s, %s, false)', ('statement_timeout', '2500')) in conn.sql


def test_postgres_facts_of_a_replica(monkeypatch):
    monkeypatch.setattr(pg, 'connect', lambda params, **kw: _Conn(in_recovery=True))
    facts = pg.server_health({}, 1, clock=_Clock(0.0, 0.0, 0.0, 0.0))
    assert facts['in_recovery'] is True and facts['replicas'] is None
    assert facts['replication_lag_bytes'] is None and facts['replication_lag_s'] is None


def test_postgres_stages_of_failure(monkeypatch):
    def refuse(params, **kw):
        raise psycopg.OperationalError('connection refused')
    monkeypatch.setattr(pg, 'connect', refuse)
    with pytest.raises(pg.ServerCheckError) as e:
        pg.server_health({}, 1)
    assert e.value.stage == 'connect' and 'refused' in str(e.value.cause)
    monkeypatch.setattr(pg, 'connect', lambda params, **kw: _Conn(fail_on='pg_locks'))
    with pytest.raises(pg.ServerCheckError) as e:
        pg.server_health({}, 1)
    assert e.value.stage == 'query'


def test_the_probe_words_each_stage_and_hides_the_password(monkeypatch):
    def refuse(params, **kw):
        raise psycopg.OperationalError('password authentication failed: s3cr3t-pw')
    monkeypatch.setattr(pg, 'connect', refuse)
    check = {'name': 'db', 'type': 'postgres', 'timeout': 1.0, 'login_host': '127.0.0.1', 'login_user': 'u',
             'login_password': 's3cr3t-pw'}
    with pytest.raises(health.ProbeError, match='Could not connect to postgres u@127.0.0.1') as e:
        health_postgres.run(check)
    assert 's3cr3t-pw' not in str(e.value)
    monkeypatch.setattr(pg, 'connect', lambda params, **kw: _Conn(fail_on='pg_locks'))
    with pytest.raises(health.ProbeError, match='Could not query postgres u@127.0.0.1'):
        health_postgres.run(check)


class _Redis(object):
    def __init__(self, info, config=None, fail=False):
        self._info = info
        self._config = config
        self.fail = fail
        self.closed = False

    def ping(self):
        if self.fail:
            raise redis.ConnectionError('Error 111 connecting')
        return True

    def info(self):
        return self._info

    def config_get(self, name):
        if self._config is None:
            raise redis.ResponseError("NOPERM this user has no permissions to run the 'config|get' command")
        return self._config

    def close(self):
        self.closed = True


INFO = {'redis_version': '7.0.15', 'role': 'master', 'used_memory': '1000', 'maxmemory': '4000',
        'keyspace_hits': 3, 'keyspace_misses': 1, 'evicted_keys': 0, 'connected_clients': 5}


def test_redis_facts_and_maxclients_from_config(monkeypatch):
    client = _Redis(INFO, config={'maxclients': '10'})
    monkeypatch.setattr(rc, 'make_client', lambda params, **extra: client)
    facts = rc.server_health({}, clock=_Clock(1.0, 1.5, 1.75))
    assert facts == {'connect_s': 0.5, 'latency_s': 0.25, 'redis_version': '7.0.15', 'role': 'master',
                     'used_memory': 1000, 'maxmemory': 4000, 'keyspace_hits': 3, 'keyspace_misses': 1,
                     'evicted_keys': 0, 'connected_clients': 5, 'maxclients': 10}
    assert client.closed
    monkeypatch.setattr(rc, 'make_client', lambda params, **extra: _Redis(INFO, config={'maxclients': '10'}))
    metrics = health_redis.run({'name': 'r', 'type': 'redis', 'timeout': 1.0}).metrics
    assert metrics['memory_pct'] == 25.0 and metrics['hit_rate'] == 75.0 and metrics['clients_pct'] == 50.0


def test_redis_maxclients_denied_and_unreachable(monkeypatch):
    monkeypatch.setattr(rc, 'make_client', lambda params, **extra: _Redis(dict(INFO)))
    assert rc.server_health({})['maxclients'] is None
    client = _Redis(INFO, fail=True)
    monkeypatch.setattr(rc, 'make_client', lambda params, **extra: client)
    with pytest.raises(redis.ConnectionError):
        rc.server_health({})
    assert client.closed
    with pytest.raises(health.ProbeError, match='Could not query redis redis://127.0.0.1:6379/0'):
        health_redis.run({'name': 'r', 'type': 'redis', 'timeout': 1.0})
