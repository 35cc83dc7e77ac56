# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# The container adapter for real with podman on localhost: deploy.yml runs tag v1, then v2 (the running container's
# image and the HTTP answer change), then v3 whose /health fails -> automatic rollback to v2's tag (not v3's);
# rollback.yml goes back to v1. Then the stop adapter on the real container, and a hostile image tag refused
# before anything is removed. Images/containers are h4-<random> and removed at teardown (container_fixtures).

import json
import os

import pytest

from container_fixtures import CONTAINERS_CONF, http_text, wait_text
from release_fixtures import IDS, deploy_playbook, history, http_gate, make_artifact
from testkit import REPO

R1, R2, R3 = IDS[0], IDS[1], IDS[2]
DEPLOY = os.path.join(REPO, 'playbooks', 'deploy.yml')
ROLLBACK = os.path.join(REPO, 'playbooks', 'rollback.yml')
ENV = {'CONTAINERS_CONF': CONTAINERS_CONF}

ADAPTER_PLAY = """
- name: Container adapter entry points
  hosts: app
  gather_facts: false
  tasks:
    - name: A hostile image tag
      block:
        - name: Restart with it
          ansible.builtin.include_role:
            name: runbook.ops.deploy
            tasks_from: service_container
          vars:
            deploy_app_root: /nonexistent
            deploy_container_tag: "v2; rm -rf /"
      rescue:
        - name: Record the refusal
          ansible.builtin.copy:
            dest: "{{ refusal_file }}"
            content: "{{ ansible_failed_result.msg }}"
            mode: "0644"
    - name: Stop the app container
      ansible.builtin.include_role:
        name: runbook.ops.deploy
        tasks_from: stop_container
    - name: Read its state after the stop
      ansible.builtin.command:
        argv: [podman, container, inspect, --format, "{{ '{{.State.Status}} {{.ImageName}}' }}", "{{ deploy_container_name }}"]
      register: stopped_state
      changed_when: false
    - name: Record it
      ansible.builtin.copy:
        dest: "{{ status_file }}"
        content: "{{ stopped_state.stdout }}"
        mode: "0644"
    - name: Remove it
      ansible.builtin.command:
        argv: [podman, rm, --force, --time, "0", "{{ deploy_container_name }}"]
      changed_when: true
    - name: Stop a container that does not exist (already stopped)
      ansible.builtin.include_role:
        name: runbook.ops.deploy
        tasks_from: stop_container
"""


