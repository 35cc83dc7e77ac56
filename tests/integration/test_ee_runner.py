# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real runbooks inside the execution environment, run by ansible-runner the way an AWX execution node runs a job:
``ansible-runner run --process-isolation --container-image <EE>`` with podman on the host network, against the real
PostgreSQL and S3 (moto) of the test session. The EE is built by scripts/ee.sh (`make ee`; cached by its inputs' hash).

Each job is checked by its status, its ``artifact_data`` (the ``runbook_stats`` the playbook handed to set_stats,
what AWX stores on the job and passes down a workflow) and the report files in the job's artifacts directory.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from backup_fixtures import create_db, drop_db, new_bucket, s3_keys, unique_db
from ee_runner_fixtures import run_job
from testkit import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def ee_image():
    env = dict(os.environ, CONTAINERS_CONF=os.path.join(REPO, 'containers.conf'))
    r = subprocess.run([os.path.join(REPO, 'scripts', 'ee.sh')], capture_output=True, text=True, timeout=3600,
                       env=env, check=False)
    assert r.returncode == 0, r.stderr[-5000:]
    return r.stdout.strip().splitlines()[-1]


def _connections(pg, moto_server, bucket):
    return {'runbook_postgres': {'login_host': '127.0.0.1', 'login_port': pg.port, 'login_password': pg.password,
                                 'ssl_mode': 'disable'},
            'runbook_store': {'store': 's3://%s/pg' % bucket, 's3_endpoint_url': moto_server,
                              'aws_region': 'us-east-1', 'aws_access_key': 'testing', 'aws_secret_key': 'testing'}}


def _assert_reports_in_artifacts(job, stats, names):
    """Every report the job claims is in its artifacts directory (reports/), and the expected ones are there."""
    claimed = [job.host_path(p) for p in stats['reports']]
    assert claimed, stats
    for path in claimed:
        assert path.startswith(os.path.join(job.artifacts, 'reports') + os.sep), (path, job.artifacts)
        assert os.path.isfile(path), path
    assert sorted(os.path.basename(p) for p in claimed) == sorted(names)


def test_health_check_in_the_ee(ee_image, postgres_server, moto_server, tmp_path):
    pg = postgres_server
    port = int(moto_server.rsplit(':', 1)[1])
    extra = {'health_checks_system': [],
             'health_checks_ee': [
                 {'name': 'postgres', 'type': 'postgres', 'login_host': '127.0.0.1', 'login_port': pg.port,
                  'login_password': pg.password, 'ssl_mode': 'disable', 'timeout': 30},
                 {'name': 's3 port', 'type': 'tcp', 'host': '127.0.0.1', 'port': port, 'timeout': 30}],
             'health_fail_on': 'critical'}
    job = run_job(tmp_path / 'health', 'runbook.ops.health_check', extra, image=ee_image, groups=('db',))
    assert (job.status, job.rc) == ('successful', 0), job.stdout[-4000:]
    assert pg.password not in job.stdout
    stats = job.artifact_data['runbook_stats']['health_check']
    assert stats['status'] == 'successful' and stats['check_mode'] is False
    assert stats['hosts'] == {'total': 1, 'failed': []}
    assert stats['figures']['hosts_ok'] + stats['figures']['hosts_warning'] == 1
    assert stats['figures']['hosts_critical'] == 0
    _assert_reports_in_artifacts(job, stats, ['health.json', 'health.md'])
    with open(job.host_path(stats['reports'][0])) as f:
        report = json.load(f)
    assert report['status'] == stats['figures']['fleet_status']
    assert pg.password not in json.dumps(report)

    # --check under runner: nothing claimed that was not written
    job = run_job(tmp_path / 'health-check', 'runbook.ops.health_check', extra, image=ee_image, cmdline='--check')
    assert job.status == 'successful', job.stdout[-4000:]
    stats = job.artifact_data['runbook_stats']['health_check']
    assert stats['check_mode'] is True
    for path in stats['reports']:
        assert os.path.isfile(job.host_path(path)), path
    for path in stats['would_write']:
        assert not os.path.exists(job.host_path(path)), path


def test_backup_then_verify_backup_in_the_ee(ee_image, postgres_server, moto_server, tmp_path):
    pg = postgres_server
    db = create_db(pg, unique_db('ee'), rows=150)
    bucket = new_bucket(moto_server)
    common = _connections(pg, moto_server, bucket)
    try:
        job = run_job(tmp_path / 'backup', 'runbook.ops.backup', dict(common, backup_db=db), image=ee_image)
        assert (job.status, job.rc) == ('successful', 0), job.stdout[-4000:]
        assert pg.password not in job.stdout
        stats = job.artifact_data['runbook_stats']['backup']
        assert stats['status'] == 'successful'
        backup = stats['figures']['backups']['localhost']
        keys = s3_keys(moto_server, bucket, 'pg/')
        # the figures are the real backup: its id names the objects in S3, its size is the data object's
        assert keys['pg/%s/data.dump.zst' % backup['backup_id']] == backup['size']
        assert backup['database'] == db
        _assert_reports_in_artifacts(job, stats, ['backup.json'])

        job = run_job(tmp_path / 'verify', 'runbook.ops.verify_backup', dict(common, restore_source_db=db),
                      image=ee_image)
        assert (job.status, job.rc) == ('successful', 0), job.stdout[-4000:]
        stats = job.artifact_data['runbook_stats']['verify_backup']
        restored = stats['figures']['restores']['localhost']
        assert restored['backup_id'] == backup['backup_id'] and restored['verified'] is True
        assert restored['tables'] == {'public.items': 150, 'public.events': 300}
        assert restored['rows'] == 450
        _assert_reports_in_artifacts(job, stats, ['verify_backup.json'])
    finally:
        drop_db(pg, db)


def test_a_failed_backup_in_the_ee_still_reports_its_result(ee_image, postgres_server, moto_server, tmp_path):
    pg = postgres_server
    bucket = new_bucket(moto_server)
    job = run_job(tmp_path / 'backup', 'runbook.ops.backup',
                  dict(_connections(pg, moto_server, bucket), backup_db='no_such_db_' + unique_db()), image=ee_image)
    assert job.status == 'failed' and job.rc != 0
    stats = job.artifact_data['runbook_stats']['backup']
    assert stats['status'] == 'failed' and stats['hosts']['failed'] == ['localhost']
    assert stats['figures']['backups'] == {}
    for path in stats['reports']:
        assert os.path.isfile(job.host_path(path))
    assert s3_keys(moto_server, bucket) == {}
