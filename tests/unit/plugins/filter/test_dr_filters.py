# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DR report filters: durations, objectives, JUnit, HTML and Markdown."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.runbook.ops.plugins.filter.dr import (
    FilterModule, dr_html, dr_junit, dr_markdown, dr_report, duration_seconds, human_duration)

# Seed 001's recovery objectives.
OBJECTIVES = {
    'database': {'rto': '4h', 'rpo': '1h'},
    'import': {'rto': '6h', 'rpo': '24h'},
    'cache': {'rto': '2h', 'rpo': None},
}


def _phase(name, start, end, status='ok', **kw):
    p = {'name': name, 'started_at': start, 'ended_at': end, 'status': status}
    p.update(kw)
    return p


PHASES = [
    _phase('assess', '2026-01-31T02:00:00Z', '2026-01-31T02:00:05Z', host='db1', detail='primary unreachable'),
    _phase('restore', '2026-01-31T02:00:05Z', '2026-01-31T02:20:05Z', host='dr-db1'),
    _phase('deploy', '2026-01-31T02:20:05Z', '2026-01-31T02:25:00Z', host='dr-app1'),
    _phase('verify', '2026-01-31T02:25:00Z', '2026-01-31T02:25:04.2Z'),
]
ALL_MET = {
    'database': {'rto_s': 1200.0, 'rpo_s': 1800.0},
    'import': {'rto_s': 1504.2, 'rpo_s': 3600},
    'cache': {'rto_s': 300, 'rpo_s': None},
}


def _comp(report, name):
    return [c for c in report['components'] if c['name'] == name][0]


# ---------------------------------------------------------------------------------------------
# durations

@pytest.mark.parametrize('value, seconds', [
    ('4h', 14400.0), ('30m', 1800.0), ('90s', 90.0), ('1h30m', 5400.0), ('7d', 604800.0),
    ('2w', 1209600.0), ('1h 30m 15s', 5415.0), (' 1.5h ', 5400.0), ('4H', 14400.0),
    ('3600', 3600.0), ('0', 0.0), (90, 90.0), (2.5, 2.5), (0, 0.0),
])
def test_duration_seconds_parses(value, seconds):
    result = duration_seconds(value)
    assert result == seconds
    assert isinstance(result, float)


@pytest.mark.parametrize('value', [None, '', '   '])
def test_duration_seconds_empty_is_none(value):
    assert duration_seconds(value) is None


@pytest.mark.parametrize('value, fragment', [
    ('abc', "cannot parse 'abc' as a duration"),
    ('1h30', "cannot parse '1h30'"),
    ('1h1h', 'each unit once'),
    ('4x', "cannot parse '4x'"),
    ('h', "cannot parse 'h'"),
    ('-5m', "cannot parse '-5m'"),
    ('4h; rm -rf /', 'cannot parse'),
    ('1h\x0030m', 'cannot parse'),
    (-3, 'is negative'),
    (float('nan'), 'not a finite duration'),
    (float('inf'), 'not a finite duration'),
    (True, 'True is not a duration'),
    ([1], '(list) is not a duration'),
])
def test_duration_seconds_bad_input_says_what_is_accepted(value, fragment):
    with pytest.raises(AnsibleFilterError) as e:
        duration_seconds(value)
    assert fragment in str(e.value)
    assert str(e.value).startswith('duration_seconds: ')
    if 'negative' not in fragment:
        assert "'1h30m'" in str(e.value)


@pytest.mark.parametrize('seconds, text', [
    (None, 'n/a'), (0, '0s'), (4.2, '4.2s'), (4.24, '4.2s'), (30, '30s'), (59.96, '1m'), (60, '1m'),
    (125, '2m 05s'), (3723, '1h 02m 03s'), (3600, '1h'), (5400, '1h 30m'), (3603, '1h 00m 03s'),
    (18000, '5h'), (90061, '1d 01h 01m 01s'), (86400, '1d'),
])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {'duration_seconds', 'dr_measure', 'dr_report', 'dr_junit',
                                             'dr_html', 'dr_markdown'}


# ---------------------------------------------------------------------------------------------
# dr_report