@pytest.mark.slow
def test_container_deploy_rollback_with_podman(podman_images, tmp_path):
    engine = podman_images
    name = engine.prefix + '-app'
    url = 'http://127.0.0.1:%d/health' % engine.port
    root = tmp_path / 'app'
    dist = tmp_path / 'dist'
    dist.mkdir()
    arts = {v: make_artifact(str(dist / ('%s.tgz' % v)), v) for v in ('v1', 'v2', 'v3')}
    common = {
        'deploy_hosts': 'app', 'deploy_app_root': str(root), 'deploy_app_name': name,
        'deploy_service_adapter': 'container', 'deploy_container_engine': 'podman',
        'deploy_container_name': name, 'deploy_container_image': engine.repo,
        'deploy_container_run_args': ['--publish', '127.0.0.1:%d:8080' % engine.port],
        'deploy_container_stop_timeout': 5,
        # not a latency test: the gate grades status only (see release_fixtures.http_gate), and the window leaves
        # a slow container start on a busy machine time to answer
        'deploy_health_checks': [http_gate('app', url)],
        'deploy_health_window': 20, 'deploy_health_delay': 1,
        'deploy_report_dir': str(tmp_path / 'reports'), 'deploy_actor': 'pytest',
    }

    # v1 then v2: the running container's image tag and the HTTP answer follow the release
    for rid, tag in ((R1, 'v1'), (R2, 'v2')):
        rc, out = deploy_playbook(DEPLOY, dict(common, deploy_src=arts[tag], deploy_release_id=rid,
                                               deploy_container_tag=tag), tmp_path, env_extra=ENV)
        assert rc == 0, out
        assert engine.state(name) == ('running', engine.images[tag])
        assert engine.label(name, 'runbook.ops.release') == rid
        assert http_text(url, timeout=30) == (200, tag + '\n')
        assert (root / 'releases' / rid / 'CONTAINER_IMAGE').read_text() == engine.images[tag] + '\n'
        assert os.readlink(str(root / 'current')) == 'releases/' + rid

    # v3: /health is 404 -> automatic rollback restarts the image recorded in v2's release (tag v2, not v3)
    rc, out = deploy_playbook(DEPLOY, dict(common, deploy_src=arts['v3'], deploy_release_id=R3,
                                           deploy_container_tag='v3'), tmp_path, env_extra=ENV)
    assert rc != 0
    assert "Deploy of release %s failed at step 'health'" % R3 in out, out
    assert 'Rolled back to release %s (health: ok)' % R2 in out, out
    assert engine.state(name) == ('running', engine.images['v2'])
    assert engine.label(name, 'runbook.ops.release') == R2
    assert http_text(url, timeout=30) == (200, 'v2\n')
    assert os.readlink(str(root / 'current')) == 'releases/' + R2
    assert (root / 'releases' / (R3 + '.failed')).exists()

    # rollback.yml: the previous good release is v1 (v3 is failed); its recorded image runs again
    rb = {'rollback_hosts': 'app', 'rollback_app_root': str(root), 'rollback_app_name': name,
          'rollback_service_adapter': 'container',
          'deploy_container_run_args': common['deploy_container_run_args'],
          'rollback_health_checks': common['deploy_health_checks'], 'rollback_health_window': 20,
          'rollback_health_delay': 1, 'rollback_report_dir': str(tmp_path / 'reports'), 'rollback_actor': 'pytest'}
    rc, out = deploy_playbook(ROLLBACK, rb, tmp_path, env_extra=ENV)
    assert rc == 0, out
    assert engine.state(name) == ('running', engine.images['v1'])
    assert engine.label(name, 'runbook.ops.release') == R1
    wait_text(url, 'v1\n', deadline_s=60)
    assert os.readlink(str(root / 'current')) == 'releases/' + R1
    assert history(root)[-1]['release_id'] == R1 and history(root)[-1]['previous'] == R2
    # exactly one app container ran all along (replaced, never duplicated)
    names = engine.run('ps', '--all', '--format', '{{.Names}}').stdout.split()
    assert [n for n in names if n.startswith(engine.prefix)] == [name]

    # a hostile tag is refused by the deploy before anything changes (no lock, no release, same container)
    rc, out = deploy_playbook(DEPLOY, dict(common, deploy_src=arts['v2'], deploy_release_id=IDS[3],
                                           deploy_container_tag='v2; rm -rf /'), tmp_path, env_extra=ENV)
    assert rc != 0
    assert "Could not start the deploy: '%s:v2; rm -rf /' is not an image reference" % engine.repo in out, out
    assert not (root / 'releases' / IDS[3]).exists() and not (root / 'deploy.lock').exists()
    assert engine.state(name) == ('running', engine.images['v1'])

    # entry points on the real container: a hostile tag is refused before anything is removed (the container
    # still runs v1 afterwards, the stop finds it running); the stop adapter stops it; a missing one is fine
    play = tmp_path / 'adapter.yml'
    play.write_text(ADAPTER_PLAY)
    refusal = tmp_path / 'refusal.txt'
    rc, out = deploy_playbook(str(play), {'deploy_container_name': name, 'deploy_container_stop_timeout': 5,
                                          'deploy_container_image': engine.repo, 'refusal_file': str(refusal),
                                          'status_file': str(tmp_path / 'status.txt')},
                              tmp_path, env_extra=ENV)
    assert rc == 0, out
    assert "'%s:v2; rm -rf /' is not an image reference" % engine.repo in refusal.read_text()
    # untouched by the refused restart (still v1), then stopped by the stop adapter
    assert (tmp_path / 'status.txt').read_text() == 'exited ' + engine.images['v1']
    assert engine.state(name) is None
    assert http_text(url)[0] is None
    report = json.loads((tmp_path / 'reports' / ('deploy-%s-%s.json' % (name, R3))).read_text())
    assert report['hosts'][0]['rolled_back_to'] == R2
