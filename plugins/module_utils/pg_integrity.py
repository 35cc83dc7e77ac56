# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Data integrity checks (logic of ``runbook.ops.db_integrity``).

Two kinds of checks, both read-only:

* SQL assertions ``{name, db, query, expect}``: the query's rows are compared with ``expect``
  (:func:`compare_rows`): a scalar needs exactly one row of one column equal to it; a list is compared
  row by row, each expected row a list of values in column order, or a dict column -> value.
* row counts: each table of the newest valid backup manifest of a database (read through
  ``backup_store``) is counted now and compared with the manifest (:func:`compare_row_counts`);
  a table off by more than ``tolerance_pct`` percent of the manifest's count, or missing, fails.

Every query runs on a connection whose session default is ``default_transaction_read_only=on`` with
``statement_timeout`` set, inside a transaction opened ``BEGIN READ ONLY`` by psycopg and always rolled
back. An assertion is one statement, sent through the extended query protocol (a prepared statement), so
``COMMIT; DELETE ...`` cannot leave the read-only transaction. Identifiers reach SQL only through
``psycopg.sql.Identifier``; values are parameters.

Pure helpers (unit-tested): :func:`compare_rows`, :func:`compare_row_counts`, :func:`row_count_entry`,
:func:`integrity_failures`, :func:`jsonable`, :func:`validate_statement_timeout`.
"""

from __future__ import annotations

import datetime
import decimal
import json
import numbers
import re

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils.postgres import (
    HAS_PSYCOPG, connect, describe_target, redact)

if HAS_PSYCOPG:
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row

APPLICATION_NAME = 'runbook.ops.db_integrity'
TIMEOUT_RE = re.compile(r'^[0-9]+(ms|s|min|h)?$')


class IntegrityError(Exception):
    """A failure of the options or of the whole run, with a message ready for fail_json."""


# ---------------------------------------------------------------- pure helpers (unit-tested)

def validate_statement_timeout(value):
    """``value`` stripped when it is a PostgreSQL duration like ``500ms``, ``30s``, ``5min``, ``1h`` or ``0``."""
    text = '' if value is None else str(value).strip()
    if not TIMEOUT_RE.match(text):
        raise IntegrityError('Could not use statement_timeout=%r: it is not a duration. Use a whole number with an '
                             'optional unit among ms, s, min, h (for example 30s, 5min or 500ms).' % (value,))
    return text


def jsonable(value):
    """A value fetched by psycopg as it reads once returned by a module (Decimal -> float, times -> ISO text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.timedelta):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return dict((str(k), jsonable(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return '\\x' + bytes(value).hex()
    return str(value)


def _same(actual, expected):
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected or str(actual).lower() == str(expected).lower()
    if isinstance(actual, numbers.Number) and isinstance(expected, numbers.Number):
        return float(actual) == float(expected)
    if actual is None or expected is None:
        return actual is None and expected is None
    return actual == expected or str(actual) == str(expected)


def _rows_equal(actual, expected):
    if len(actual) != len(expected):
        return False
    for a, e in zip(actual, expected):
        if isinstance(e, dict):
            if set(a) != set(e) or not all(_same(a[k], e[k]) for k in e):
                return False
        else:
            e = list(e) if isinstance(e, (list, tuple)) else [e]
            values = list(a.values())
            if len(values) != len(e) or not all(_same(x, y) for x, y in zip(values, e)):
                return False
    return True


def compare_rows(rows, expect):
    """Compare a query's rows (a list of dicts column -> value) with ``expect``: {ok, actual, expect}.

    A scalar ``expect`` needs exactly one row of one column equal to it (numbers compare as numbers,
    booleans also as their text, anything else also as text); a list is compared row by row, in order
    (each expected row a list of values in column order, or a dict column -> value naming every column).
    """
    if isinstance(rows, dict):
        rows = [rows] if rows else []
    rows = list(rows or [])
    if isinstance(expect, (list, tuple)):
        ok = _rows_equal(rows, list(expect))
        as_dicts = bool(expect) and all(isinstance(e, dict) for e in expect)
        actual = rows if as_dicts else [list(r.values()) for r in rows]
    else:
        single = len(rows) == 1 and len(rows[0]) == 1
        actual = list(rows[0].values())[0] if single else [list(r.values()) for r in rows]
        ok = single and _same(actual, expect)
    return {'ok': ok, 'actual': actual, 'expect': expect}


def compare_row_counts(actual, manifest_tables, tolerance_pct=0, manifest_mode='exact'):
    """Each manifest table's rows versus now: [{schema, table, backup_rows, rows, diff_pct, ok, note}].

    ``actual`` is [{schema, table, rows}] (``rows`` None for a table that no longer exists, ``error`` set
    when it could not be counted). A table is ok when it differs from the manifest by at most
    ``tolerance_pct`` percent of the manifest's count (of 1 when the manifest counted 0 rows).
    Only exact counts are compared: a manifest written with ``row_counts: estimate`` or ``none`` (or a table
    whose count is null) gives no number to hold the table to, so the table is reported, not failed
    (a missing table still fails).
    """
    now = {}
    for r in actual or []:
        now[(r.get('schema'), r.get('table'))] = r
    tol = float(tolerance_pct or 0)
    out = []
    for t in manifest_tables or []:
        key = (t.get('schema'), t.get('table'))
        exact = (manifest_mode or 'exact') == 'exact' and t.get('rows') is not None
        expected = int(t.get('rows') or 0) if exact else t.get('rows')
        found = now.get(key) or {}
        rows = found.get('rows')
        if rows is None:
            out.append({'schema': key[0], 'table': key[1], 'backup_rows': expected, 'rows': None,
                        'diff_pct': None, 'ok': False, 'note': found.get('error') or 'table missing'})
            continue
        rows = int(rows)
        if not exact:
            out.append({'schema': key[0], 'table': key[1], 'backup_rows': expected, 'rows': rows,
                        'diff_pct': None, 'ok': True,
                        'note': 'not compared: the backup recorded no exact count (row_counts: %s)'
                                % (manifest_mode or 'exact')})
            continue
        diff = abs(rows - expected) * 100.0 / max(expected, 1)
        out.append({'schema': key[0], 'table': key[1], 'backup_rows': expected, 'rows': rows,
                    'diff_pct': round(diff, 2), 'ok': diff <= tol, 'note': ''})
    return out


def row_count_entry(db, selected, actual, tolerance_pct=0, error=''):
    """One database's row count report: {db, backup_id, backup_created_at, tolerance_pct, ok, error, tables}."""
    selected = selected or {}
    manifest = selected.get('manifest') or {}
    tables = compare_row_counts(actual, manifest.get('tables'), tolerance_pct, manifest.get('row_counts') or 'exact')
    return {'db': db, 'backup_id': selected.get('id'), 'backup_created_at': selected.get('created_at'),
            'tolerance_pct': float(tolerance_pct or 0), 'ok': not error and all(t['ok'] for t in tables),
            'error': error, 'tables': tables}


def _json(value):
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


def integrity_failures(assertions, row_counts=None, store_errors=None):
    """One line per failed assertion, database that could not be counted, table off, and store error."""
    lines = []
    for a in assertions or []:
        if not a.get('ok'):
            if a.get('error'):
                lines.append('assertion %s (db %s): %s' % (a.get('name'), a.get('db'), a['error']))
            else:
                lines.append('assertion %s (db %s): expected %s, got %s'
                             % (a.get('name'), a.get('db'), _json(a.get('expect')), _json(a.get('actual'))))
    for db in row_counts or []:
        if db.get('error'):
            lines.append('row counts of %s: %s' % (db.get('db'), db['error']))
        for t in db.get('tables') or []:
            if not t.get('ok'):
                what = t.get('note') or '%s rows now, %s in backup %s (%s%% off, tolerance %g%%)' % (
                    t.get('rows'), t.get('backup_rows'), db.get('backup_id'), t.get('diff_pct'), db.get('tolerance_pct'))
                lines.append('row count of %s.%s.%s: %s' % (db.get('db'), t.get('schema'), t.get('table'), what))
    lines.extend(store_errors or [])
    return lines


def summary(result):
    """The task's ``msg``."""
    if result['failures']:
        return 'Integrity check(s) failed: %s' % '; '.join(result['failures'])
    tables = sum(len(d.get('tables') or []) for d in result['row_counts'])
    return ('%d assertion(s) passed, %d failed; %d table(s) of %d database(s) match their backup; no backup to '
            'compare for %d database(s)' % (result['assertions_passed'], result['assertions_failed'], tables,
                                            len(result['row_counts']), len(result['no_backup_to_compare'])))


# ---------------------------------------------------------------- the run (integration-tested)

class Integrity(object):
    """Runs the checks of one task, one read-only connection per database."""

    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode
        self.timeout = validate_statement_timeout(params.get('statement_timeout'))
        self.tolerance = float(params.get('tolerance_pct') or 0)
        if self.tolerance < 0:
            raise IntegrityError('Could not use tolerance_pct=%s: it must be 0 or more.' % params.get('tolerance_pct'))
        self.conns = {}

    # -- connections

    def _error(self, exc):
        diag = getattr(exc, 'diag', None)
        text = getattr(diag, 'message_primary', None) or str(exc).strip()
        return redact(text, self.params)

    def connection(self, db):
        """A read-only connection to ``db``; raises IntegrityError (cached) when it cannot be opened."""
        conn = self.conns.get(db)
        if isinstance(conn, IntegrityError):
            raise conn
        if conn is None:
            try:
                conn = connect(self.params, dbname=db, autocommit=True, application_name=APPLICATION_NAME)
                # the session default, then every transaction psycopg opens: BEGIN READ ONLY
                conn.execute("SELECT set_config('default_transaction_read_only', 'on', false), "
                             "set_config('statement_timeout', %s, false)", [self.timeout])
                conn.read_only = True
                conn.autocommit = False
            except psycopg.Error as e:
                conn = IntegrityError('Could not connect read-only to %s: %s. Check the login options and that the '
                                      'database exists.' % (describe_target(self.params, db), self._error(e)))
                self.conns[db] = conn
                raise conn
            self.conns[db] = conn
        return conn

    def close(self):
        for conn in self.conns.values():
            if not isinstance(conn, IntegrityError):
                try:
                    conn.close()
                except psycopg.Error:
                    pass

    def _rollback(self, conn):
        try:
            conn.rollback()
        except psycopg.Error:
            pass

    # -- assertions

    def assertion(self, check):
        entry = {'name': check['name'], 'db': check['db'], 'expect': check.get('expect')}
        try:
            conn = self.connection(check['db'])
        except IntegrityError as e:
            entry.update(ok=False, actual=None, error=str(e))
            return entry
        try:
            with conn.cursor(row_factory=dict_row) as cur:
                # prepare=True: the extended protocol, which takes exactly one statement
                cur.execute(check['query'], prepare=True)
                rows = cur.fetchall() if cur.description else []
            rows = [dict((k, jsonable(v)) for k, v in r.items()) for r in rows]
            entry.update(compare_rows(rows, check.get('expect')))
            entry['error'] = ''
        except psycopg.Error as e:
            entry.update(ok=False, actual=None, error=self._error(e))
        finally:
            self._rollback(conn)
        return entry

    # -- row counts

    def count_tables(self, conn, tables):
        """[{schema, table, rows}] of ``tables`` in one read-only transaction (rows None when missing)."""
        out = []
        with conn.cursor() as cur:
            cur.execute('SELECT 1')    # opens the transaction: each table below is a savepoint in it
            for t in tables:
                schema, table = t.get('schema'), t.get('table')
                entry = {'schema': schema, 'table': table, 'rows': None}
                try:
                    with conn.transaction():
                        cur.execute('SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace '
                                    'n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s)',
                                    [schema, table])
                        if cur.fetchone()[0]:
                            cur.execute(sql.SQL('SELECT count(*) FROM {}.{}').format(
                                sql.Identifier(schema), sql.Identifier(table)))
                            entry['rows'] = int(cur.fetchone()[0])
                except psycopg.Error as e:
                    entry['error'] = 'could not count the rows: %s' % self._error(e)
                out.append(entry)
        return out

    def row_counts(self, databases, result):
        try:
            store = bs.open_store(self.params)
        except bs.StoreError as e:
            result['store_errors'].append('Could not open the backup store %s: %s. Check the store URL.'
                                          % (self.params.get('store'), e))
            return
        for db in databases:
            try:
                entries = bs.list_backups(store, database=db)
            except bs.StoreError as e:
                result['store_errors'].append('Could not list the backups of %s in %s: %s. Check the store URL, the '
                                              'endpoint and the credentials.' % (db, store.describe(), e))
                continue
            try:
                selected = bs.select_backup(entries, 'latest')
            except bs.StoreError:
                result['no_backup_to_compare'].append(db)
                continue
            tables = selected['manifest'].get('tables') or []
            error = ''
            actual = []
            try:
                conn = self.connection(db)
                try:
                    actual = self.count_tables(conn, tables)
                except psycopg.Error as e:
                    error = 'Could not count the rows of %s: %s.' % (db, self._error(e))
                finally:
                    self._rollback(conn)
            except IntegrityError as e:
                error = str(e)
            result['row_counts'].append(row_count_entry(db, selected, actual, self.tolerance, error))

    # -- the task

    def run(self):
        p = self.params
        databases = list(p.get('databases') or ([p['db']] if p.get('db') else []))
        checks = []
        for c in p.get('assertions') or []:
            db = c.get('db') or p.get('db')
            if not db:
                raise IntegrityError('Could not run the assertion %s: it names no db and the task has no db option. '
                                     'Give the assertion a db.' % c.get('name'))
            checks.append(dict(c, db=db))
        result = {'changed': False, 'assertions': [], 'row_counts': [], 'no_backup_to_compare': [],
                  'store_errors': []}
        try:
            for c in checks:
                result['assertions'].append(self.assertion(c))
            if p.get('row_counts'):
                self.row_counts(databases, result)
        finally:
            self.close()
        # not ``failed``: that key of a module result is Ansible's own
        result['assertions_passed'] = len([a for a in result['assertions'] if a['ok']])
        result['assertions_failed'] = len(result['assertions']) - result['assertions_passed']
        # in check mode the store may not exist yet (the backup phase did not write it): reported, not failed
        result['failures'] = integrity_failures(result['assertions'], result['row_counts'],
                                                [] if self.check_mode else result['store_errors'])
        result['msg'] = summary(result)
        return result


def run_integrity(params, check_mode=False):
    """Run the checks; returns the module result (see the module's RETURN). Raises IntegrityError."""
    return Integrity(params, check_mode=check_mode).run()
