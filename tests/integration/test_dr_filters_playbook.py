# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DR report filters inside a real ansible-playbook run (ansible-core's templating, lazy containers and
tagged strings): phases recorded the way the dr role records them, the four reports written to files."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from playbooks import run_playbook

PLAYBOOK = r'''
- name: DR report filters
  hosts: localhost
  gather_facts: false
  vars:
    objectives:
      database: {rto: 4h, rpo: 1h}
      import: {rto: 6h, rpo: 24h}
      cache: {rto: 2h, rpo: null}
  tasks:
    - name: Gather the date and time only
      ansible.builtin.setup:
        gather_subset: ['!all', '!min', 'date_time']

    - name: Record phases
      ansible.builtin.set_fact:
        phases:
          - name: assess
            started_at: "{{ ansible_date_time.iso8601 }}"
            ended_at: "{{ ansible_date_time.iso8601 }}"
            status: ok
            host: "{{ inventory_hostname }}"
          - name: restore
            started_at: "{{ ansible_date_time.iso8601 }}"
            ended_at: "{{ now(utc=true).isoformat() ~ 'Z' }}"
            status: ok
            detail: "<script>alert('x')</script>"
          - name: files
            started_at: "{{ now(utc=true).isoformat() ~ '+00:00' }}"
            status: skipped
        measured:
          database: {rto_s: "{{ 600 + 12.5 }}", rpo_s: 1800}
          cache: {rto_s: 30, rpo_s: null}

    - name: Build the report
      ansible.builtin.set_fact:
        report: "{{ phases | runbook.ops.dr_report(objectives, measured, {'run': 'ci'}) }}"

    - name: Write the reports
      ansible.builtin.copy:
        content: "{{ item.content }}"
        dest: "{{ out }}/{{ item.name }}"
        mode: "0644"
      loop:
        - {name: dr.json, content: "{{ report | to_nice_json }}"}
        - {name: dr.xml, content: "{{ report | runbook.ops.dr_junit }}"}
        - {name: dr.html, content: "{{ report | runbook.ops.dr_html(title='Lab rehearsal') }}"}
        - {name: dr.md, content: "{{ report | runbook.ops.dr_markdown }}"}
        - {name: rto.txt, content: "{{ objectives.database.rto | runbook.ops.duration_seconds }}"}

    - name: Fail like the dr role does when an objective is missed
      ansible.builtin.assert:
        that: report.ok | bool
        fail_msg: "{{ (report.failed_phases + report.missed_objectives) | join('; ') }}"
'''


def test_filters_in_a_playbook(tmp_path):
    pb = tmp_path / 'pb.yml'
    pb.write_text(PLAYBOOK)
    out = tmp_path / 'out'
    out.mkdir()
    r = run_playbook(str(pb), {'out': str(out)}, tmp_path, timeout=300)
    log = r.stdout + r.stderr
    # the play fails on the missed objective (import was never measured), after writing every report
    assert r.returncode == 2, log
    assert 'import RTO not measured (objective 6h); import RPO not measured (objective 1d)' in log

    report = json.loads((out / 'dr.json').read_text())
    assert report['ok'] is False
    assert [p['name'] for p in report['phases']] == ['assess', 'restore', 'files']
    assert all(p['started_at'].endswith('Z') for p in report['phases'])
    assert report['phases'][2]['status'] == 'skipped' and report['phases'][2]['duration_s'] == 0.0
    assert report['phases'][1]['detail'] == "<script>alert('x')</script>"
    db = [c for c in report['components'] if c['name'] == 'database'][0]
    assert db['rto_s'] == 612.5 and db['rto_met'] is True and db['rpo_met'] is True
    assert report['missed_objectives'] == ['import RTO not measured (objective 6h)',
                                           'import RPO not measured (objective 1d)']
    assert report['meta'] == {'run': 'ci'}

    suite = ET.fromstring((out / 'dr.xml').read_text()).find('testsuite')
    # 3 phases + database RTO/RPO + import RTO/RPO + cache RTO
    assert (suite.get('tests'), suite.get('failures'), suite.get('skipped')) == ('8', '2', '1')

    page = (out / 'dr.html').read_text()
    assert '<script' not in page and '&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;' in page
    assert '<title>Lab rehearsal: FAILED</title>' in page

    md = (out / 'dr.md').read_text()
    assert '| database | 4h | 10m 12s | met | 1h | 30m | met |' in md
    assert float((out / 'rto.txt').read_text()) == 14400.0
