# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# CONTRACT tests of the service role's kubernetes adapter: kubernetes.core's k8s, k8s_info, k8s_scale and k8s_log
# (with the kubernetes client) talk over HTTP to the contract emulator of k8s_contract_fixtures.py (kmock's
# KubernetesEmulator extended with lists, versions, label selectors, a Deployment controller and pod logs). No real
# API server runs here: these tests pin what the adapter sends and how it reads the answers of a cluster that
# answers as the Kubernetes API documents; they do not prove scheduling, gradual rollouts or readiness probes.

import json

import pytest

from k8s_contract_fixtures import POD_LOG_ANNOTATION
from release_fixtures import deploy_playbook

PLAY = """
- name: Service role on Kubernetes (contract emulator)
  hosts: app
  gather_facts: false
  vars:
    service_manager: kubernetes
    service_name: shop
    service_k8s_kubeconfig: "{kubeconfig}"
    service_k8s_wait_timeout: 60
  tasks:
    - name: Status
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: status}}
    - name: Keep it
      ansible.builtin.copy: {{dest: "{out}/status.json", content: "{{{{ service_status | to_json }}}}", mode: "0644"}}
    - name: Status of the crash-looping one
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: status}}
      vars:
        service_name: crashy
    - name: Keep it
      ansible.builtin.copy: {{dest: "{out}/crashy.json", content: "{{{{ service_status | to_json }}}}", mode: "0644"}}
    - name: Rollout restart
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: restart}}
    - name: Scale to 3
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: scale}}
      vars:
        service_replicas: 3
    - name: Stop (scale to 0, remembering 3)
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: stop}}
    - name: Status while stopped
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: status}}
    - name: Keep it
      ansible.builtin.copy: {{dest: "{out}/stopped.json", content: "{{{{ service_status | to_json }}}}", mode: "0644"}}
    - name: Start (back to 3)
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: start}}
    - name: Logs
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: logs}}
      vars:
        service_logs_lines: 2
    - name: Keep them
      ansible.builtin.copy: {{dest: "{out}/logs.json", content: "{{{{ service_logs | to_json }}}}", mode: "0644"}}
    - name: Roll to a release's image
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: restart}}
      vars:
        service_k8s_image: registry.local/shop
        service_release_id: v2
"""


def _deployment(name, replicas):
    return {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': name, 'namespace': 'default'},
            'spec': {'replicas': replicas, 'selector': {'matchLabels': {'app': name}},
                     'template': {'metadata': {'labels': {'app': name},
                                               'annotations': {POD_LOG_ANNOTATION: 'one\ntwo\nthree\n'}},
                                  'spec': {'containers': [{'name': name, 'image': 'registry.local/%s:v1' % name}]}}}}


@pytest.mark.slow
def test_kubernetes_adapter_contract(k8s_contract, tmp_path):
    kubernetes = pytest.importorskip('kubernetes')
    server, kubeconfig = k8s_contract
    api = kubernetes.config.new_client_from_config(config_file=kubeconfig)
    apps = kubernetes.client.AppsV1Api(api)
    core = kubernetes.client.CoreV1Api(api)
    apps.create_namespaced_deployment('default', _deployment('shop', 2))
    apps.create_namespaced_deployment('default', _deployment('crashy', 1))
    server.call(lambda emulator: emulator.crash('default', 'crashy', 7, 'OOMKilled'))
    pods_before = sorted(p.metadata.name for p in core.list_namespaced_pod('default', label_selector='app=shop').items)
    assert len(pods_before) == 2

    out = tmp_path / 'out'
    out.mkdir()
    play = tmp_path / 'play.yml'
    play.write_text(PLAY.format(kubeconfig=kubeconfig, out=out))
    rc, text = deploy_playbook(str(play), {}, tmp_path)
    assert rc == 0, text

    status = json.loads((out / 'status.json').read_text())
    assert (status['manager'], status['status'], status['state'], status['replicas'], status['ready_replicas'],
            status['rollout_current'], status['restarts']) == ('kubernetes', 'ok', 'available', 2, 2, True, 0)
    assert sorted(r['name'] for r in status['services']) == pods_before
    crashy = json.loads((out / 'crashy.json').read_text())
    assert (crashy['status'], crashy['state'], crashy['restarts']) == ('critical', 'unavailable', 7), crashy
    assert crashy['services'][0]['last_termination_reason'] == 'OOMKilled'
    stopped = json.loads((out / 'stopped.json').read_text())
    assert (stopped['replicas'], stopped['state'], stopped['services']) == (0, 'scaled to 0', [])
    assert json.loads((out / 'logs.json').read_text()) == ['two', 'three']

    # independent reads through the kubernetes client
    dep = apps.read_namespaced_deployment('shop', 'default')
    annotations = dep.spec.template.metadata.annotations
    assert 'kubectl.kubernetes.io/restartedAt' in annotations          # the rollout restart
    assert annotations['runbook.ops/release'] == 'v2'                  # the release rollout
    assert dep.spec.template.spec.containers[0].image == 'registry.local/shop:v2'
    assert dep.spec.replicas == 3                                       # start restored the count stop remembered
    assert dep.status.observed_generation == dep.metadata.generation
    pods = core.list_namespaced_pod('default', label_selector='app=shop').items
    assert len(pods) == 3 and not set(p.metadata.name for p in pods) & set(pods_before)
    assert set(p.spec.containers[0].image for p in pods) == {'registry.local/shop:v2'}
