"""Verify the health runbook's reports (control node) and the hosts' state after side_effect."""
import json
import os

import pytest

REPORTS = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'reports')
testinfra_hosts = ['health-cache1']


def _load(name):
    with open(os.path.join(REPORTS, name)) as f:
        return json.load(f)


def _checks(report, host):
    for h in report['hosts']:
        if h['host'] == host:
            return {c['name']: c for c in h['checks']}
    raise AssertionError('host %s missing from the report' % host)


def _healthy(check):
    """ok, or a warning that only latency raised: the lab's containers share the machine's CPUs with whatever else
    runs there (a test suite, a build), so a scenario that is not about latency never asserts on it."""
    if check['status'] == 'ok':
        return True
    findings = [part.strip() for part in check['message'].split(';') if part.strip()]
    return check['status'] == 'warning' and bool(findings) and all(f.startswith('latency_ms') for f in findings)


@pytest.fixture(scope='module')
def converge_report():
    return _load('health-converge.json')


@pytest.fixture(scope='module')
def broken_report():
    return _load('health.json')


def test_converge_report_covers_every_host(converge_report):
    assert sorted(h['host'] for h in converge_report['hosts']) == ['health-app1', 'health-cache1', 'health-db1']


def test_converge_report_has_nothing_critical(converge_report):
    assert converge_report['host_summary']['critical'] == 0
    assert converge_report['status'] in ('ok', 'warning')


def test_converge_api_probe_ok(converge_report):
    api = _checks(converge_report, 'health-app1')['api health']
    assert _healthy(api), api
    assert api['metrics']['status_code'] == 200


def test_converge_postgres_probe_ok(converge_report):
    pg = _checks(converge_report, 'health-db1')['postgres']
    assert _healthy(pg), pg
    assert 0 < pg['metrics']['connections_pct'] < 70


def test_converge_redis_probe_ok(converge_report):
    redis = _checks(converge_report, 'health-cache1')['redis']
    assert _healthy(redis), redis


def test_system_probes_on_every_host(converge_report):
    for h in converge_report['hosts']:
        names = {c['name'] for c in h['checks']}
        assert {'root disk', 'memory', 'load'} <= names, h['host']


def test_redis_is_really_stopped(host):
    assert not host.service('redis-server').is_running


def test_stopped_redis_is_critical(broken_report):
    redis = _checks(broken_report, 'health-cache1')['redis']
    assert redis['status'] == 'critical'
    assert 'connect' in redis['message'].lower() or 'refused' in redis['message'].lower(), redis['message']
    assert broken_report['status'] == 'critical'


def test_broken_report_lists_worst_host_first(broken_report):
    assert broken_report['hosts'][0]['host'] == 'health-cache1'


def test_other_hosts_unaffected(broken_report):
    api = _checks(broken_report, 'health-app1')['api health']
    pg = _checks(broken_report, 'health-db1')['postgres']
    assert _healthy(api), api
    assert _healthy(pg), pg


def test_markdown_report_names_the_failed_check():
    with open(os.path.join(REPORTS, 'health.md')) as f:
        text = f.read()
    first_host = text.index('## health-cache1: CRITICAL')
    assert first_host < text.index('## health-app1')
    assert '| redis | redis | CRITICAL |' in text
