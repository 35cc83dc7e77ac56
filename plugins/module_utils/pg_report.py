# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The read-only PostgreSQL diagnostics behind ``db_report``: what an on-call engineer asks first.

Slow queries (pg_stat_statements, when the extension is there), index usage and unused indexes, probable
missing indexes, connections by state and by application, idle connections older than a threshold, table
and index sizes, dead tuples, the WAL position and the archiver's state.  Every section is one query run in a
``READ ONLY`` transaction with a statement timeout, always rolled back; a section that fails (a missing
privilege, a timeout) is reported in ``errors`` and the others still run.
"""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils import postgres as pg_utils

SECTIONS = ('slow_queries', 'indexes', 'missing_indexes', 'connections', 'idle_connections', 'tables',
            'dead_tuples', 'wal')
MAX_QUERY_TEXT = 500


class ReportError(Exception):
    """The report could not be made at all (no connection)."""


def _ms(value):
    return None if value is None else round(float(value), 3)


def _age(value):
    return None if value is None else round(float(value), 3)


SQL = {
    'statements_schema': """
SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_stat_statements'""",
    # {schema} is a psycopg.sql.Identifier; PostgreSQL 13 renamed total_time/mean_time to *_exec_time
    'slow_queries': """
SELECT s.queryid, s.query, s.calls, s.{total} AS total_ms, s.{mean} AS mean_ms, s.rows,
       d.datname, pg_catalog.pg_get_userbyid(s.userid) AS username
FROM {schema}.pg_stat_statements s LEFT JOIN pg_catalog.pg_database d ON d.oid = s.dbid
WHERE s.calls > 0
ORDER BY {order} DESC NULLS LAST
LIMIT %(limit)s""",
    'indexes': """
SELECT s.schemaname, s.relname, s.indexrelname, s.idx_scan, pg_catalog.pg_relation_size(s.indexrelid) AS size_bytes,
       i.indisunique, i.indisprimary, i.indisvalid
FROM pg_catalog.pg_stat_user_indexes s JOIN pg_catalog.pg_index i ON i.indexrelid = s.indexrelid
ORDER BY pg_catalog.pg_relation_size(s.indexrelid) DESC, s.schemaname, s.indexrelname""",
    'missing_indexes': """
SELECT schemaname, relname, seq_scan, seq_tup_read, COALESCE(idx_scan, 0) AS idx_scan, n_live_tup,
       pg_catalog.pg_total_relation_size(relid) AS size_bytes
FROM pg_catalog.pg_stat_user_tables
WHERE n_live_tup >= %(min_rows)s AND seq_scan > COALESCE(idx_scan, 0) AND seq_scan > 0
ORDER BY seq_tup_read DESC
LIMIT %(limit)s""",
    'connections': """
SELECT COALESCE(datname, '') AS datname, COALESCE(usename, '') AS usename, COALESCE(application_name, '') AS app,
       COALESCE(state, backend_type) AS state, count(*) AS n
FROM pg_catalog.pg_stat_activity
WHERE backend_type = 'client backend'
GROUP BY 1, 2, 3, 4""",
    'max_connections': "SELECT pg_catalog.current_setting('max_connections')::int",
    'idle_connections': """
SELECT pid, datname, usename, application_name, client_addr::text,
       EXTRACT(EPOCH FROM (pg_catalog.now() - state_change)) AS idle_s,
       EXTRACT(EPOCH FROM (pg_catalog.now() - backend_start)) AS connected_s
FROM pg_catalog.pg_stat_activity
WHERE backend_type = 'client backend' AND state = 'idle' AND pid <> pg_catalog.pg_backend_pid()
  AND pg_catalog.now() - state_change > pg_catalog.make_interval(secs => %(idle_s)s)
ORDER BY state_change
LIMIT %(limit)s""",
    'tables': """
SELECT n.nspname, c.relname, pg_catalog.pg_total_relation_size(c.oid) AS total_bytes,
       pg_catalog.pg_relation_size(c.oid) AS table_bytes, pg_catalog.pg_indexes_size(c.oid) AS index_bytes,
       c.reltuples::bigint AS estimated_rows
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%%'
ORDER BY pg_catalog.pg_total_relation_size(c.oid) DESC
LIMIT %(limit)s""",
    'dead_tuples': """
SELECT schemaname, relname, n_live_tup, n_dead_tup, last_autovacuum, last_vacuum, last_autoanalyze
FROM pg_catalog.pg_stat_user_tables
WHERE n_dead_tup > 0
ORDER BY n_dead_tup DESC
LIMIT %(limit)s""",
    'wal': """
SELECT pg_catalog.pg_is_in_recovery() AS in_recovery,
       CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL ELSE pg_catalog.pg_current_wal_lsn()::text END AS lsn,
       CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()::text END AS replay_lsn,
       pg_catalog.current_setting('archive_mode') AS archive_mode""",
    'archiver': """
SELECT archived_count, last_archived_wal,
       EXTRACT(EPOCH FROM (pg_catalog.now() - last_archived_time)) AS last_archived_age_s,
       failed_count, last_failed_wal,
       EXTRACT(EPOCH FROM (pg_catalog.now() - last_failed_time)) AS last_failed_age_s
FROM pg_catalog.pg_stat_archiver""",
}


