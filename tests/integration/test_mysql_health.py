# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""health_check type mysql against a real MariaDB."""
from __future__ import annotations

import threading

import pymysql

from backup_fixtures import no_secret, wait_for
from servers import free_port


def check(my, **kw):
    c = dict(name='db', type='mysql', login_host='127.0.0.1', login_port=my.port, login_user=my.user,
             login_password=my.password)
    c.update(kw)
    return c


def test_mysql_probe_metrics_and_thresholds(mariadb_server, run_module):
    my = mariadb_server
    conn = my.connect()

    def slow():
        with conn.cursor() as cur:
            try:
                cur.execute('SELECT SLEEP(60)')
            except pymysql.Error:
                pass  # killed at the end of the test
    t = threading.Thread(target=slow)
    t.start()
    try:
        wait_for(lambda: my.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(60)' "
                                "AND TIME >= 2")[0][0] == 1, timeout=60, what='a running query')
        r = run_module('health_check', dict(checks=[
            check(my),
            check(my, name='strict', thresholds={'longest_query_s': {'warning': 1, 'critical': 3600}}),
        ]))
    finally:
        my.sql("KILL QUERY %d" % my.sql("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(60)'")
               [0][0])
        t.join(60)
        conn.close()
    assert r.get('failed') is not True, r.get('msg')
    by = dict((c['name'], c) for c in r['checks'])
    m = by['db']['metrics']
    assert m['reachable'] is True and m['role'] == 'primary' and m['max_connections'] == 50
    assert m['connections'] >= 2 and m['connections_pct'] == round(100.0 * m['connections'] / 50, 2)
    assert m['longest_query_s'] >= 2 and m['threads_running'] >= 1 and m['replica_lag_s'] is None
    assert by['db']['status'] in ('ok', 'warning')  # latency alone may warn on a loaded machine
    assert by['strict']['status'] == 'warning'
    no_secret(r, my.password)


def test_mysql_probe_wrong_password_and_unreachable(mariadb_server, run_module):
    my = mariadb_server
    wrong = 'nope-' + my.password[::-1]
    r = run_module('health_check', dict(fail_on='never', checks=[
        check(my, name='badpw', login_password=wrong),
        check(my, name='down', login_port=free_port(), timeout=5),
    ]))
    by = dict((c['name'], c) for c in r['checks'])
    assert by['badpw']['status'] == 'critical' and 'Access denied' in by['badpw']['message']
    assert by['down']['status'] == 'critical' and 'Could not connect to mysql' in by['down']['message']
    no_secret(r, wrong)
