# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# The service role's container adapter with service_container_engine: docker and service_docker_host, and
# health_check's `process` probe with container_engine: docker, against the Docker Engine API twice
# (docker_api_fixtures.py): a REAL dockerd (Debian's docker.io) and podman's Docker-compatible `podman system
# service`. The playbook gets no DOCKER_HOST of its own: the role must pass service_docker_host. Every action is
# checked independently with `docker container inspect` on the same socket.

import json
import time

import pytest

from release_fixtures import deploy_playbook

PLAY = """
- name: Service role through the Docker API
  hosts: app
  gather_facts: false
  vars:
    service_manager: container
    service_container_engine: docker
    service_docker_host: "{host}"
    service_name: "{name}"
    service_container_stop_timeout: 2
  tasks:
    - name: Status while it runs
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: status}}
    - name: Keep it
      ansible.builtin.copy: {{dest: "{out}/running1.json", content: "{{{{ service_status | to_json }}}}", mode: "0644"}}
    - name: Stop
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: stop}}
    - name: Status while stopped
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: status}}
    - name: Keep it
      ansible.builtin.copy: {{dest: "{out}/stopped.json", content: "{{{{ service_status | to_json }}}}", mode: "0644"}}
    - name: Stop again (already stopped)
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: stop}}
    - name: Stop a container that does not exist (already stopped)
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: stop}}
      vars:
        service_name: "{name}-missing"
    - name: Start
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: start}}
    - name: Keep the start time after start
      ansible.builtin.command:
        argv: [docker, container, inspect, --format, "{{{{ '{{{{.State.StartedAt}}}}' }}}}", "{name}"]
      environment: {{DOCKER_HOST: "{host}"}}
      register: started
      changed_when: false
    - name: Keep it
      ansible.builtin.copy: {{dest: "{out}/started_at.txt", content: "{{{{ started.stdout }}}}", mode: "0644"}}
    - name: Restart
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: restart}}
    - name: Reload (SIGHUP)
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: reload}}
      vars:
        service_name: "{hup}"
    - name: Status after the restart
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: status}}
    - name: Keep it
      ansible.builtin.copy: {{dest: "{out}/running2.json", content: "{{{{ service_status | to_json }}}}", mode: "0644"}}
    - name: Logs
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: logs}}
      vars:
        service_logs_lines: 10
    - name: Keep them
      ansible.builtin.copy: {{dest: "{out}/logs.json", content: "{{{{ service_logs | to_json }}}}", mode: "0644"}}
    - name: Replace with the image of a release
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: restart}}
      vars:
        service_name: "{replaced}"
        service_container_image: "{repo}"
        service_container_tag: v1
        service_container_run_args: [--network, none]
    - name: A docker host with the podman CLI is refused
      block:
        - name: Restart
          ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: restart}}
          vars:
            service_container_engine: podman
      rescue:
        - name: Keep the message
          ansible.builtin.copy: {{dest: "{out}/refused.txt", content: "{{{{ ansible_failed_result.msg }}}}", mode: "0644"}}
"""


def _wait(predicate, deadline_s=120, what='condition'):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError('timed out waiting for %s' % what)


