# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils/db_incident: the termination guard (asked + reason + threshold + outside the maintenance window),
the host record, the report, its Markdown and the runbook_stats figures."""
from __future__ import annotations

import json

import pytest

from ansible_collections.runbook.ops.plugins.filter.db_incident import FilterModule
from ansible_collections.runbook.ops.plugins.filter.maintenance import maintenance_window_check
from ansible_collections.runbook.ops.plugins.plugin_utils import db_incident as di
from ansible_collections.runbook.ops.plugins.plugin_utils.runbook_stats import FIGURES, runbook_stats

WINDOW = {'days': ['sun'], 'start': '02:00', 'end': '04:00', 'timezone': 'UTC'}
INSIDE = maintenance_window_check(WINDOW, now='2026-12-06T03:00:00+00:00')     # a Sunday, 03:00 UTC
OUTSIDE = maintenance_window_check(WINDOW, now='2026-12-07T03:00:00+00:00')    # a Monday
NO_WINDOW = maintenance_window_check({})


def test_the_window_fixtures_are_what_they_say():
    assert INSIDE['inside'] is True and OUTSIDE['inside'] is False and NO_WINDOW['window'] == 'always'


def test_report_only_when_termination_is_not_asked():
    g = di.guard(False, 'INC-1', 600, 0, INSIDE)          # even inside the window: nothing is terminated
    assert g['mode'] == 'report' and g['terminate'] is False and g['refused'] is False


@pytest.mark.parametrize('reason', ['', '   ', None])
def test_refused_without_a_reason(reason):
    g = di.guard(True, reason, 600, 3600, OUTSIDE)
    assert g['refused'] is True and g['terminate'] is False and g['mode'] == 'refused'
    assert g['message'].startswith('Could not terminate sessions: db_incident_reason is empty.')
    assert 'Nothing was done.' in g['message']


@pytest.mark.parametrize('running, idle', [(0, 0), (None, None), ('0', ''), (-5, 0), ('x', 0)])
def test_refused_without_a_threshold(running, idle):
    g = di.guard(True, 'INC-1', running, idle, OUTSIDE)
    assert g['refused'] is True and 'no threshold is set' in g['message']


def test_refused_inside_a_configured_maintenance_window():
    g = di.guard(True, 'INC-1', 600, 0, INSIDE)
    assert g['refused'] is True
    assert g['message'].startswith('Could not terminate sessions: it is inside the maintenance window (sun 02:00-04:00 '
                                   'UTC)')


@pytest.mark.parametrize('window', [OUTSIDE, NO_WINDOW, {}, None])
def test_allowed_outside_the_window_or_without_one(window):
    g = di.guard(True, ' INC-1: runaway ', 600, 0, window)
    assert g == {'mode': 'terminate', 'terminate': True, 'refused': False, 'reason': 'INC-1: runaway',
                 'message': 'terminating sessions over the thresholds: INC-1: runaway'}
    assert di.guard(True, 'INC-1', 0, 3600, window)['terminate'] is True


SESSION = {'pid': 77, 'user': 'app', 'application_name': 'reports', 'client': '10.0.0.9:5000', 'database': 'app',
           'state': 'active', 'duration_s': 912.4, 'query': 'SELECT pg_sleep(3600) | `x`',
           'reason': 'query running for 912 s > terminate_running_longer_than_s 600', 'terminate_reason': 'INC-1'}
DB_REPORT = {'target': 'postgres@127.0.0.1:5432/app', 'server_version': 'PostgreSQL 15.8',
             'connections': {'total': 3, 'max_connections': 100, 'used_pct': 3.0, 'by_state': {'active': 2, 'idle': 1},
                             'by_application': {'reports': 1, '(none)': 2}, 'by_database': {'app': 3}},
             'idle_connections': [], 'slow_queries': {'available': False, 'by_mean': [], 'by_total': []},
             'indexes': {'unused': []}, 'wal': {'lsn': '0/1A2B3C4'}, 'errors': [],
             'notes': ['pg_stat_statements is not installed in app']}


def test_host_record_of_a_terminating_run():
    maint = {'db': 'app', 'terminated': [SESSION],
             'plan': [dict(SESSION, action='terminate', target='pid:77'),
                      dict(SESSION, pid=78, action='terminate', target='pid:78')],
             'actions': [{'action': 'terminate', 'target': 'pid:77', 'status': 'ok'},
                         {'action': 'terminate', 'target': 'pid:78', 'status': 'failed', 'error': 'must be superuser'}]}
    rec = di.host_record('db1', DB_REPORT, maint, di.guard(True, 'INC-1', 600, 0, None))
    assert rec['mode'] == 'terminate' and rec['reason'] == 'INC-1'
    assert [t['pid'] for t in rec['terminated']] == [77]
    assert [c['pid'] for c in rec['candidates']] == [78] and 'action' not in rec['candidates'][0]
    assert rec['failed_terminations'] == [{'target': 'pid:78', 'error': 'must be superuser'}]
    assert rec['target'] == 'postgres@127.0.0.1:5432/app' and rec['wal'] == {'lsn': '0/1A2B3C4'}


def test_host_record_of_a_report_only_run_lists_candidates():
    maint = {'db': 'app', 'terminated': [], 'plan': [dict(SESSION, action='terminate', target='pid:77')],
             'actions': []}
    rec = di.host_record('db1', DB_REPORT, maint, di.guard(False, ''))
    assert rec['mode'] == 'report' and rec['terminated'] == [] and [c['pid'] for c in rec['candidates']] == [77]
    # a skipped or missing db_maintenance result is fine
    assert di.host_record('db1', DB_REPORT, {'skipped': True}, None)['candidates'] == []
    assert di.host_record('db1', None, None, None, failure='boom')['failure'] == 'boom'


def test_report_counts_and_names_failed_hosts():
    ok = di.host_record('db1', DB_REPORT, {'terminated': [SESSION], 'plan': []}, di.guard(True, 'INC-1', 600))
    bad = di.host_record('db2', {}, None, di.guard(True, 'INC-1', 600), failure='Could not connect')
    rep = di.report({'db2': bad, 'db1': ok, 'db3': None}, generated_at='2026-12-06T07:00:00Z')
    assert [h['host'] for h in rep['hosts']] == ['db1', 'db2', 'db3']
    assert rep['terminated_count'] == 1 and rep['status'] == 'failed' and rep['failed_hosts'] == ['db2', 'db3']
    assert rep['summary'] == '1 session(s) terminated on 3 host(s); failed on db2, db3'
    only = di.report({'db1': di.host_record('db1', DB_REPORT, {'plan': [dict(SESSION, action='terminate')]},
                                            di.guard(False))}, generated_at='x')
    assert only['summary'] == 'report only: 1 session(s) over the thresholds, none terminated'
    assert only['status'] == 'ok'
    json.dumps(rep)                                                     # the JSON report


def test_markdown_lists_the_terminated_sessions_escaped():
    rep = di.report({'db1': di.host_record('db1', DB_REPORT, {'terminated': [SESSION], 'plan': []},
                                           di.guard(True, 'INC-1 | evil\nline', 600))}, generated_at='T')
    md = di.markdown(rep)
    assert md.startswith('# Database incident report\n')
    assert '### Terminated sessions' in md
    row = [line for line in md.splitlines() if line.startswith('| 77 |')][0]
    assert row.startswith('| 77 | app | reports | 10.0.0.9:5000 | app | active | 912.4 | query running for 912 s')
    assert '`` SELECT pg_sleep(3600) \\| `x` ``' in row                    # the query as code, the pipe escaped
    assert 'reason: INC-1 \\| evil line' in md                            # no table or line broken by the reason
    assert 'pg_stat_statements is not installed in app' in md and '`0/1A2B3C4`' in md
    empty = di.markdown(di.report({'db1': di.host_record('db1', DB_REPORT, None, di.guard(False))}, 'T'))
    assert '### Terminated sessions\n\nNone.' in empty


def test_filters_are_the_plugin_utils_functions():
    f = FilterModule().filters()
    assert set(f) == {'db_incident_guard', 'db_incident_record', 'db_incident_report', 'db_incident_markdown'}
    assert f['db_incident_guard'](True, 'INC-1', 600, 0, {})['terminate'] is True
    assert f['db_incident_guard'](False)['mode'] == 'report'


def test_runbook_stats_figures(tmp_path):
    assert 'db_incident' in FIGURES
    rep = di.report({'db1': di.host_record('db1', DB_REPORT, {'terminated': [SESSION], 'plan': []},
                                           di.guard(True, 'INC-1', 600))}, generated_at='T')
    path = tmp_path / 'db-incident.json'
    path.write_text(json.dumps(rep))
    r = runbook_stats('db_incident', ['db1'], ['db1'], [str(path)])
    assert r['figures'] == {'terminated_count': 1, 'candidate_count': 0, 'terminated_pids': {'db1': [77]},
                            'failed_hosts': []}
    assert r['summary'] == 'db_incident successful: 1/1 host(s) ok; 1 session(s) terminated on 1 host(s)'
