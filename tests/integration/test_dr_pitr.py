# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A DR rehearsal with dr_database_method: pitr through runbook.ops.dr_rehearsal on localhost, against the real
PITR test bed (pitr_fixtures: a PostgreSQL archiving through pgBackRest to SeaweedFS behind an nginx TLS front):
the dr role recovers through the pitr role's restore entry point, the recovered data is checked inside the
recovered cluster, and the report's RPO comes from the WAL archive, not from a dump's age."""
from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile

import pytest

from playbooks import run_playbook
from servers import free_port
from test_pitr_restore import _lose_a_table

GROUPS = ('dr_db', 'dr_app', 'dr_switch', 'db')
DIGEST_SQL = "SELECT md5(string_agg(id || ':' || item, ',' ORDER BY id)) FROM orders"


@pytest.fixture
def data_dir():
    """A path the postgres user can reach (pytest's tmp_path is root-only), not created yet."""
    base = tempfile.mkdtemp(prefix='rbo-dr-pitr-')
    os.chmod(base, 0o755)
    yield os.path.join(base, 'recovered')
    shutil.rmtree(base, ignore_errors=True)


def _vars(c, tmp, app_url, data_dir, **pitr):
    hook = tmp / 'start.yml'
    hook.write_text('- name: Start the app (test hook)\n  ansible.builtin.copy:\n    dest: "%s"\n'
                    '    content: started\n    mode: "0644"\n' % (tmp / 'started'))
    extra = {
        'dr_site': 'test-dr', 'dr_report_dir': str(tmp / 'reports'),
        'dr_objectives': {'database': {'rto': '4h', 'rpo': '1h'}, 'application': {'rto': '4h', 'rpo': None}},
        'dr_primary_checks': [{'name': 'primary', 'type': 'tcp', 'host': '127.0.0.1', 'port': c.server.port,
                               'timeout': 2}],
        'dr_database_method': 'pitr',
        'dr_pitr_stanza': c.stanza, 'dr_pitr_config_file': c.config, 'dr_pitr_data_dir': data_dir,
        'dr_pitr_port': free_port(),
        # a dump store that does not exist: a dump restore would fail, so the phase proves it went through PITR
        'dr_restore_store': str(tmp / 'no-dump-store'),
        'dr_files': [],
        'dr_app_start_tasks_file': str(hook),
        'dr_app_health_checks': [{'name': 'app', 'type': 'http', 'url': app_url + '/health', 'expect_status': [200]}],
        'dr_verify_queries': [],
        'dr_verify_requests': [{'name': 'app', 'url': app_url + '/', 'body_contains': '"status"'}],
    }
    extra.update(pitr)
    return extra


def _report(tmp):
    with open(str(tmp / 'reports' / 'dr-rehearsal.json')) as f:
        return json.load(f)


def _utc(text):
    """An aware datetime from '2026-01-31T14:04:59.5Z' or PostgreSQL's '2026-01-31 14:04:59.5+00'."""
    text = text.strip().replace(' ', 'T')
    if text.endswith('+00'):
        text += ':00'
    return datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))


