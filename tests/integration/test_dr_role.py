# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dr role through runbook.ops.dr_rehearsal / dr_failover on localhost: a real backup in a local store,
restored by a real PostgreSQL, files from the moto S3 server, a local HTTP app, hooks for start and switch.
(The Molecule `dr` scenario runs the same on lab containers with systemd, nginx and a killed primary.)"""
from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import pytest

from backup_fixtures import create_db, databases, drop_db, fingerprint, new_bucket, s3_client, unique_db
from playbooks import run_playbook
from servers import free_port

GROUPS = ('dr_db', 'dr_app', 'dr_switch', 'db')


@pytest.fixture(scope='module')
def backup(postgres_server, tmp_path_factory):
    """A source database and one real backup of it (with globals) in a local store."""
    pg = postgres_server
    tmp = tmp_path_factory.mktemp('dr-backup')
    db = create_db(pg, unique_db('drsrc'), rows=200)
    store = str(tmp / 'store')
    r = run_playbook('backup', {'backup_db': db, 'backup_store': store, 'backup_globals': True,
                                'backup_login_host': '127.0.0.1', 'backup_login_port': pg.port,
                                'backup_login_password': pg.password, 'backup_ssl_mode': 'disable',
                                'backup_report_dir': str(tmp / 'reports')}, tmp,
                     groups=GROUPS)
    assert r.returncode == 0, r.stdout[-3000:]
    yield {'db': db, 'store': store, 'fingerprint': fingerprint(pg, db)}
    drop_db(pg, db)


@pytest.fixture(scope='module')
def uploads(moto_server):
    bucket = new_bucket(moto_server)
    s3 = s3_client(moto_server)
    files = {'a.txt': b'first upload\n', 'deep/dir/b.bin': os.urandom(3000), 'c.svg': b'<svg/>\n'}
    for name, body in files.items():
        s3.put_object(Bucket=bucket, Key='uploads/' + name, Body=body)
    s3.put_object(Bucket=bucket, Key='elsewhere/not-this.txt', Body=b'no\n')
    return {'endpoint': moto_server, 'bucket': bucket, 'files': files}


def _dr_vars(pg, backup, uploads, app_url, tmp, target, primary_port):
    hooks = tmp / 'hooks'
    hooks.mkdir(exist_ok=True)
    (hooks / 'start.yml').write_text(
        '- name: Start the app (test hook)\n  ansible.builtin.copy:\n    dest: "%s"\n    content: started\n'
        '    mode: "0644"\n' % (tmp / 'started'))
    (hooks / 'switch.yml').write_text(
        '- name: Switch traffic (test hook)\n  ansible.builtin.copy:\n    dest: "%s"\n    content: "{{ dr_site }}"\n'
        '    mode: "0644"\n' % (tmp / 'switched'))
    return {
        'dr_site': 'test-dr', 'dr_report_dir': str(tmp / 'reports'),
        'dr_primary_checks': [{'name': 'primary', 'type': 'tcp', 'host': '127.0.0.1', 'port': primary_port,
                               'timeout': 2}],
        'dr_restore_store': backup['store'], 'dr_restore_source_db': backup['db'], 'dr_restore_target_db': target,
        'dr_restore_login_host': '127.0.0.1', 'dr_restore_login_port': pg.port,
        'dr_restore_login_password': pg.password, 'dr_restore_ssl_mode': 'disable',
        'dr_s3_endpoint_url': uploads['endpoint'], 'dr_aws_region': 'us-east-1',
        'dr_aws_access_key': 'testing', 'dr_aws_secret_key': 'testing',
        'dr_files': [{'name': 'uploads', 'src': 's3://%s/uploads/' % uploads['bucket'], 'dest': str(tmp / 'uploads'),
                      'mode': '0640'}],
        'dr_app_env_file': str(tmp / 'app.env'),
        'dr_app_env_group': _group(),
        'dr_app_environment': {'DATABASE_URL': 'postgresql://app:s3cr3t-dr@127.0.0.1/%s' % target},
        'dr_app_start_tasks_file': str(hooks / 'start.yml'),
        'dr_app_health_checks': [{'name': 'app', 'type': 'http', 'url': app_url + '/health', 'expect_status': [200]}],
        'dr_switch_tasks_file': str(hooks / 'switch.yml'),
        'dr_verify_queries': [{'name': 'items', 'query': 'SELECT count(*) FROM items', 'expect': 200}],
        'dr_verify_requests': [{'name': 'app data', 'url': app_url + '/data', 'body_contains': '"db": "ok"'}],
    }


def _group():
    import grp  # pylint: disable=import-outside-toplevel
    return grp.getgrgid(os.getgid()).gr_name


def _report(tmp, name):
    with open(str(tmp / 'reports' / ('%s.json' % name))) as f:
        return json.load(f)


def test_failover_restores_starts_switches_and_reports(postgres_server, backup, uploads, app_url, tmp_path):
    pg = postgres_server
    target = unique_db('drtgt')
    dead_port = free_port()   # the primary: nothing listens there any more
    extra = _dr_vars(pg, backup, uploads, app_url, tmp_path, target, dead_port)

    # without the typed confirmation: refused before anything is touched
    r = run_playbook('dr_failover', extra, tmp_path, groups=GROUPS)
    assert r.returncode != 0 and 'dr_confirm=test-dr' in r.stdout
    assert target not in databases(pg) and not (tmp_path / 'uploads').exists()

    r = run_playbook('dr_failover', dict(extra, dr_confirm='test-dr'), tmp_path, groups=GROUPS)
    assert r.returncode == 0, r.stdout[-4000:]
    assert 's3cr3t-dr' not in r.stdout and pg.password not in r.stdout
    # the data, the files, the configuration, the hooks
    assert fingerprint(pg, target) == backup['fingerprint']
    for name, body in uploads['files'].items():
        path = tmp_path / 'uploads' / name
        assert path.read_bytes() == body
        assert oct(path.stat().st_mode & 0o777) == '0o640'
    assert not (tmp_path / 'uploads' / 'not-this.txt').exists()
    env = (tmp_path / 'app.env').read_text()
    assert env == 'DATABASE_URL=postgresql://app:s3cr3t-dr@127.0.0.1/%s\n' % target
    assert oct((tmp_path / 'app.env').stat().st_mode & 0o777) == '0o640'
    assert (tmp_path / 'started').read_text() == 'started' and (tmp_path / 'switched').read_text() == 'test-dr'
    # the report
    report = _report(tmp_path, 'dr-failover')
    assert report['ok'] is True
    assert [p['name'] for p in report['phases']] == ['start', 'assess', 'database', 'files', 'app', 'switch',
                                                     'verify_db', 'verify_app']
    comps = {c['name']: c for c in report['components']}
    assert comps['database']['rto_met'] is True and comps['database']['rpo_met'] is True
    assert 0 < comps['database']['rto_s'] < comps['application']['rto_s'] <= report['total_s'] + 0.01
    assert 'uploads: 3 files (3 downloaded)' in next(p['detail'] for p in report['phases'] if p['name'] == 'files')
    suite = ET.parse(str(tmp_path / 'reports' / 'dr-failover.xml')).getroot()
    assert suite.get('failures') == '0' and int(suite.get('tests')) == 8 + 3
    assert 'PASSED' in (tmp_path / 'reports' / 'dr-failover.html').read_text()
    drop_db(pg, target)


def test_failover_refused_while_the_primary_answers(postgres_server, backup, uploads, app_url, tmp_path):
    pg = postgres_server
    target = unique_db('drtgt')
    extra = _dr_vars(pg, backup, uploads, app_url, tmp_path, target, pg.port)   # the primary answers
    r = run_playbook('dr_failover', dict(extra, dr_confirm='test-dr'), tmp_path, groups=GROUPS)
    assert r.returncode != 0
    assert 'failing over now would leave two live databases' in r.stdout
    assert target not in databases(pg) and not (tmp_path / 'uploads').exists()
    report = _report(tmp_path, 'dr-failover')
    status = {p['name']: p['status'] for p in report['phases']}
    assert status['assess'] == 'failed'
    assert {status[n] for n in ('database', 'files', 'app', 'switch', 'verify_db', 'verify_app')} == {'skipped'}
    assert report['ok'] is False and report['failed_phases'] == ['assess']


def test_rehearsal_with_a_failing_check_still_tears_down_and_goes_red(postgres_server, backup, uploads, app_url,
                                                                      tmp_path):
    pg = postgres_server
    target = unique_db('drtgt')
    extra = _dr_vars(pg, backup, uploads, app_url, tmp_path, target, pg.port)
    extra['dr_verify_queries'].append({'name': 'impossible', 'query': 'SELECT count(*) FROM items', 'expect': 7})
    r = run_playbook('dr_rehearsal', extra, tmp_path, groups=GROUPS)
    assert r.returncode != 0
    assert 'impossible: got 200, expected 7' in r.stdout
    report = _report(tmp_path, 'dr-rehearsal')
    status = {p['name']: p['status'] for p in report['phases']}
    assert status['database'] == 'ok' and status['switch'] == 'skipped' and status['verify_db'] == 'failed'
    assert status['verify_app'] == 'skipped'
    # the teardown ran after the failure: nothing of the rehearsal is left
    assert status['teardown_app'] == 'ok' and status['teardown_db'] == 'ok'
    assert target not in databases(pg)
    assert not (tmp_path / 'uploads').exists() and not (tmp_path / 'app.env').exists()
    assert not (tmp_path / 'switched').exists()
    comps = {c['name']: c for c in report['components']}
    assert comps['application']['rto_met'] is False   # never verified: not measured, a miss
    assert 'verify_db' in report['failed_phases']
