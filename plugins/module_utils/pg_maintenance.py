# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL maintenance (logic of ``runbook.ops.db_maintenance``).

Order of work on one autocommit connection:

1. ``set_config('lock_timeout' / 'statement_timeout')`` for the session (values validated first);
2. ``pg_is_in_recovery()``: a standby is skipped or refused;
3. resolve the tables (an unknown one fails before anything is done) and read their sizes and tuples;
4. terminate sessions idle in transaction / plain idle / running for too long (never our own backend); each
   terminated session is reported with who it was, why, and the operator's ``terminate_reason``;
5. VACUUM (ANALYZE) / VACUUM / ANALYZE per table, a failed table (lock timeout) does not stop the others;
6. estimate the bloat of every btree index of those tables (pgstattuple's ``pgstatindex()`` when installed,
   otherwise the well-known statistics-based estimate) and REINDEX (CONCURRENTLY) those over both thresholds;
   a failed REINDEX CONCURRENTLY leaves an invalid ``<index>_ccnew`` copy, which is dropped and reported;
7. read sizes and tuples again.

Check mode runs 1-3, reads the sessions and the bloat, and returns the plan without changing anything.
Identifiers only ever reach SQL through ``psycopg.sql.Identifier``; values are parameters.
"""

from __future__ import annotations

import math
import re
import time

from ansible_collections.runbook.ops.plugins.module_utils.postgres import (
    HAS_PSYCOPG, connect, describe_target, redact)
from ansible_collections.runbook.ops.plugins.module_utils.redaction import MASK

if HAS_PSYCOPG:
    import psycopg
    from psycopg import sql

APPLICATION_NAME = 'runbook.ops.db_maintenance'
QUERY_CHARS = 200
TERMINATE_WAIT_S = 5.0
CLEANUP_ATTEMPTS = 3
IDLE_STATES = ('idle in transaction', 'idle in transaction (aborted)')
PLAIN_IDLE = 'idle'
TERMINATE_THRESHOLDS = ('terminate_idle_in_transaction_s', 'terminate_idle_s', 'terminate_running_longer_than_s')
TIMEOUT_RE = re.compile(r'^(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?$')
DEFAULT_FILLFACTOR = 90
# a password literal in a session's query text (CREATE/ALTER ROLE ... PASSWORD '...'), masked in results
PASSWORD_LITERAL_RE = re.compile(r"(\bPASSWORD\s+)(?:E?'(?:[^']|'')*'?|\$[^$]*\$.*)", re.IGNORECASE | re.DOTALL)


class MaintenanceError(Exception):
    """A failure with a message ready for fail_json; ``result`` holds what is known so far."""

    def __init__(self, msg, result=None):
        super(MaintenanceError, self).__init__(msg)
        self.result = result or {}


# ---------------------------------------------------------------- pure helpers (unit-tested)

def validate_timeout(name, value):
    """Return ``value`` stripped when it is a PostgreSQL duration (``0``, ``500ms``, ``5s``, ``1.5min``...)."""
    text = '' if value is None else str(value).strip()
    if not TIMEOUT_RE.match(text):
        raise MaintenanceError(
            'Could not use %s=%r: it is not a PostgreSQL duration. Use a number with an optional unit among '
            'us, ms, s, min, h, d (for example 5s, 500ms or 0 for no limit).' % (name, value))
    return text


def parse_table_name(name):
    """``table`` -> (``public``, ``table``); ``schema.table`` -> (schema, table).

    Names are taken literally (no case folding). A part may be double-quoted (``""`` for a quote)
    when it contains a dot: ``"my.schema"."my.table"``. Anything else, quotes and semicolons included,
    is just a character of the name.
    """
    if not isinstance(name, str) or name == '' or '\x00' in name:
        raise MaintenanceError('Could not use the table name %r: it is empty or holds a NUL byte. '
                               'Name tables as schema.table or table.' % (name,))
    parts = []
    i, n = 0, len(name)
    while True:
        if i < n and name[i] == '"':
            j, buf = i + 1, []
            while True:
                k = name.find('"', j)
                if k < 0:
                    # an unbalanced quote: the whole rest is a literal name
                    return _literal_parts(name)
                buf.append(name[j:k])
                if k + 1 < n and name[k + 1] == '"':
                    buf.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            parts.append(''.join(buf))
            if i < n and name[i] != '.':
                return _literal_parts(name)
        else:
            k = name.find('.', i)
            if k < 0:
                parts.append(name[i:])
                i = n
            else:
                parts.append(name[i:k])
                i = k
        if i >= n:
            break
        i += 1  # skip the dot
        if len(parts) >= 2:
            # more than two parts: keep the rest in the table name (schema.tab.le -> schema, "tab.le")
            parts[-1] = parts[-1] + '.' + name[i:]
            break
    if len(parts) == 1:
        return ('public', parts[0])
    if parts[0] == '' or parts[1] == '':
        raise MaintenanceError('Could not use the table name %r: an empty schema or table part. '
                               'Name tables as schema.table or table.' % (name,))
    return (parts[0], parts[1])


def _literal_parts(name):
    if '.' in name:
        schema, table = name.split('.', 1)
        return (schema, table)
    return ('public', name)


def display(schema, name):
    return '%s.%s' % (schema, name)


def vacuum_action(vacuum, analyze):
    if vacuum and analyze:
        return 'vacuum_analyze'
    if vacuum:
        return 'vacuum'
    if analyze:
        return 'analyze'
    return None


def table_plan(table, vacuum, analyze, min_dead):
    """The step for one table: ``(action, reason)`` or ``(None, reason)``."""
    dead = table.get('dead_tuples_before') or 0
    if vacuum and min_dead and dead < min_dead:
        if analyze:
            return 'analyze', '%d dead tuples < vacuum_min_dead_tuples %d: analyze only' % (dead, min_dead)
        return None, '%d dead tuples < vacuum_min_dead_tuples %d' % (dead, min_dead)
    action = vacuum_action(vacuum, analyze)
    if action is None:
        return None, 'vacuum and analyze are off'
    if vacuum and min_dead:
        return action, '%d dead tuples >= vacuum_min_dead_tuples %d' % (dead, min_dead)
    return action, '%d dead tuples' % dead if vacuum else 'refresh planner statistics'


def bloat_from_density(avg_leaf_density, fillfactor):
    """Bloat in % from pgstatindex's avg_leaf_density, relative to the density a fresh index has (fillfactor)."""
    ff = float(fillfactor or DEFAULT_FILLFACTOR)
    if avg_leaf_density is None or (isinstance(avg_leaf_density, float) and math.isnan(avg_leaf_density)):
        return 0.0
    return round(max(0.0, 100.0 * (1.0 - float(avg_leaf_density) / ff)), 1)