def test_all_objectives_met():
    r = dr_report(PHASES, OBJECTIVES, ALL_MET, {'backup_id': 'b1'})
    assert r['ok'] is True
    assert r['failed_phases'] == [] and r['missed_objectives'] == []
    assert r['started_at'] == '2026-01-31T02:00:00Z'
    assert r['ended_at'] == '2026-01-31T02:25:04.2Z'
    assert r['total_s'] == pytest.approx(1504.2)
    assert r['meta'] == {'backup_id': 'b1'}
    db = _comp(r, 'database')
    assert db == {'name': 'database', 'priority': None, 'rto_objective_s': 14400.0, 'rto_s': 1200.0,
                  'rto_met': True, 'rpo_objective_s': 3600.0, 'rpo_s': 1800.0, 'rpo_met': True, 'ok': True}
    assert [c['name'] for c in r['components']] == ['database', 'import', 'cache']


def test_phase_durations_and_offsets():
    r = dr_report(PHASES, {}, {})
    restore = r['phases'][1]
    assert restore['name'] == 'restore'
    assert restore['duration_s'] == 1200.0
    assert restore['offset_s'] == 5.0
    assert restore['host'] == 'dr-db1' and restore['detail'] == ''
    assert r['phases'][3]['duration_s'] == pytest.approx(4.2)
    assert r['phases'][0]['detail'] == 'primary unreachable'
    assert set(restore) == {'name', 'status', 'started_at', 'ended_at', 'duration_s', 'offset_s', 'detail', 'host'}


def test_missed_rto_is_named():
    meas = dict(ALL_MET, database={'rto_s': 18000, 'rpo_s': 1800})
    r = dr_report(PHASES, OBJECTIVES, meas)
    assert r['ok'] is False
    assert r['missed_objectives'] == ['database RTO 5h > 4h']
    db = _comp(r, 'database')
    assert db['rto_met'] is False and db['rpo_met'] is True and db['ok'] is False
    assert _comp(r, 'import')['ok'] is True


def test_missed_rpo_and_boundary():
    meas = dict(ALL_MET, database={'rto_s': 14400, 'rpo_s': 3723})
    r = dr_report(PHASES, OBJECTIVES, meas)
    # exactly on the objective is met; over it is missed
    assert _comp(r, 'database')['rto_met'] is True
    assert r['missed_objectives'] == ['database RPO 1h 02m 03s > 1h']


def test_miss_hidden_by_rounding_shows_exact_seconds():
    meas = dict(ALL_MET, database={'rto_s': 14400.4, 'rpo_s': 10})
    r = dr_report(PHASES, OBJECTIVES, meas)
    assert r['missed_objectives'] == ['database RTO 4h (14400.4s) > 4h']


def test_unmeasured_objective_is_a_miss():
    r = dr_report(PHASES, OBJECTIVES, {'database': {'rto_s': 100, 'rpo_s': None}, 'cache': {'rto_s': 5}})
    assert r['ok'] is False
    assert r['missed_objectives'] == [
        'database RPO not measured (objective 1h)',
        'import RTO not measured (objective 6h)',
        'import RPO not measured (objective 1d)',
    ]
    imp = _comp(r, 'import')
    assert imp['rto_s'] is None and imp['rto_met'] is False and imp['ok'] is False


def test_null_rpo_objective_is_na():
    r = dr_report(PHASES, OBJECTIVES, ALL_MET)
    cache = _comp(r, 'cache')
    assert cache['rpo_objective_s'] is None and cache['rpo_met'] is None and cache['ok'] is True
    # a measurement against an N/A objective never fails
    r = dr_report(PHASES, OBJECTIVES, dict(ALL_MET, cache={'rto_s': 1, 'rpo_s': 999999}))
    assert r['ok'] is True and _comp(r, 'cache')['rpo_met'] is None


def test_measured_component_without_objective_is_listed_na():
    r = dr_report(PHASES, {'database': {'rto': '4h', 'rpo': '1h'}},
                  {'database': {'rto_s': 1, 'rpo_s': 1}, 'files': {'rto_s': 30, 'rpo_s': None}})
    assert [c['name'] for c in r['components']] == ['database', 'files']
    files = _comp(r, 'files')
    assert files['rto_objective_s'] is None and files['rto_met'] is None and files['ok'] is True
    assert r['ok'] is True


