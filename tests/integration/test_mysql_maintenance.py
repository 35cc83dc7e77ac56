# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_maintenance with engine mysql against a real MariaDB: analyze, optimize over data_free, kill long queries."""
from __future__ import annotations

import threading

import pymysql

from backup_fixtures import wait_for
from mysql_fixtures import create_db, unique_db


def test_plan_then_analyze_optimize_and_kill(mariadb_server, run_module):
    my = mariadb_server
    db = create_db(my, unique_db(), rows=20000)
    my.sql('CREATE TABLE frag (id INT PRIMARY KEY, pad CHAR(255)) ENGINE=InnoDB', db=db)
    my.sql("INSERT INTO frag SELECT seq, REPEAT('x', 255) FROM seq_1_to_150000", db=db)
    my.sql('DELETE FROM frag WHERE id > 2000', db=db)

    def data_free():
        return my.sql("SELECT DATA_FREE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = "
                      "'frag'", (db,))[0][0]
    wait_for(lambda: data_free() >= 16 * 1024 * 1024, timeout=180, what='InnoDB to purge the deleted rows')
    # a long query of another user, and one of an excluded user
    my.sql("CREATE USER IF NOT EXISTS 'batch'@'127.0.0.1' IDENTIFIED BY 'b'")
    my.sql("GRANT ALL ON *.* TO 'batch'@'127.0.0.1'")
    outcome = {}

    def sleeper(user, password, key):
        conn = pymysql.connect(host='127.0.0.1', port=my.port, user=user, password=password, database=db)
        try:
            with conn.cursor() as cur:
                cur.execute('SELECT SLEEP(120)')
                outcome[key] = cur.fetchone()[0]
        except pymysql.Error as e:
            outcome[key] = e
        finally:
            conn.close()
    threads = [threading.Thread(target=sleeper, args=('batch', 'b', 'batch')),
               threading.Thread(target=sleeper, args=(my.user, my.password, 'admin'))]
    for t in threads:
        t.start()
    wait_for(lambda: len(my.sql("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(120)' "
                                "AND TIME >= 2")) == 2, timeout=60, what='two sleeping queries')
    args = dict(my.params, db=db, optimize=True, optimize_min_free_pct=10, optimize_min_free_mb=12,
                terminate_running_longer_than_s=1, terminate_exclude_users=[my.user])
    plan = run_module('db_maintenance', args, check=True)
    assert plan.get('failed') is not True, plan.get('msg')
    actions = [(p['action'], p['target']) for p in plan['plan']]
    assert ('optimize', '%s.frag' % db) in actions and ('optimize', '%s.orders' % db) not in actions
    kills = [p for p in plan['plan'] if p['action'] == 'kill_query']
    assert [k['user'] for k in kills] == ['batch']
    assert plan['actions'] == [] and len(outcome) == 0
    r = run_module('db_maintenance', args)
    assert r.get('failed') is not True, r.get('msg')
    assert [t['user'] for t in r['terminated']] == ['batch']
    assert all(a['status'] == 'ok' for a in r['actions']), r['actions']
    frag = [t for t in r['tables'] if t['table'] == 'frag'][0]
    assert frag['data_free_after'] < frag['data_free_before']
    threads[0].join(60)
    assert outcome['batch'] == 1 or 'interrupted' in str(outcome['batch'])  # the killed query
    assert 'admin' not in outcome  # the excluded user's query still runs
    my.sql('KILL QUERY %d' % my.sql("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(120)'")[0][0])
    threads[1].join(60)


def test_unknown_table_fails_before_anything(mariadb_server, run_module):
    my = mariadb_server
    db = create_db(my, unique_db(), rows=10)
    r = run_module('db_maintenance', dict(my.params, db=db, tables=['orders', 'nope`; DROP']))
    assert r['failed'] is True and 'unknown table(s) nope`; DROP' in r['msg']