def fillfactor_of(reloptions):
    for opt in reloptions or []:
        if opt.startswith('fillfactor='):
            try:
                return int(opt.split('=', 1)[1])
            except ValueError:
                return DEFAULT_FILLFACTOR
    return DEFAULT_FILLFACTOR


def index_decision(index, reindex, min_bloat_pct, min_size_mb):
    """``(reindex?, reason)`` for an index dict with size_bytes_before, bloat_pct, bloat_method."""
    size_mb = (index.get('size_bytes_before') or 0) / 1048576.0
    if not reindex:
        return False, 'reindex is off'
    if index.get('size_bytes_before') is None:
        return False, 'size unknown (the index could not be read, locked?)'
    if index.get('bloat_method') == 'not_estimated' or index.get('bloat_pct') is None:
        return False, 'bloat not estimated: %s' % (index.get('bloat_note') or 'unknown')
    if size_mb < min_size_mb:
        return False, 'size %.2f MB < reindex_min_size_mb %g' % (size_mb, min_size_mb)
    if index['bloat_pct'] < min_bloat_pct:
        return False, 'bloat %.1f%% < reindex_min_bloat_pct %g' % (index['bloat_pct'], min_bloat_pct)
    return True, 'bloat %.1f%% >= %g%% and size %.2f MB >= %g MB (%s)' % (
        index['bloat_pct'], min_bloat_pct, size_mb, min_size_mb, index['bloat_method'])


def session_reason(row, idle_s, running_s, exclude_apps, exclude_users, own_pid, plain_idle_s=None):
    """Why a pg_stat_activity row should be terminated, or None.

    ``idle_s``: idle in transaction (or aborted) for longer; ``plain_idle_s``: state ``idle`` (a connection doing
    nothing, outside a transaction) for longer; ``running_s``: an ``active`` query running for longer. None turns a
    rule off. Our own backend and the excluded applications and users are never chosen.
    """
    if row['pid'] == own_pid:
        return None
    if row.get('application_name') in (exclude_apps or []):
        return None
    if row.get('user') in (exclude_users or []):
        return None
    state = row.get('state')
    if idle_s is not None and state in IDLE_STATES and row.get('state_s') is not None and row['state_s'] > idle_s:
        return '%s for %.0f s > terminate_idle_in_transaction_s %d' % (state, row['state_s'], idle_s)
    if (plain_idle_s is not None and state == PLAIN_IDLE and row.get('state_s') is not None
            and row['state_s'] > plain_idle_s):
        return 'idle for %.0f s > terminate_idle_s %d' % (row['state_s'], plain_idle_s)
    if running_s is not None and state == 'active' and row.get('query_s') is not None and row['query_s'] > running_s:
        return 'query running for %.0f s > terminate_running_longer_than_s %d' % (row['query_s'], running_s)
    return None


