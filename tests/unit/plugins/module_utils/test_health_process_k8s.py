"""The process check type of health_check with manager kubernetes (module_utils/health_process.py): a Deployment
and its pods graded like the other runtimes; and the container manager's engine taken from the environment."""
import datetime

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import health
from ansible_collections.runbook.ops.plugins.module_utils import health_process as hp
from ansible_collections.runbook.ops.plugins.module_utils import probe

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 6, 5, 0, tzinfo=UTC)


def _pod(name, ready=True, restarts=0, reason=None, finished=None, started='2026-12-06T04:50:00Z'):
    last = {'terminated': {'reason': reason, 'exitCode': 137, 'finishedAt': finished}} if reason else {}
    return {'metadata': {'name': name}, 'status': {
        'phase': 'Running', 'startTime': '2026-12-06T04:00:00Z',
        'containerStatuses': [{'name': 'app', 'ready': ready, 'restartCount': restarts, 'lastState': last,
                               'state': {'running': {'startedAt': started}}}]}}


def _deployment(replicas=2, ready=2, generation=3, observed=3):
    return {'metadata': {'name': 'shop', 'uid': 'u-1', 'generation': generation,
                         'creationTimestamp': '2026-12-05T05:00:00Z'},
            'spec': {'replicas': replicas, 'selector': {'matchLabels': {'app': 'shop'}}},
            'status': {'readyReplicas': ready, 'updatedReplicas': replicas, 'observedGeneration': observed}}


def norm(**kw):
    check = dict(name='p', type='process')
    check.update(kw)
    return health.normalize_checks([check])[0]


def test_deployment_facts_sum_restarts_and_name_the_newest_termination():
    pods = [_pod('shop-a', restarts=3, reason='Error', finished='2026-12-06T04:10:00Z'),
            _pod('shop-b', restarts=4, reason='OOMKilled', finished='2026-12-06T04:40:00Z',
                 started='2026-12-06T04:59:00Z')]
    facts = hp.parse_k8s_deployment(_deployment(), pods, NOW)
    assert (facts['running'], facts['restarts'], facts['replicas'], facts['ready_replicas']) == (1, 7, 2, 2)
    assert facts['last_termination_reason'] == 'OOMKilled'
    assert facts['age_s'] == 86400.0
    assert facts['uptime_s'] == 60.0           # the youngest container (re)start, not the pod's start
    assert facts['state'] == 'available (2/2 ready)' and facts['identity'] == 'u-1'
    assert facts['memory_bytes'] is None


@pytest.mark.parametrize('replicas,ready,status,message', [
    (2, 2, probe.OK, ''),
    (2, 1, probe.WARNING, 'kubernetes shop is degraded: degraded (1/2 ready)'),
    (2, 0, probe.CRITICAL, 'kubernetes shop is not running (unavailable (0/2 ready))'),
    (0, 0, probe.CRITICAL, 'kubernetes shop is not running (scaled to 0 (0/0 ready))'),
])
def test_graded_like_the_other_runtimes(monkeypatch, tmp_path, replicas, ready, status, message):
    pods = [_pod('shop-%d' % i, ready=i < ready) for i in range(replicas)]
    monkeypatch.setattr(hp, 'read_k8s', lambda check, deadline: hp.parse_k8s_deployment(
        _deployment(replicas, ready), pods, NOW))
    check = norm(manager='kubernetes', service='shop', namespace='shop-prod', state_dir=str(tmp_path))
    result = health.run_one(check)
    assert result['status'] == status, result
    assert message in (result.get('message') or '')
    assert result['metrics']['ready_replicas'] == ready


def test_restarts_since_last_for_a_deployment(monkeypatch, tmp_path):
    counts = iter([2, 5])
    monkeypatch.setattr(hp, 'read_k8s', lambda check, deadline: hp.parse_k8s_deployment(
        _deployment(1, 1), [_pod('shop-a', restarts=next(counts))], NOW))
    check = norm(manager='kubernetes', service='shop', state_dir=str(tmp_path))
    assert health.run_one(check)['metrics']['restarts_since_last'] is None
    second = health.run_one(check)
    assert second['metrics']['restarts_since_last'] == 3 and second['status'] == probe.WARNING


def test_namespace_is_part_of_the_state_key():
    a = hp.state_path('/s', {'manager': 'kubernetes', 'service': 'shop', 'namespace': 'a'})
    b = hp.state_path('/s', {'manager': 'kubernetes', 'service': 'shop', 'namespace': 'b'})
    assert a != b


def test_label_selector_as_kubectl_writes_it():
    assert hp.label_selector({'matchLabels': {'tier': 'web', 'app': 'shop'}}) == 'app=shop,tier=web'
    assert hp.label_selector({'matchLabels': {'app': 'shop'}, 'matchExpressions': [
        {'key': 'env', 'operator': 'In', 'values': ['prod', 'staging']},
        {'key': 'canary', 'operator': 'DoesNotExist'},
        {'key': 'zone', 'operator': 'NotIn', 'values': ['z1']},
        {'key': 'owner', 'operator': 'Exists'}]}) == 'app=shop,env in (prod,staging),!canary,zone notin (z1),owner'
    with pytest.raises(probe.ProbeError, match='no selector'):
        hp.label_selector({})


@pytest.mark.parametrize('kw,msg', [
    (dict(manager='systemd', service='x', namespace='n'), 'namespace goes with manager kubernetes only'),
    (dict(manager='pm2', service='x', kubeconfig='/k'), 'kubeconfig goes with manager kubernetes only'),
    (dict(manager='kubernetes', service='shop', namespace='Bad_NS; x'), 'namespace must be a Kubernetes name'),
])
def test_kubernetes_options_are_checked(kw, msg):
    with pytest.raises(probe.HealthConfigError, match=msg):
        norm(**kw)


def test_kubernetes_needs_the_client_library(monkeypatch):
    monkeypatch.setattr(hp._lazy, 'available', lambda *names: (False, 'ImportError: No module named kubernetes'))
    assert hp.requirement([{'manager': 'kubernetes'}])[0] == 'kubernetes'
    assert hp.requirement([{'manager': 'pm2'}]) is None


def test_group_wait_leaves_kubernetes_out():
    assert hp.group_checks([{'name': 'shop', 'manager': 'kubernetes'}]) == []


def test_container_cli_gets_docker_host_from_the_environment(monkeypatch):
    seen = {}

    class Done(object):
        returncode, stdout, stderr = 0, b'[{"Id": "c1", "State": {"Status": "running"}}]', b''

    def fake_run(argv, **kw):
        seen['argv'], seen['env'] = argv, kw['env']
        return Done()
    monkeypatch.setenv('DOCKER_HOST', 'unix:///run/user/0/podman/podman.sock')
    monkeypatch.setattr(hp.subprocess, 'run', fake_run)
    facts = hp.read_facts({'manager': 'container', 'service': 'web', 'container_engine': 'docker'},
                          deadline=__import__('time').monotonic() + 10)
    assert seen['argv'] == ['docker', 'container', 'inspect', 'web']
    assert seen['env']['DOCKER_HOST'] == 'unix:///run/user/0/podman/podman.sock'
    assert facts['running'] == 1
