# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# The service role (status, stop, start, restart, reload, logs, scale) and health_check's `process` probe against
# a REAL pm2 (pinned, tests/integration/pm2_fixtures.py) and a REAL podman (container_fixtures.py): every action is
# checked independently with `pm2 jlist` / `podman container inspect`. A crash-looping pm2 app and a crash-looping
# container show their restarts, restarts since the last check and a critical "not running".
# systemd is covered by the unit tests of the parsing (no systemd runs as PID 1 on the test machine).

import json
import os
import time

import pytest

from release_fixtures import deploy_playbook

PLAY_PM2 = """
- name: Service role on pm2
  hosts: app
  gather_facts: false
  vars:
    service_manager: pm2
    service_name: "{app}"
  tasks:
    - name: Status while it runs
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: status}}
    - name: Keep it
      ansible.builtin.copy: {{dest: "{out}/status1.json", content: "{{{{ service_status | to_json }}}}", mode: "0644"}}
    - name: Stop
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: stop}}
    - name: Status while stopped
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: status}}
    - name: Keep it
      ansible.builtin.copy: {{dest: "{out}/status2.json", content: "{{{{ service_status | to_json }}}}", mode: "0644"}}
    - name: Start
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: start}}
    - name: Restart
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: restart}}
    - name: Logs
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: logs}}
      vars:
        service_logs_lines: 5
    - name: Keep them
      ansible.builtin.copy: {{dest: "{out}/logs.json", content: "{{{{ service_logs | to_json }}}}", mode: "0644"}}
    - name: A hostile name is refused before pm2 runs
      block:
        - name: Restart
          ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: restart}}
          vars:
            service_name: "x; pm2 kill"
      rescue:
        - name: Keep the message
          ansible.builtin.copy: {{dest: "{out}/hostile.txt", content: "{{{{ ansible_failed_result.msg }}}}", mode: "0644"}}
"""

SERVER = """
const http = require('http');
const port = process.env.PORT;
http.createServer((req, res) => { res.end('ok\\n'); }).listen(port, '127.0.0.1');
console.log('listening on ' + port);
"""
CRASH = "console.log('starting'); setTimeout(() => { console.error('boom'); process.exit(3); }, 200);\n"


def _env(pm2):
    return {'PATH': pm2.env['PATH'], 'PM2_HOME': pm2.home, 'PM2_DISABLE_VERSION_CHECK': '1'}


def _wait(predicate, deadline_s=90, what='condition'):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError('timed out waiting for %s' % what)


@pytest.mark.slow
def test_service_role_on_a_real_pm2(pm2, tmp_path):
    from servers import free_port
    script = tmp_path / 'server.js'
    script.write_text(SERVER)
    env = dict(pm2.env, PORT=str(free_port()))
    import subprocess
    subprocess.run(['pm2', 'start', str(script), '--name', 'svc-api'], env=env, check=True, capture_output=True,
                   timeout=120)
    _wait(lambda: pm2.jlist().get('svc-api', {}).get('status') == 'online', what='svc-api online')
    out = tmp_path / 'out'
    out.mkdir()
    play = tmp_path / 'play.yml'
    play.write_text(PLAY_PM2.format(app='svc-api', out=out))
    pid_before = pm2.jlist()['svc-api']['pid']
    rc, text = deploy_playbook(str(play), {}, tmp_path, env_extra=_env(pm2))
    assert rc == 0, text

    first = json.loads((out / 'status1.json').read_text())
    assert (first['manager'], first['name'], first['status'], first['running']) == ('pm2', 'svc-api', 'ok', True)
    assert first['restarts'] == 0 and first['memory_bytes'] > 0 and first['uptime_s'] >= 0
    stopped = json.loads((out / 'status2.json').read_text())
    assert (stopped['running'], stopped['status'], stopped['state']) == (False, 'critical', 'stopped')
    # independent check: pm2 runs it again, restarted (new pid), restart counter moved
    got = pm2.jlist()['svc-api']
    assert got['status'] == 'online' and got['pid'] != pid_before and got['restarts'] >= 1
    assert any('listening on' in line for line in json.loads((out / 'logs.json').read_text()))
    assert "Could not restart the service 'x; pm2 kill'" in (out / 'hostile.txt').read_text()
    assert 'svc-api' in pm2.jlist()  # pm2 was not killed