def test_rehearsal_by_pitr_to_a_time_recovers_the_dropped_table_and_reports_the_wal_rpo(
        pitr_cluster, app_url, data_dir, tmp_path):
    c = pitr_cluster
    target, digest = _lose_a_table(c)
    extra = _vars(c, tmp_path, app_url, data_dir, dr_pitr_target_type='time', dr_pitr_target=target,
                  dr_pitr_verify_queries=[{'sql': 'SELECT count(*) FROM orders', 'expect': '1200'},
                                          {'sql': DIGEST_SQL, 'expect': digest},
                                          {'sql': "SELECT to_regclass('later') IS NULL", 'expect': 't'}])
    r = run_playbook('dr_rehearsal', extra, tmp_path, groups=GROUPS)
    assert r.returncode == 0, r.stdout[-5000:]
    assert c.seaweed.secret_key not in r.stdout

    report = _report(tmp_path)
    assert report['ok'] is True, report['missed_objectives']
    status = {p['name']: p['status'] for p in report['phases']}
    assert status['database'] == 'ok' and status['switch'] == 'skipped'
    # the verification ran inside the recovered cluster (dr_pitr_verify_queries), torn down since: said, not rerun
    assert status['verify_db'] == 'skipped'
    verify_detail = next(p['detail'] for p in report['phases'] if p['name'] == 'verify_db')
    assert 'verified inside the recovered cluster' in verify_detail
    detail = next(p['detail'] for p in report['phases'] if p['name'] == 'database')
    assert '3 verification queries passed' in detail and 'torn down' in detail
    # the RPO: the failure (the run's start) minus the recovery target, from the WAL archive
    db = {comp['name']: comp for comp in report['components']}['database']
    assert db['rpo_source'] == 'wal_archive' and db['rpo_met'] is True
    start = next(p['started_at'] for p in report['phases'] if p['name'] == 'start')
    expected = (_utc(start) - _utc(target)).total_seconds()
    assert expected > 0 and abs(db['rpo_s'] - expected) < 0.01
    # the pgBackRest full backup was taken before the rows 1001-1200: a dump-style RPO (its age) would be larger
    created = _utc(report['meta']['backup_created_at'])
    assert (_utc(start) - created).total_seconds() > db['rpo_s']
    # a rehearsal: the recovered cluster is gone, the live cluster was never touched (the table is still dropped)
    assert not os.path.exists(data_dir)
    assert c.server.psql("SELECT to_regclass('orders') IS NULL") == 't'
    assert c.server.psql('SELECT count(*) FROM later') == '1'


def test_rehearsal_by_pitr_to_the_latest_measures_the_gap_to_the_last_archived_commit(
        pitr_cluster, app_url, data_dir, tmp_path):
    c = pitr_cluster
    _lose_a_table(c)
    last_commit = c.server.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
    extra = _vars(c, tmp_path, app_url, data_dir,
                  dr_pitr_verify_queries=[{'sql': 'SELECT count(*) FROM later', 'expect': '1'},
                                          {'sql': "SELECT to_regclass('orders') IS NULL", 'expect': 't'}])
    r = run_playbook('dr_rehearsal', extra, tmp_path, groups=GROUPS)
    assert r.returncode == 0, r.stdout[-5000:]
    report = _report(tmp_path)
    db = {comp['name']: comp for comp in report['components']}['database']
    assert db['rpo_source'] == 'wal_archive' and db['rpo_met'] is True
    # the last archived commit (INSERT INTO later) is before the clock read after it: the RPO is at least the gap
    # from that read to the start of the run, and at most the gap from the commit before the table was lost
    start = _utc(next(p['started_at'] for p in report['phases'] if p['name'] == 'start'))
    assert db['rpo_s'] >= (start - _utc(last_commit + '+00')).total_seconds() - 0.001
    assert not os.path.exists(data_dir)


def test_rehearsal_by_pitr_refuses_a_target_the_archive_does_not_reach_and_goes_red(
        pitr_cluster, app_url, data_dir, tmp_path):
    c = pitr_cluster
    _lose_a_table(c)
    future = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).strftime(
        '%Y-%m-%d %H:%M:%S+00')
    extra = _vars(c, tmp_path, app_url, data_dir, dr_pitr_target_type='time', dr_pitr_target=future)
    r = run_playbook('dr_rehearsal', extra, tmp_path, groups=GROUPS)
    assert r.returncode != 0
    assert 'the archive reaches only to' in r.stdout
    report = _report(tmp_path)
    status = {p['name']: p['status'] for p in report['phases']}
    assert status['database'] == 'failed' and report['failed_phases'] == ['database']
    assert 'Nothing was touched' in next(p['detail'] for p in report['phases'] if p['name'] == 'database')
    db = {comp['name']: comp for comp in report['components']}['database']
    assert db['rpo_s'] is None and db['rpo_met'] is False       # nothing recovered: not measured, a miss
    assert not os.path.exists(data_dir)
    assert c.server.psql('SELECT count(*) FROM later') == '1'
