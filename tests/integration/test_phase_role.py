# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The private phase recorder (roles/phase) run for real by ansible-playbook on two local hosts.

One record shape, the one skip rule in both scopes (a host's failures, or any host's in the run), the first failed
loop item naming a failure, and the notifications: none while runbook_notify_targets is empty, one event per phase
outcome to a real local webhook when it is set.
"""
from __future__ import annotations

import json
import re

from playbooks import run_playbook
from webhook_fixtures import webhook_receiver

HOSTS = {'h1': {}, 'h2': {}}
PLAYBOOK = """
- name: Phases recorded by runbook.ops.phase
  hosts: all
  gather_facts: false
  vars:
    _scope: "{{ scope }}"
  tasks:
    - name: Reset
      ansible.builtin.include_role: {name: runbook.ops.phase, tasks_from: reset}
      vars: {phase_scope: "{{ _scope }}"}

    - name: Begin one
      ansible.builtin.include_role: {name: runbook.ops.phase, tasks_from: begin}
      vars: {phase_name: one, phase_scope: "{{ _scope }}"}
    - name: Phase one
      when: phase_run | bool
      block:
        - name: End one
          ansible.builtin.include_role: {name: runbook.ops.phase, tasks_from: end}
          vars: {phase_name: one, phase_detail: "did one on {{ inventory_hostname }}", phase_notify: true,
                 phase_runbook: phase_test}
      rescue:
        - name: Fail one
          ansible.builtin.include_role: {name: runbook.ops.phase, tasks_from: fail}
          vars: {phase_name: one, phase_scope: "{{ _scope }}", phase_notify: true, phase_runbook: phase_test}

    - name: Begin two
      ansible.builtin.include_role: {name: runbook.ops.phase, tasks_from: begin}
      vars: {phase_name: two, phase_scope: "{{ _scope }}"}
    - name: Phase two
      when: phase_run | bool
      block:
        - name: Loop over the items
          ansible.builtin.fail:
            msg: "item {{ item }} broke on {{ inventory_hostname }}"
          when: inventory_hostname == 'h2' and item in ['b', 'c']
          loop: [a, b, c]
        - name: End two
          ansible.builtin.include_role: {name: runbook.ops.phase, tasks_from: end}
          vars: {phase_name: two, phase_notify: true, phase_runbook: phase_test}
      rescue:
        - name: Fail two
          ansible.builtin.include_role: {name: runbook.ops.phase, tasks_from: fail}
          vars: {phase_name: two, phase_scope: "{{ _scope }}", phase_notify: true, phase_runbook: phase_test}

    - name: Begin three (after the failure)
      ansible.builtin.include_role: {name: runbook.ops.phase, tasks_from: begin}
      vars: {phase_name: three, phase_scope: "{{ _scope }}"}
    - name: End three
      ansible.builtin.include_role: {name: runbook.ops.phase, tasks_from: end}
      vars: {phase_name: three}
      when: phase_run | bool

    - name: Begin teardown (always)
      ansible.builtin.include_role: {name: runbook.ops.phase, tasks_from: begin}
      vars: {phase_name: teardown, phase_scope: "{{ _scope }}", phase_always: true}
    - name: End teardown
      ansible.builtin.include_role: {name: runbook.ops.phase, tasks_from: end}
      vars: {phase_name: teardown}
      when: phase_run | bool

    - name: Begin five (the caller skips it)
      ansible.builtin.include_role: {name: runbook.ops.phase, tasks_from: begin}
      vars: {phase_name: five, phase_scope: "{{ _scope }}", phase_skip: "not today", phase_always: true}

    - name: Keep the records
      ansible.builtin.copy:
        content: "{{ phase_records | to_json }}"
        dest: "{{ out }}/{{ inventory_hostname }}.json"
        mode: "0644"
      delegate_to: localhost
"""
TIME = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$')


def _run(tmp_path, scope, extra=None):
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    r = run_playbook(str(tmp_path / 'play.yml'), dict({'scope': scope, 'out': str(tmp_path)}, **(extra or {})),
                     tmp_path, groups=('db',), hosts=HOSTS)
    assert r.returncode == 0, r.stdout[-4000:]
    out = {}
    for host in HOSTS:
        out[host] = json.loads((tmp_path / ('%s.json' % host)).read_text())
    return r, out


def _check_shape(records, host):
    for rec in records:
        assert list(rec) == ['name', 'host', 'status', 'started_at', 'ended_at', 'duration_s', 'detail']
        assert rec['host'] == host and rec['status'] in ('ok', 'failed', 'skipped')
        assert TIME.match(rec['started_at']) and TIME.match(rec['ended_at'])
        assert rec['started_at'] <= rec['ended_at'] and rec['duration_s'] >= 0


def test_host_scope_one_shape_skip_rule_and_first_failed_item(tmp_path):
    r, out = _run(tmp_path, 'host')
    for host, records in out.items():
        _check_shape(records, host)
    h1 = dict((x['name'], x) for x in out['h1'])
    h2 = dict((x['name'], x) for x in out['h2'])
    assert [x['name'] for x in out['h1']] == ['one', 'two', 'three', 'teardown', 'five']
    assert {n: x['status'] for n, x in h1.items()} == {'one': 'ok', 'two': 'ok', 'three': 'ok', 'teardown': 'ok',
                                                       'five': 'skipped'}
    assert h1['one']['detail'] == 'did one on h1' and h1['five']['detail'] == 'not today'
    # the loop's failure is named by its first failed item, with the task's name
    assert h2['two']['status'] == 'failed'
    assert h2['two']['detail'] == 'Loop over the items: item b broke on h2'
    # this host's failure skips its later phases, not the other host's; `always` still runs
    assert h2['three']['status'] == 'skipped' and h2['three']['detail'] == 'an earlier phase failed: two'
    assert h2['teardown']['status'] == 'ok'
    # no notification while runbook_notify_targets is unset: the notify role is not even included
    assert 'Phase | notify' not in r.stdout


def test_run_scope_skips_every_host_after_a_failure_and_notifies(tmp_path):
    with webhook_receiver(200) as hook:
        r, out = _run(tmp_path, 'run', {'runbook_notify_targets': [{'name': 'hook', 'type': 'webhook',
                                                                    'url': hook.url}]})
        events = list(hook.received)
    assert hook.token not in r.stdout
    h1 = dict((x['name'], x) for x in out['h1'])
    h2 = dict((x['name'], x) for x in out['h2'])
    assert h1['two']['status'] == 'ok' and h2['two']['status'] == 'failed'
    # any host's failure skips the later phases of every host in a run
    for h in (h1, h2):
        assert h['three']['status'] == 'skipped'
        assert h['three']['detail'] == 'an earlier phase failed: two on h2'
        assert h['teardown']['status'] == 'ok'
    # one event per notified phase outcome: one (both hosts) success, two success on h1, failure on h2
    seen = sorted((e.get('phase'), e.get('status'), tuple(e.get('hosts') or ())) for e in events)
    assert seen == [('one', 'success', ('h1',)), ('one', 'success', ('h2',)), ('two', 'failure', ('h2',)),
                    ('two', 'success', ('h1',))], events
    failure = next(e for e in events if e.get('status') == 'failure')
    assert failure['runbook'] == 'phase_test' and 'item b broke on h2' in failure['summary']
