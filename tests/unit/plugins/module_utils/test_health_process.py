"""The process check type of health_check (module_utils/health_process.py): parsing and restarts since the last check."""
import datetime
import json
import os
import subprocess

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import health
from ansible_collections.runbook.ops.plugins.module_utils import health_process as hp
from ansible_collections.runbook.ops.plugins.module_utils import probe

UTC = datetime.timezone.utc

SYSTEMD_ACTIVE = """LoadState=loaded
ActiveState=active
SubState=running
NRestarts=3
ExecMainStartTimestampMonotonic=5000000
ExecMainStartTimestamp=Sun 2026-12-06 04:46:23 UTC
MemoryCurrent=7340032
MainPID=42
"""


def norm(**kw):
    check = dict(name='p', type='process')
    check.update(kw)
    return health.normalize_checks([check])[0]


def test_systemd_active_unit():
    facts = hp.parse_systemctl_show(SYSTEMD_ACTIVE, now_monotonic_us=65000000)
    assert facts['running'] == 1 and facts['state'] == 'active/running'
    assert (facts['restarts'], facts['uptime_s'], facts['memory_bytes']) == (3, 60.0, 7340032)


def test_systemd_failed_unit_and_unset_memory():
    text = SYSTEMD_ACTIVE.replace('ActiveState=active', 'ActiveState=failed').replace('SubState=running', 'SubState=failed') \
        .replace('MemoryCurrent=7340032', 'MemoryCurrent=[not set]')
    facts = hp.parse_systemctl_show(text, now_monotonic_us=65000000)
    assert (facts['running'], facts['state'], facts['uptime_s'], facts['memory_bytes']) == (0, 'failed/failed', None, None)
    text = text.replace('MemoryCurrent=[not set]', 'MemoryCurrent=18446744073709551615')
    assert hp.parse_systemctl_show(text, 1)['memory_bytes'] is None


def test_systemd_unknown_unit_is_an_error():
    with pytest.raises(probe.ProbeError, match='LoadState not-found'):
        hp.parse_systemctl_show('LoadState=not-found\nActiveState=inactive\n', 1)


def _pm2(name, status, restarts, uptime_ms, memory, pm_id=0):
    return {'name': name, 'pm_id': pm_id, 'monit': {'memory': memory, 'cpu': 0},
            'pm2_env': {'status': status, 'restart_time': restarts, 'pm_uptime': uptime_ms, 'created_at': 1000 + pm_id,
                        'SECRET_TOKEN': 'hunter2'}}


def test_pm2_cluster_instances_are_summed_and_no_secret_kept():
    now = 1_800_000_000_000
    jlist = [_pm2('api', 'online', 2, now - 30000, 1000, 0), _pm2('api', 'online', 5, now - 90000, 3000, 1),
             _pm2('other', 'errored', 9, now, 1, 2)]
    text = '[PM2] Spawning PM2 daemon\n' + json.dumps(jlist) + '\n'
    facts = hp.parse_pm2_jlist(text, 'api', now)
    assert (facts['running'], facts['restarts'], facts['uptime_s'], facts['memory_bytes'], facts['instances']) == \
        (1, 7, 30.0, 4000, 2)
    assert 'hunter2' not in json.dumps(facts)


def test_pm2_errored_app_is_not_running_and_missing_app_is_an_error():
    now = 1_800_000_000_000
    text = json.dumps([_pm2('api', 'errored', 15, now - 1000, 0)])
    facts = hp.parse_pm2_jlist(text, 'api', now)
    assert (facts['running'], facts['state'], facts['restarts'], facts['uptime_s']) == (0, 'errored', 15, None)
    with pytest.raises(probe.ProbeError, match="Could not find the pm2 app 'web'"):
        hp.parse_pm2_jlist(text, 'web', now)