def summarize_connections(rows, max_connections):
    """``connections`` section from ``(datname, usename, app, state, n)`` rows."""
    by_state, by_app, by_db = {}, {}, {}
    total = 0
    for datname, dummy, app, state, n in rows:
        total += n
        by_state[state or 'unknown'] = by_state.get(state or 'unknown', 0) + n
        by_app[app or '(none)'] = by_app.get(app or '(none)', 0) + n
        by_db[datname or '(none)'] = by_db.get(datname or '(none)', 0) + n
    return {
        'total': total,
        'max_connections': max_connections,
        'used_pct': round(100.0 * total / max_connections, 2) if max_connections else None,
        'by_state': by_state,
        'by_application': by_app,
        'by_database': by_db,
    }


def classify_indexes(rows, min_size_bytes=0):
    """``(all, unused)`` from the ``indexes`` query: unused = never scanned, not backing a unique or primary
    key (those enforce a rule even when never read), valid, and at least ``min_size_bytes``."""
    all_indexes, unused = [], []
    for schema, table, index, scans, size, unique, primary, valid in rows:
        item = {'schema': schema, 'table': table, 'index': index, 'scans': scans, 'size_bytes': size,
                'unique': unique, 'primary': primary, 'valid': valid}
        all_indexes.append(item)
        if scans == 0 and not unique and not primary and valid and size >= min_size_bytes:
            unused.append(item)
    return all_indexes, unused


def short_query(text, limit=MAX_QUERY_TEXT):
    text = ' '.join(str(text or '').split())
    return text if len(text) <= limit else text[:limit - 3] + '...'


