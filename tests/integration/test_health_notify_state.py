# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health role notifies on a state change only: runbook.ops.health_check run four times on two local hosts
with a real tcp probe (a listening socket for ok, a closed port for critical) against a real JSON webhook and a
PagerDuty-shaped receiver. The first degradation triggers, the same state again sends nothing, the recovery
resolves with the same dedup key; the state file on the control node keeps the last state per host; check mode
neither sends nor writes."""
from __future__ import annotations

import json
import socket

from health_fixtures import closed_port
from playbooks import run_playbook
from webhook_fixtures import webhook_receiver


def _run(tmp_path, ports, hook, pd, check=False):
    hosts = dict((h, {'health_checks_test': [{'name': 'svc', 'type': 'tcp', 'host': '127.0.0.1', 'port': p,
                                              'timeout': 5}]}) for h, p in ports.items())
    extra = {'health_checks_system': [], 'health_fail_on': 'never',
             'health_report_dir': str(tmp_path / 'reports'),
             'health_notify_state_file': str(tmp_path / 'state' / 'health.json'),
             'runbook_notify_targets': [{'name': 'audit', 'type': 'webhook', 'url': hook.url},
                                        {'name': 'oncall', 'type': 'pagerduty', 'url': pd.url,
                                         'routing_key': 'rk-' + pd.token}]}
    r = run_playbook('health_check', extra, tmp_path, groups=('web',), hosts=hosts, check=check, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:]
    assert pd.token not in r.stdout + r.stderr and hook.token not in r.stdout + r.stderr
    return r


def test_health_notifies_on_state_changes_only(tmp_path):
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(16)
    up, down = listener.getsockname()[1], closed_port()
    state_file = tmp_path / 'state' / 'health.json'
    try:
        with webhook_receiver(200) as hook, webhook_receiver(202) as pd:
            _run(tmp_path, {'web1': up, 'web2': down}, hook, pd)
            assert [(b['status'], b['severity'], b['hosts']) for b in hook.received] == [
                ('failure', 'critical', ['web2'])]
            assert hook.received[0]['summary'] == 'web2: ok -> critical'
            assert [(b['event_action'], b['dedup_key']) for b in pd.received] == [
                ('trigger', 'runbook.ops/health_check/web2')]
            assert json.loads(state_file.read_text())['hosts'] == {'web1': 'ok', 'web2': 'critical'}

            _run(tmp_path, {'web1': up, 'web2': down}, hook, pd)       # same state: nobody is paged again
            assert len(hook.received) == 1 and len(pd.received) == 1

            _run(tmp_path, {'web1': up, 'web2': up}, hook, pd, check=True)   # check mode: nothing sent or kept
            assert len(hook.received) == 1 and len(pd.received) == 1
            assert json.loads(state_file.read_text())['hosts'] == {'web1': 'ok', 'web2': 'critical'}

            _run(tmp_path, {'web1': up, 'web2': up}, hook, pd)         # recovery: one success, one resolve
            assert [(b['status'], b['hosts'], b['summary']) for b in hook.received[1:]] == [
                ('success', ['web2'], 'web2: critical -> ok')]
            assert pd.received[1] == {'routing_key': 'rk-' + pd.token, 'event_action': 'resolve',
                                      'dedup_key': 'runbook.ops/health_check/web2'}
            assert json.loads(state_file.read_text())['hosts'] == {'web1': 'ok', 'web2': 'ok'}
    finally:
        listener.close()
