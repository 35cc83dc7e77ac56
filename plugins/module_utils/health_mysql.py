# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``mysql`` check type of health_check (MySQL protocol, tested on MariaDB).

Connects with PyMySQL (the connection options of ``module_utils/mysql.py``), times ``SELECT 1``, and reads the
connections in use against ``max_connections``, ``Threads_running``, the age of the longest running query (not
its own, not the server's threads) and, on a replica (``SHOW ALL SLAVES STATUS``), its lag; a replica whose IO or
SQL thread is stopped is critical.
"""

from __future__ import annotations

import math
import time

from ansible_collections.runbook.ops.plugins.module_utils import mysql as my
from ansible_collections.runbook.ops.plugins.module_utils import probe

OPTIONS = ('login_host', 'login_port', 'login_user', 'login_password', 'login_unix_socket', 'ca_cert', 'client_cert',
           'client_key', 'config_file', 'connect_timeout')
LONGEST_SQL = ("SELECT COALESCE(MAX(TIME_MS), 0) / 1000 FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' "
               "AND ID <> CONNECTION_ID() AND USER NOT IN ('system user', 'event_scheduler')")


def _params(check, deadline):
    params = dict((k, check.get(k)) for k in OPTIONS)
    left = max(1, int(math.ceil(probe.time_left(deadline))))
    params['connect_timeout'] = min(params.get('connect_timeout') or left, left)
    if params.get('config_file') is None:
        params['config_file'] = my.DEFAULT_CONFIG_FILE
    return params


def replica_facts(rows, columns):
    """``SHOW ALL SLAVES STATUS`` rows -> (is replica, worst lag in s or None, stopped connection names)."""
    if not rows:
        return False, None, []
    col = dict((c, i) for i, c in enumerate(columns))
    lags, stopped = [], []
    for r in rows:
        name = r[col['Connection_name']] if 'Connection_name' in col else ''
        if r[col['Slave_IO_Running']] != 'Yes' or r[col['Slave_SQL_Running']] != 'Yes':
            stopped.append(name or 'default')
        lag = r[col['Seconds_Behind_Master']]
        if lag is not None:
            lags.append(int(lag))
    return True, (max(lags) if lags else None), stopped


def run(check):
    deadline = time.monotonic() + check['timeout']
    params = _params(check, deadline)
    target = my.describe_target(params)
    t0 = time.monotonic()
    try:
        conn = my.connect(params)
    except my.MysqlError as exc:
        raise probe.ProbeError('Could not connect to mysql %s: %s' % (target, _cause(exc)))
    connect_s = time.monotonic() - t0
    try:
        with conn.cursor() as cur:
            t1 = time.monotonic()
            cur.execute('SELECT 1')
            cur.fetchall()
            latency_s = time.monotonic() - t1
            cur.execute('SELECT VERSION(), @@max_connections')
            version, max_conn = cur.fetchone()
            cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_connected', 'Threads_running')")
            status = dict((k, int(v)) for k, v in cur.fetchall())
            cur.execute(LONGEST_SQL)
            longest = float(cur.fetchone()[0] or 0)
            try:
                cur.execute('SHOW ALL SLAVES STATUS')
                rows = cur.fetchall()
                columns = [d[0] for d in cur.description or ()]
            except my.pymysql.Error:
                rows, columns = [], []  # no privilege to see replication: taken as a primary
    except my.pymysql.Error as exc:
        raise probe.ProbeError('Could not query mysql %s: %s' % (target, my.redact(my.error_text(exc), params)))
    finally:
        conn.close()
    replica, lag, stopped = replica_facts(rows, columns)
    connections = status.get('Threads_connected')
    result = probe.ProbeResult({
        'reachable': True,
        'connect_ms': probe.ms(connect_s),
        'latency_ms': probe.ms(latency_s),
        'server_version': version,
        'role': 'replica' if replica else 'primary',
        'max_connections': int(max_conn),
        'connections': connections,
        'connections_pct': probe.pct(connections or 0, int(max_conn)),
        'threads_running': status.get('Threads_running'),
        'longest_query_s': round(longest, 3),
        'replica_lag_s': lag,
    })
    if stopped:
        result.add(probe.CRITICAL, 'replication is stopped (IO or SQL thread not running) on %s' % ', '.join(stopped))
    elif replica and lag is None:
        result.add(probe.WARNING, 'the replica does not report its lag (Seconds_Behind_Master is NULL)')
    return result


def _cause(exc):
    text = str(exc)
    if text.startswith('Could not connect to'):
        text = text.split(': ', 1)[-1]
    return ' '.join(text.split())[:300]


PROBE_TYPE = probe.ProbeType(
    name='mysql', run=run,
    metrics={
        'connect_ms': (probe.HIGHER, None),
        'latency_ms': (probe.HIGHER, probe.levels(100, 500)),
        'connections': (probe.HIGHER, None),
        'connections_pct': (probe.HIGHER, probe.levels(70, 90)),
        'threads_running': (probe.HIGHER, None),
        'longest_query_s': (probe.HIGHER, probe.levels(60, 300)),
        'replica_lag_s': (probe.HIGHER, probe.levels(60, 300)),
    },
    options=OPTIONS,
    suboptions={'config_file': dict(type='path')},
    requirement=lambda checks: None if my.HAS_PYMYSQL else ('PyMySQL', my.PYMYSQL_IMP_ERR),
    secrets=('login_password',),
)