class Reporter(object):
    """One connection, one read-only transaction per section (steps as methods, like Maintenance)."""

    def __init__(self, params, conn=None):
        self.params = params
        self.conn = conn
        self.errors = []
        self.notes = []

    def open(self):
        if self.conn is None:
            try:
                self.conn = pg_utils.connect(self.params, dbname=self.params.get('db'), autocommit=True,
                                             application_name='runbook.ops db_report')
            except Exception as exc:  # pylint: disable=broad-except
                raise ReportError('Could not connect to %s: %s. Check the login_* options and that the server '
                                  'accepts connections.' % (pg_utils.describe_target(self.params, self.params.get('db')),
                                                            pg_utils.redact(str(exc).strip(), self.params)))
        with self.conn.cursor() as cur:
            cur.execute("SET default_transaction_read_only = on")
            cur.execute("SELECT pg_catalog.set_config('statement_timeout', %s, false)",
                        (str(self.params.get('statement_timeout') or '30s'),))

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # pylint: disable=broad-except
                pass

    def query(self, sql_text, args=None, section='?'):
        """Rows of one query in its own READ ONLY transaction, rolled back; None (and an error) on failure."""
        try:
            with self.conn.transaction(force_rollback=True):
                with self.conn.cursor() as cur:
                    cur.execute("SET TRANSACTION READ ONLY")
                    cur.execute(sql_text, args or {})
                    return cur.fetchall()
        except Exception as exc:  # pylint: disable=broad-except
            self.errors.append({'section': section,
                                'error': pg_utils.redact(' '.join(str(exc).split()), self.params)})
            return None

    # ----------------------------------------------------------------- sections

    def slow_queries(self):
        rows = self.query(SQL['statements_schema'], section='slow_queries')
        if rows is None:
            return None
        if not rows:
            self.notes.append('pg_stat_statements is not installed in database %s: no slow query list. Add it '
                              'to shared_preload_libraries, restart, and run CREATE EXTENSION pg_stat_statements.'
                              % (self.params.get('db') or 'postgres'))
            return {'available': False, 'by_mean': [], 'by_total': []}
        sql = pg_utils.sql
        version = self.conn.info.server_version
        total, mean = ('total_exec_time', 'mean_exec_time') if version >= 130000 else ('total_time', 'mean_time')
        result = {'available': True}
        for key, order in (('by_mean', mean), ('by_total', total)):
            statement = sql.SQL(SQL['slow_queries']).format(
                schema=sql.Identifier(rows[0][0]), total=sql.Identifier(total), mean=sql.Identifier(mean),
                order=sql.Identifier('s', order))
            found = self.query(statement, {'limit': self.params['top']}, section='slow_queries')
            if found is None:
                return None
            result[key] = [{'queryid': q, 'query': short_query(text), 'calls': calls, 'total_ms': _ms(tot),
                            'mean_ms': _ms(avg), 'rows': n, 'database': db, 'user': user}
                           for q, text, calls, tot, avg, n, db, user in found]
        return result

    def indexes(self):
        rows = self.query(SQL['indexes'], section='indexes')
        if rows is None:
            return None
        all_indexes, unused = classify_indexes(rows, self.params['unused_index_min_bytes'])
        return {'count': len(all_indexes), 'unused': unused[:self.params['top']],
                'unused_count': len(unused), 'unused_bytes': sum(i['size_bytes'] for i in unused),
                'largest': all_indexes[:self.params['top']]}

    def missing_indexes(self):
        rows = self.query(SQL['missing_indexes'], {'min_rows': self.params['seq_scan_min_rows'],
                                                   'limit': self.params['top']}, section='missing_indexes')
        if rows is None:
            return None
        return [{'schema': s, 'table': t, 'seq_scan': seq, 'seq_tup_read': read, 'idx_scan': idx, 'live_rows': live,
                 'size_bytes': size} for s, t, seq, read, idx, live, size in rows]

    def connections(self):
        rows = self.query(SQL['connections'], section='connections')
        limit = self.query(SQL['max_connections'], section='connections')
        if rows is None or limit is None:
            return None
        return summarize_connections(rows, limit[0][0])

    def idle_connections(self):
        rows = self.query(SQL['idle_connections'], {'idle_s': float(self.params['idle_threshold_s']),
                                                    'limit': self.params['top']}, section='idle_connections')
        if rows is None:
            return None
        return [{'pid': pid, 'database': db, 'user': user, 'application': app, 'client_addr': addr,
                 'idle_s': _age(idle), 'connected_s': _age(conn)} for pid, db, user, app, addr, idle, conn in rows]

    def tables(self):
        rows = self.query(SQL['tables'], {'limit': self.params['top']}, section='tables')
        if rows is None:
            return None
        return [{'schema': s, 'table': t, 'total_bytes': tot, 'table_bytes': tb, 'index_bytes': ib,
                 'estimated_rows': max(est, 0) if est is not None else None} for s, t, tot, tb, ib, est in rows]

    def dead_tuples(self):
        rows = self.query(SQL['dead_tuples'], {'limit': self.params['top']}, section='dead_tuples')
        if rows is None:
            return None
        return [{'schema': s, 'table': t, 'live': live, 'dead': dead,
                 'dead_pct': round(100.0 * dead / (live + dead), 2) if live + dead else 0.0,
                 'last_autovacuum': av.isoformat() if av else None, 'last_vacuum': v.isoformat() if v else None,
                 'last_autoanalyze': aa.isoformat() if aa else None}
                for s, t, live, dead, av, v, aa in rows]

    def wal(self):
        rows = self.query(SQL['wal'], section='wal')
        if rows is None:
            return None
        in_recovery, lsn, replay_lsn, archive_mode = rows[0]
        result = {'in_recovery': in_recovery, 'lsn': lsn, 'replay_lsn': replay_lsn, 'archive_mode': archive_mode,
                  'archiver': None}
        if archive_mode in ('on', 'always'):
            arch = self.query(SQL['archiver'], section='wal')
            if arch:
                count, last_wal, last_age, failed, failed_wal, failed_age = arch[0]
                result['archiver'] = {'archived_count': count, 'last_archived_wal': last_wal,
                                      'last_archived_age_s': _age(last_age), 'failed_count': failed,
                                      'last_failed_wal': failed_wal, 'last_failed_age_s': _age(failed_age)}
        return result

    def run(self):
        self.open()
        try:
            report = {}
            for section in SECTIONS:
                if section in self.params['sections']:
                    report[section] = getattr(self, section)()
            with self.conn.cursor() as cur:
                cur.execute('SELECT pg_catalog.version()')
                report['server_version'] = cur.fetchone()[0]
        finally:
            self.close()
        report['target'] = pg_utils.describe_target(self.params, self.params.get('db'))
        report['errors'] = self.errors
        report['notes'] = self.notes
        return report