def test_container_inspect_podman_and_docker_timestamps():
    now = datetime.datetime(2026, 12, 6, 5, 0, 0, tzinfo=UTC)
    state = {'Status': 'running', 'Running': True, 'StartedAt': '2026-12-06T04:59:00.123456789+00:00'}
    podman = [{'Id': 'abc', 'RestartCount': 4, 'State': state}]
    facts = hp.parse_container_inspect(json.dumps(podman), 'web', now)
    assert (facts['running'], facts['restarts'], facts['uptime_s']) == (1, 4, 59.9)
    state = {'Status': 'exited', 'Running': False, 'ExitCode': 137, 'StartedAt': '2026-12-06T03:00:00.5Z'}
    docker = [{'Id': 'abc', 'RestartCount': 0, 'State': state}]
    facts = hp.parse_container_inspect(json.dumps(docker), 'web', now)
    assert (facts['running'], facts['state'], facts['uptime_s'], facts['exit_code']) == (0, 'exited', None, 137)
    assert hp.parse_rfc3339('2026-12-06T06:00:00-01:00') == datetime.datetime(2026, 12, 6, 7, 0, tzinfo=UTC)
    assert hp.parse_rfc3339('0001-01-01T00:00:00Z') is None


@pytest.mark.parametrize('previous, now, expected', [
    (None, 3, None),          # first check
    ({'restarts': 3}, 3, 0),
    ({'restarts': 3}, 8, 5),
    ({'restarts': 9}, 2, 2),  # the counter went down: the service was re-created
    ({'restarts': 'x'}, 2, None),
])
def test_restarts_since_last(previous, now, expected):
    assert hp.restarts_since(previous, now, 'id') == expected


def test_run_keeps_the_count_between_checks(tmp_path, monkeypatch):
    counts = iter([4, 4, 7])

    def fake_run(argv, **kwargs):
        assert argv == ['podman', 'container', 'inspect', 'web']
        body = [{'Id': 'a', 'RestartCount': next(counts), 'State': {'Status': 'running', 'StartedAt': ''}}]
        return subprocess.CompletedProcess(argv, 0, json.dumps(body).encode(), b'')
    monkeypatch.setattr(hp.subprocess, 'run', fake_run)
    check = norm(manager='container', service='web', state_dir=str(tmp_path / 'state'))
    got = [hp.run(check).metrics['restarts_since_last'] for dummy in range(3)]
    assert got == [None, 0, 3]
    files = os.listdir(str(tmp_path / 'state'))
    assert len(files) == 1 and files[0].startswith('container-')


def test_not_running_is_critical_through_the_runner(tmp_path, monkeypatch):
    def fake_run(argv, **kwargs):
        assert argv[:3] == ['systemctl', 'show', 'app.service']
        return subprocess.CompletedProcess(argv, 0, SYSTEMD_ACTIVE.replace('=active', '=failed').encode(), b'')
    monkeypatch.setattr(hp.subprocess, 'run', fake_run)
    report = health.run_checks([norm(manager='systemd', service='app', state_dir='')])
    assert report['status'] == 'critical', report
    assert 'systemd app is not running (failed/running)' in json.dumps(report)


def test_command_failure_names_the_tool(monkeypatch):
    def fake_run(argv, **kwargs):
        return subprocess.CompletedProcess(argv, 125, b'', b'Error: no such container web\n')
    monkeypatch.setattr(hp.subprocess, 'run', fake_run)
    with pytest.raises(probe.ProbeError, match='podman exited with 125 .Error: no such container web'):
        hp.run(norm(manager='container', service='web', state_dir=''))


@pytest.mark.parametrize('bad', ['web; rm -rf /', '-rf', '', 'a b', '*'])
def test_hostile_service_names_are_refused(bad):
    with pytest.raises(probe.HealthConfigError, match='service must be'):
        norm(manager='pm2', service=bad)


def test_container_engine_only_with_container():
    with pytest.raises(probe.HealthConfigError, match='container_engine goes with manager container'):
        norm(manager='pm2', service='api', container_engine='docker')


# --------------------------------------------------------------------------- the service role's filters

