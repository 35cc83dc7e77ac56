# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The maintenance role through playbooks/weekly_maintenance.yml, on localhost (in groups db, cache and app)
against a real PostgreSQL, a real Redis and a local backup store."""
from __future__ import annotations

import os
import secrets

import pytest

from maintenance_role_fixtures import (bloated_db, dead_tuples, drop_db, load_report, make_logs, phase, playbook, qi,
                                       unique_db, window_now)
from webhook_fixtures import last_fatal, webhook_receiver

HOSTILE_TABLE = 't"; DROP TABLE orders; --'


def _vars(pg, redis, db, tmp_path, prefix):
    login = {'login_host': '127.0.0.1', 'login_port': pg.port, 'login_password': pg.password, 'ssl_mode': 'disable'}
    out = dict(('backup_%s' % k, v) for k, v in login.items())
    out.update(
        backup_db=db, backup_store=str(tmp_path / 'store'), backup_retention={'keep_last': 3},
        maintenance_window=window_now(inside=False),
        maintenance_override_reason='integration test %s' % prefix,
        maintenance_databases=[{'name': db}],
        maintenance_reindex_min_bloat_pct=0, maintenance_reindex_min_size_mb=0,
        maintenance_redis_host='127.0.0.1', maintenance_redis_port=redis.port, maintenance_redis_password=redis.password,
        maintenance_cache_patterns=[{'pattern': '%s:sess:*' % prefix}, {'pattern': '%s:nothing:[*' % prefix}],
        maintenance_log_dirs=[{'path': str(tmp_path / 'logs'), 'patterns': ['*.log.*', '../*'], 'max_age_days': 30,
                               'max_total_mb': 0.002}],
        maintenance_logrotate=[{'name': 'demo-app', 'paths': [str(tmp_path / 'logs' / '*.log')],
                                'postrotate': 'systemctl reload demo-app > /dev/null 2>&1 || true'}],
        maintenance_logrotate_dir=str(tmp_path / 'logrotate.d'),
        maintenance_integrity_checks=[
            {'name': 'orders count', 'db': db, 'query': 'SELECT count(*) FROM orders', 'expect': 5000},
            {'name': 'no negative totals', 'db': db, 'query': 'SELECT count(*) FROM orders WHERE total < 0',
             'expect': 0},
            {'name': 'first customers', 'db': db, 'query': 'SELECT id, name FROM customers ORDER BY id LIMIT 2',
             'expect': [[1, 'c1'], [2, 'c2']]},
        ],
        maintenance_row_count_tolerance_pct=1,
        maintenance_report_dir=str(tmp_path / 'reports'),
    )
    return out


def test_weekly_window_check_mode_then_real_run(postgres_server, redis_server, tmp_path):
    pg, redis = postgres_server, redis_server
    db = bloated_db(pg, unique_db())
    pg.psql('CREATE TABLE %s (v int); INSERT INTO %s VALUES (1), (2)' % (qi(HOSTILE_TABLE), qi(HOSTILE_TABLE)), db=db)
    prefix = 'mnt%s' % secrets.token_hex(3)
    for i in range(40):
        redis.cli('SET', '%s:sess:%d' % (prefix, i), 'v')
    for i in range(5):
        redis.cli('SET', '%s:keep:%d' % (prefix, i), 'v')
    logs = make_logs(str(tmp_path / 'logs'))
    (tmp_path / 'logrotate.d').mkdir()
    dead_before = dead_tuples(pg, db)
    assert dead_before >= 5000
    extra = _vars(pg, redis, db, tmp_path, prefix)
    try:
        # check mode: the plan is reported, nothing changes
        r = playbook('weekly_maintenance', extra, tmp_path, check=True)
        assert r.returncode == 0, r.stdout[-4000:]
        report, _md = load_report(tmp_path / 'reports')
        assert report['check_mode'] is True and report['status'] == 'ok'
        logs_phase = phase(report, 'logs')['details']
        assert sorted(logs_phase['dirs'][0]['deleted']) == sorted([logs['old1'], logs['old2'], logs['mid']])
        assert all(os.path.exists(p) for p in logs.values())
        assert not os.path.exists(str(tmp_path / 'store')) or not os.listdir(str(tmp_path / 'store'))
        assert not os.path.exists(str(tmp_path / 'logrotate.d' / 'demo-app'))
        assert redis.cli('EXISTS', '%s:sess:0' % prefix) == '1'
        assert dead_tuples(pg, db) == dead_before
        assert phase(report, 'cache')['details']['patterns'][0]['matched'] == 40

        # the real run, outside the window but with a reason
        r = playbook('weekly_maintenance', extra, tmp_path)
        assert r.returncode == 0, r.stdout[-4000:]
        assert pg.password not in r.stdout and redis.password not in r.stdout
        report, md = load_report(tmp_path / 'reports')
        host = report['hosts']['localhost']
        assert report['status'] == 'ok' and host['status'] == 'ok', report['failed']
        assert [p['name'] for p in host['phases']] == ['window', 'backup', 'vacuum', 'reindex', 'optimize', 'cache',
                                                       'queues', 'logs', 'integrity']
        assert phase(report, 'window')['details']['reason'] == 'integration test %s' % prefix
        assert phase(report, 'optimize')['detail'] == 'MySQL only: maintenance_engine is postgresql'
        assert phase(report, 'queues')['detail'] == 'off: maintenance_queues is empty'
        assert all(p['status'] == 'ok' for p in host['phases'] if p['name'] not in ('optimize', 'queues'))
        assert all(p['duration_s'] >= 0 and p['started_at'] <= p['ended_at'] for p in host['phases'])
        assert report['window']['overridden'] is True and 'integration test %s' % prefix in report['window']['message']

        # backup: one valid backup in the store (manifest written last)
        backups = os.listdir(str(tmp_path / 'store'))
        assert len(backups) == 1 and os.path.exists(str(tmp_path / 'store' / backups[0] / 'manifest.json'))
        assert phase(report, 'backup')['details']['backups'][0]['backup_id'] == backups[0]

        # vacuum: dead tuples gone, independently
        assert dead_tuples(pg, db) == 0
        vac = phase(report, 'vacuum')['details']['databases'][0]
        assert vac['totals']['dead_tuples_before'] >= dead_before and vac['totals']['dead_tuples_after'] == 0
        orders = [t for t in vac['tables'] if t['table'] == 'orders'][0]
        assert orders['dead_tuples_before'] >= 5000 and orders['dead_tuples_after'] == 0
        assert host['summary']['vacuum_dead_tuples_after'] == 0
        reindex = phase(report, 'reindex')['details']['databases'][0]
        assert reindex['totals']['reindexed'] >= 1
        assert pg.psql("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                       "WHERE c.relname = 'orders_note_idx' AND i.indisvalid", db=db) == '1'

        # cache: the pattern's keys are gone, the others kept; the hostile pattern matched nothing
        assert redis.cli('--scan', '--pattern', '%s:sess:*' % prefix) == ''
        assert len(redis.cli('--scan', '--pattern', '%s:keep:*' % prefix).split()) == 5
        cache = phase(report, 'cache')['details']
        assert [c['deleted'] for c in cache['patterns']] == [40, 0]

        # logs: old and over-the-cap files deleted; new, unmatched, symlink and its target kept
        for key in ('old1', 'old2', 'mid'):
            assert not os.path.exists(logs[key]), key
        for key in ('new', 'current', 'other', 'outside'):
            assert os.path.exists(logs[key]), key
        assert os.path.islink(logs['link'])
        ld = phase(report, 'logs')['details']
        assert ld['deleted_count'] == 3 and ld['deleted_bytes'] == 6500
        assert host['summary']['logs_deleted_count'] == 3 and host['summary']['logs_deleted_bytes'] == 6500
        with open(str(tmp_path / 'logrotate.d' / 'demo-app')) as f:
            policy = f.read()
        assert '"%s" {' % (tmp_path / 'logs' / '*.log') in policy
        for directive in ('daily', 'rotate 30', 'compress', 'delaycompress', 'missingok', 'notifempty',
                          'create 0640 root root', 'postrotate', 'systemctl reload demo-app', 'endscript'):
            assert directive in policy

        # integrity: assertions pass, row counts match the backup just taken (the hostile table too)
        integ = phase(report, 'integrity')['details']
        assert [a['ok'] for a in integ['assertions']] == [True, True, True]
        counts = dict(((t['schema'], t['table']), t['rows']) for t in integ['row_counts'][0]['tables'])
        assert counts[('public', 'orders')] == 5000 and counts[('public', HOSTILE_TABLE)] == 2
        assert integ['row_counts'][0]['backup_id'] == backups[0]
        assert pg.psql('SELECT count(*) FROM orders', db=db) == '5000'

        # the Markdown carries the numbers
        assert '| localhost' not in md and '## localhost (ok)' in md
        assert '| %s | public.orders |' % db in md and '| first customers | %s | PASS |' % db in md
        assert '6.3 KiB' in md and '`%s:sess:*` | 40 | 40 |' % prefix in md
    finally:
        drop_db(pg, db)


def test_refuses_outside_the_window_without_a_reason(postgres_server, redis_server, tmp_path):
    logs = make_logs(str(tmp_path / 'logs'))
    extra = _vars(postgres_server, redis_server, 'unused', tmp_path, 'mntx')
    extra['maintenance_override_reason'] = ''
    r = playbook('weekly_maintenance', extra, tmp_path, groups=('app',))
    assert r.returncode != 0
    assert 'Refusing to run maintenance outside the maintenance window' in r.stdout
    assert 'maintenance_override_reason' in r.stdout
    assert all(os.path.exists(p) for p in logs.values())
    assert not os.path.exists(str(tmp_path / 'reports' / 'weekly_maintenance.json'))


def test_failing_assertion_fails_the_play_after_the_report(postgres_server, redis_server, tmp_path):
    pg = postgres_server
    db = bloated_db(pg, unique_db(), rows=100)
    extra = _vars(pg, redis_server, db, tmp_path, 'mnty')
    extra.update(maintenance_window=window_now(inside=True), maintenance_override_reason='',
                 maintenance_backup_enabled=False, maintenance_vacuum_enabled=False, maintenance_reindex_enabled=False)
    extra['maintenance_integrity_checks'] = [
        {'name': 'orders count', 'db': db, 'query': 'SELECT count(*) FROM orders', 'expect': 100},
        {'name': 'totals never zero', 'db': db, 'query': 'SELECT count(*) FROM orders WHERE total < 1',
         'expect': 0},
        {'name': 'sneaky write', 'db': db, 'query': 'DELETE FROM orders RETURNING id', 'expect': []},
    ]
    (tmp_path / 'store').mkdir()     # an empty store: nothing to compare the row counts with
    try:
        with webhook_receiver(200) as hook:
            extra['maintenance_notify_webhook_url'] = hook.url
            r = playbook('weekly_maintenance', extra, tmp_path, groups=('db',))
        assert r.returncode != 0
        assert len(hook.received) == 1
        text = hook.received[0]['text']
        assert text.startswith(':red_circle: Weekly maintenance FAILED on 1 host(s); localhost failed in phase '
                               'integrity: ') and 'totals never zero' in text
        assert pg.password not in text
        assert 'phase integrity' in r.stdout and 'totals never zero' in r.stdout
        report, md = load_report(tmp_path / 'reports')
        assert report['status'] == 'failed'
        assert report['failed'][0]['host'] == 'localhost' and report['failed'][0]['phase'] == 'integrity'
        assert report['window']['inside'] is True and report['window']['overridden'] is False
        assert [p['status'] for p in report['hosts']['localhost']['phases']] == ['ok'] + ['skipped'] * 7 + ['failed']
        assert phase(report, 'backup')['details']['reason'] == 'disabled: maintenance_backup_enabled is false (default: true on db hosts)'
        integ = phase(report, 'integrity')
        assert integ['status'] == 'failed' and 'totals never zero' in integ['error']
        results = dict((a['name'], a) for a in integ['details']['assertions'])
        assert results['orders count']['ok'] is True
        assert results['totals never zero']['ok'] is False and results['totals never zero']['actual'] == 2
        assert results['sneaky write']['ok'] is False and 'read-only transaction' in results['sneaky write']['error']
        assert integ['details']['no_backup_to_compare'] == [db] and integ['details']['store_errors'] == []
        assert '| totals never zero | %s | FAIL |' % db in md and 'phase `integrity`' in md
        # the read-only transaction kept the rows
        assert pg.psql('SELECT count(*) FROM orders', db=db) == '100'
    finally:
        drop_db(pg, db)


def test_symlinked_log_dir_is_refused_and_reported(tmp_path):
    real = tmp_path / 'elsewhere'
    logs = make_logs(str(real))
    os.symlink(str(real), str(tmp_path / 'logs'))
    extra = {'maintenance_window': {}, 'maintenance_report_dir': str(tmp_path / 'reports'),
             'maintenance_log_dirs': [{'path': str(tmp_path / 'logs'), 'patterns': ['*'], 'max_age_days': 1}],
             'maintenance_logrotate': [{'name': '../../etc/cron.d/evil', 'paths': ['/var/log/*.log']}],
             'maintenance_logrotate_dir': str(tmp_path / 'logrotate.d')}
    # a logrotate policy name that climbs out of the directory: refused before anything is touched
    r = playbook('weekly_maintenance', extra, tmp_path, groups=('app',))
    assert r.returncode != 0
    assert 'phase logs' in r.stdout and 'Could not write the logrotate policy \\"../../etc/cron.d/evil\\"' in r.stdout
    assert all(os.path.exists(p) for p in logs.values())
    # a log directory that is a symlink: refused, nothing behind it deleted
    extra['maintenance_logrotate'] = [{'name': 'demo-app', 'paths': ['/var/log/demo-app/*.log']}]
    r = playbook('weekly_maintenance', extra, tmp_path, groups=('app',))
    assert r.returncode != 0
    assert 'phase logs' in r.stdout and 'it is a symlink (to %s)' % real in r.stdout
    assert all(os.path.exists(p) for p in logs.values())
    report, md = load_report(tmp_path / 'reports')
    assert [(p['name'], p['status']) for p in report['hosts']['localhost']['phases']] == [
        ('window', 'ok'), ('backup', 'skipped'), ('vacuum', 'skipped'), ('reindex', 'skipped'), ('optimize', 'skipped'),
        ('cache', 'skipped'), ('queues', 'skipped'), ('logs', 'failed'), ('integrity', 'skipped')]
    assert report['window']['window'] == 'always' and '| logs | failed |' in md
    assert not os.path.exists(str(tmp_path / 'logrotate.d')) and not os.path.exists('/etc/cron.d/evil')


@pytest.mark.parametrize('status', [500, None], ids=['answers-500', 'unreachable'])
def test_failing_webhook_never_prints_its_url_nor_hides_the_phase_error(tmp_path, status):
    # no server needed: the logs phase fails on a symlinked log directory; the webhook refuses or is not there
    real = tmp_path / 'elsewhere'
    make_logs(str(real))
    os.symlink(str(real), str(tmp_path / 'logs'))
    extra = {'maintenance_window': {}, 'maintenance_report_dir': str(tmp_path / 'reports'),
             'maintenance_log_dirs': [{'path': str(tmp_path / 'logs'), 'patterns': ['*'], 'max_age_days': 1}],
             'maintenance_logrotate_dir': str(tmp_path / 'logrotate.d')}
    with webhook_receiver(status) as hook:
        extra['maintenance_notify_webhook_url'] = hook.url
        r = playbook('weekly_maintenance', extra, tmp_path, groups=('app',), env={'ANSIBLE_VERBOSITY': '3'})
    assert hook.token not in r.stdout + r.stderr
    assert r.returncode != 0
    if status is not None:
        assert len(hook.received) == 1 and hook.received[0]['text'].startswith(':red_circle: Weekly maintenance FAILED')
    assert 'The webhook did not accept the notification (HTTP status %s' % (status or -1) in r.stdout
    report, md = load_report(tmp_path / 'reports')
    assert report['status'] == 'failed' and phase(report, 'logs')['status'] == 'failed'
    fatal = last_fatal(r.stdout)
    assert 'Weekly maintenance failed on localhost in phase logs' in fatal and 'symlink' in fatal, r.stdout[-3000:]
