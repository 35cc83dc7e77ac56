"""The deploy reports written on the control node."""
import json
import os

REPORTS = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'reports')
R1, R2, R3 = '20261101T080000Z', '20261110T120000Z', '20261120T101500Z'
testinfra_hosts = ['deploy-app1']


def _host_report(release_id):
    with open(os.path.join(REPORTS, 'deploy-demo-app-%s.json' % release_id)) as f:
        return json.load(f)['hosts'][0]


def test_v2_report_green_over_v1():
    report = _host_report(R2)
    assert (report['health'], report['previous_release'], report['failed_step']) == ('ok', R1, '')


def test_v3_report_names_the_failed_step_and_the_rollback():
    report = _host_report(R3)
    assert (report['failed_step'], report['rolled_back_to'], report['rollback_health']) == ('health', R2, 'ok')
