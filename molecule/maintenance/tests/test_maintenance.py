"""The hosts after the weekly maintenance (converge) and its refusal / failing assertion (side_effect)."""
import json
import os

import pytest
import testinfra

REPORTS = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'reports')
testinfra_hosts = ['mnt-db1']
PSQL = "PGPASSWORD=lab-postgres-pw psql -h 127.0.0.1 -U postgres -AtX -d appdb -c "
S3_LIST = ("/opt/runbook/venv/bin/python -c 'import boto3; s3 = boto3.client(\"s3\", endpoint_url=\"http://mnt-s3:5000\", "
           "region_name=\"us-east-1\", aws_access_key_id=\"lab\", aws_secret_access_key=\"lab\"); "
           "print(\"\\n\".join(o[\"Key\"] for o in s3.list_objects_v2(Bucket=\"runbook-backups\", "
           "Prefix=\"mnt-db1/\").get(\"Contents\", [])))'")


def _report(name):
    with open(os.path.join(REPORTS, name)) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def converge():
    return _report('weekly_maintenance-converge.json')


def test_dead_tuples_vacuumed(host):
    assert host.check_output(PSQL + "\"SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'items'\"") == '0'
    assert host.check_output(PSQL + "\"SELECT count(*) FROM items\"") == '1000'


def test_a_new_backup_in_s3(host, converge):
    keys = host.check_output(S3_LIST).splitlines()
    manifests = [k for k in keys if k.endswith('/manifest.json')]
    assert len(manifests) == 1
    backup = [p for p in converge['hosts']['mnt-db1']['phases'] if p['name'] == 'backup'][0]
    assert backup['status'] == 'ok'


def test_cache_keys_of_the_pattern_gone_others_kept():
    cache = testinfra.get_host('podman://mnt-cache1')
    cli = 'redis-cli -a lab-redis-pw --no-auth-warning '
    assert cache.check_output(cli + "--scan --pattern 'cache:*' | wc -l") == '0'
    assert cache.check_output(cli + "--scan --pattern 'session:*' | wc -l") == '5'


def test_old_logs_gone_new_kept_and_logrotate_policy():
    app = testinfra.get_host('podman://mnt-app1')
    assert not app.file('/var/log/nginx/access.log.5.gz').exists
    assert not app.file('/var/log/nginx/access.log.6.gz').exists
    assert app.file('/var/log/nginx/access.log.1.gz').exists
    assert app.file('/var/log/nginx/access.log').exists
    policy = app.file('/etc/logrotate.d/demo-app')
    assert policy.exists and 'rotate 14' in policy.content_string and 'daily' in policy.content_string
    assert app.run('logrotate -d /etc/logrotate.d/demo-app').rc == 0


def test_converge_report(converge):
    assert converge['status'] == 'ok' and converge['check_mode'] is False
    assert converge['window']['overridden'] is True
    assert sorted(converge['hosts']) == ['mnt-app1', 'mnt-cache1', 'mnt-db1']
    for host, result in converge['hosts'].items():
        assert result['status'] == 'ok', (host, result['error'])
    db_phases = {p['name']: p['status'] for p in converge['hosts']['mnt-db1']['phases']}
    for phase in ('backup', 'vacuum', 'reindex', 'integrity'):
        assert db_phases[phase] == 'ok', phase
    assert {p['name']: p['status'] for p in converge['hosts']['mnt-cache1']['phases']}['cache'] == 'ok'
    assert {p['name']: p['status'] for p in converge['hosts']['mnt-app1']['phases']}['logs'] == 'ok'
    assert os.path.exists(os.path.join(REPORTS, 'weekly_maintenance.md'))


def test_failing_assertion_report_written():
    report = _report('weekly_maintenance-failing.json')
    assert report['status'] == 'failed'
    assert report['failed'][0]['host'] == 'mnt-db1' and report['failed'][0]['phase'] == 'integrity'
    assert 'impossible count' in json.dumps(report['failed'])
