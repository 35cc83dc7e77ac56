# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The maintenance role's filters: window guard, log plan, assertions, row counts, report."""
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


def _f(path, age_days, size, **kw):
    d = {'path': path, 'mtime': 1000 * 86400 - age_days * 86400, 'size': size, 'isreg': True, 'islnk': False}
    d.update(kw)
    return d


def test_log_plan_age_then_cap_oldest_first():
    now = 1000 * 86400
    files = [_f('/l/a.1', 1, 1000), _f('/l/b.1', 40, 3000), _f('/l/c.1', 10, 1500), _f('/l/d.1', 35, 2000),
             _f('/l/link.1', 90, 10, islnk=True, isreg=False)]
    plan = m.maintenance_log_plan(files, max_age_days=30, max_total_mb=0.002, now=now)
    assert [(d['path'], d['reason']) for d in plan['delete']] == [
        ('/l/b.1', 'older than 30 days'), ('/l/d.1', 'older than 30 days'), ('/l/c.1', 'over the 0.002 MB cap')]
    assert plan['deleted_count'] == 3 and plan['deleted_bytes'] == 6500
    assert plan['bytes_before'] == 7500 and plan['bytes_after'] == 1000 and plan['kept_count'] == 1
    assert plan['matched_count'] == 4     # the symlink is never planned
    # no cap, no age: nothing goes
    assert m.maintenance_log_plan(files, now=now)['delete'] == []
    # a cap alone keeps the newest files that fit
    capped = m.maintenance_log_plan(files, max_total_mb=2500 / 1048576.0, now=now)
    assert [d['path'] for d in capped['delete']] == ['/l/b.1', '/l/d.1'] and capped['bytes_after'] == 2500


def test_assertions_scalar_rows_and_errors():
    results = [
        {'_c': {'name': 'count', 'db': 'app', 'expect': 5000}, 'query_result': [{'count': 5000}]},
        {'_c': {'name': 'decimal', 'db': 'app', 'expect': 2.5}, 'query_result': [{'x': 2.5}]},
        {'_c': {'name': 'rows', 'db': 'app', 'expect': [[1, 'c1'], [2, 'c2']]},
         'query_result': [{'id': 1, 'name': 'c1'}, {'id': 2, 'name': 'c2'}]},
        {'_c': {'name': 'dicts', 'db': 'app', 'expect': [{'id': 1}]}, 'query_result': [{'id': 1}]},
        {'_c': {'name': 'none expected', 'db': 'app', 'expect': []}, 'query_result': {}},
        {'_c': {'name': 'wrong', 'db': 'app', 'expect': 0}, 'query_result': [{'count': 2}]},
        {'_c': {'name': 'two rows for a scalar', 'db': 'app', 'expect': 1}, 'query_result': [{'a': 1}, {'a': 1}]},
        {'_c': {'name': 'row order', 'db': 'app', 'expect': [[2], [1]]}, 'query_result': [{'a': 1}, {'a': 2}]},
        {'_c': {'name': 'boom', 'db': 'app', 'expect': 0}, 'msg': 'cannot execute DELETE in a read-only transaction'},
    ]
    out = m.maintenance_assertions(results, '_c')
    assert [a['ok'] for a in out] == [True, True, True, True, True, False, False, False, False]
    assert out[5]['actual'] == 2 and out[8]['error'].startswith('cannot execute DELETE')
    lines = m.maintenance_integrity_failures(out)
    assert lines[0] == 'assertion wrong (db app): expected 0, got 2'
    assert lines[-1] == 'assertion boom (db app): cannot execute DELETE in a read-only transaction'