@pytest.mark.slow
def test_process_probe_sees_a_crash_looping_pm2_app(pm2, tmp_path, run_module):
    script = tmp_path / 'crash.js'
    script.write_text(CRASH)
    pm2.run('start', str(script), '--name', 'svc-crash', '--restart-delay', '300')
    _wait(lambda: pm2.jlist().get('svc-crash', {}).get('restarts', 0) >= 2, what='two restarts')
    state = tmp_path / 'state'
    check = {'name': 'api', 'type': 'process', 'manager': 'pm2', 'service': 'svc-crash', 'state_dir': str(state)}
    first = run_module('health_check', {'checks': [check], 'fail_on': 'never'}, env=_env(pm2))
    metrics = first['checks'][0]['metrics']
    assert metrics['restarts'] >= 2 and metrics['restarts_since_last'] is None, first
    before = metrics['restarts']
    _wait(lambda: pm2.jlist()['svc-crash']['restarts'] >= before + 2, what='two more restarts')
    second = run_module('health_check', {'checks': [check], 'fail_on': 'never'}, env=_env(pm2))
    metrics = second['checks'][0]['metrics']
    assert metrics['restarts_since_last'] >= 2, second
    assert metrics['restarts_since_last'] == metrics['restarts'] - before
    assert second['checks'][0]['status'] in ('warning', 'critical')
    assert len(os.listdir(str(state))) == 1
    # stopped: not running is critical whatever the thresholds
    pm2.run('stop', 'svc-crash')
    third = run_module('health_check', {'checks': [dict(check, thresholds={'restarts_since_last': {
        'warning': 1000, 'critical': 2000}})], 'fail_on': 'never'}, env=_env(pm2))
    assert third['checks'][0]['status'] == 'critical', third
    assert 'pm2 svc-crash is not running (stopped)' in third['checks'][0]['message']


@pytest.mark.slow
def test_service_role_and_process_probe_on_a_real_podman(podman_images, tmp_path, run_module):
    engine = podman_images
    name = engine.prefix + '-web'
    crash = engine.prefix + '-crash'
    engine.run('run', '--detach', '--name', name, engine.images['v1'])
    engine.run('run', '--detach', '--name', crash, '--restart', 'always', engine.images['v1'],
               '/bin/busybox', 'sh', '-c', 'echo crashing; sleep 1; exit 3')
    env = {'CONTAINERS_CONF': engine.env['CONTAINERS_CONF']}

    out = tmp_path / 'out'
    out.mkdir()
    play = tmp_path / 'play.yml'
    play.write_text("""
- name: Service role on podman
  hosts: app
  gather_facts: false
  vars:
    service_manager: container
    service_name: "{name}"
    service_container_stop_timeout: 2
  tasks:
    - name: Stop
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: stop}}
    - name: Status while stopped
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: status}}
    - name: Keep it
      ansible.builtin.copy: {{dest: "{out}/stopped.json", content: "{{{{ service_status | to_json }}}}", mode: "0644"}}
    - name: Start
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: start}}
    - name: Restart
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: restart}}
    - name: Status
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: status}}
    - name: Keep it
      ansible.builtin.copy: {{dest: "{out}/running.json", content: "{{{{ service_status | to_json }}}}", mode: "0644"}}
    - name: Logs of the crashing one
      ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: logs}}
      vars:
        service_name: "{crash}"
        service_logs_lines: 3
    - name: Keep them
      ansible.builtin.copy: {{dest: "{out}/logs.json", content: "{{{{ service_logs | to_json }}}}", mode: "0644"}}
    - name: Scale is refused for a container
      block:
        - name: Scale
          ansible.builtin.include_role: {{name: runbook.ops.service, tasks_from: scale}}
      rescue:
        - name: Keep the message
          ansible.builtin.copy: {{dest: "{out}/scale.txt", content: "{{{{ ansible_failed_result.msg }}}}", mode: "0644"}}
""".format(name=name, crash=crash, out=out))
    started_before = engine.run('container', 'inspect', '--format', '{{.State.StartedAt}}', name).stdout
    rc, text = deploy_playbook(str(play), {}, tmp_path, env_extra=env)
    assert rc == 0, text
    stopped = json.loads((out / 'stopped.json').read_text())
    assert (stopped['running'], stopped['status'], stopped['state']) == (False, 'critical', 'exited'), stopped
    running = json.loads((out / 'running.json').read_text())
    assert (running['running'], running['status'], running['state']) == (True, 'ok', 'running'), running
    assert engine.state(name)[0] == 'running'
    assert engine.run('container', 'inspect', '--format', '{{.State.StartedAt}}', name).stdout != started_before
    assert 'crashing' in json.loads((out / 'logs.json').read_text())
    assert 'one named container has no replicas' in (out / 'scale.txt').read_text()

    # the crash loop: restarts counted by podman, and since the previous check
    _wait(lambda: int(engine.run('container', 'inspect', '--format', '{{.RestartCount}}', crash).stdout) >= 1,
          what='a container restart')
    check = {'name': 'crash', 'type': 'process', 'manager': 'container', 'service': crash,
             'container_engine': 'podman', 'state_dir': str(tmp_path / 'state')}
    first = run_module('health_check', {'checks': [check], 'fail_on': 'never'}, env=env)
    before = first['checks'][0]['metrics']['restarts']
    assert before >= 1, first
    _wait(lambda: int(engine.run('container', 'inspect', '--format', '{{.RestartCount}}', crash).stdout) >= before + 1,
          what='another container restart')
    second = run_module('health_check', {'checks': [check], 'fail_on': 'never'}, env=env)
    assert second['checks'][0]['metrics']['restarts_since_last'] >= 1, second
    assert second['checks'][0]['status'] in ('warning', 'critical')