@pytest.mark.slow
def test_service_role_through_the_docker_api(docker_api, tmp_path):
    api = docker_api
    name, hup, replaced = api.prefix + '-web', api.prefix + '-hup', api.prefix + '-rel'
    api.run('run', '--detach', '--network', 'none', '--name', name, api.images['v1'])
    # a shell that writes a line on SIGHUP: the reload signal, read back in its logs
    api.run('run', '--detach', '--network', 'none', '--name', hup, api.images['v1'], '/bin/busybox', 'sh', '-c',
            'trap "echo reloaded" HUP; trap "exit 0" TERM; echo ready; while :; do sleep 1; done')
    api.run('run', '--detach', '--network', 'none', '--name', replaced, api.images['v1'])
    replaced_id = api.inspect(replaced, '{{.Id}}')
    _wait(lambda: 'ready' in api.run('logs', hup).stdout, what='the HUP container ready')
    started_before = api.inspect(name, '{{.State.StartedAt}}')

    out = tmp_path / 'out'
    out.mkdir()
    play = tmp_path / 'play.yml'
    play.write_text(PLAY.format(host=api.host, name=name, hup=hup, replaced=replaced, out=out,
                                repo=api.images['v1'].rsplit(':', 1)[0]))
    time.sleep(1.1)  # StartedAt has a one-second resolution on some engines: a restart must show a new one
    rc, text = deploy_playbook(str(play), {}, tmp_path)
    assert rc == 0, text

    running1 = json.loads((out / 'running1.json').read_text())
    assert (running1['manager'], running1['status'], running1['running'], running1['state']) == \
        ('container', 'ok', True, 'running'), running1
    assert running1['uptime_s'] is not None and running1['restarts'] == 0
    stopped = json.loads((out / 'stopped.json').read_text())
    assert (stopped['running'], stopped['status'], stopped['state']) == (False, 'critical', 'exited'), stopped
    running2 = json.loads((out / 'running2.json').read_text())
    assert (running2['running'], running2['status'], running2['state']) == (True, 'ok', 'running'), running2

    # independently, on the same socket: running, started again after the start and again after the restart
    assert api.inspect(name, '{{.State.Status}}') == 'running'
    started_after_start = (out / 'started_at.txt').read_text().strip()
    assert started_after_start != started_before
    assert api.inspect(name, '{{.State.StartedAt}}') != started_after_start       # the restart
    assert json.loads((out / 'logs.json').read_text()).count('started') >= 3      # run, start, restart
    assert 'reloaded' in api.run('logs', hup).stdout                               # the HUP reached it
    assert api.inspect(hup, '{{.State.Status}}') == 'running'
    # replaced: a new container of the release image, labelled, restarting unless stopped
    assert api.inspect(replaced, '{{.Id}}') != replaced_id
    assert api.inspect(replaced, '{{.State.Status}}') == 'running'
    image_id = api.run('image', 'inspect', '--format', '{{.Id}}', api.images['v1']).stdout.strip()
    assert api.inspect(replaced, '{{.Image}}') == image_id              # (podman's API renames the reference)
    assert api.inspect(replaced, '{{.HostConfig.RestartPolicy.Name}}') == 'unless-stopped'
    assert api.inspect(replaced, '{{index .Config.Labels "runbook.ops.release"}}') != '<no value>'
    assert 'service_docker_host' in (out / 'refused.txt').read_text()


@pytest.mark.slow
def test_process_probe_through_the_docker_api(docker_api, tmp_path, run_module):
    api = docker_api
    crash = api.prefix + '-crash'
    api.run('run', '--detach', '--network', 'none', '--name', crash, '--restart', 'always', api.images['v1'],
            '/bin/busybox', 'sh', '-c', 'echo crashing; sleep 1; exit 3')
    env = {'DOCKER_HOST': api.host}

    def restarts():
        return int(api.inspect(crash, '{{.RestartCount}}') or 0)
    _wait(lambda: restarts() >= 1, what='a container restart')
    check = {'name': 'crash', 'type': 'process', 'manager': 'container', 'service': crash,
             'container_engine': 'docker', 'state_dir': str(tmp_path / 'state')}
    first = run_module('health_check', {'checks': [check], 'fail_on': 'never'}, env=env)
    before = first['checks'][0]['metrics']['restarts']
    assert before >= 1 and first['checks'][0]['metrics']['restarts_since_last'] is None, first
    _wait(lambda: restarts() >= before + 1, what='another container restart')
    second = run_module('health_check', {'checks': [check], 'fail_on': 'never'}, env=env)
    assert second['checks'][0]['metrics']['restarts_since_last'] >= 1, second
    assert second['checks'][0]['status'] in ('warning', 'critical')
    # stopped: critical whatever the thresholds
    api.run('stop', '-t', '1', crash)   # a stopped container is not restarted by its policy
    third = run_module('health_check', {'checks': [dict(check, thresholds={'restarts_since_last': {}})],
                                        'fail_on': 'never'}, env=env)
    assert third['checks'][0]['status'] == 'critical', third
    assert 'container %s is not running' % crash in third['checks'][0]['message']
    # a container the engine does not know is a clear error, not a crash
    missing = run_module('health_check', {'checks': [dict(check, service=crash + '-missing', state_dir='')],
                                          'fail_on': 'never'}, env=env)
    assert missing['checks'][0]['status'] == 'critical'
    assert 'Could not read the container %s-missing' % crash in missing['checks'][0]['message'], missing
