# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where reports go by default, through the real playbooks (no <role>_report_dir given):
- under ansible-runner (as AWX runs a job): the job's artifacts directory (AWX_ISOLATED_DATA_DIR, set by runner);
- a plain ansible-playbook run: ./reports in its working directory, whatever PWD says;
- RUNBOOK_REPORT_DIR and runbook_report_dir win;
and the set_stats record (artifact_data) never claims a file a --check run did not write."""
from __future__ import annotations

import json
import os
import socket

import pytest

from ee_runner_fixtures import run_job
from health_fixtures import closed_port
from playbooks import run_playbook


@pytest.fixture(scope='module')
def listening_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(64)
    yield sock.getsockname()[1]
    sock.close()


def _probes(port):
    # one tcp probe to a port this test listens on; grading fails only on critical (latency may warn)
    return {'health_checks_system': [],
            'health_checks_test': [{'name': 'listener', 'type': 'tcp', 'host': '127.0.0.1', 'port': port,
                                    'timeout': 30}],
            'health_fail_on': 'critical'}


def _stats_from_stdout(stdout):
    """The custom stats line the default callback prints with ANSIBLE_SHOW_CUSTOM_STATS."""
    line = next(x for x in stdout.splitlines() if x.strip().startswith('RUN:'))
    return json.loads(line.split('RUN:', 1)[1])


def test_under_runner_reports_go_to_the_job_artifacts(tmp_path, listening_port):
    job = run_job(tmp_path / 'pdd', 'runbook.ops.health_check', _probes(listening_port), groups=('db',))
    assert job.status == 'successful', job.stdout[-3000:]
    stats = job.artifact_data['runbook_stats']['health_check']
    assert stats['reports'] == [os.path.join(job.artifacts, 'reports', 'health.json'),
                                os.path.join(job.artifacts, 'reports', 'health.md')]
    assert all(os.path.isfile(p) for p in stats['reports'])
    assert not os.path.exists(tmp_path / 'pdd' / 'reports')
    assert not os.path.exists(tmp_path / 'pdd' / 'project' / 'reports')


def test_a_plain_run_writes_beside_its_working_directory_not_pwd(tmp_path, listening_port):
    bogus = tmp_path / 'bogus-pwd'
    r = run_playbook('health_check', _probes(listening_port), tmp_path, groups=('db',),
                     env={'PWD': str(bogus), 'ANSIBLE_SHOW_CUSTOM_STATS': 'True', 'RUNBOOK_REPORT_DIR': '',
                          'AWX_ISOLATED_DATA_DIR': ''})
    assert r.returncode == 0, r.stdout[-3000:]
    assert (tmp_path / 'reports' / 'health.json').is_file()
    assert not bogus.exists()
    stats = _stats_from_stdout(r.stdout)['runbook_stats']['health_check']
    assert stats['reports'] == [str(tmp_path / 'reports' / 'health.json'), str(tmp_path / 'reports' / 'health.md')]


def test_runbook_report_dir_env_and_variable_win(tmp_path, listening_port):
    r = run_playbook('health_check', _probes(listening_port), tmp_path, groups=('db',),
                     env={'RUNBOOK_REPORT_DIR': str(tmp_path / 'from-env'), 'AWX_ISOLATED_DATA_DIR': ''})
    assert r.returncode == 0, r.stdout[-3000:]
    assert (tmp_path / 'from-env' / 'health.md').is_file()
    r = run_playbook('health_check', dict(_probes(listening_port), runbook_report_dir=str(tmp_path / 'from-var')), tmp_path,
                     groups=('db',), env={'RUNBOOK_REPORT_DIR': str(tmp_path / 'from-env2')})
    assert r.returncode == 0, r.stdout[-3000:]
    assert (tmp_path / 'from-var' / 'health.md').is_file() and not (tmp_path / 'from-env2').exists()


def test_check_mode_never_claims_a_report_it_did_not_write(tmp_path, listening_port):
    # an older report from an earlier run sits where the check run would write
    old = tmp_path / 'reports'
    old.mkdir()
    (old / 'health.json').write_text('{"status": "ok"}')
    os.utime(old / 'health.json', (1, 1))
    r = run_playbook('health_check', _probes(listening_port), tmp_path, groups=('db',), check=True,
                     env={'ANSIBLE_SHOW_CUSTOM_STATS': 'True', 'RUNBOOK_REPORT_DIR': '', 'AWX_ISOLATED_DATA_DIR': ''})
    assert r.returncode == 0, r.stdout[-3000:]
    stats = _stats_from_stdout(r.stdout)['runbook_stats']['health_check']
    assert stats['check_mode'] is True
    for path in stats['reports']:
        assert os.path.getmtime(path) > 1, path          # claimed only when this run wrote it
    for path in stats['would_write']:
        assert not os.path.exists(path) or os.path.getmtime(path) == 1, path
    assert set(stats['reports']) | set(stats['would_write']) == {str(old / 'health.json'), str(old / 'health.md')}


def test_a_failed_run_records_failed_stats(tmp_path):
    extra = {'health_checks_system': [],
             'health_checks_test': [{'name': 'closed', 'type': 'tcp', 'host': '127.0.0.1', 'port': closed_port(),
                                     'timeout': 5}],
             'health_fail_on': 'critical'}
    job = run_job(tmp_path / 'pdd', 'runbook.ops.health_check', extra, groups=('db',))
    assert job.status == 'failed', job.stdout[-3000:]
    stats = job.artifact_data['runbook_stats']['health_check']
    assert stats['status'] == 'failed' and stats['hosts']['failed'] == ['localhost']
    assert stats['figures']['hosts_critical'] == 1
    assert all(os.path.isfile(p) for p in stats['reports'])