def session_duration(row):
    """Seconds in the state that made the session a candidate: the query's age when active, else the state's."""
    if row.get('state') == 'active':
        return row.get('query_s')
    return row.get('state_s')


def client_of(row):
    """``addr:port`` of a TCP client, ``local`` for a Unix-socket one (no address in pg_stat_activity)."""
    addr = row.get('client_addr')
    if not addr:
        return 'local'
    port = row.get('client_port')
    if port is None or port < 0:
        return str(addr)
    return '[%s]:%d' % (addr, port) if ':' in str(addr) else '%s:%d' % (addr, port)


def safe_query(text):
    """The first QUERY_CHARS characters of a session's query, with password literals masked."""
    return PASSWORD_LITERAL_RE.sub(lambda m: m.group(1) + MASK, text or '')[:QUERY_CHARS]


def terminated_entry(row, reason, terminate_reason):
    """The record of one session chosen for termination (plan and ``terminated``)."""
    return {'pid': row['pid'], 'user': row.get('user'), 'application_name': row.get('application_name'),
            'client': client_of(row), 'database': row.get('datname'), 'state': row.get('state'),
            'duration_s': _round(session_duration(row), 1), 'query': safe_query(row.get('query')),
            'reason': reason, 'terminate_reason': terminate_reason}


def maintenance_sql(action, schema, table):
    target = sql.Identifier(schema, table)
    if action == 'vacuum_analyze':
        return sql.SQL('VACUUM (ANALYZE) {}').format(target)
    if action == 'vacuum':
        return sql.SQL('VACUUM {}').format(target)
    if action == 'analyze':
        return sql.SQL('ANALYZE {}').format(target)
    raise ValueError(action)


def reindex_sql(schema, index, concurrently):
    if concurrently:
        return sql.SQL('REINDEX INDEX CONCURRENTLY {}').format(sql.Identifier(schema, index))
    return sql.SQL('REINDEX INDEX {}').format(sql.Identifier(schema, index))


def drop_index_sql(schema, index):
    return sql.SQL('DROP INDEX CONCURRENTLY IF EXISTS {}').format(sql.Identifier(schema, index))


def leftover_names(index, before, after):
    """Invalid copies a failed REINDEX CONCURRENTLY of ``index`` left: ``<index>_ccnew[N]`` / ``_ccold[N]``."""
    pat = re.compile(r'^' + re.escape(index[:58]) + r'.*_cc(new|old)[0-9]*$')
    return sorted(n for n in set(after) - set(before) if pat.match(n))


def _round(x, nd=3):
    return None if x is None else round(float(x), nd)


# ---------------------------------------------------------------- SQL

TABLES_SQL = """
SELECT c.oid, n.nspname, c.relname, c.relkind,
       coalesce(s.n_dead_tup, 0) AS dead, coalesce(s.n_live_tup, 0) AS live
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'm', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast'
  AND n.nspname !~ '^pg_temp_'
ORDER BY n.nspname, c.relname
"""

INDEXES_SQL = """
SELECT i.indexrelid, n.nspname, t.relname, c.relname, am.amname, i.indisvalid, c.reloptions
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE i.indrelid = ANY(%s::oid[]) AND c.relkind = 'i'
ORDER BY n.nspname, t.relname, c.relname
"""

INDEX_NAMES_SQL = """
SELECT c.relname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = %s::oid AND NOT i.indisvalid
"""

