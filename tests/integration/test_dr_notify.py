# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dr role tells dr_notify_targets (default runbook_notify_targets) when the run starts (entry point start)
and how it ended (entry point report), against a real local JSON webhook. A rehearsal with no phase after start
misses its objectives: the end event is a critical failure naming them, and the play stays red with the DR's own
message (the notification never replaces it)."""
from __future__ import annotations

from playbooks import run_playbook
from webhook_fixtures import last_fatal, webhook_receiver

PLAY = '''---
- name: DR start and report only
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Start
      ansible.builtin.include_role:
        name: runbook.ops.dr
        tasks_from: start
    - name: Report
      ansible.builtin.include_role:
        name: runbook.ops.dr
        tasks_from: report
'''


def test_dr_notifies_start_and_failed_end(tmp_path):
    (tmp_path / 'dr.yml').write_text(PLAY)
    with webhook_receiver(200) as hook:
        r = run_playbook(str(tmp_path / 'dr.yml'), {
            'dr_mode': 'rehearsal', 'dr_site': 'dr-test', 'dr_report_dir': str(tmp_path / 'reports'),
            'runbook_notify_targets': [{'name': 'audit', 'type': 'webhook', 'url': hook.url}]}, tmp_path,
            groups=('dr_db',), env={'ANSIBLE_VERBOSITY': '3'})
    assert hook.token not in r.stdout + r.stderr
    assert r.returncode != 0
    assert [(b['runbook'], b['phase'], b['status']) for b in hook.received] == [
        ('dr_rehearsal', 'start', 'start'), ('dr_rehearsal', 'report', 'failure')]
    start, end = hook.received
    assert start['hosts'] == [] and start['summary'].startswith('DR rehearsal onto site dr-test started at ')
    assert end['severity'] == 'critical' and end['summary'].startswith('DR rehearsal onto dr-test FAILED: ')
    assert 'total_s' in end['figures'] and end['report'].endswith('/reports/dr-rehearsal.html')
    assert 'DR rehearsal onto dr-test FAILED' in last_fatal(r.stdout)
