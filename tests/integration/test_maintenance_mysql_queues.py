# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/weekly_maintenance.yml switched to MySQL by one inventory variable (runbook_engine) against a real
MariaDB, and its queue-cleanup phase against a real Redis with jobs made and processed by Node BullMQ.

Independent checks: information_schema (DATA_FREE), the backup store's files, Node's getJobCounts."""
from __future__ import annotations

import json
import os
import secrets
import time

from backup_fixtures import wait_for
from maintenance_role_fixtures import load_report, phase, playbook, window_now
from mysql_fixtures import create_db, drop_db, unique_db

PHASES = ['window', 'backup', 'vacuum', 'reindex', 'optimize', 'cache', 'queues', 'logs', 'integrity']
MIB = 1024 * 1024


def _data_free(my, db, table):
    return my.sql('SELECT DATA_FREE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s',
                  (db, table))[0][0]


def test_weekly_maintenance_with_runbook_engine_mysql(mariadb_server, tmp_path):
    my = mariadb_server
    db = create_db(my, unique_db('mnt'), rows=500)
    try:
        my.sql('CREATE TABLE frag (id INT PRIMARY KEY, pad CHAR(255)) ENGINE=InnoDB', db=db)
        my.sql("INSERT INTO frag SELECT seq, REPEAT('x', 255) FROM seq_1_to_60000", db=db)
        my.sql('DELETE FROM frag WHERE id > 1000', db=db)
        wait_for(lambda: _data_free(my, db, 'frag') >= 4 * MIB, timeout=180, what='InnoDB to purge the deleted rows')
        free_before = _data_free(my, db, 'frag')
        store = tmp_path / 'store'
        extra = {
            'runbook_engine': 'mysql',
            'maintenance_login_host': '127.0.0.1', 'maintenance_login_port': my.port,
            'maintenance_login_user': my.user, 'maintenance_login_password': my.password,
            'maintenance_databases': [{'name': db}],
            'maintenance_backup_store': str(store), 'backup_retention': {'keep_last': 3},
            'maintenance_window': window_now(inside=True),
            'maintenance_optimize_min_free_pct': 10, 'maintenance_optimize_min_free_mb': 2,
            # exercised, but no query of the test runs that long
            'maintenance_terminate_running_longer_than_s': 3600,
            'maintenance_report_dir': str(tmp_path / 'reports'),
        }

        # check mode: the plan, nothing changed
        r = playbook('weekly_maintenance', extra, tmp_path, check=True, groups=('db',))
        assert r.returncode == 0, r.stdout[-4000:]
        report, _md = load_report(tmp_path / 'reports')
        assert report['check_mode'] is True and report['status'] == 'ok', report['failed']
        planned = phase(report, 'optimize')['details']
        assert planned['check_mode'] is True and planned['optimized'] == 1 and planned['analyzed'] == 4
        assert ('optimize', '%s.frag' % db) in [(s['action'], s['target']) for s in planned['databases'][0]['plan']]
        assert _data_free(my, db, 'frag') >= free_before * 0.9
        assert not store.exists() or not os.listdir(str(store))

        # the real run
        r = playbook('weekly_maintenance', extra, tmp_path, groups=('db',))
        assert r.returncode == 0, r.stdout[-4000:]
        assert my.password not in r.stdout
        report, md = load_report(tmp_path / 'reports')
        host = report['hosts']['localhost']
        assert report['status'] == 'ok', report['failed']
        assert [p['name'] for p in host['phases']] == PHASES
        status = dict((p['name'], p['status']) for p in host['phases'])
        assert status == {'window': 'ok', 'backup': 'ok', 'vacuum': 'skipped', 'reindex': 'skipped', 'optimize': 'ok',
                          'cache': 'skipped', 'queues': 'skipped', 'logs': 'skipped', 'integrity': 'skipped'}
        # the PostgreSQL-only phases say why they did not run, in the record and the report
        for name in ('vacuum', 'reindex', 'integrity'):
            rec = phase(report, name)
            assert rec['detail'].startswith('PostgreSQL only: maintenance_engine is mysql'), rec
            assert rec['details']['reason'] == rec['detail']
            assert '| %s | skipped |' % name in md and 'PostgreSQL only: maintenance_engine is mysql' in md

        # backup: one valid MySQL backup in the store, through the backup role
        backups = os.listdir(str(store))
        assert len(backups) == 1
        with open(str(store / backups[0] / 'manifest.json')) as f:
            assert json.load(f)['engine'] == 'mysql'
        assert phase(report, 'backup')['details']['backups'][0]['backup_id'] == backups[0]

        # optimize: ANALYZE of every table, OPTIMIZE of the fragmented one; the free space is gone (independently)
        opt = phase(report, 'optimize')
        done = [(a['action'], a['target'], a['status']) for a in opt['details']['databases'][0]['actions']]
        for table in ('audit', 'frag', 'items', 'orders'):
            assert ('analyze', '%s.%s' % (db, table), 'ok') in done
        assert ('optimize', '%s.frag' % db, 'ok') in done and ('optimize', '%s.orders' % db, 'ok') not in done
        assert opt['details']['optimized'] == 1 and opt['details']['analyzed'] == 4 and opt['details']['killed'] == 0
        assert opt['detail'] == 'ran ANALYZE TABLE on 4 tables, OPTIMIZE TABLE on 1 table, KILL QUERY on 0 queries'
        assert _data_free(my, db, 'frag') < free_before
        assert my.sql('SELECT COUNT(*) FROM frag', db=db)[0][0] == 1000
        assert '### localhost: MySQL analyze/optimize (ok)' in md and '| %s | optimize | %s.frag | ok |' % (db, db) in md
    finally:
        drop_db(my, db)


def _age_finished_jobs(redis, queue, seconds):
    """Make every finished job of ``queue`` look ``seconds`` older (the score BullMQ's clean reads, and finishedOn),
    as a test would age a log file with utime: the module under test never edits keys."""
    old_ms = int((time.time() - seconds) * 1000)
    for state in ('completed', 'failed'):
        key = 'bull:%s:%s' % (queue, state)
        for job_id in redis.cli('ZRANGE', key, '0', '-1').split():
            redis.cli('ZADD', key, 'XX', str(old_ms), job_id)
            redis.cli('HSET', 'bull:%s:%s' % (queue, job_id), 'finishedOn', str(old_ms))


def test_queue_cleanup_phase_removes_old_finished_jobs_and_keeps_recent_ones(node_bullmq, redis_server, tmp_path):
    nb, redis = node_bullmq, redis_server
    queue = 'mntq-%s' % secrets.token_hex(3)
    worker = nb.start_worker(queue, tmp_path / 'worker.log', concurrency=5)
    nb.add(queue, ok=6, fail=4)
    nb.wait_counts(queue, lambda c: c['completed'] == 6 and c['failed'] == 4)
    _age_finished_jobs(redis, queue, 2 * 86400)
    nb.add(queue, ok=3, fail=2)
    nb.wait_counts(queue, lambda c: c['completed'] == 9 and c['failed'] == 6)
    nb.stop_worker(worker)
    extra = {
        'runbook_redis': {'host': '127.0.0.1', 'port': redis.port, 'password': redis.password},
        'maintenance_queues': [{'name': 'app', 'engine': 'bullmq', 'queues': [queue]},
                               {'engine': 'celery', 'queues': ['fileforge-tasks']}],
        'maintenance_queue_clean_grace_s': 3600,
        'maintenance_window': window_now(inside=True),
        'maintenance_report_dir': str(tmp_path / 'reports'),
    }

    # check mode: the counts that would go, nothing removed
    r = playbook('weekly_maintenance', extra, tmp_path, check=True, groups=('cache', 'app'))
    assert r.returncode == 0, r.stdout[-4000:]
    report, _md = load_report(tmp_path / 'reports')
    planned = phase(report, 'queues')['details']
    assert planned['removed'] == {'completed': 6, 'failed': 4} and planned['check_mode'] is True
    assert nb.counts(queue)['counts']['completed'] == 9 and nb.counts(queue)['counts']['failed'] == 6

    # the real run: the old jobs go, the recent ones stay (the library's own counts)
    r = playbook('weekly_maintenance', extra, tmp_path, groups=('cache', 'app'))
    assert r.returncode == 0, r.stdout[-4000:]
    assert redis.password not in r.stdout
    counts = nb.counts(queue)['counts']
    assert counts['completed'] == 3 and counts['failed'] == 2
    report, md = load_report(tmp_path / 'reports')
    assert report['status'] == 'ok', report['failed']
    rec = phase(report, 'queues', 'localhost')
    assert rec['status'] == 'ok'
    assert rec['details']['removed'] == {'completed': 6, 'failed': 4} and rec['details']['total'] == 10
    assert rec['detail'] == ('removed 6 completed and 4 failed job(s) from 1 queue; skipped celery fileforge-tasks')
    rows = dict((t['state'], t['queues'][0]) for t in rec['details']['targets'] if not t['skipped'])
    assert rows['completed'] == {'name': queue, 'before': 9, 'removed': 6, 'after': 3}
    assert rows['failed'] == {'name': queue, 'before': 6, 'removed': 4, 'after': 2}
    assert [t['skipped'][:32] for t in rec['details']['targets'] if t['skipped']] == ['Celery keeps no completed or fai']
    # the database phases of a cache host are recorded as disabled, not silently left out
    assert phase(report, 'vacuum')['detail'].startswith('disabled: maintenance_vacuum_enabled is false')
    assert '### localhost: queue cleanup (ok)' in md
    assert '| app | bullmq | `%s` | completed | 3600 s | 9 | 6 | 3 |' % queue in md
    assert '| app | bullmq | `%s` | failed | 3600 s | 6 | 4 | 2 |' % queue in md

    # a hostile queue name that does not exist: the phase fails naming it, after the report; nothing else is lost
    hostile = 'nope"; DEL * --'
    extra['maintenance_queues'].append({'name': 'typo', 'queues': [hostile]})
    r = playbook('weekly_maintenance', extra, tmp_path, groups=('cache', 'app'))
    assert r.returncode != 0
    assert redis.password not in r.stdout
    report, md = load_report(tmp_path / 'reports')
    assert report['status'] == 'failed' and report['failed'][0]['phase'] == 'queues'
    assert hostile in report['failed'][0]['error']
    assert phase(report, 'logs')['detail'] == 'an earlier phase failed: queues'
    counts = nb.counts(queue)['counts']
    assert counts['completed'] == 3 and counts['failed'] == 2