def test_objectives_accept_seconds_priority_and_measurement_durations():
    r = dr_report(PHASES, {'database': {'rto': 14400, 'rpo': '1h', 'priority': 'Critical',
                                        'description': 'PostgreSQL'}},
                  {'database': {'rto_s': '20m', 'rpo_s': 5}})
    db = _comp(r, 'database')
    assert db['priority'] == 'Critical' and db['rto_s'] == 1200.0 and db['rto_met'] is True


def test_failed_phase_fails_the_report():
    phases = PHASES[:2] + [_phase('deploy', '2026-01-31T02:20:05Z', '2026-01-31T02:21:00Z', 'failed',
                                  detail='systemd unit failed')]
    r = dr_report(phases, OBJECTIVES, ALL_MET)
    assert r['ok'] is False
    assert r['failed_phases'] == ['deploy']
    assert r['missed_objectives'] == []


def test_skipped_phase_without_end_and_does_not_fail():
    phases = PHASES + [{'name': 'files', 'started_at': '2026-01-31T02:25:04.2Z', 'status': 'skipped',
                        'detail': 'no uploads bucket'}]
    r = dr_report(phases, OBJECTIVES, ALL_MET)
    assert r['ok'] is True
    files = r['phases'][-1]
    assert files['status'] == 'skipped' and files['duration_s'] == 0.0
    assert files['ended_at'] == files['started_at']


def test_phases_sorted_by_start_ties_keep_input_order():
    shuffled = [PHASES[2], PHASES[0], PHASES[3], PHASES[1],
                _phase('zero', '2026-01-31T02:00:05Z', '2026-01-31T02:00:05Z')]
    r = dr_report(shuffled, {}, {})
    assert [p['name'] for p in r['phases']] == ['assess', 'restore', 'zero', 'deploy', 'verify']
    assert [p['offset_s'] for p in r['phases']] == [0.0, 5.0, 5.0, 1205.0, 1500.0]


def test_timezone_forms_give_the_same_report():
    z = dr_report(PHASES, OBJECTIVES, ALL_MET)
    plus = [dict(p, started_at=p['started_at'].replace('Z', '+00:00'),
                 ended_at=p['ended_at'].replace('Z', '+00:00')) for p in PHASES]
    assert dr_report(plus, OBJECTIVES, ALL_MET) == z
    # another offset is converted to UTC, not read as UTC
    other = [dict(p) for p in PHASES]
    other[0]['started_at'] = '2026-01-31T04:00:00+02:00'
    assert dr_report(other, OBJECTIVES, ALL_MET) == z
    # lower-case z and a datetime-free mix of forms
    mixed = [dict(p) for p in PHASES]
    mixed[1]['ended_at'] = '2026-01-31T02:20:05z'
    assert dr_report(mixed, OBJECTIVES, ALL_MET)['phases'][1]['duration_s'] == 1200.0


def test_aware_datetime_objects_are_accepted():
    import datetime
    utc = datetime.timezone.utc
    phases = [_phase('a', datetime.datetime(2026, 1, 31, 2, 0, tzinfo=utc),
                     datetime.datetime(2026, 1, 31, 2, 1, tzinfo=utc))]
    r = dr_report(phases, {}, {})
    assert r['phases'][0]['started_at'] == '2026-01-31T02:00:00Z' and r['total_s'] == 60.0


def test_naive_timestamp_is_refused():
    bad = [_phase('restore', '2026-01-31T02:00:05', '2026-01-31T02:20:05Z')]
    with pytest.raises(AnsibleFilterError, match=r"phase 'restore' started_at '2026-01-31T02:00:05' has no "
                                                 r"time zone: record UTC with 'Z' or '\+00:00'"):
        dr_report(bad, {}, {})


def test_no_phases():
    r = dr_report([], OBJECTIVES, ALL_MET)
    assert r['started_at'] is None and r['ended_at'] is None and r['total_s'] == 0.0
    assert r['phases'] == [] and r['ok'] is True
    assert dr_report(None, None, None)['components'] == []