def test_row_counts_tolerance_and_missing_table():
    hostile = 't"; DROP TABLE x; --'
    manifest = {'tables': [{'schema': 'public', 'table': 'orders', 'rows': 1000},
                           {'schema': 'public', 'table': hostile, 'rows': 0},
                           {'schema': 'public', 'table': 'gone', 'rows': 5},
                           {'schema': 'public', 'table': 'grew', 'rows': 100}]}
    selected = {'id': 'b1', 'created_at': '2026-01-31T02:00:00Z', 'manifest': manifest}
    rows = [{'schema': 'public', 'table': 'orders', 'rows': 1040},
            {'schema': 'public', 'table': hostile, 'rows': 0},
            {'schema': 'public', 'table': 'gone', 'rows': None},
            {'schema': 'public', 'table': 'grew', 'rows': 200}]
    results = [{'_m': {'_maintenance_db': {'name': 'app'}, 'selected': selected}, 'query_result': rows}]
    report = m.maintenance_row_count_report(results, '_m', 5)
    tables = dict((t['table'], t) for t in report[0]['tables'])
    assert tables['orders']['ok'] is True and tables['orders']['diff_pct'] == 4.0
    assert tables[hostile]['ok'] is True
    assert tables['gone']['ok'] is False and tables['gone']['note'] == 'table missing'
    assert tables['grew']['ok'] is False and tables['grew']['diff_pct'] == 100.0
    assert report[0]['ok'] is False and report[0]['backup_id'] == 'b1'
    lines = m.maintenance_integrity_failures([], report)
    assert lines == ['row count of app.public.gone: table missing',
                     'row count of app.public.grew: 200 rows now, 100 in backup b1 (100.0% off, tolerance 5%)']


def test_report_and_markdown():
    phases = [
        {'name': 'backup', 'title': 'full backup', 'status': 'ok', 'started_at': 't0', 'ended_at': 't1',
         'duration_s': 1.5, 'error': '', 'details': {'backups': [{'db': 'app', 'backup_id': 'b1', 'size_bytes': 2048}]}},
        {'name': 'vacuum', 'title': 'vacuum/analyze', 'status': 'ok', 'started_at': 't1', 'ended_at': 't2',
         'duration_s': 2.0, 'error': '', 'details': {'databases': [m.maintenance_db_summary({
             '_maintenance_db': {'name': 'app'}, 'msg': 'done', 'changed': True,
             'tables': [{'schema': 'public', 'table': 'or|ders', 'size_bytes_before': 4096, 'size_bytes_after': 2048,
                         'dead_tuples_before': 700, 'dead_tuples_after': 0}],
             'terminated': [{'pid': 1}]})]}},
        {'name': 'logs', 'title': 'log cleanup', 'status': 'failed', 'started_at': 't2', 'ended_at': 't3',
         'duration_s': 0.5, 'error': 'Check the log directory: not a directory', 'details': {}},
        {'name': 'integrity', 'title': 'data integrity checks', 'status': 'skipped', 'started_at': 't3',
         'ended_at': 't3', 'duration_s': 0, 'error': '', 'details': {'reason': 'an earlier phase failed: logs'}},
    ]
    report = m.maintenance_report({'db1': {'phases': phases, 'window': {'message': 'inside'}}}, ['db1', 'db2'],
                                  generated_at='2026-01-31T04:00:00Z')
    assert report['status'] == 'failed'
    assert [(f['host'], f['phase']) for f in report['failed']] == [('db1', 'logs'), ('db2', None)]
    assert report['failed'][0]['text'] == 'db1 failed in phase logs: Check the log directory: not a directory'
    s = report['hosts']['db1']['summary']
    assert s['backups'] == 1 and s['vacuum_dead_tuples_before'] == 700 and s['vacuum_dead_tuples_after'] == 0
    assert s['vacuum_terminated'] == 1 and report['hosts']['db1']['duration_s'] == 4.0
    md = m.maintenance_markdown(report)
    assert 'Status: **FAILED**' in md and '## db1 (failed)' in md and '## db2 (failed)' in md
    assert '| backup | ok | t0 | 1.5 s | app: b1 (2.0 KiB) |' in md
    assert '| app | public.or\\|ders | 4.0 KiB | 2.0 KiB | 700 | 0 |' in md
    assert '| integrity | skipped | t3 | 0 s | an earlier phase failed: logs |' in md
    assert '- **db1** phase `logs`: Check the log directory: not a directory' in md
