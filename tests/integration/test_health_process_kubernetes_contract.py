# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# CONTRACT tests of health_check's `process` probe with manager kubernetes: the module reads a Deployment and its
# pods with the kubernetes Python client over HTTP from the contract emulator of k8s_contract_fixtures.py (kmock's
# KubernetesEmulator extended with lists, label selectors and a Deployment controller). No real API server runs
# here: these tests pin the calls the probe makes (GET the Deployment, LIST its pods by the Deployment's selector)
# and how it grades the answers a cluster gives as the Kubernetes API documents them.

import pytest

from k8s_contract_fixtures import POD_LOG_ANNOTATION


def _deployment(name, replicas):
    return {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': name, 'namespace': 'default'},
            'spec': {'replicas': replicas, 'selector': {'matchLabels': {'app': name}},
                     'template': {'metadata': {'labels': {'app': name}, 'annotations': {POD_LOG_ANNOTATION: 'x'}},
                                  'spec': {'containers': [{'name': name, 'image': 'registry.local/%s:v1' % name}]}}}}


def _degrade(emulator, name, ready):
    for key, obj in emulator._objects.items():
        if key[0].plural == 'deployments' and key[2] == name and not obj.deleted:
            obj.patch({'status': {'readyReplicas': ready, 'availableReplicas': ready}})


@pytest.mark.slow
def test_process_probe_reads_a_deployment_contract(k8s_contract, tmp_path, run_module):
    kubernetes = pytest.importorskip('kubernetes')
    server, kubeconfig = k8s_contract
    api = kubernetes.config.new_client_from_config(config_file=kubeconfig)
    apps = kubernetes.client.AppsV1Api(api)
    for name, replicas in (('shop', 2), ('crashy', 1), ('halfway', 2), ('idle', 0)):
        apps.create_namespaced_deployment('default', _deployment(name, replicas))
    # another Deployment's pods must not be counted (the list goes by the selector)
    server.call(lambda emulator: emulator.crash('default', 'crashy', 7, 'OOMKilled'))
    server.call(_degrade, 'halfway', 1)

    state = str(tmp_path / 'state')

    def check(name, **kw):
        return dict({'name': name, 'type': 'process', 'manager': 'kubernetes', 'service': name,
                     'namespace': 'default', 'kubeconfig': kubeconfig, 'state_dir': state}, **kw)

    names = ('shop', 'crashy', 'halfway', 'idle', 'nope')
    first = run_module('health_check', {'checks': [check(n) for n in names], 'fail_on': 'never'})
    got = dict((c['name'], c) for c in first['checks'])

    shop = got['shop']['metrics']
    assert got['shop']['status'] == 'ok', got['shop']
    assert (shop['running'], shop['replicas'], shop['ready_replicas'], shop['restarts']) == (1, 2, 2, 0)
    assert shop['state'] == 'available (2/2 ready)' and shop['restarts_since_last'] is None
    assert shop['uptime_s'] is not None and shop['uptime_s'] >= 0 and shop['last_termination_reason'] is None

    crashy = got['crashy']
    assert crashy['status'] == 'critical', crashy
    assert (crashy['metrics']['running'], crashy['metrics']['restarts']) == (0, 7)
    assert crashy['metrics']['last_termination_reason'] == 'OOMKilled'
    assert 'kubernetes crashy is not running (unavailable (0/1 ready))' in crashy['message']

    assert got['halfway']['status'] == 'warning', got['halfway']
    assert 'kubernetes halfway is degraded: degraded (1/2 ready)' in got['halfway']['message']
    assert got['idle']['status'] == 'critical' and got['idle']['metrics']['state'] == 'scaled to 0 (0/0 ready)'
    assert got['nope']['status'] == 'critical'
    assert 'Could not find the Deployment default/nope' in got['nope']['message'], got['nope']

    # restarts since the last check: two more crashes of crashy's pod
    server.call(lambda emulator: emulator.crash('default', 'crashy', 9, 'Error'))
    second = run_module('health_check', {'checks': [check('crashy'), check('shop')], 'fail_on': 'never'})
    got = dict((c['name'], c) for c in second['checks'])
    assert got['crashy']['metrics']['restarts_since_last'] == 2, got['crashy']
    assert got['crashy']['metrics']['last_termination_reason'] == 'Error'
    assert got['shop']['metrics']['restarts_since_last'] == 0

    # thresholds on restarts, as for the other runtimes
    third = run_module('health_check', {'checks': [check('shop', thresholds={'restarts': {'warning': 0}})],
                                        'fail_on': 'never'})
    assert third['checks'][0]['status'] == 'warning', third

    # a kubeconfig that names no reachable API server is a clear error
    bad = tmp_path / 'bad-kubeconfig'
    bad.write_text(open(kubeconfig).read().replace(server.url, 'http://127.0.0.1:9'))
    fourth = run_module('health_check', {'checks': [check('shop', kubeconfig=str(bad), state_dir='')],
                                         'fail_on': 'never'})
    assert fourth['checks'][0]['status'] == 'critical'
    assert 'Could not read the Deployment default/shop' in fourth['checks'][0]['message'], fourth