@pytest.mark.parametrize('args, message', [
    (([_phase('x', 'yesterday', '2026-01-31T02:00:00Z')], {}, {}),
     "phase 'x' started_at 'yesterday' is not an ISO 8601 timestamp"),
    (([_phase('x', '2026-01-31\x0002:00:00Z', '2026-01-31T02:00:00Z')], {}, {}),
     "phase 'x' started_at '2026-01-31\\x0002:00:00Z' is not an ISO 8601 timestamp"),
    (([_phase('x', '2026-W05-6T02:00:00Z', '2026-01-31T02:00:00Z')], {}, {}),
     "phase 'x' started_at '2026-W05-6T02:00:00Z' is not an ISO 8601 timestamp"),
    (([_phase('x', '2026-01-31T02:00:00Z', None)], {}, {}), "phase 'x' ended_at is missing"),
    (([_phase('x', '2026-01-31T02:00:00Z', '2026-01-31T01:00:00Z')], {}, {}),
     "phase 'x' ends (2026-01-31T01:00:00Z) before it starts (2026-01-31T02:00:00Z)"),
    (([_phase('x', '2026-01-31T02:00:00Z', '2026-01-31T02:00:00Z', 'done')], {}, {}),
     "phase 'x' has status 'done': use one of ok, failed, skipped"),
    (([{'started_at': '2026-01-31T02:00:00Z'}], {}, {}), 'phase #1 has no name'),
    ((['restore'], {}, {}), "phase #1 must be a dict"),
    (('restore', {}, {}), 'phases must be a list of phase dicts, got str'),
    (([], {'database': {'rto': '4 hours'}}, {}), "objectives database rto: cannot parse '4 hours'"),
    (([], {'database': {'rto': '4h', 'rp0': '1h'}}, {}), "objectives for 'database' have unknown keys rp0"),
    (([], {'database': {'rpo': '1h'}}, {}), "objectives for 'database' have no rto"),
    (([], {'database': '4h'}, {}), "objectives for 'database' must be a dict"),
    (([], ['database'], {}), 'objectives must be a dict'),
    (([], {}, {'database': {'rto': 5}}), "measurements for 'database' have unknown keys rto: use rto_s, rpo_s"),
    (([], {}, {'database': {'rto_s': -1}}), 'measurements database rto_s: -1 is negative'),
    (([], {}, {'database': 5}), "measurements for 'database' must be a dict"),
    (([], {}, {}, 'meta'), 'meta must be a dict'),
])
def test_bad_input_messages(args, message):
    with pytest.raises(AnsibleFilterError) as e:
        dr_report(*args)
    assert message in str(e.value)
    assert str(e.value).startswith('dr_report: ')


# ---------------------------------------------------------------------------------------------
# JUnit

def _failed_report():
    phases = PHASES[:3] + [
        _phase('switch', '2026-01-31T02:25:00Z', '2026-01-31T02:26:00Z', 'failed', detail='nginx -t failed'),
        _phase('files', '2026-01-31T02:26:00Z', '2026-01-31T02:26:00Z', 'skipped', detail='no bucket')]
    meas = dict(ALL_MET, database={'rto_s': 18000, 'rpo_s': 1800})
    meas.pop('import')
    return dr_report(phases, OBJECTIVES, meas, {'run': '42', 'target': 'dr-db1'})


def test_junit_parses_and_counts():
    r = _failed_report()
    root = ET.fromstring(dr_junit(r))
    assert root.tag == 'testsuites'
    suite = root.find('testsuite')
    # 5 phases + database RTO/RPO + import RTO/RPO + cache RTO (cache RPO is N/A: no test case)
    cases = suite.findall('testcase')
    assert len(cases) == 10
    assert suite.get('tests') == '10' and root.get('tests') == '10'
    # failures: switch, database RTO, import RTO, import RPO
    assert suite.get('failures') == '4' and suite.get('skipped') == '1' and suite.get('errors') == '0'
    assert len(suite.findall('testcase/failure')) == 4 and len(suite.findall('testcase/skipped')) == 1
    assert suite.get('name') == 'dr-rehearsal'
    assert float(suite.get('time')) == pytest.approx(r['total_s'])
    assert suite.get('timestamp') == '2026-01-31T02:00:00'
    props = {p.get('name'): p.get('value') for p in suite.findall('properties/property')}
    assert props == {'run': '42', 'target': 'dr-db1'}


