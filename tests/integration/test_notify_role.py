# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The notify role (runbook.ops.notify, entry point main) in a real play on two local hosts, against real local
receivers: a fleet-level event is sent once, a host-level event once per host, an empty target list sends nothing,
a failing target only warns (type and host), never fails the play and never prints a secret, check mode sends
nothing."""
from __future__ import annotations

import pytest

from playbooks import run_playbook
from webhook_fixtures import webhook_receiver

PLAY = '''---
- name: Notify through the role
  hosts: app
  gather_facts: false
  tasks:
    - name: Fleet-level start
      ansible.builtin.include_role:
        name: runbook.ops.notify
      vars:
        notify_once: true
        notify_event: {runbook: deploy, status: start, summary: "release 42"}
    - name: Host-level result
      ansible.builtin.include_role:
        name: runbook.ops.notify
      vars:
        notify_event: {runbook: deploy, status: success, figures: {release: "42"}}
    - name: Still running after the notifications
      ansible.builtin.debug:
        msg: after-the-notification
'''
HOSTS = {'app1': {}, 'app2': {}}
VERBOSE = {'ANSIBLE_VERBOSITY': '3'}


def _play(tmp_path, extra, check=False):
    (tmp_path / 'notify.yml').write_text(PLAY)
    return run_playbook(str(tmp_path / 'notify.yml'), extra, tmp_path, groups=('app',), hosts=HOSTS, env=VERBOSE,
                        check=check)


def test_fleet_event_once_and_host_events_per_host(tmp_path):
    with webhook_receiver(200) as hook:
        r = _play(tmp_path, {'runbook_notify_targets': [{'name': 'audit', 'type': 'webhook', 'url': hook.url,
                                                         'secret': 'k-' + hook.token}]})
    assert hook.token not in r.stdout + r.stderr
    assert r.returncode == 0, r.stdout[-3000:]
    starts = [b for b in hook.received if b['status'] == 'start']
    ends = [b for b in hook.received if b['status'] == 'success']
    assert len(starts) == 1 and starts[0]['hosts'] == ['app1', 'app2'] and starts[0]['summary'] == 'release 42'
    assert sorted(b['hosts'][0] for b in ends) == ['app1', 'app2'] and ends[0]['figures'] == {'release': '42'}
    assert 'X-Runbook-Signature' in hook.requests[0]['headers']


def test_no_targets_sends_nothing(tmp_path):
    r = _play(tmp_path, {})
    assert r.returncode == 0 and 'after-the-notification' in r.stdout
    assert 'did not accept' not in r.stdout and 'changed: [app1' not in r.stdout


@pytest.mark.parametrize('status', [500, None], ids=['answers-500', 'unreachable'])
def test_a_failing_target_warns_with_type_and_host_and_never_fails_the_play(tmp_path, status):
    with webhook_receiver(status) as hook, webhook_receiver(200) as fine:
        targets = [{'type': 'slack', 'url': hook.url}, {'type': 'slack', 'url': fine.url}]
        r = _play(tmp_path, {'runbook_notify_targets': targets, 'notify_retries': 1, 'notify_backoff': 0.1})
    out = r.stdout + r.stderr
    assert hook.token not in out and fine.token not in out
    assert r.returncode == 0, r.stdout[-3000:]
    assert 'after-the-notification' in r.stdout
    warning = ('The webhook did not accept the notification (HTTP status %s, host 127.0.0.1): slack target, '
               'event deploy start' % (status or -1))
    assert warning in out
    assert len(fine.received) == 3     # one start, two host events
    if status:
        assert len(hook.received) == 6     # each event tried twice


def test_check_mode_sends_nothing(tmp_path):
    with webhook_receiver(200) as hook:
        r = _play(tmp_path, {'runbook_notify_targets': [{'type': 'slack', 'url': hook.url}]}, check=True)
    assert r.returncode == 0, r.stdout[-3000:]
    assert hook.received == [] and hook.token not in r.stdout + r.stderr
