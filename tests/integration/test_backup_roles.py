# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup/restore roles through their playbooks, on localhost with a local store and a real PostgreSQL."""
from __future__ import annotations

import json

import pytest

from backup_fixtures import create_db, databases, drop_db, fingerprint, local_files, unique_db
from playbooks import run_playbook
from webhook_fixtures import last_fatal, webhook_receiver


def test_backup_restore_verify_playbooks(postgres_server, tmp_path):
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=300)
    snapshot = fingerprint(pg, db)
    store = str(tmp_path / 'store')
    login = {'login_host': '127.0.0.1', 'login_port': pg.port, 'login_password': pg.password,
             'ssl_mode': 'disable'}
    backup_vars = dict(('backup_%s' % k, v) for k, v in login.items())
    backup_vars.update(backup_db=db, backup_store=store, backup_retention={'keep_last': 3},
                       backup_report_dir=str(tmp_path / 'reports'))
    r = run_playbook('backup', backup_vars, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    assert pg.password not in r.stdout
    report = json.load(open(str(tmp_path / 'reports' / 'backup.json')))
    bid = report['localhost']['backup_id']
    assert sorted(local_files(store)) == ['%s/data.dump.zst' % bid, '%s/manifest.json' % bid]

    pg.psql('DELETE FROM events', db=db)
    restore_vars = dict(('restore_%s' % k, v) for k, v in login.items())
    restore_vars.update(restore_store=store, restore_source_db=db, restore_report_dir=str(tmp_path / 'reports'))
    # no confirmation (and a wrong one): refused, nothing touched
    for confirm in ('', db + 'x'):
        r = run_playbook('restore', dict(restore_vars, restore_confirm=confirm), tmp_path)
        assert r.returncode != 0 and 'Refusing to replace database' in r.stdout
    assert pg.psql('SELECT count(*) FROM events', db=db) == '0'

    r = run_playbook('verify_backup', restore_vars, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    verify = json.load(open(str(tmp_path / 'reports' / 'verify_backup.json')))['localhost']
    assert verify['backup_id'] == bid and verify['verification']['ok'] is True
    assert {t['table']: t['actual'] for t in verify['verification']['tables']} == {'items': 300, 'events': 600}
    assert pg.psql('SELECT count(*) FROM events', db=db) == '0'

    r = run_playbook('restore', dict(restore_vars, restore_confirm=db), tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    restored = json.load(open(str(tmp_path / 'reports' / 'restore.json')))['localhost']
    assert fingerprint(pg, db) == snapshot
    assert pg.psql('SELECT count(*) FROM events', db=restored['previous_db']) == '0'
    drop_db(pg, restored['previous_db'])
    drop_db(pg, db)
    assert not [d for d in databases(pg) if d.startswith('rbo_restore_')]


def test_backup_failure_notifies_webhook_and_stays_red(postgres_server, tmp_path):
    pg = postgres_server
    with webhook_receiver(200) as hook:
        r = run_playbook('backup', {'backup_db': 'no_such_db_%s' % unique_db(), 'backup_store': str(tmp_path / 's'),
                                    'backup_login_host': '127.0.0.1', 'backup_login_port': pg.port,
                                    'backup_login_password': pg.password, 'backup_ssl_mode': 'disable',
                                    'backup_report_dir': str(tmp_path / 'reports'),
                                    'backup_notify_webhook_url': hook.url},
                         tmp_path)
    assert r.returncode != 0
    assert len(hook.received) == 1
    text = hook.received[0]['text']
    assert text.startswith(':red_circle: Backup of `no_such_db_') and 'does not exist' in text
    assert pg.password not in text and pg.password not in r.stdout
    report = json.load(open(str(tmp_path / 'reports' / 'backup.json')))
    assert report['localhost']['failed'] is True


VERBOSE = {'ANSIBLE_VERBOSITY': '3'}     # -vvv: every task's arguments and results are printed


def _failing_backup_vars(pg, tmp_path, url):
    return {'backup_db': 'no_such_db_%s' % unique_db(), 'backup_store': str(tmp_path / 's'),
            'backup_login_host': '127.0.0.1', 'backup_login_port': pg.port,
            'backup_login_password': pg.password, 'backup_ssl_mode': 'disable',
            'backup_report_dir': str(tmp_path / 'reports'), 'backup_notify_webhook_url': url}


@pytest.mark.parametrize('status', [200, 500, None], ids=['accepts', 'answers-500', 'unreachable'])
def test_failed_backup_webhook_never_prints_its_url_nor_hides_the_backup_error(postgres_server, tmp_path, status):
    pg = postgres_server
    with webhook_receiver(status) as hook:
        r = run_playbook('backup', _failing_backup_vars(pg, tmp_path, hook.url), tmp_path, env=VERBOSE)
    out = r.stdout + r.stderr
    assert hook.token not in out
    assert r.returncode != 0
    if status is not None:
        assert len(hook.received) == 1 and 'does not exist' in hook.received[0]['text']
    if status != 200:
        assert 'The webhook did not accept the notification (HTTP status %s' % ('500' if status else '-1') in out
    # the report of the failed backup is written and the play's error is the backup's, not the webhook's
    report = json.load(open(str(tmp_path / 'reports' / 'backup.json')))
    assert report['localhost']['failed'] is True and 'does not exist' in report['localhost']['msg']
    fatal = last_fatal(r.stdout)
    assert 'Backup of no_such_db_' in fatal and 'does not exist' in fatal, r.stdout[-3000:]


def test_successful_backup_stays_green_when_the_webhook_answers_500(postgres_server, tmp_path):
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=10)
    try:
        with webhook_receiver(500) as hook:
            extra = dict(_failing_backup_vars(pg, tmp_path, hook.url), backup_db=db, backup_notify_on_success=True)
            r = run_playbook('backup', extra, tmp_path, env=VERBOSE)
        assert hook.token not in r.stdout + r.stderr
        assert r.returncode == 0, r.stdout[-3000:]
        assert len(hook.received) == 1 and hook.received[0]['text'].startswith(':white_check_mark: Backup of')
        assert 'The webhook did not accept the notification (HTTP status 500' in r.stdout
        report = json.load(open(str(tmp_path / 'reports' / 'backup.json')))
        assert report['localhost']['changed'] is True and report['localhost']['backup_id']
    finally:
        drop_db(pg, db)


@pytest.mark.parametrize('status', [200, 500], ids=['accepts', 'answers-500'])
def test_failed_restore_webhook_never_prints_its_url_nor_hides_the_restore_error(postgres_server, tmp_path, status):
    pg = postgres_server
    (tmp_path / 'empty-store').mkdir()
    extra = {'restore_store': str(tmp_path / 'empty-store'), 'restore_login_host': '127.0.0.1',
             'restore_login_port': pg.port, 'restore_login_password': pg.password, 'restore_ssl_mode': 'disable',
             'restore_source_db': 'nothing_here', 'restore_report_dir': str(tmp_path / 'reports')}
    with webhook_receiver(status) as hook:
        r = run_playbook('verify_backup', dict(extra, restore_notify_webhook_url=hook.url), tmp_path, env=VERBOSE)
    out = r.stdout + r.stderr
    assert hook.token not in out
    assert r.returncode != 0
    assert len(hook.received) == 1 and hook.received[0]['text'].startswith(':red_circle: Restore (verify)')
    if status != 200:
        assert 'The webhook did not accept the notification (HTTP status 500' in out
    report = json.load(open(str(tmp_path / 'reports' / 'verify_backup.json')))
    assert report['localhost']['failed'] is True
    fatal = last_fatal(r.stdout)
    assert 'Restore failed: ' in fatal and report['localhost']['msg'].split(':')[0] in fatal, r.stdout[-3000:]


def test_restore_role_cross_database_replace_needs_the_explicit_allowance(postgres_server, tmp_path):
    """The restore role passes restore_allow_cross_database: without it, another database's backup never
    replaces an existing target (refused, the target untouched); with it the swap happens."""
    pg = postgres_server
    source, victim = unique_db(), unique_db()
    create_db(pg, source, rows=50)
    create_db(pg, victim, rows=20)
    victim_before = fingerprint(pg, victim)
    login = {'login_host': '127.0.0.1', 'login_port': pg.port, 'login_password': pg.password, 'ssl_mode': 'disable'}
    store = str(tmp_path / 'store')
    backup_vars = dict(('backup_%s' % k, v) for k, v in login.items())
    backup_vars.update(backup_db=source, backup_store=store, backup_report_dir=str(tmp_path / 'reports'))
    r = run_playbook('backup', backup_vars, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    restore_vars = dict(('restore_%s' % k, v) for k, v in login.items())
    restore_vars.update(restore_store=store, restore_source_db=source, restore_target_db=victim,
                        restore_confirm=victim, restore_report_dir=str(tmp_path / 'reports'))
    r = run_playbook('restore', restore_vars, tmp_path)
    assert r.returncode != 0 and 'allow_cross_database' in r.stdout, r.stdout[-3000:]
    assert fingerprint(pg, victim) == victim_before

    r = run_playbook('restore', dict(restore_vars, restore_allow_cross_database=True), tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    restored = json.load(open(str(tmp_path / 'reports' / 'restore.json')))['localhost']
    assert fingerprint(pg, victim) == fingerprint(pg, source)
    assert fingerprint(pg, restored['previous_db']) == victim_before
    for db in (source, victim, restored['previous_db']):
        drop_db(pg, db)
