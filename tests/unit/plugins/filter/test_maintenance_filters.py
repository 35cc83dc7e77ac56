# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The maintenance role's filters: window guard, log plan, report."""
from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.runbook.ops.plugins.filter import maintenance as m

WINDOW = {'days': ['sat', 'sun'], 'start': '02:00', 'end': '05:00', 'timezone': 'UTC'}


@pytest.mark.parametrize('now, inside', [
    ('2026-01-31T02:00:00Z', True),     # Saturday, opening minute
    ('2026-01-31T04:59:00Z', True),
    ('2026-01-31T05:00:00Z', False),    # the end is exclusive
    ('2026-02-01T03:00:00Z', True),     # Sunday
    ('2026-02-02T03:00:00Z', False),    # Monday
    ('2026-01-31T01:59:00Z', False),
])
def test_window_days_and_hours(now, inside):
    r = m.maintenance_window_check(WINDOW, now=now)
    assert r['inside'] is inside and r['allowed'] is inside and r['overridden'] is False
    if not inside:
        assert r['message'].startswith('Refusing to run maintenance outside the maintenance window '
                                       '(sat,sun 02:00-05:00 UTC)')
        assert 'maintenance_override_reason' in r['message']


def test_window_override_timezone_and_wrap():
    r = m.maintenance_window_check(WINDOW, now='2026-02-02T03:00:00Z', override_reason='  INC-42 bloat ')
    assert r['allowed'] is True and r['inside'] is False and r['overridden'] is True
    assert r['message'].endswith('overridden: INC-42 bloat')
    # Sunday 02:00-04:00 in Paris (UTC+1 in winter): 01:30 UTC is 02:30 there
    paris = {'days': ['sun'], 'start': '02:00', 'end': '04:00', 'timezone': 'Europe/Paris'}
    assert m.maintenance_window_check(paris, now='2026-02-01T01:30:00Z')['inside'] is True
    assert m.maintenance_window_check(paris, now='2026-02-01T03:30:00Z')['inside'] is False
    # 23:00-01:00 opening on Saturday: Sunday 00:30 is inside, Saturday 00:30 is not
    night = {'days': ['sat'], 'start': '23:00', 'end': '01:00', 'timezone': 'UTC'}
    assert m.maintenance_window_check(night, now='2026-02-01T00:30:00Z')['inside'] is True
    assert m.maintenance_window_check(night, now='2026-01-31T00:30:00Z')['inside'] is False
    assert m.maintenance_window_check(night, now='2026-01-31T23:30:00Z')['inside'] is True
    # empty window: always allowed; start == end: the whole day
    assert m.maintenance_window_check({}, now='2026-02-02T03:00:00Z')['allowed'] is True
    assert m.maintenance_window_check({'days': ['Sunday']}, now='2026-02-01T12:00:00Z')['inside'] is True
    assert m.maintenance_window_check({'days': ['mon'], 'start': '00:00', 'end': '00:00'},
                                      now='2026-02-02T23:59:00Z')['inside'] is True


@pytest.mark.parametrize('window, error', [
    ({'days': ['sunday; rm -rf /']}, 'maintenance_window.days'),
    ({'days': ['sun'], 'start': '2am'}, 'maintenance_window.start must be "HH:MM"'),
    ({'days': ['sun'], 'end': '25:00'}, 'maintenance_window.end'),
    ({'days': ['sun'], 'timezone': '../../etc/passwd'}, 'not a known IANA time zone'),
    ({'day': ['sun']}, 'unknown keys day'),
])
def test_window_rejects_bad_settings(window, error):
    with pytest.raises(AnsibleFilterError, match=error.replace('(', r'\(')):
        m.maintenance_window_check(window, now='2026-02-02T03:00:00Z')


T0, T1, T2, T3 = ('2026-01-31T04:00:00.000000Z', '2026-01-31T04:00:01.500000Z', '2026-01-31T04:00:03.500000Z',
                  '2026-01-31T04:00:04.000000Z')


def test_report_and_markdown():
    # the raw records of the phase role (one shape) and the details each phase left, by name
    phases = [
        {'name': 'backup', 'host': 'db1', 'status': 'ok', 'started_at': T0, 'ended_at': T1, 'duration_s': 1.5,
         'detail': ''},
        {'name': 'vacuum', 'host': 'db1', 'status': 'ok', 'started_at': T1, 'ended_at': T2, 'duration_s': 2.0,
         'detail': ''},
        {'name': 'logs', 'host': 'db1', 'status': 'failed', 'started_at': T2, 'ended_at': T3, 'duration_s': 0.5,
         'detail': 'Check the log directory: not a directory'},
        {'name': 'integrity', 'host': 'db1', 'status': 'skipped', 'started_at': T3, 'ended_at': T3, 'duration_s': 0.0,
         'detail': 'an earlier phase failed: logs'},
    ]
    details = {
        'backup': {'backups': [{'db': 'app', 'backup_id': 'b1', 'size_bytes': 2048}]},
        'vacuum': {'databases': [m.maintenance_db_summary({
            '_maintenance_db': {'name': 'app'}, 'msg': 'done', 'changed': True,
            'tables': [{'schema': 'public', 'table': 'or|ders', 'size_bytes_before': 4096, 'size_bytes_after': 2048,
                        'dead_tuples_before': 700, 'dead_tuples_after': 0}],
            'terminated': [{'pid': 1}]})]},
        'logs': {}, 'integrity': {},
    }
    report = m.maintenance_report({'db1': {'phases': phases, 'details': details, 'window': {'message': 'inside'}}},
                                  ['db1', 'db2'],
                                  generated_at='2026-01-31T04:00:00Z')
    assert report['status'] == 'failed'
    assert [(f['host'], f['phase']) for f in report['failed']] == [('db1', 'logs'), ('db2', None)]
    assert report['failed'][0]['text'] == 'db1 failed in phase logs: Check the log directory: not a directory'
    s = report['hosts']['db1']['summary']
    assert s['backups'] == 1 and s['vacuum_dead_tuples_before'] == 700 and s['vacuum_dead_tuples_after'] == 0
    assert s['vacuum_terminated'] == 1 and report['hosts']['db1']['duration_s'] == 4.0
    md = m.maintenance_markdown(report)
    assert 'Status: **FAILED**' in md and '## db1 (failed)' in md and '## db2 (failed)' in md
    assert '| backup | ok | %s | 1.5 s | app: b1 (2.0 KiB) |' % T0 in md
    assert '| app | public.or\\|ders | 4.0 KiB | 2.0 KiB | 700 | 0 |' in md
    assert '| integrity | skipped | %s | 0.0 s | an earlier phase failed: logs |' % T3 in md
    assert '- **db1** phase `logs`: Check the log directory: not a directory' in md
