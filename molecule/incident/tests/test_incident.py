"""Verify the incident scenario: the reports written on the control node and the state of the host."""
import json
import os

import pytest

REPORTS = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'reports')
HOST = 'incident-db1'
testinfra_hosts = [HOST]


def _load(name):
    with open(os.path.join(REPORTS, name)) as f:
        return json.load(f)


def _checks(report):
    for h in report['hosts']:
        if h['host'] == HOST:
            return {c['name']: c for c in h['checks']}
    raise AssertionError('%s missing from the report' % HOST)


@pytest.fixture(scope='module')
def during():
    return _checks(_load('health-converge.json'))


@pytest.fixture(scope='module')
def after():
    return _checks(_load('health.json'))


@pytest.fixture(scope='module')
def incident():
    return _load('db-incident.json')


def test_crash_looping_unit_reported_critical_with_its_restarts(during):
    worker = during['flaky worker']
    assert worker['status'] == 'critical', worker
    assert worker['metrics']['running'] == 0 and worker['metrics']['restarts'] >= 2, worker['metrics']


def test_log_was_quiet_during_the_crash_loop(during):
    assert during['worker errors']['status'] == 'ok' and during['worker errors']['metrics']['errors'] == 0


def test_worker_is_back_after_service_restart(after):
    worker = after['flaky worker']
    assert worker['status'] != 'critical' and worker['metrics']['running'] == 1, worker


def test_worker_unit_is_active(host):
    assert host.run('systemctl is-active flaky-worker').stdout.strip() == 'active'


def test_error_burst_makes_the_log_probe_critical(after):
    errors = after['worker errors']
    assert errors['status'] == 'critical' and errors['metrics']['errors'] == 30, errors


def test_runaway_query_terminated_with_the_reason(incident):
    host = incident['hosts'][0]
    assert incident['terminated_count'] == 1 and host['mode'] == 'terminate'
    t = host['terminated'][0]
    assert t['application_name'] == 'runaway-report' and t['query'] == 'SELECT pg_sleep(3600)'
    assert t['terminate_reason'] == 'INC-4: runaway report query' and t['state'] == 'active'


def test_report_markdown_lists_the_terminated_query(incident):
    with open(os.path.join(REPORTS, 'db-incident.md')) as f:
        md = f.read()
    pid = incident['hosts'][0]['terminated'][0]['pid']
    row = [line for line in md.splitlines() if line.startswith('| %d |' % pid)]
    assert row and 'runaway-report' in row[0] and 'SELECT pg_sleep(3600)' in row[0]


def test_runaway_query_is_gone_from_the_server(host):
    out = host.run("runuser -u postgres -- psql -X -A -t -d postgres -c "
                   "\"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'runaway-report'\"")
    assert out.rc == 0 and out.stdout.strip() == '0', out.stderr
