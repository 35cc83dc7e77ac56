# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one phase record shape, the one skip rule and the one "first failed loop item" rule."""
from __future__ import annotations

import datetime

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.runbook.ops.plugins.filter import phase as f
from ansible_collections.runbook.ops.plugins.plugin_utils import phase as p

T0 = '2026-01-31T02:00:00.000000Z'
T1 = '2026-01-31T02:00:01.250000Z'


def test_record_shape_and_duration():
    r = p.record('database', 'ok', T0, T1, 'restored', 'db1')
    assert r == {'name': 'database', 'host': 'db1', 'status': 'ok', 'started_at': T0, 'ended_at': T1,
                 'duration_s': 1.25, 'detail': 'restored'}
    assert list(r) == list(p.FIELDS)


def test_record_normalises_times_to_utc_microseconds():
    r = p.record('x', 'ok', '2026-01-31T02:00:00Z', '2026-01-31T02:00:00.5+00:00')
    assert r['started_at'] == '2026-01-31T02:00:00.000000Z' and r['ended_at'] == '2026-01-31T02:00:00.500000Z'
    assert r['host'] is None and r['detail'] == ''


def test_skipped_record_without_end_ends_at_start():
    r = p.record('switch', 'skipped', T0, None, 'rehearsal')
    assert r['ended_at'] == T0 and r['duration_s'] == 0.0


@pytest.mark.parametrize('args, error', [
    (('', 'ok', T0, T1), 'has no name'),
    (('x', 'done', T0, T1), "status 'done': use one of ok, failed, skipped"),
    (('x', 'ok', None, T1), 'started_at None is not an ISO 8601 UTC timestamp'),
    (('x', 'ok', T0, None), 'ended_at None'),
    (('x', 'ok', '2026-01-31 02:00:00', T1), 'not an ISO 8601 UTC'),      # no zone
    (('x', 'ok', '2026-01-31T02:00:00+02:00', T1), 'not an ISO 8601 UTC'),  # not UTC
    (('x', 'ok', T0 + '\x00', T1), 'not an ISO 8601 UTC'),
    (('x', 'ok', T1, T0), 'ends (2026-01-31T02:00:00.000000Z) before it starts'),
])
def test_record_refuses_bad_input(args, error):
    with pytest.raises(p.PhaseError, match=error.replace('(', r'\(').replace(')', r'\)')):
        p.record(*args)
    with pytest.raises(AnsibleFilterError):
        f.phase_record(*args)


def test_timestamp_format():
    dt = datetime.datetime(2026, 1, 31, 3, 0, 0, 7, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert p.timestamp(dt) == '2026-01-31T02:00:00.000007Z'
    assert p.parse_time(p.timestamp(), 'now') <= datetime.datetime.now(datetime.timezone.utc)
    with pytest.raises(p.PhaseError, match='no time zone'):
        p.timestamp(datetime.datetime(2026, 1, 1))


def test_failure_message_of_a_loop_names_the_first_failed_item():
    result = {'msg': 'One or more items failed', 'results': [
        {'failed': False, 'msg': 'fine'}, {'skipped': True},
        {'failed': True, 'msg': 'Could not vacuum app: locked'}, {'failed': True, 'msg': 'second'}]}
    assert p.failure_message(result, 'Vacuum') == 'Vacuum: Could not vacuum app: locked'
    assert f.phase_failure_message(result, 'Vacuum') == 'Vacuum: Could not vacuum app: locked'


def test_failure_message_without_items_or_message():
    assert p.failure_message({'msg': 'boom'}, 'Restore') == 'Restore: boom'
    assert p.failure_message({'msg': 'boom'}) == 'boom'
    assert p.failure_message({'results': [{'failed': True}], 'msg': 'One or more items failed'}, 't') == \
        't: One or more items failed'
    assert p.failure_message(None, 't') == 't: failed'
    assert p.failure_message({}, None) == 'failed'


def test_failure_message_is_cut():
    text = p.failure_message({'msg': 'x' * 5000}, 'task')
    assert len(text) == 1000 and text.endswith('...') and text.startswith('task: xx')
    assert p.failure_message({'msg': 'abcdef'}, limit=5) == 'ab...'


def test_skip_reason():
    assert p.skip_reason('', False, []) == ''
    assert p.skip_reason('rehearsal: not switched', False, ['x']) == 'rehearsal: not switched'
    assert p.skip_reason('', False, ['logs', 'logs', 'cache']) == 'an earlier phase failed: logs, cache'
    assert p.skip_reason('', True, ['logs']) == ''
    assert p.skip_reason(None, False, None) == ''
    assert p.skip_reason('   ', False, ['a']) == 'an earlier phase failed: a'
    assert f.phase_skip_reason('', False, ['assess on db1']) == 'an earlier phase failed: assess on db1'


def test_check_records():
    recs = [p.record('a', 'ok', T0, T1),
            {'name': 'b', 'status': 'skipped', 'started_at': T1, 'ended_at': T1, 'detail': None}]
    out = p.check_records(recs)
    assert out[1]['duration_s'] == 0.0 and out[1]['detail'] == '' and out[0] == recs[0]
    assert p.check_records(None) == []
    with pytest.raises(p.PhaseError, match='must be a list'):
        p.check_records({'name': 'a'})
    with pytest.raises(p.PhaseError, match="status 'bad'"):
        p.check_records([{'name': 'a', 'status': 'bad', 'started_at': T0, 'ended_at': T1}])
    with pytest.raises(p.PhaseError, match='#1 has no name'):
        p.check_records([{'status': 'ok'}])
    with pytest.raises(p.PhaseError, match='#1 must be a dict'):
        p.check_records(['a'])


def test_the_dr_rules_read_the_records_of_the_phase_role():
    from ansible_collections.runbook.ops.plugins.plugin_utils import dr
    recs = [p.record('start', 'ok', T0, T0, 'rehearsal', 'localhost'),
            p.record('database', 'ok', T0, T1, 'restored', 'db1'),
            p.record('switch', 'skipped', T1, None, 'rehearsal: not switched', 'web1'),
            p.record('verify_app', 'ok', T1, '2026-01-31T02:00:02.000000Z', '3 requests', 'app1')]
    m = dr.measure(recs, T0, {'backup_created_at': '2026-01-31T01:00:00Z'})
    assert m == {'database': {'rto_s': 1.25, 'rpo_s': 3600.0}, 'application': {'rto_s': 2.0, 'rpo_s': 3600.0}}
    report = dr.report(recs, {'database': {'rto': '1m', 'rpo': '2h'}}, m)
    assert report['ok'] is True and [x['host'] for x in report['phases']] == ['localhost', 'db1', 'web1', 'app1']
    assert dr.STATUSES is p.STATUSES