# The well-known btree bloat estimate (ioguix/pgsql-bloat-estimation, btree_bloat.sql) restricted to
# the given index oids. It needs planner statistics (pg_stats) of the indexed columns.
BTREE_ESTIMATE_SQL = """
SELECT idxoid, reltuples, relpages,
       CASE WHEN relpages > 0 THEN 100 * (relpages - est_pages_ff)::float8 / relpages ELSE 0 END AS bloat_pct,
       is_na
FROM (
  SELECT coalesce(1 + ceil(reltuples / floor((bs - pageopqdata - pagehdr) * fillfactor
                                             / (100 * (4 + nulldatahdrwidth)::float))), 0) AS est_pages_ff,
         idxoid, reltuples, relpages, is_na
  FROM (
    SELECT maxalign, bs, reltuples, relpages, idxoid, fillfactor,
           (index_tuple_hdr_bm
            + maxalign - CASE WHEN index_tuple_hdr_bm %% maxalign = 0 THEN maxalign
                              ELSE index_tuple_hdr_bm %% maxalign END
            + nulldatawidth
            + maxalign - CASE WHEN nulldatawidth = 0 THEN 0
                              WHEN nulldatawidth::integer %% maxalign = 0 THEN maxalign
                              ELSE nulldatawidth::integer %% maxalign END
           )::numeric AS nulldatahdrwidth,
           pagehdr, pageopqdata, is_na
    FROM (
      SELECT i.idxoid, i.reltuples, i.relpages, i.fillfactor,
             current_setting('block_size')::numeric AS bs,
             CASE WHEN version() ~ 'mingw32' OR version() ~ '64-bit|x86_64|ppc64|ia64|amd64'
                  THEN 8 ELSE 4 END AS maxalign,
             24 AS pagehdr,
             16 AS pageopqdata,
             CASE WHEN max(coalesce(s.null_frac, 0)) = 0 THEN 8
                  ELSE 8 + ((32 + 8 - 1) / 8) END AS index_tuple_hdr_bm,
             sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 1024)) AS nulldatawidth,
             max(CASE WHEN i.atttypid = 'pg_catalog.name'::regtype THEN 1 ELSE 0 END) > 0 AS is_na
      FROM (
        SELECT ct.relnamespace, ic.reltuples, ic.relpages, ic.idxoid, ic.fillfactor,
               coalesce(a1.attname, a2.attname) AS attname,
               coalesce(a1.atttypid, a2.atttypid) AS atttypid,
               CASE WHEN a1.attnum IS NULL THEN ic.idxname ELSE ct.relname END AS attrelname
        FROM (
          SELECT idxname, reltuples, relpages, tbloid, idxoid, fillfactor, indkey,
                 pg_catalog.generate_series(1, indnatts) AS attpos
          FROM (
            SELECT ci.relname AS idxname, ci.reltuples, ci.relpages, i.indrelid AS tbloid,
                   i.indexrelid AS idxoid,
                   coalesce(substring(array_to_string(ci.reloptions, ' ')
                                      FROM 'fillfactor=([0-9]+)')::smallint, 90) AS fillfactor,
                   i.indnatts,
                   pg_catalog.string_to_array(pg_catalog.textin(
                       pg_catalog.int2vectorout(i.indkey)), ' ')::int[] AS indkey
            FROM pg_catalog.pg_index i
            JOIN pg_catalog.pg_class ci ON ci.oid = i.indexrelid
            WHERE ci.relam = (SELECT oid FROM pg_catalog.pg_am WHERE amname = 'btree')
              AND ci.relpages > 0
              AND i.indexrelid = ANY(%s::oid[])
          ) AS idx_data
        ) AS ic
        JOIN pg_catalog.pg_class ct ON ct.oid = ic.tbloid
        LEFT JOIN pg_catalog.pg_attribute a1 ON ic.indkey[ic.attpos] <> 0
             AND a1.attrelid = ic.tbloid AND a1.attnum = ic.indkey[ic.attpos]
        LEFT JOIN pg_catalog.pg_attribute a2 ON ic.indkey[ic.attpos] = 0
             AND a2.attrelid = ic.idxoid AND a2.attnum = ic.attpos
      ) i
      JOIN pg_catalog.pg_namespace n ON n.oid = i.relnamespace
      JOIN pg_catalog.pg_stats s ON s.schemaname = n.nspname
                                AND s.tablename = i.attrelname
                                AND s.attname = i.attname
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ) AS rows_data_stats
  ) AS rows_hdr_pdg_stats
) AS relation_stats
"""

SESSIONS_SQL = """
SELECT pid, usename, application_name, state, datname,
       EXTRACT(EPOCH FROM (pg_catalog.now() - state_change))::float8 AS state_s,
       EXTRACT(EPOCH FROM (pg_catalog.now() - query_start))::float8 AS query_s,
       left(query, %s) AS query, host(client_addr) AS client_addr, client_port
FROM pg_catalog.pg_stat_activity
WHERE backend_type = 'client backend'
  AND pid <> pg_catalog.pg_backend_pid()
  AND state IN ('active', 'idle', 'idle in transaction', 'idle in transaction (aborted)')
  AND (%s OR datname = pg_catalog.current_database())
ORDER BY pid
"""


# ---------------------------------------------------------------- the run

