# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the db_maintenance integration tests.

``fresh_db(server, prefix)``: a new, uniquely named database on a conftest ``PostgresServer``.
``Holder``: a separate psycopg session (own application_name / user) that can sit ``idle in transaction``,
hold a table lock, or run a long query in a thread; the tests check whether db_maintenance killed it.
``dead_tuples`` / ``relation_size`` / ``table_exists``: independent checks through psql.
``args`` / ``direct``: db_maintenance's options for a server and database, and its logic run in-process (faster than
a full ansible run; the module itself runs in other tests). ``wait_for``: poll a predicate until true or a timeout.
"""

from __future__ import annotations

import secrets
import threading
import time

import psycopg

from ansible_collections.runbook.ops.plugins.module_utils import pg_maintenance as pm
from ansible_collections.runbook.ops.plugins.modules.db_maintenance import argument_spec


def args(server, db, **extra):
    a = dict(server.params, db=db)
    a.update(extra)
    return a


def direct(server, db, check_mode=False, **extra):
    """db_maintenance's logic in-process with the module's defaults."""
    params = {k: v.get('default') for k, v in argument_spec().items()}
    params.update(args(server, db, **extra))
    return pm.Maintenance(params, check_mode=check_mode).run()


def wait_for(predicate, timeout=30.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def fresh_db(server, prefix='maint'):
    name = '%s_%s' % (prefix, secrets.token_hex(4))
    server.psql('CREATE DATABASE %s' % name)
    return name


def dead_tuples(server, db, schema, table):
    """n_dead_tup through psql (stats of the server, not through our code)."""
    out = server.psql("SELECT pg_stat_clear_snapshot(); SELECT n_dead_tup FROM pg_stat_user_tables "
                      "WHERE schemaname = '%s' AND relname = '%s'" % (schema, table.replace("'", "''")), db=db)
    return int(out.splitlines()[-1])


def relation_size(server, db, schema, name):
    return int(server.psql("SELECT pg_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON "
                           "n.oid = c.relnamespace WHERE n.nspname = '%s' AND c.relname = '%s'"
                           % (schema, name.replace("'", "''")), db=db))


def table_exists(server, db, schema, table):
    return server.psql("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE n.nspname = '%s' AND c.relname = '%s'" % (schema, table.replace("'", "''")),
                       db=db) == '1'


def backend_alive(server, pid):
    return server.psql('SELECT count(*) FROM pg_stat_activity WHERE pid = %d' % pid) == '1'


class Holder(object):
    """A client session of its own; ``pid`` is its backend pid."""

    def __init__(self, server, db, application_name='holder', user='postgres', password=None):
        self.conn = psycopg.connect(host='127.0.0.1', port=server.port, user=user,
                                    password=password or server.password, dbname=db, sslmode='disable',
                                    application_name=application_name, autocommit=True)
        self.pid = self.conn.info.backend_pid
        self.thread = None
        self.error = None

    def idle_in_transaction(self, statement='SELECT 1'):
        self.conn.execute('BEGIN')
        self.conn.execute(statement)
        return self

    def run_in_thread(self, statement):
        """Run a (long) statement in a thread; its error, if any, lands in ``self.error``."""
        def target():
            try:
                self.conn.execute(statement)
            except psycopg.Error as e:
                self.error = e
        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        return self

    def alive(self):
        try:
            self.conn.execute('SELECT 1')
            return True
        except psycopg.Error:
            return False

    def close(self):
        if self.thread is not None:
            self.thread.join(15)
        try:
            self.conn.close()
        except psycopg.Error:
            pass
