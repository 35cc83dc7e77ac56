# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# playbooks/service_restart.yml and service_status.yml against a REAL pm2 (pm2_fixtures.py): a healthy app comes
# back after the restart, a crash-looping one does not and the play is red naming it; the fleet table shows both.

import json
import os
import subprocess
import time

import pytest

from release_fixtures import deploy_playbook
from servers import free_port
from testkit import REPO

SERVER = "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT, '127.0.0.1');\n"
CRASH = "setTimeout(() => process.exit(3), 100);\n"


@pytest.mark.slow
def test_service_restart_and_status_playbooks_on_pm2(pm2, tmp_path):
    (tmp_path / 'server.js').write_text(SERVER)
    (tmp_path / 'crash.js').write_text(CRASH)
    env = dict(pm2.env, PORT=str(free_port()))
    subprocess.run(['pm2', 'start', str(tmp_path / 'server.js'), '--name', 'pb-api'], env=env, check=True,
                   capture_output=True, timeout=120)
    pm2.run('start', str(tmp_path / 'crash.js'), '--name', 'pb-crash', '--max-restarts', '2', '--restart-delay', '200')
    end = time.monotonic() + 90
    while pm2.jlist().get('pb-crash', {}).get('status') != 'errored' and time.monotonic() < end:
        time.sleep(0.5)
    pid = pm2.jlist()['pb-api']['pid']
    penv = {'PATH': pm2.env['PATH'], 'PM2_HOME': pm2.home, 'PM2_DISABLE_VERSION_CHECK': '1'}
    services = [{'name': 'pb-api', 'manager': 'pm2'}, {'name': 'pb-crash', 'manager': 'pm2'}]
    reports = tmp_path / 'reports'

    rc, out = deploy_playbook(os.path.join(REPO, 'playbooks', 'service_restart.yml'), {
        'service_hosts': 'app', 'service_services': services, 'service_restart_window': 15,
        'service_restart_delay': 1, 'service_restart_min_uptime': 3}, tmp_path, env_extra=penv)
    assert rc != 0
    text = ' '.join(out.split())
    assert 'Could not bring back pm2 pb-crash on localhost within 15 s' in text, out
    got = pm2.jlist()['pb-api']
    assert got['status'] == 'online' and got['pid'] != pid   # restarted, and back

    rc, out = deploy_playbook(os.path.join(REPO, 'playbooks', 'service_status.yml'), {
        'service_hosts': 'app', 'service_services': services, 'service_report_dir': str(reports)},
        tmp_path, env_extra=penv)
    assert rc != 0 and '1 service(s) down: localhost pb-crash' in ' '.join(out.split()), out
    report = json.loads((reports / 'service-status.json').read_text())
    rows = {r['service']: r for r in report['rows']}
    assert (rows['pb-api']['status'], rows['pb-api']['running'], rows['pb-api']['restarts']) == ('ok', True, 1)
    # crash-looping: errored, or between two restarts
    assert rows['pb-crash']['status'] == 'critical' and rows['pb-crash']['running'] is False
    md = (reports / 'service-status.md').read_text()
    assert '| localhost | pb-crash | pm2 | critical | %s |' % rows['pb-crash']['state'] in md
    assert '1 ok, 0 warning, 1 critical' in md