def test_status_from_report_sums_units():
    report = {'status': 'critical', 'checks': [
        {'name': 'systemd api.service', 'status': 'ok', 'message': 'ok',
         'metrics': {'running': 1, 'state': 'active/running', 'restarts': 2, 'uptime_s': 50.0, 'memory_bytes': 100}},
        {'name': 'systemd worker.service', 'status': 'critical', 'message': 'not running',
         'metrics': {'running': 0, 'state': 'failed/failed', 'restarts': 3, 'uptime_s': None, 'memory_bytes': None}}]}
    got = hp.status_from_report(report, 'systemd', 'api')
    assert (got['running'], got['restarts'], got['uptime_s'], got['memory_bytes'], got['status']) == \
        (False, 5, 50.0, 100, 'critical')
    assert [r['name'] for r in got['services']] == ['api.service', 'worker.service']


def _k8s(replicas=2, ready=2, generation=3, observed=3):
    deployment = {'metadata': {'name': 'shop', 'generation': generation}, 'spec': {'replicas': replicas},
                  'status': {'readyReplicas': ready, 'updatedReplicas': replicas, 'observedGeneration': observed}}
    pods = [{'metadata': {'name': 'shop-1'}, 'status': {
        'phase': 'Running', 'startTime': '2026-12-06T04:00:00Z',
        'containerStatuses': [{'ready': ready >= replicas, 'restartCount': 4,
                               'lastState': {'terminated': {'reason': 'OOMKilled'}}}]}}]
    return deployment, pods


def test_k8s_status_grades_the_rollout():
    now = datetime.datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
    got = hp.k8s_status(*_k8s(), name='shop', now=now)
    assert (got['status'], got['state'], got['restarts'], got['uptime_s']) == ('ok', 'available', 4, 3600.0)
    assert got['services'][0]['last_termination_reason'] == 'OOMKilled'
    assert hp.k8s_status(*_k8s(ready=1), name='shop', now=now)['state'] == 'degraded'
    assert hp.k8s_status(*_k8s(ready=1, observed=2), name='shop', now=now)['state'] == 'rolling out'
    assert hp.k8s_status(*_k8s(ready=0), name='shop', now=now)['status'] == 'critical'
    assert hp.k8s_status(*_k8s(replicas=0, ready=0), name='shop', now=now)['state'] == 'scaled to 0'
    assert hp.k8s_status(None, [], 'shop')['state'] == 'not found'


def test_group_checks_leave_kubernetes_out_and_keep_no_state():
    checks = hp.group_checks([{'name': 'api', 'manager': 'pm2'}, {'name': 'shop', 'manager': 'kubernetes'},
                              {'name': 'web', 'units': ['web.service', 'web-worker.service']},
                              {'name': 'cache', 'manager': 'container', 'container_engine': '/usr/bin/docker'}])
    assert [(c['manager'], c['service']) for c in checks] == [
        ('pm2', 'api'), ('systemd', 'web.service'), ('systemd', 'web-worker.service'), ('container', 'cache')]
    assert all(c['state_dir'] == '' for c in checks) and checks[-1]['container_engine'] == 'docker'
    health.normalize_checks(checks)  # valid health_check input


def test_fleet_rows_and_markdown():
    fleet = {'app2': None, 'app1': [
        {'name': 'api', 'manager': 'pm2', 'status': 'ok', 'state': 'online', 'running': True, 'uptime_s': 3725,
         'restarts': 2, 'restarts_since_last': 0, 'memory_bytes': 52428800},
        {'name': 'a|b', 'manager': 'systemd', 'status': 'critical', 'state': 'failed/failed', 'running': False,
         'uptime_s': None, 'restarts': 9, 'restarts_since_last': 3, 'memory_bytes': None}]}
    report = hp.fleet_rows(fleet)
    assert [(r['host'], r['service']) for r in report['rows']] == [('app1', 'a|b'), ('app2', '-'), ('app1', 'api')]
    assert report['summary'] == {'ok': 1, 'warning': 0, 'critical': 2}
    text = hp.fleet_markdown(report)
    assert '| app1 | api | pm2 | ok | online | 1h 2m | 2 | 0 | 50.0 MiB |' in text
    assert '| app1 | a\\|b | systemd | critical |' in text
    assert 'no result: host unreachable' in text
