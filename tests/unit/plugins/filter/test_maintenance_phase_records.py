# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The maintenance report reads the one phase record shape (plugin_utils/phase.py) and the phases' details."""
from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.runbook.ops.plugins.filter import maintenance as m
from ansible_collections.runbook.ops.plugins.plugin_utils import phase as p

T0, T1 = '2026-01-31T04:00:00.000000Z', '2026-01-31T04:00:02.250000Z'


def test_records_from_the_phase_role_become_report_phases():
    records = [p.record('window', 'ok', T0, T0, 'inside the window', 'db1'),
               p.record('backup', 'failed', T0, T1, 'Back up: Could not dump app: refused', 'db1'),
               p.record('vacuum', 'skipped', T1, None, 'an earlier phase failed: backup', 'db1')]
    details = {'window': {'message': 'inside the window', 'reason': ''}, 'backup': {'backups': []}}
    report = m.maintenance_report({'db1': {'phases': records, 'details': details}}, ['db1'])
    by = dict((x['name'], x) for x in report['hosts']['db1']['phases'])
    assert by['backup']['status'] == 'failed' and by['backup']['error'] == 'Back up: Could not dump app: refused'
    assert by['backup']['duration_s'] == 2.25 and by['backup']['title'] == 'full backup'
    assert by['vacuum']['details'] == {'reason': 'an earlier phase failed: backup'} and by['vacuum']['error'] == ''
    assert by['window']['details']['message'] == 'inside the window' and by['window']['error'] == ''
    assert report['failed'][0]['text'] == 'db1 failed in phase backup: Back up: Could not dump app: refused'
    assert report['hosts']['db1']['duration_s'] == 2.25
    assert '| vacuum | skipped | %s | 0.0 s | an earlier phase failed: backup |' % T1 in m.maintenance_markdown(report)


def test_a_record_without_duration_is_measured_from_its_timestamps():
    rec = {'name': 'cache', 'host': 'c1', 'status': 'ok', 'started_at': T0, 'ended_at': T1, 'detail': ''}
    report = m.maintenance_report({'c1': {'phases': [rec]}})
    assert report['hosts']['c1']['phases'][0]['duration_s'] == 2.25
    assert report['hosts']['c1']['phases'][0]['details'] == {}


@pytest.mark.parametrize('records, error', [
    ([{'name': 'backup', 'status': 'done', 'started_at': T0, 'ended_at': T1}], "status 'done'"),
    ([{'name': 'backup', 'status': 'ok', 'started_at': 't0', 'ended_at': T1}], 'not an ISO 8601 UTC timestamp'),
    ('backup', 'must be a list'),
])
def test_the_old_or_a_bad_shape_is_refused_with_the_host(records, error):
    with pytest.raises(AnsibleFilterError, match=r'%s.*\(host db1\)' % error):
        m.maintenance_report({'db1': {'phases': records}})


def test_details_must_be_a_dict():
    with pytest.raises(AnsibleFilterError, match='details of host db1 must be a dict'):
        m.maintenance_report({'db1': {'phases': [p.record('x', 'ok', T0, T1)], 'details': ['x']}})
