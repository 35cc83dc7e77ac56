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

import traceback

PSYCOPG_IMP_ERR = None
try:
    import psycopg  # noqa: F401  pylint: disable=unused-import
    from psycopg import sql  # noqa: F401  pylint: disable=unused-import
    HAS_PSYCOPG = True
except ImportError:
    PSYCOPG_IMP_ERR = traceback.format_exc()
    HAS_PSYCOPG = False

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