def test_junit_cases_and_messages():
    suite = ET.fromstring(dr_junit(_failed_report(), suite='nightly')).find('testsuite')
    assert suite.get('name') == 'nightly'
    by_name = {(c.get('classname'), c.get('name')): c for c in suite.findall('testcase')}
    restore = by_name[('dr.phases', 'restore')]
    assert restore.get('time') == '1200.000' and restore.find('failure') is None
    assert 'host: dr-db1' in restore.find('system-out').text
    switch = by_name[('dr.phases', 'switch')]
    assert switch.find('failure').get('message') == 'nginx -t failed'
    assert by_name[('dr.phases', 'files')].find('skipped').get('message') == 'no bucket'
    db_rto = by_name[('dr.objectives', 'database RTO')]
    assert db_rto.find('failure').get('message') == 'RTO 5h > objective 4h'
    assert db_rto.find('failure').text == 'database RTO: measured 18000s, objective 14400s'
    assert by_name[('dr.objectives', 'database RPO')].find('failure') is None
    assert by_name[('dr.objectives', 'import RTO')].find('failure').get('message') == \
        'RTO not measured (objective 6h)'
    assert ('dr.objectives', 'cache RPO') not in by_name
    # phase cases come first, in timeline order
    names = [c.get('name') for c in suite.findall('testcase')]
    assert names[:5] == ['assess', 'restore', 'deploy', 'switch', 'files']


def test_junit_all_green():
    suite = ET.fromstring(dr_junit(dr_report(PHASES, OBJECTIVES, ALL_MET))).find('testsuite')
    assert suite.get('failures') == '0' and suite.get('skipped') == '0' and suite.get('tests') == '9'
    assert suite.find('properties') is None


def test_junit_escapes_hostile_text():
    hostile = 'a<b>&"c\']]>\x00\x1b end'
    r = dr_report([_phase(hostile, '2026-01-31T02:00:00Z', '2026-01-31T02:00:01Z', 'failed', detail=hostile,
                          host='<h>')],
                  {hostile: {'rto': '1h', 'rpo': None}}, {}, {'<k>': hostile})
    text = dr_junit(r, suite='s<&>')
    assert '\x00' not in text and '\x1b' not in text
    root = ET.fromstring(text)
    case = root.find('testsuite/testcase')
    assert case.get('name') == 'a<b>&"c\']]>\ufffd\ufffd end'
    assert case.find('failure').get('message') == case.get('name')
    assert root.get('name') == 's<&>'
    assert root.find('testsuite/properties/property').get('name') == '<k>'


def test_junit_rejects_non_report():
    with pytest.raises(AnsibleFilterError, match='dr_junit: the input must be the output of runbook.ops.dr_report'):
        dr_junit(['x'])


# ---------------------------------------------------------------------------------------------
# HTML

def test_html_escapes_script_everywhere():
    script = '<script>alert("x")</script>'
    phases = [_phase('restore ' + script, '2026-01-31T02:00:00Z', '2026-01-31T02:10:00Z', 'failed',
                     detail=script, host=script)]
    r = dr_report(phases, {script: {'rto': '1h', 'rpo': None}}, {script: {'rto_s': 7200}}, {script: script})
    page = dr_html(r, title=script)
    assert '<script' not in page.lower()
    assert '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;' in page
    assert 'onerror' not in page


def test_html_is_self_contained():
    page = dr_html(dr_report(PHASES, OBJECTIVES, ALL_MET))
    assert page.startswith('<!DOCTYPE html>') and page.rstrip().endswith('</html>')
    assert '<style>' in page
    assert not re.search(r'(src|href)\s*=', page)
    assert 'http://' not in page and 'https://' not in page and '@import' not in page
    assert '<script' not in page


