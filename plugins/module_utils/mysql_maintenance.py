# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MySQL/MariaDB maintenance (``runbook.ops.db_maintenance`` with ``engine: mysql``).

Steps, planned first (check mode returns the plan and stops):

1. ``KILL QUERY <id>`` of every query of ``db`` (or of the server, ``terminate_scope: cluster``) running longer than
   ``terminate_running_longer_than_s``; never this module's own connection, never a user of
   ``terminate_exclude_users``, never the server's own threads (``system user``, ``event_scheduler``);
2. ``ANALYZE TABLE`` of every selected table (``analyze``);
3. ``OPTIMIZE TABLE`` of the tables whose free space (``information_schema.TABLES.DATA_FREE``) is at least
   ``optimize_min_free_pct`` percent of the table and ``optimize_min_free_mb`` MiB (``optimize``).

A step that fails (the server's ``Msg_type: error`` or an exception) is reported and the others go on. Names reach
SQL only quoted by ``mysql.qi``; values as parameters.
"""

from __future__ import annotations

import time

from ansible_collections.runbook.ops.plugins.module_utils import mysql as my

if my.HAS_PYMYSQL:
    import pymysql

MIB = 1024 * 1024
SERVER_USERS = ('system user', 'event_scheduler')


class MaintenanceError(my.MysqlError):
    def __init__(self, msg, result=None):
        super(MaintenanceError, self).__init__(msg)
        self.result = result or {}


# ---------------------------------------------------------------- pure helpers (unit-tested)

def fragmented(table, min_pct, min_mb):
    """(bool, reason) for ``{data_length, index_length, data_free}``: OPTIMIZE when both thresholds are met."""
    free = table['data_free'] or 0
    size = (table['data_length'] or 0) + (table['index_length'] or 0) + free
    pct = 100.0 * free / size if size else 0.0
    ok = free > 0 and pct >= min_pct and free >= min_mb * MIB
    return ok, 'data_free %.2f MiB = %.1f%% of %.2f MiB (%s %s%% and %s MiB)' % (
        free / float(MIB), pct, size / float(MIB), 'over' if ok else 'under', min_pct, min_mb)


def kill_candidates(rows, own_id, min_s, exclude_users, db=None):
    """Processlist rows ``{id, user, db, command, time_s, state, info}`` -> the queries to kill, with reasons."""
    out = []
    for r in rows:
        if r['id'] == own_id or r['user'] in SERVER_USERS or r['user'] in exclude_users:
            continue
        if r['command'] != 'Query' or r['time_s'] is None or r['time_s'] < min_s:
            continue
        if db is not None and r['db'] != db:
            continue
        out.append(dict(r, reason='query running for %.1f s >= %s s' % (r['time_s'], min_s)))
    return out


def _table_facts(cur, db):
    cur.execute('SELECT TABLE_NAME, ENGINE, DATA_LENGTH, INDEX_LENGTH, DATA_FREE, TABLE_ROWS '
                'FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = %s ORDER BY 1',
                (db, 'BASE TABLE'))
    return dict((r[0], {'engine': r[1], 'data_length': r[2], 'index_length': r[3], 'data_free': r[4],
                        'rows': r[5]}) for r in cur.fetchall())


def _processlist(cur):
    cur.execute('SELECT ID, USER, DB, COMMAND, TIME_MS, STATE, INFO FROM information_schema.PROCESSLIST')
    return [{'id': int(r[0]), 'user': r[1], 'db': r[2], 'command': r[3],
             'time_s': round(float(r[4]) / 1000.0, 3) if r[4] is not None else None,
             'state': r[5], 'info': (r[6] or '')[:200]} for r in cur.fetchall()]


def is_replica(cur):
    cur.execute('SHOW ALL SLAVES STATUS')
    return bool(cur.fetchall())


def run_maintenance(params, check_mode=False):
    t0 = time.monotonic()
    db = params['db']
    result = {'changed': False, 'db': db, 'plan': [], 'actions': [], 'tables': [], 'indexes': [], 'terminated': [],
              'failed_steps': [], 'standby': False, 'skipped': False}
    conn = my.connect(params)
    try:
        with conn.cursor() as cur:
            try:
                result['standby'] = is_replica(cur)
            except pymysql.Error:
                result['standby'] = False  # no REPLICA MONITOR/SUPER privilege: taken as a primary
            if result['standby']:
                if params.get('on_standby') == 'fail':
                    raise MaintenanceError('Could not maintain %s: the server is a replica. Run it on the primary, or '
                                           'set on_standby: skip.' % db, result)
                result.update(skipped=True, duration_s=round(time.monotonic() - t0, 3),
                              msg='skipped: the server is a replica')
                return result
            cur.execute('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s', (db,))
            if not cur.fetchall():
                raise MaintenanceError('Could not maintain database %s: it does not exist. Check the db option.' % db,
                                       result)
            facts = _table_facts(cur, db)
            wanted = params.get('tables') or sorted(facts)
            unknown = [t for t in wanted if t not in facts]
            if unknown:
                raise MaintenanceError('Could not maintain %s: unknown table(s) %s. Check the tables option.'
                                       % (db, ', '.join(unknown)), result)
            plan = []
            if params.get('terminate_running_longer_than_s') is not None:
                cur.execute('SELECT CONNECTION_ID()')
                own = cur.fetchone()[0]
                scope_db = db if params.get('terminate_scope', 'database') == 'database' else None
                for k in kill_candidates(_processlist(cur), own, params['terminate_running_longer_than_s'],
                                         params.get('terminate_exclude_users') or [], scope_db):
                    plan.append({'action': 'kill_query', 'target': 'id:%d' % k['id'], 'reason': k['reason'],
                                 'pid': k['id'], 'user': k['user'], 'application_name': None, 'state': k['state'],
                                 'duration_s': k['time_s'], 'query': k['info']})
            if params.get('analyze', True):
                plan.extend({'action': 'analyze', 'target': '%s.%s' % (db, t), 'table': t, 'reason': 'analyze'}
                            for t in wanted)
            if params.get('optimize'):
                for t in wanted:
                    ok, why = fragmented(facts[t], params.get('optimize_min_free_pct', 20),
                                         params.get('optimize_min_free_mb', 10))
                    if ok:
                        plan.append({'action': 'optimize', 'target': '%s.%s' % (db, t), 'table': t, 'reason': why})
            result['plan'] = [dict((k, v) for k, v in p.items() if k != 'table') for p in plan]
            result['tables'] = [{'schema': db, 'table': t, 'engine': facts[t]['engine'],
                                 'size_bytes_before': (facts[t]['data_length'] or 0) + (facts[t]['index_length'] or 0),
                                 'data_free_before': facts[t]['data_free'], 'size_bytes_after': None,
                                 'data_free_after': None, 'live_tuples': facts[t]['rows']} for t in wanted]
            result['changed'] = bool(plan)
            if check_mode:
                result['duration_s'] = round(time.monotonic() - t0, 3)
                result['msg'] = 'would run %d step(s) on %s' % (len(plan), my.describe_target(params, db))
                return result
            for step in plan:
                result['actions'].append(_run_step(cur, db, step, params, result))
            after = _table_facts(cur, db)
            for t in result['tables']:
                a = after.get(t['table'], {})
                t['size_bytes_after'] = (a.get('data_length') or 0) + (a.get('index_length') or 0)
                t['data_free_after'] = a.get('data_free')
    except pymysql.Error as e:
        raise MaintenanceError('Could not maintain %s on %s: %s.' % (
            db, my.describe_target(params, db), my.redact(my.error_text(e), params)), result)
    finally:
        conn.close()
    result['failed_steps'] = ['%s %s' % (a['action'], a['target']) for a in result['actions'] if a['status'] == 'failed']
    result['duration_s'] = round(time.monotonic() - t0, 3)
    result['msg'] = '%d step(s) done, %d failed on %s in %.1f s' % (
        len(result['actions']), len(result['failed_steps']), my.describe_target(params, db), result['duration_s'])
    return result


def _run_step(cur, db, step, params, result):
    t = time.monotonic()
    action = dict((k, v) for k, v in step.items() if k in ('action', 'target', 'reason'))
    error = None
    try:
        if step['action'] == 'kill_query':
            try:
                cur.execute('KILL QUERY %d' % int(step['pid']))
                keys = ('pid', 'user', 'application_name', 'state', 'duration_s', 'query')
                result['terminated'].append(dict((k, step[k]) for k in keys))
            except pymysql.Error as e:
                if e.args and e.args[0] == 1094:  # unknown thread id: it ended on its own
                    action['status'] = 'skipped'
                else:
                    raise
        else:
            cur.execute('%s TABLE %s.%s' % (step['action'].upper(), my.qi(db), my.qi(step['table'])))
            rows = cur.fetchall()
            errors = [r[3] for r in rows if str(r[2]).lower() == 'error']
            if errors:
                error = '; '.join(errors)
    except pymysql.Error as e:
        error = my.redact(my.error_text(e), params)
    action.setdefault('status', 'failed' if error else 'ok')
    action['error'] = error
    action['duration_s'] = round(time.monotonic() - t, 3)
    return action
