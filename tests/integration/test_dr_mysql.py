# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dr role with runbook_engine=mysql through runbook.ops.dr_failover / dr_rehearsal on localhost, against a real
MariaDB (mysql_fixtures.mariadb_server): the latest backup (made by runbook.ops.backup with the same switch) is
restored into the DR database and verified with MySQL queries, the primary is probed with a mysql health check, the
report's RPO is the backup's age, a rehearsal drops what it restored, and PITR is refused for MySQL."""
from __future__ import annotations

import datetime
import json

import pytest

from mysql_fixtures import counts, create_db, databases, drop_db, unique_db
from playbooks import run_playbook
from servers import free_port

GROUPS = ('dr_db', 'dr_app', 'dr_switch', 'db')


def _login(my, prefix):
    return {prefix + 'login_host': '127.0.0.1', prefix + 'login_port': my.port, prefix + 'login_user': my.user,
            prefix + 'login_password': my.password}


@pytest.fixture(scope='module')
def mysql_backup(mariadb_server, tmp_path_factory):
    """A MySQL source database and one backup of it, made by the backup playbook with runbook_engine=mysql."""
    my = mariadb_server
    tmp = tmp_path_factory.mktemp('dr-mysql-backup')
    db = create_db(my, unique_db('drsrc'), rows=150)
    store = str(tmp / 'store')
    # with its users and grants, as a DR backup is taken: the dr role restores globals by default (dr_restore_globals)
    extra = dict(_login(my, 'backup_'), runbook_engine='mysql', backup_db=db, backup_store=store, backup_globals=True,
                 backup_report_dir=str(tmp / 'reports'))
    r = run_playbook('backup', extra, tmp)
    assert r.returncode == 0, r.stdout[-3000:]
    with open(str(tmp / 'reports' / 'backup.json')) as f:
        manifest = json.load(f)['localhost']['manifest']
    yield {'db': db, 'store': store, 'counts': counts(my, db), 'manifest': manifest}
    drop_db(my, db)


def _vars(my, backup, app_url, tmp, target, **more):
    hook = tmp / 'hook.yml'
    hook.write_text('- name: A hook (test)\n  ansible.builtin.copy:\n    dest: "%s"\n    content: done\n'
                    '    mode: "0644"\n' % (tmp / 'hooked'))
    extra = dict(_login(my, 'dr_restore_'))
    extra.update({
        'runbook_engine': 'mysql',
        'dr_site': 'test-dr', 'dr_report_dir': str(tmp / 'reports'),
        # the primary MySQL server is gone: nothing listens on its port
        'dr_primary_checks': [{'name': 'primary mysql', 'type': 'mysql', 'login_host': '127.0.0.1',
                               'login_port': free_port(), 'login_user': my.user, 'login_password': my.password,
                               'timeout': 3}],
        'dr_restore_store': backup['store'], 'dr_restore_source_db': backup['db'], 'dr_restore_target_db': target,
        'dr_files': [],
        'dr_app_start_tasks_file': str(hook),
        'dr_app_health_checks': [{'name': 'app', 'type': 'http', 'url': app_url + '/health', 'expect_status': [200]}],
        'dr_switch_tasks_file': str(hook),
        'dr_verify_queries': [
            {'name': 'orders', 'query': 'SELECT COUNT(*) FROM orders', 'expect': backup['counts']['orders']},
            {'name': 'the view answers', 'query': 'SELECT COUNT(*) > 0 FROM big_orders', 'expect': 1}],
        'dr_verify_requests': [{'name': 'app', 'url': app_url + '/data', 'body_contains': '"db": "ok"'}],
    })
    extra.update(more)
    return extra


def _report(tmp, name):
    with open(str(tmp / 'reports' / ('%s.json' % name))) as f:
        return json.load(f)


def _utc(text):
    return datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))


def test_failover_with_runbook_engine_mysql_restores_verifies_and_reports_the_backups_age(
        mariadb_server, mysql_backup, app_url, tmp_path):
    my = mariadb_server
    target = unique_db('drtgt')
    r = run_playbook('dr_failover', _vars(my, mysql_backup, app_url, tmp_path, target, dr_confirm='test-dr'),
                     tmp_path, groups=GROUPS)
    try:
        assert r.returncode == 0, r.stdout[-5000:]
        assert my.password not in r.stdout
        # the data: the latest backup, restored and verified, row for row
        assert counts(my, target) == mysql_backup['counts']
        report = _report(tmp_path, 'dr-failover')
        assert report['ok'] is True, report['missed_objectives']
        status = {p['name']: p['status'] for p in report['phases']}
        assert status == {'start': 'ok', 'assess': 'ok', 'database': 'ok', 'files': 'ok', 'app': 'ok', 'switch': 'ok',
                          'verify_db': 'ok', 'verify_app': 'ok'}
        assess = next(p['detail'] for p in report['phases'] if p['name'] == 'assess')
        assert assess.startswith('primary critical')          # the mysql probe found the primary gone
        verify = next(p['detail'] for p in report['phases'] if p['name'] == 'verify_db')
        assert '2 queries as expected' in verify
        # the RPO is the backup's age at the failure (the run's start)
        db = {c['name']: c for c in report['components']}['database']
        assert db['rpo_source'] == 'dump' and report['meta']['rpo_source'] == 'dump'
        assert report['meta']['backup_id'] == mysql_backup['manifest']['id']
        start = _utc(next(p['started_at'] for p in report['phases'] if p['name'] == 'start'))
        created = _utc(mysql_backup['manifest']['created_at'])
        assert abs(db['rpo_s'] - (start - created).total_seconds()) < 0.01
    finally:
        drop_db(my, target)


def test_rehearsal_with_runbook_engine_mysql_drops_what_it_restored(mariadb_server, mysql_backup, app_url, tmp_path):
    my = mariadb_server
    target = unique_db('drreh')
    r = run_playbook('dr_rehearsal', _vars(my, mysql_backup, app_url, tmp_path, target), tmp_path, groups=GROUPS)
    assert r.returncode == 0, r.stdout[-5000:]
    report = _report(tmp_path, 'dr-rehearsal')
    status = {p['name']: p['status'] for p in report['phases']}
    assert status['database'] == 'ok' and status['verify_db'] == 'ok' and status['teardown_db'] == 'ok'
    assert 'dropped %s' % target in next(p['detail'] for p in report['phases'] if p['name'] == 'teardown_db')
    assert target not in databases(my)
    assert counts(my, mysql_backup['db']) == mysql_backup['counts']     # the source untouched


def test_pitr_is_refused_for_mysql_before_anything_is_touched(mariadb_server, mysql_backup, app_url, tmp_path):
    my = mariadb_server
    target = unique_db('drpitr')
    before = databases(my)
    r = run_playbook('dr_rehearsal', _vars(my, mysql_backup, app_url, tmp_path, target, dr_database_method='pitr'),
                     tmp_path, groups=GROUPS)
    assert r.returncode != 0
    assert 'dr_database_method pitr recovers a pgBackRest archive, which exists only' in r.stdout
    assert 'Set dr_database_method: dump for the MySQL hosts' in r.stdout
    assert databases(my) == before and not (tmp_path / 'hooked').exists()