def test_html_verdict_and_table():
    page = dr_html(dr_report(PHASES, OBJECTIVES, ALL_MET), title='Nightly')
    assert '<title>Nightly: PASSED</title>' in page
    assert 'class="verdict pass">PASSED<' in page
    row = re.search(r'<tr><td>database</td>.*?</tr>', page).group(0)
    assert row == ('<tr><td>database</td><td>4h</td><td>20m</td><td class="met">met</td><td>1h</td>'
                   '<td>30m</td><td class="met">met</td></tr>')
    cache = re.search(r'<tr><td>cache</td>.*?</tr>', page).group(0)
    assert '<td>N/A</td><td>n/a</td><td class="na">N/A</td>' in cache

    page = dr_html(_failed_report())
    assert 'class="verdict fail">FAILED<' in page
    db = re.search(r'<tr><td>database</td>.*?</tr>', page).group(0)
    assert '<td>5h</td><td class="missed">missed</td>' in db
    imp = re.search(r'<tr><td>import</td>.*?</tr>', page).group(0)
    assert '<td>not measured</td><td class="missed">missed</td>' in imp
    assert '<li>objective missed: database RTO 5h &gt; 4h</li>' in page
    assert '<li>phase failed: switch</li>' in page


def test_html_timeline_bars_proportional():
    # 0-10 min ok, 10-40 min ok, 40-60 min failed: total 1 h
    phases = [_phase('a', '2026-01-31T02:00:00Z', '2026-01-31T02:10:00Z'),
              _phase('b', '2026-01-31T02:10:00Z', '2026-01-31T02:40:00Z', host='dr-db1'),
              _phase('c', '2026-01-31T02:40:00Z', '2026-01-31T03:00:00Z', 'failed')]
    page = dr_html(dr_report(phases, {}, {}))
    bars = re.findall(r'<div class="bar (\w+)" style="left:([0-9.]+)%;width:([0-9.]+)%"', page)
    assert bars == [('ok', '0.000', '16.667'), ('ok', '16.667', '50.000'), ('failed', '66.667', '33.333')]
    assert '<div class="label">b <small>dr-db1</small></div>' in page
    assert '<div class="dur">30m</div>' in page and '<div class="dur">20m failed</div>' in page
    assert '<span>+1h</span>' in page


def test_html_zero_length_rehearsal_does_not_divide_by_zero():
    page = dr_html(dr_report([_phase('a', '2026-01-31T02:00:00Z', '2026-01-31T02:00:00Z')], {}, {}))
    assert 'style="left:0.000%;width:0.000%"' in page
    assert 'No objectives were given.' in page


# ---------------------------------------------------------------------------------------------
# Markdown

def test_markdown_table_and_phases():
    md = dr_markdown(_failed_report())
    lines = md.splitlines()
    assert lines[0] == '## DR rehearsal: FAILED'
    assert 'Started 2026-01-31T02:00:00Z, ended 2026-01-31T02:26:00Z, total **26m**.' in lines
    assert '- phase failed: switch' in lines
    assert '- objective missed: database RTO 5h > 4h' in lines
    assert '| component | RTO objective | RTO measured | RTO | RPO objective | RPO measured | RPO |' in lines
    assert '| database | 4h | 5h | **MISSED** | 1h | 30m | met |' in lines
    assert '| import | 6h | not measured | **MISSED** | 1d | not measured | **MISSED** |' in lines
    assert '| cache | 2h | 5m | met | N/A | n/a | N/A |' in lines
    assert '2. restore: ok, 20m (at +5s) on dr-db1' in lines
    assert '4. switch: failed, 1m (at +25m) - nginx -t failed' in lines
    assert lines.index('1. assess: ok, 5s (at +0s) on db1 - primary unreachable') < lines.index(
        '5. files: skipped, 0s (at +26m) - no bucket')


def test_markdown_passed_and_escaping():
    md = dr_markdown(dr_report(PHASES, {'db|x\n# injected': {'rto': '1h', 'rpo': None}},
                               {'db|x\n# injected': {'rto_s': 4.2}}), title='Nightly')
    assert md.startswith('## Nightly: PASSED\n')
    assert '| db\\|x # injected | 1h | 4.2s | met | N/A | n/a | N/A |' in md
    assert '\n# injected' not in md