class Maintenance(object):
    """One maintenance run on one database. ``conn`` may be given (tests); otherwise it is opened."""

    def __init__(self, params, check_mode=False, conn=None, clock=time.monotonic, sleep=time.sleep):
        self.params = params
        self.check_mode = check_mode
        self.conn = conn
        self.clock = clock
        self.sleep = sleep
        self.db = params['db']
        self.plan = []
        self.actions = []
        self.tables = []
        self.indexes = []
        self.terminated = []
        self.own_pid = None
        self.notices = []

    # -- database access (small methods, patched in unit tests)

    def _rows(self, query, args=None):
        with self.conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall() if cur.description else []

    def _execute(self, query, args=None):
        with self.conn.cursor() as cur:
            cur.execute(query, args)

    def open(self):
        if self.conn is None:
            self.conn = connect(self.params, dbname=self.db, autocommit=True, application_name=APPLICATION_NAME)
        if hasattr(self.conn, 'add_notice_handler'):
            self.conn.add_notice_handler(self._notice)

    def _notice(self, diag):
        if diag.severity in ('WARNING', 'ERROR') and diag.message_primary:
            self.notices.append(diag.message_primary)

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # pylint: disable=broad-except
                pass

    def set_timeouts(self, lock_timeout, statement_timeout):
        rows = self._rows(sql.SQL('SELECT pg_catalog.set_config({}, %s, false), pg_catalog.set_config({}, %s, false), '
                                  'pg_catalog.pg_backend_pid()').format(sql.Literal('lock_timeout'),
                                                                        sql.Literal('statement_timeout')),
                          (lock_timeout, statement_timeout))
        self.own_pid = rows[0][2]

    def in_recovery(self):
        return bool(self._rows('SELECT pg_catalog.pg_is_in_recovery()')[0][0])

    def fetch_tables(self):
        self._clear_stats_snapshot()
        return [{'oid': r[0], 'schema': r[1], 'table': r[2], 'relkind': r[3], 'dead_tuples': r[4],
                 'live_tuples': r[5]} for r in self._rows(TABLES_SQL)]

    def relation_size(self, oid, table=True):
        """pg_table_size / pg_relation_size of one relation, or None when it cannot be read (locked, gone).

        Reading a size takes an ACCESS SHARE lock: one query per relation, so that a table locked by someone
        else (waiting lock_timeout) costs only its own size.
        """
        func = 'pg_table_size' if table else 'pg_relation_size'
        try:
            rows = self._rows(sql.SQL('SELECT pg_catalog.{}(%s::oid)').format(sql.Identifier(func)), (oid,))
        except psycopg.Error:
            if self._broken():
                raise
            return None
        return rows[0][0] if rows else None

    def fetch_indexes(self, table_oids):
        if not table_oids:
            return []
        return [{'oid': r[0], 'schema': r[1], 'table': r[2], 'index': r[3], 'method': r[4],
                 'valid': r[5], 'fillfactor': fillfactor_of(r[6])}
                for r in self._rows(INDEXES_SQL, (list(table_oids),))]

    def invalid_index_names(self, table_oid):
        return [r[0] for r in self._rows(INDEX_NAMES_SQL, (table_oid,))]

    def pgstattuple_schema(self):
        rows = self._rows("SELECT n.nspname FROM pg_catalog.pg_extension e "
                          "JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pgstattuple'")
        return rows[0][0] if rows else None

    def pgstatindex_density(self, schema, index_oid):
        rows = self._rows(sql.SQL('SELECT avg_leaf_density FROM {}.pgstatindex(%s::oid::regclass)').format(
            sql.Identifier(schema)), (index_oid,))
        return rows[0][0]

    def btree_estimates(self, index_oids):
        if not index_oids:
            return {}
        return {r[0]: {'reltuples': r[1], 'relpages': r[2], 'bloat_pct': r[3], 'is_na': r[4]}
                for r in self._rows(BTREE_ESTIMATE_SQL, (list(index_oids),))}

    def fetch_sessions(self, cluster):
        return [{'pid': r[0], 'user': r[1], 'application_name': r[2], 'state': r[3], 'datname': r[4],
                 'state_s': r[5], 'query_s': r[6], 'query': r[7], 'client_addr': r[8], 'client_port': r[9]}
                for r in self._rows(SESSIONS_SQL, (QUERY_CHARS, cluster))]

    def terminate_backend(self, pid):
        return bool(self._rows('SELECT pg_catalog.pg_terminate_backend(%s)', (pid,))[0][0])

    def live_pids(self, pids):
        return [r[0] for r in self._rows('SELECT pid FROM pg_catalog.pg_stat_activity WHERE pid = ANY(%s)',
                                         (list(pids),))]

    def _clear_stats_snapshot(self):
        self._execute('SELECT pg_catalog.pg_stat_clear_snapshot()')

    # -- helpers

    def _broken(self):
        return bool(getattr(self.conn, 'broken', False)) or bool(getattr(self.conn, 'closed', False))

    def _error(self, exc):
        return redact(str(exc).strip(), self.params)

    def _step(self, action, target, reason, func):
        """Run one step and record it in ``actions``; returns the entry. Never raises psycopg errors."""
        entry = {'action': action, 'target': target, 'reason': reason, 'status': 'ok',
                 'duration_s': 0.0, 'error': None}
        if self._broken():
            entry.update(status='skipped', error='the connection to the server was lost before this step')
            self.actions.append(entry)
            return entry
        start = self.clock()
        del self.notices[:]
        try:
            outcome = func()
            if outcome is False:
                entry['status'] = 'skipped'
            elif any('skipping' in n for n in self.notices):
                # VACUUM/ANALYZE/REINDEX only warn ("permission denied to vacuum ..., skipping it") and do nothing
                entry.update(status='skipped', error=self._error('; '.join(self.notices)))
            elif self.notices:
                entry['warnings'] = [self._error(n) for n in self.notices]
        except psycopg.Error as e:
            entry.update(status='failed', error=self._error(e))
        entry['duration_s'] = _round(self.clock() - start)
        self.actions.append(entry)
        return entry

    # -- phases

    def resolve_tables(self, all_tables):
        requested = self.params.get('tables') or []
        by_name = {(t['schema'], t['table']): t for t in all_tables}
        if not requested:
            return [t for t in all_tables if t['relkind'] != 'p']
        selected, unknown, seen = [], [], set()
        for name in requested:
            key = parse_table_name(name)
            if key not in by_name:
                unknown.append(name)
            elif key not in seen:
                seen.add(key)
                selected.append(by_name[key])
        if unknown:
            raise MaintenanceError(
                'Could not run maintenance on %s: unknown table(s) %s. Nothing was done. Name existing tables as '
                'schema.table or table (public); names are case-sensitive.'
                % (describe_target(self.params, self.db), ', '.join(repr(u) for u in unknown)))
        return selected

    def sessions_to_terminate(self):
        idle_s = self.params.get('terminate_idle_in_transaction_s')
        running_s = self.params.get('terminate_running_longer_than_s')
        plain_idle_s = self.params.get('terminate_idle_s')
        if idle_s is None and running_s is None and plain_idle_s is None:
            return []
        rows = self.fetch_sessions(self.params.get('terminate_scope') == 'cluster')
        out = []
        for row in rows:
            reason = session_reason(row, idle_s, running_s, self.params.get('terminate_exclude_applications'),
                                    self.params.get('terminate_exclude_users'), self.own_pid,
                                    plain_idle_s=plain_idle_s)
            if reason:
                out.append((row, reason))
        return out

    def estimate_bloat(self, indexes):
        """Fill bloat_pct / bloat_method / bloat_note of each index dict (size_bytes_before set)."""
        min_size = float(self.params.get('reindex_min_size_mb') or 0) * 1048576.0
        schema = self.pgstattuple_schema()
        fallback = []
        for ix in indexes:
            ix.update(bloat_pct=None, bloat_method='not_estimated', bloat_note=None)
            if ix['method'] != 'btree':
                ix['bloat_note'] = 'only btree indexes are estimated (this one is %s)' % ix['method']
                continue
            if not ix['valid']:
                ix['bloat_note'] = 'invalid index'
                continue
            if schema and (ix['size_bytes_before'] or 0) >= min_size:
                try:
                    density = self.pgstatindex_density(schema, ix['oid'])
                    ix.update(bloat_pct=bloat_from_density(density, ix['fillfactor']), bloat_method='pgstattuple')
                    continue
                except psycopg.Error as e:
                    if self._broken():
                        raise
                    ix['bloat_note'] = 'pgstatindex failed (%s), estimated instead' % self._error(e)
            fallback.append(ix)
        estimates = self.btree_estimates([ix['oid'] for ix in fallback]) if fallback else {}
        for ix in fallback:
            est = estimates.get(ix['oid'])
            if est is None:
                ix['bloat_note'] = 'no planner statistics for its columns (run ANALYZE) or an empty index'
            elif est['reltuples'] is not None and est['reltuples'] < 0:
                ix['bloat_note'] = 'the table was never analyzed (run ANALYZE)'
            else:
                ix.update(bloat_pct=round(max(0.0, float(est['bloat_pct'])), 1), bloat_method='estimate')
                if est['is_na']:
                    ix['bloat_note'] = 'estimate is unreliable for columns of type name'

    def reindex_one(self, ix):
        schema, name = ix['schema'], ix['index']
        concurrently = self.params.get('reindex_concurrently', True)
        target = display(schema, name)
        before = self.invalid_index_names(ix['table_oid']) if concurrently else []
        entry = self._step('reindex', target, ix['reason'], lambda: self._execute(reindex_sql(schema, name, concurrently)))
        if entry['status'] == 'failed' and concurrently and not self._broken():
            entry['leftover_indexes'] = self.cleanup_leftovers(ix, before)
        return entry

    def cleanup_leftovers(self, ix, before):
        """Drop the invalid ``_ccnew``/``_ccold`` copies a failed REINDEX CONCURRENTLY left behind."""
        out = []
        try:
            names = leftover_names(ix['index'], before, self.invalid_index_names(ix['table_oid']))
        except psycopg.Error as e:
            return [{'index': None, 'dropped': False, 'error': self._error(e)}]
        for name in names:
            rec = {'index': display(ix['schema'], name), 'dropped': False, 'error': None}
            for attempt in range(CLEANUP_ATTEMPTS):
                try:
                    self._execute(drop_index_sql(ix['schema'], name))
                    rec.update(dropped=True, error=None)
                    break
                except psycopg.Error as e:
                    rec['error'] = self._error(e)
                    if self._broken():
                        break
                    if attempt + 1 < CLEANUP_ATTEMPTS:
                        self.sleep(1.0)
            out.append(rec)
        return out

    def run(self):
        start = self.clock()
        p = self.params
        lock_timeout = validate_timeout('lock_timeout', p.get('lock_timeout'))
        statement_timeout = validate_timeout('statement_timeout', p.get('statement_timeout'))
        for name in ('vacuum_min_dead_tuples',) + TERMINATE_THRESHOLDS:
            if p.get(name) is not None and p[name] < 0:
                raise MaintenanceError('Could not use %s=%s: it must be 0 or more.' % (name, p[name]))
        for name in ('reindex_min_bloat_pct', 'reindex_min_size_mb'):
            if p.get(name) is not None and p[name] < 0:
                raise MaintenanceError('Could not use %s=%s: it must be 0 or more.' % (name, p[name]))
        for name in p.get('tables') or []:
            parse_table_name(name)
        target = describe_target(p, self.db)
        result = {'db': self.db, 'plan': self.plan, 'actions': self.actions, 'tables': self.tables,
                  'indexes': self.indexes, 'terminated': self.terminated, 'standby': False, 'skipped': False,
                  'changed': False, 'failed_steps': [], 'terminate_reason': p.get('terminate_reason')}
        try:
            self.open()
        except psycopg.Error as e:
            raise MaintenanceError('Could not connect to %s: %s. Check the login options and that the server and '
                                   'the database are reachable.' % (target, self._error(e)))
        try:
            try:
                self.set_timeouts(lock_timeout, statement_timeout)
            except psycopg.Error as e:
                raise MaintenanceError('Could not set lock_timeout=%s / statement_timeout=%s on %s: %s. Use valid '
                                       'PostgreSQL durations.' % (lock_timeout, statement_timeout, target,
                                                                  self._error(e)))
            try:
                standby = self.in_recovery()
            except psycopg.Error as e:
                raise MaintenanceError('Could not check whether %s is a standby: %s.' % (target, self._error(e)))
            result['standby'] = standby
            if standby:
                if p.get('on_standby') == 'fail':
                    result['duration_s'] = _round(self.clock() - start)
                    raise MaintenanceError(
                        'Could not run maintenance on %s: the server is a standby (in recovery) and changes nothing '
                        'there. Run it on the primary, or set on_standby=skip.' % target, result)
                result.update(skipped=True, duration_s=_round(self.clock() - start),
                              msg='skipped: %s is a standby (in recovery); run maintenance on the primary' % target)
                return result
            try:
                self.run_phases()
            except psycopg.Error as e:
                result['duration_s'] = _round(self.clock() - start)
                raise MaintenanceError('Could not run maintenance on %s: %s. Steps done so far are in actions.'
                                       % (target, self._error(e)), result)
        finally:
            self.close()
        result['duration_s'] = _round(self.clock() - start)
        failed = [a for a in self.actions if a['status'] == 'failed']
        result['failed_steps'] = ['%s %s' % (a['action'], a['target']) for a in failed]
        if self.check_mode:
            result['changed'] = bool(self.plan)
            result['msg'] = 'check mode: %d step(s) planned on %s, nothing changed' % (len(self.plan), target)
        else:
            done = [a for a in self.actions if a['status'] == 'ok']
            result['changed'] = bool(done)
            result['msg'] = '%d step(s) done, %d failed, %d skipped on %s in %.1f s' % (
                len(done), len(failed), len([a for a in self.actions if a['status'] == 'skipped']), target,
                result['duration_s'])
        return result

    def run_phases(self):
        p = self.params
        all_tables = self.fetch_tables()
        selected = self.resolve_tables(all_tables)
        # a sessions-only run (vacuum, analyze and reindex off) reads no table or index size: a size read waits for
        # lock_timeout on a locked table, which an incident run cannot afford
        sessions_only = not (p.get('vacuum', True) or p.get('analyze', True) or p.get('reindex', False))
        if sessions_only:
            selected = []
        for t in selected:
            self.tables.append({'schema': t['schema'], 'table': t['table'],
                                'size_bytes_before': self.relation_size(t['oid']),
                                'size_bytes_after': None, 'dead_tuples_before': t['dead_tuples'],
                                'dead_tuples_after': None, 'live_tuples': t['live_tuples']})

        # 1. sessions
        for row, reason in self.sessions_to_terminate():
            target = 'pid:%d' % row['pid']
            info = terminated_entry(row, reason, p.get('terminate_reason'))
            self.plan.append(dict(info, action='terminate', target=target))
            if self.check_mode:
                continue
            entry = self._step('terminate', target, reason, lambda pid=row['pid']: self.terminate_backend(pid))
            if entry['status'] == 'ok':
                self.terminated.append(info)
            elif entry['status'] == 'skipped':
                entry['error'] = 'the backend was already gone'
        if self.terminated:
            self._wait_gone([t['pid'] for t in self.terminated])

        # 2. vacuum / analyze
        min_dead = int(p.get('vacuum_min_dead_tuples') or 0)
        for t, report in zip(selected, self.tables):
            action, reason = table_plan(report, p.get('vacuum', True), p.get('analyze', True), min_dead)
            if action is None:
                continue
            target = display(t['schema'], t['table'])
            self.plan.append({'action': action, 'target': target, 'reason': reason})
            if not self.check_mode:
                self._step(action, target, reason,
                           lambda a=action, s=t['schema'], n=t['table']: self._execute(maintenance_sql(a, s, n)))

        # 3. indexes: bloat and reindex
        if self._broken() or sessions_only:
            return
        table_oid = {(t['schema'], t['table']): t['oid'] for t in selected}
        indexes = self.fetch_indexes([t['oid'] for t in selected])
        for ix in indexes:
            ix['size_bytes_before'] = self.relation_size(ix['oid'], table=False)
            ix['table_oid'] = table_oid.get((ix['schema'], ix['table']))
        self.estimate_bloat(indexes)
        for ix in indexes:
            todo, reason = index_decision(ix, p.get('reindex', False), float(p.get('reindex_min_bloat_pct', 30)),
                                          float(p.get('reindex_min_size_mb', 1)))
            ix['reason'] = reason
            report = {'schema': ix['schema'], 'table': ix['table'], 'index': ix['index'],
                      'size_bytes_before': ix['size_bytes_before'], 'size_bytes_after': None,
                      'bloat_pct': ix['bloat_pct'], 'bloat_method': ix['bloat_method'], 'bloat_note': ix['bloat_note'],
                      'index_method': ix['method'], 'reindexed': False, 'reason': reason}
            self.indexes.append(report)
            if not todo:
                continue
            self.plan.append({'action': 'reindex', 'target': display(ix['schema'], ix['index']), 'reason': reason})
            if self.check_mode:
                continue
            entry = self.reindex_one(ix)
            report['reindexed'] = entry['status'] == 'ok'
            if entry.get('leftover_indexes'):
                report['leftover_indexes'] = entry['leftover_indexes']

        # 4. after
        if self.check_mode or self._broken():
            return
        after = {(t['schema'], t['table']): t for t in self.fetch_tables()}
        for report in self.tables:
            t = after.get((report['schema'], report['table']))
            if t:
                report.update(size_bytes_after=self.relation_size(t['oid']), dead_tuples_after=t['dead_tuples'],
                              live_tuples=t['live_tuples'])
        oids = {(ix['schema'], ix['index']): ix['oid'] for ix in self.fetch_indexes([t['oid'] for t in selected])}
        for report in self.indexes:
            oid = oids.get((report['schema'], report['index']))
            report['size_bytes_after'] = None if oid is None else self.relation_size(oid, table=False)

    def _wait_gone(self, pids):
        deadline = self.clock() + TERMINATE_WAIT_S
        while self.clock() < deadline:
            if not self.live_pids(pids):
                return
            self.sleep(0.1)


def run_maintenance(params, check_mode=False):
    return Maintenance(params, check_mode=check_mode).run()
