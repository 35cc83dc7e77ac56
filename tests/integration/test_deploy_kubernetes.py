# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# The Kubernetes adapter OFFLINE (no cluster here): the deploy role's service_kubernetes and stop_kubernetes entry
# points run for real through ansible-playbook, up to kubernetes.core's modules, which then fail for want of a
# cluster (or of the kubernetes Python library). Each call sits in a block/rescue that records the arguments the
# module received AFTER its own argument validation (invocation.module_args), so this checks exactly what would be
# sent: the Deployment, namespace, the strategic-merge patch (image of the ACTIVE release, release annotation,
# replicas after a stop), and that the rollout wait is kubernetes.core's Deployment readiness (no wait_condition).
# NOT tested: any API call, the rollout wait itself, the scale to 0 and back, undo after a failed rollout.

import json
import os

import pytest

from release_fixtures import IDS, deploy_playbook

R1, R2 = IDS[0], IDS[1]

PLAY = """
- name: Kubernetes adapter, offline
  hosts: app
  gather_facts: false
  tasks:
    - name: Roll to the image recorded in the active release
      block:
        - name: Service kubernetes
          ansible.builtin.include_role:
            name: runbook.ops.deploy
            tasks_from: service_kubernetes
          vars:
            deploy_app_root: "{root1}"
      rescue:
        - name: Record
          ansible.builtin.copy:
            dest: "{out}/recorded.json"
            content: "{{{{ ansible_failed_result | to_json }}}}"
            mode: "0644"
    - name: Roll a release without a recorded image, scaling back up after a stop
      block:
        - name: Service kubernetes
          ansible.builtin.include_role:
            name: runbook.ops.deploy
            tasks_from: service_kubernetes
          vars:
            deploy_app_root: "{root2}"
            deploy_k8s_image: registry.local/shop
            deploy_k8s_tag: v2
            deploy_k8s_namespace: prod
            deploy_k8s_kubeconfig: "{kubeconfig}"
            _deploy_k8s_replicas: 3
      rescue:
        - name: Record
          ansible.builtin.copy:
            dest: "{out}/tagged.json"
            content: "{{{{ ansible_failed_result | to_json }}}}"
            mode: "0644"
    - name: Stop (scale to 0) reads the deployment first
      block:
        - name: Stop kubernetes
          ansible.builtin.include_role:
            name: runbook.ops.deploy
            tasks_from: stop_kubernetes
      rescue:
        - name: Record
          ansible.builtin.copy:
            dest: "{out}/stop.json"
            content: "{{{{ ansible_failed_result | to_json }}}}"
            mode: "0644"
    - name: A hostile container name is refused before kubernetes.core
      block:
        - name: Service kubernetes
          ansible.builtin.include_role:
            name: runbook.ops.deploy
            tasks_from: service_kubernetes
          vars:
            deploy_app_root: "{root1}"
            deploy_k8s_container: "shop; kubectl delete ns prod"
      rescue:
        - name: Record
          ansible.builtin.copy:
            dest: "{out}/hostile.json"
            content: "{{{{ ansible_failed_result | to_json }}}}"
            mode: "0644"
"""


def _release(root, rid, image=None):
    (root / 'releases' / rid).mkdir(parents=True)
    if image:
        (root / 'releases' / rid / 'CONTAINER_IMAGE').write_text(image + '\n')
    os.symlink('releases/' + rid, str(root / 'current'))


@pytest.mark.slow
def test_kubernetes_adapter_arguments_offline(tmp_path):
    root1, root2, out = tmp_path / 'app1', tmp_path / 'app2', tmp_path / 'out'
    out.mkdir()
    _release(root1, R1, 'registry.local/shop:v1')
    _release(root2, R2)
    play = tmp_path / 'play.yml'
    # a kubeconfig naming a server nobody listens on (the k8s action plugin reads it on the controller)
    kubeconfig = tmp_path / 'kubeconfig'
    kubeconfig.write_text(json.dumps({
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'none',
        'clusters': [{'name': 'none', 'cluster': {'server': 'https://127.0.0.1:1'}}],
        'contexts': [{'name': 'none', 'context': {'cluster': 'none', 'user': 'none'}}],
        'users': [{'name': 'none', 'user': {'token': 'not-a-secret'}}]}))
    play.write_text(PLAY.format(root1=root1, root2=root2, out=out, kubeconfig=kubeconfig))
    rc, text = deploy_playbook(str(play), {'deploy_app_name': 'shop'}, tmp_path)
    assert rc == 0, text

    recorded = json.loads((out / 'recorded.json').read_text())
    args = recorded['invocation']['module_args']
    assert {k: args[k] for k in ('state', 'kind', 'api_version', 'name', 'namespace', 'wait', 'wait_timeout',
                                 'wait_condition', 'kubeconfig')} == {
        'state': 'patched', 'kind': 'Deployment', 'api_version': 'apps/v1', 'name': 'shop', 'namespace': 'default',
        'wait': True, 'wait_timeout': 300, 'wait_condition': None, 'kubeconfig': None}
    assert args['resource_definition'] == {'spec': {'template': {
        'metadata': {'annotations': {'runbook.ops/release': R1}},
        'spec': {'containers': [{'name': 'shop', 'image': 'registry.local/shop:v1'}]}}}}
    # offline: the module stops before any API call (no kubernetes library, no kubeconfig, or no cluster)
    assert 'kubernetes' in recorded['msg'].lower() or 'kube-config' in recorded['msg'].lower(), recorded['msg']

    args = json.loads((out / 'tagged.json').read_text())['invocation']['module_args']
    assert args['namespace'] == 'prod' and args['kubeconfig']  # the action plugin passes the file's content on
    # with the kubernetes library installed (requirements-dev.txt) the module reaches the unreachable server and its
    # failure no longer echoes the definition: the rollout itself is covered by test_service_kubernetes_contract.py
    assert 'resource_definition' not in args or args['resource_definition'] == {'spec': {'replicas': 3, 'template': {
        'metadata': {'annotations': {'runbook.ops/release': R2}},
        'spec': {'containers': [{'name': 'shop', 'image': 'registry.local/shop:v2'}]}}}}

    stop = json.loads((out / 'stop.json').read_text())
    args = stop['invocation']['module_args']
    assert (args['kind'], args['name'], args['namespace']) == ('Deployment', 'shop', 'default')
    assert 'api_version' in args  # k8s_info, the read before the scale to 0

    hostile = json.loads((out / 'hostile.json').read_text())
    assert 'invocation' not in hostile or 'resource_definition' not in hostile['invocation'].get('module_args', {})
    assert "Could not build the rollout patch: 'shop; kubectl delete ns prod' is not a container name" in \
        hostile['msg'], hostile
