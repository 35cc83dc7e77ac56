# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared PostgreSQL connection handling for runbook.ops modules.

One argument spec (matching ``doc_fragments/postgres.py``), one way to build
psycopg connection parameters, and one way to build a libpq environment for
the command-line tools (pg_dump, pg_restore, psql) so that the password is
passed through the environment and never on argv.
"""

from __future__ import annotations

import time

from ansible_collections.runbook.ops.plugins.module_utils import _lazy

# psycopg is imported on first use
HAS_PSYCOPG, PSYCOPG_IMP_ERR = _lazy.available('psycopg')
psycopg = _lazy.module('psycopg')
sql = _lazy.module('psycopg.sql')

from ansible_collections.runbook.ops.plugins.module_utils import redaction

SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']


def postgres_argument_spec():
    """Connection options shared by every PostgreSQL module (see the doc fragment)."""
    return dict(
        login_host=dict(type='str', default='localhost'),
        login_port=dict(type='int', default=5432),
        login_user=dict(type='str', default='postgres'),
        login_password=dict(type='str', no_log=True),
        login_unix_socket=dict(type='path'),
        ssl_mode=dict(type='str', default='prefer', choices=SSL_MODES),
        ca_cert=dict(type='path'),
        connect_timeout=dict(type='int', default=10),
    )


POSTGRES_OPTION_NAMES = tuple(postgres_argument_spec())


def connect_kwargs(params, dbname=None, application_name='runbook.ops'):
    """Keyword arguments for ``psycopg.connect`` built from module params.

    ``params`` is any mapping holding the keys of :func:`postgres_argument_spec`
    (missing keys take the defaults).  ``dbname`` overrides ``login_db``/``db``.
    """
    defaults = {k: v.get('default') for k, v in postgres_argument_spec().items()}
    p = dict(defaults)
    p.update({k: v for k, v in params.items() if v is not None})
    host = p.get('login_unix_socket') or p.get('login_host')
    kwargs = {
        'host': host,
        'port': int(p['login_port']),
        'user': p['login_user'],
        'dbname': dbname or p.get('login_db') or p.get('db') or 'postgres',
        'sslmode': p['ssl_mode'],
        'connect_timeout': int(p['connect_timeout']),
        'application_name': application_name,
    }
    if p.get('login_password'):
        kwargs['password'] = p['login_password']
    if p.get('ca_cert'):
        kwargs['sslrootcert'] = p['ca_cert']
    return kwargs


def connect(params, dbname=None, autocommit=True, application_name='runbook.ops'):
    """Open a psycopg connection; raises ``psycopg.Error`` on failure."""
    return psycopg.connect(autocommit=autocommit,
                           **connect_kwargs(params, dbname=dbname, application_name=application_name))


def libpq_environment(params, dbname=None):
    """Environment variables for libpq tools (pg_dump, pg_restore, psql).

    The password travels in ``PGPASSWORD`` through ``run_command(environ_update=...)``,
    never on the command line where ``ps`` would show it.
    """
    kw = connect_kwargs(params, dbname=dbname)
    env = {
        'PGHOST': str(kw['host']),
        'PGPORT': str(kw['port']),
        'PGUSER': str(kw['user']),
        'PGDATABASE': str(kw['dbname']),
        'PGSSLMODE': str(kw['sslmode']),
        'PGCONNECT_TIMEOUT': str(kw['connect_timeout']),
        'PGAPPNAME': str(kw['application_name']),
    }
    if kw.get('password'):
        env['PGPASSWORD'] = kw['password']
    if kw.get('sslrootcert'):
        env['PGSSLROOTCERT'] = kw['sslrootcert']
    return env


def describe_target(params, dbname=None):
    """A redacted ``user@host:port/db`` string, safe for messages and results."""
    kw = connect_kwargs(params, dbname=dbname)
    return '%s@%s:%s/%s' % (kw['user'], kw['host'], kw['port'], kw['dbname'])


def redact(text, params):
    """Remove the password from an error text (libpq sometimes echoes conninfo)."""
    return redaction.mask(text, [params.get('login_password')] if params else ())


# ---------------------------------------------------------------------------------------------
# server health (the facts health_check's postgres probe grades)

SERVER_STATS_SQL = """
SELECT current_setting('max_connections')::int,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
       (SELECT coalesce(max(extract(epoch FROM clock_timestamp() - query_start)), 0)::float8
          FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND state <> 'idle' AND pid <> pg_backend_pid()),
       (SELECT count(*) FROM pg_locks WHERE NOT granted),
       pg_is_in_recovery(),
       current_setting('server_version')
"""
PRIMARY_REPLICATION_SQL = """
SELECT count(*),
       max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))::float8,
       -- replay_lag turns NULL once a replica has caught up and the primary is idle: caught up is 0 s, not unknown
       max(coalesce(extract(epoch FROM replay_lag),
                    CASE WHEN replay_lsn = pg_current_wal_lsn() THEN 0 END))::float8
  FROM pg_stat_replication
"""
REPLICA_REPLICATION_SQL = """
SELECT pg_wal_lsn_diff(received, replayed)::float8,
       CASE WHEN received = replayed THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END::float8
  FROM (SELECT pg_last_wal_receive_lsn() AS received, pg_last_wal_replay_lsn() AS replayed) AS positions
"""


class ServerCheckError(Exception):
    """A failed stage of :func:`server_health`: ``stage`` is ``connect`` or ``query``, ``cause`` the psycopg error."""

    def __init__(self, stage, cause):
        super(ServerCheckError, self).__init__(str(cause))
        self.stage = stage
        self.cause = cause


def server_health(params, statement_timeout_s, dbname=None, application_name='runbook.ops', clock=time.monotonic):
    """Connect, time the connection and one round trip, and read the server's load and replication state.

    Returns ``{connect_s, latency_s, server_version, in_recovery, max_connections, connections,
    longest_query_s, ungranted_locks, replicas (None on a replica), replication_lag_bytes, replication_lag_s}``
    (lags None when there is nothing to measure). Raises :class:`ServerCheckError`.
    """
    start = clock()
    try:
        conn = connect(params, dbname=dbname, autocommit=True, application_name=application_name)
    except psycopg.Error as exc:
        raise ServerCheckError('connect', exc)
    try:
        with conn:
            connected = clock()
            conn.execute('SELECT 1').fetchone()
            latency = clock() - connected
            conn.execute('SELECT set_config(%s, %s, false)', ('statement_timeout', str(int(statement_timeout_s * 1000))))
            max_conn, conns, longest, ungranted, in_recovery, version = conn.execute(SERVER_STATS_SQL).fetchone()
            if in_recovery:
                lag_bytes, lag_s = conn.execute(REPLICA_REPLICATION_SQL).fetchone()
                replicas = None
            else:
                replicas, lag_bytes, lag_s = conn.execute(PRIMARY_REPLICATION_SQL).fetchone()
    except psycopg.Error as exc:
        raise ServerCheckError('query', exc)
    return {
        'connect_s': connected - start,
        'latency_s': latency,
        'server_version': version,
        'in_recovery': bool(in_recovery),
        'max_connections': max_conn,
        'connections': conns,
        'longest_query_s': round(float(longest or 0), 3),
        'ungranted_locks': ungranted,
        'replicas': replicas,
        'replication_lag_bytes': None if lag_bytes is None else int(lag_bytes),
        'replication_lag_s': None if lag_s is None else round(float(lag_s), 3),
    }
