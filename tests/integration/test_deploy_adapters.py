# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# The pm2 and container service adapters of the deploy role, run through ansible-playbook with stub pm2 / podman /
# docker programs first on PATH that record their argv: checks the exact command lines (a real pm2 runs in
# test_deploy_pm2.py, a real podman in test_deploy_container.py; the stub pm2 answers `pm2 jlist` with the app
# running from current, the stub engines answer `container inspect`; docker's `image inspect` says missing).

import json
import os
import stat

import pytest

from release_fixtures import IDS, deploy_playbook

# Records every argv. `image inspect` answers an id derived from the reference (docker: not there until pulled,
# so the adapter pulls before it removes the running container); `container inspect` answers running and the id
# of the image in STUB_IMAGE (the adapter compares image ids, as engines spell references differently).
STUB = r'''#!/usr/bin/env python3
import hashlib, json, os, sys
log = os.environ["STUB_LOG"]
calls = [json.loads(line) for line in open(log)] if os.path.exists(log) else []
with open(log, "a") as f:
    f.write(json.dumps([os.path.basename(sys.argv[0])] + sys.argv[1:]) + "\n")
def image_id(ref):
    return "sha256:" + hashlib.sha256(ref.encode()).hexdigest()
engine = os.path.basename(sys.argv[0])
if sys.argv[1:] == ["jlist"]:
    print(os.environ["STUB_JLIST"])
if sys.argv[1:3] == ["container", "inspect"]:
    print('true "%s"' % image_id(os.environ["STUB_IMAGE"]))
if sys.argv[1:3] == ["image", "inspect"]:
    if engine == "docker" and not any(c[:2] == ["docker", "pull"] for c in calls):
        sys.exit(1)
    print(image_id(sys.argv[-1]))
'''

PLAY = """
- name: Service adapters
  hosts: app
  gather_facts: false
  tasks:
    - name: Pm2 reload by app name
      ansible.builtin.include_role:
        name: runbook.ops.deploy
        tasks_from: service_pm2
      vars:
        deploy_app_root: "{root}"
        deploy_pm2_app: shop-api
    - name: Pm2 startOrReload an ecosystem file
      ansible.builtin.include_role:
        name: runbook.ops.deploy
        tasks_from: service_pm2
      vars:
        deploy_app_root: "{root}"
        deploy_pm2_ecosystem: ecosystem.config.js
    - name: Pm2 stop by app name, then by ecosystem file
      ansible.builtin.include_role:
        name: runbook.ops.deploy
        tasks_from: stop_pm2
      vars:
        deploy_app_root: "{root}"
        deploy_pm2_app: shop-api
        deploy_pm2_ecosystem: "{{{{ item }}}}"
      loop: ["", ecosystem.config.js]
    - name: Stop the podman and docker containers
      ansible.builtin.include_role:
        name: runbook.ops.deploy
        tasks_from: stop_container
      vars:
        deploy_container_engine: "{{{{ item }}}}"
        deploy_container_name: api
      loop: [podman, docker]
    - name: Podman with the release tag
      ansible.builtin.include_role:
        name: runbook.ops.deploy
        tasks_from: service_container
      vars:
        deploy_app_root: "{root}"
        deploy_container_engine: podman
        deploy_container_name: api
        deploy_container_image: registry.local/api
        deploy_container_tag: "{rid}"
        deploy_container_run_args: ["-p", "8080:8080", "--env-file", "/srv/api/shared/.env"]
    - name: Docker with the release tag
      ansible.builtin.include_role:
        name: runbook.ops.deploy
        tasks_from: service_container
      vars:
        deploy_app_root: "{root}"
        deploy_container_engine: docker
        deploy_container_name: api
        deploy_container_image: registry.local/api
        deploy_container_tag: "{rid}"
"""


@pytest.mark.slow
def test_pm2_and_container_argv(tmp_path):
    stubs = tmp_path / 'bin'
    stubs.mkdir()
    for name in ('pm2', 'podman', 'docker'):
        (stubs / name).write_text(STUB)
        os.chmod(str(stubs / name), stat.S_IRWXU)
    root = tmp_path / 'app'
    (root / 'releases' / IDS[0]).mkdir(parents=True)
    os.symlink('releases/' + IDS[0], str(root / 'current'))
    play = tmp_path / 'play.yml'
    play.write_text(PLAY.format(root=root, rid=IDS[0]))
    log = tmp_path / 'argv.log'
    jlist = [{'name': 'shop-api', 'pid': 4242,
              'pm2_env': {'pm_exec_path': '%s/current/server.js' % root, 'pm_cwd': '%s/current' % root}}]
    rc, out = deploy_playbook(str(play), {}, tmp_path, env_extra={
        'PATH': '%s:%s' % (stubs, os.environ['PATH']), 'STUB_LOG': str(log), 'STUB_JLIST': json.dumps(jlist),
        'STUB_IMAGE': 'registry.local/api:' + IDS[0]})
    assert rc == 0, out
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls == [
        ['pm2', 'reload', 'shop-api', '--update-env'],
        ['pm2', 'jlist'],
        ['pm2', 'startOrReload', '%s/current/ecosystem.config.js' % root, '--update-env'],
        ['pm2', 'jlist'],
        ['pm2', 'stop', 'shop-api'],
        ['pm2', 'stop', '%s/current/ecosystem.config.js' % root],
        ['podman', 'stop', '--ignore', '-t', '10', 'api'],
        ['docker', 'stop', '-t', '10', 'api'],
        ['podman', 'image', 'inspect', '--format', '{{.Id}}', 'registry.local/api:' + IDS[0]],
        ['podman', 'rm', '--force', '--ignore', '--time', '10', 'api'],
        ['podman', 'run', '--detach', '--name', 'api', '--restart', 'unless-stopped',
         '--label', 'runbook.ops.release=' + IDS[0], '-p', '8080:8080',
         '--env-file', '/srv/api/shared/.env', 'registry.local/api:' + IDS[0]],
        # the id of the image it started, compared with the one the container runs
        ['podman', 'image', 'inspect', '--format', '{{.Id}}', 'registry.local/api:' + IDS[0]],
        ['podman', 'container', 'inspect', '--format', '{{json .State.Running}} {{json .Image}}', 'api'],
        # docker: the image is not there (stub exits 1) -> pulled before the old container is removed
        ['docker', 'image', 'inspect', '--format', '{{.Id}}', 'registry.local/api:' + IDS[0]],
        ['docker', 'pull', 'registry.local/api:' + IDS[0]],
        ['docker', 'rm', '--force', 'api'],
        ['docker', 'run', '--detach', '--name', 'api', '--restart', 'unless-stopped',
         '--label', 'runbook.ops.release=' + IDS[0], 'registry.local/api:' + IDS[0]],
        ['docker', 'image', 'inspect', '--format', '{{.Id}}', 'registry.local/api:' + IDS[0]],
        ['docker', 'container', 'inspect', '--format', '{{json .State.Running}} {{json .Image}}', 'api'],
    ]
