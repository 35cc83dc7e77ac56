"""What side_effect_rollback.yml recorded between its steps, and the reports on the control node."""
import json
import os

EPHEMERAL = os.environ['MOLECULE_EPHEMERAL_DIRECTORY']
R1, R2 = '20261101T080000Z', '20261110T120000Z'
HELD, CONCURRENT = '20261121T090000Z', '20261121T090500Z'
testinfra_hosts = ['deploy-app1']


def _record():
    with open(os.path.join(EPHEMERAL, 'side_effect_rollback.json')) as f:
        return json.load(f)


def _report(name):
    with open(os.path.join(EPHEMERAL, 'reports', name)) as f:
        return json.load(f)


def test_lock_was_held_by_the_first_deploy():
    assert _record()['lock_held_by'] == 'deploy %s by molecule' % HELD


def test_concurrent_deploy_refused_at_the_lock_step():
    report = _report('deploy-demo-app-%s.json' % CONCURRENT)['hosts'][0]
    assert (report['failed_step'], report['switched']) == ('lock', False)


def test_held_deploy_stopped_before_the_fetch():
    assert _report('deploy-demo-app-%s.json' % HELD)['hosts'][0]['failed_step'] == 'fetch'


def test_rollback_without_database_served_v1():
    assert _record()['served_after_rollback_without_db']['version'] == 'v1'


def test_rollback_without_database_left_the_migration():
    assert _record()['sku_columns_after_rollback_without_db'] == 1


def test_rollback_report_names_the_restored_backup():
    report = _report('rollback-demo-app-%s-deploy-app1.json' % R1)
    assert (report['from'], report['database_restored'], report['health'], bool(report['backup_id'])) == \
        (R2, True, 'ok', True)
