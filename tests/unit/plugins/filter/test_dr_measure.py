# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RTO/RPO measured from the raw records of a DR run (plugin_utils/dr.py ``measure``, filter dr_measure)."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.runbook.ops.plugins.filter.dr import FilterModule, dr_measure, dr_report
from ansible_collections.runbook.ops.plugins.plugin_utils import dr as rules

T0 = '2026-01-31T02:00:00.000000Z'
RESTORED = {'backup_id': 'b1', 'backup_created_at': '2026-01-31T01:30:00.000000Z', 'rows': 200}


def _p(name, start, end, status='ok', host='h1'):
    return {'name': name, 'host': host, 'status': status, 'detail': '',
            'started_at': '2026-01-31T02:%s.000000Z' % start, 'ended_at': '2026-01-31T02:%s.000000Z' % end}


def _run(**status):
    """A failover's records as the role keeps them: minute:second offsets from T0."""
    phases = [_p('start', '00:00', '00:00'), _p('assess', '00:01', '00:05'), _p('database', '00:05', '20:05'),
              _p('files', '20:05', '21:00'), _p('app', '21:00', '24:00'), _p('switch', '24:00', '25:00'),
              _p('verify_db', '25:00', '25:30'), _p('verify_app', '25:30', '26:00')]
    for p in phases:
        if p['name'] in status:
            p['status'] = status[p['name']]
    return phases


def test_filter_is_registered():
    assert FilterModule().filters()['dr_measure'] is dr_measure


def test_all_ok_measures_database_application_and_rpo():
    m = dr_measure(_run(), T0, RESTORED)
    assert m == {'database': {'rto_s': 1205.0, 'rpo_s': 1800.0},
                 'application': {'rto_s': 1560.0, 'rpo_s': 1800.0}}


def test_the_phases_that_count_toward_the_application_rto():
    assert rules.APP_RTO_PHASES == ('database', 'files', 'app', 'switch', 'verify_db', 'verify_app')


@pytest.mark.parametrize('failed', ['database', 'files', 'app', 'switch', 'verify_db', 'verify_app'])
def test_a_failed_service_phase_gives_no_application_rto(failed):
    m = dr_measure(_run(**{failed: 'failed'}), T0, RESTORED)
    assert m['application']['rto_s'] is None
    assert m['database']['rto_s'] == (None if failed == 'database' else 1205.0)
    assert m['application']['rpo_s'] == 1800.0


def test_a_failed_phase_outside_the_service_phases_does_not_count():
    # the assess phase and a rehearsal's teardown are not part of the application's recovery
    phases = _run(assess='failed') + [_p('teardown_app', '26:00', '40:00', 'failed')]
    assert dr_measure(phases, T0, RESTORED)['application']['rto_s'] == 1560.0


def test_skipped_phases_are_ignored():
    # a rehearsal: the switch is skipped (recorded when it is skipped, after the app started)
    phases = _run(switch='skipped') + [_p('teardown_app', '26:00', '59:00'), _p('teardown_db', '59:00', '59:30')]
    phases[5]['started_at'] = phases[5]['ended_at'] = '2026-01-31T02:59:59.000000Z'
    m = dr_measure(phases, T0, RESTORED)
    assert m['application']['rto_s'] == 1560.0   # verify_app's end, not the skipped switch, not the teardown


def test_verify_app_must_be_ok():
    for status in ('skipped',):
        assert dr_measure(_run(verify_app=status), T0, RESTORED)['application']['rto_s'] is None
    no_verify = [p for p in _run() if p['name'] != 'verify_app']
    assert dr_measure(no_verify, T0, RESTORED)['application']['rto_s'] is None


def test_the_first_database_phase_counts():
    phases = _run() + [_p('database', '30:00', '45:00', host='h2')]
    assert dr_measure(phases, T0, RESTORED)['database']['rto_s'] == 1205.0


@pytest.mark.parametrize('restored', [None, {}, {'backup_id': 'x'}, {'backup_created_at': ''},
                                      {'backup_created_at': None}])
def test_no_restored_backup_gives_no_rpo(restored):
    m = dr_measure(_run(), T0, restored)
    assert m['database']['rpo_s'] is None and m['application']['rpo_s'] is None
    assert m['database']['rto_s'] == 1205.0


def test_no_phases_measures_nothing():
    assert dr_measure([], T0, {}) == {'database': {'rto_s': None, 'rpo_s': None},
                                      'application': {'rto_s': None, 'rpo_s': None}}


def test_offsets_and_z_forms_are_equivalent():
    restored = {'backup_created_at': '2026-01-31T02:30:00+01:00'}
    assert dr_measure(_run(), '2026-01-31T02:00:00Z', restored)['database']['rpo_s'] == 1800.0


@pytest.mark.parametrize('started_at, restored, phases, message', [
    (None, RESTORED, None, 'dr_measure: started_at (the start of the run) is missing or not a timestamp'),
    ('', RESTORED, None, 'dr_measure: started_at (the start of the run) is missing or not a timestamp'),
    ("2026-01-31'; DROP TABLE x; --", RESTORED, None, 'is not an ISO 8601 timestamp: use UTC such as'),
    ('2026-01-31T02:00:00', RESTORED, None, "has no time zone: record UTC with 'Z' or '+00:00'"),
    ('2026-01-31T02:00:00\x00Z', RESTORED, None, 'is not an ISO 8601 timestamp'),
    (T0, {'backup_created_at': 'yesterday'}, None,
     "dr_measure: the restored backup_created_at 'yesterday' is not an ISO 8601 timestamp"),
    (T0, {'backup_created_at': '2026-01-31T01:00:00'}, None, 'the restored backup_created_at'),
    (T0, 'b1', None, 'dr_measure: the restored backup must be a dict'),
    (T0, {'backup_created_at': '2026-01-31T02:10:00Z'}, None,
     'dr_measure: the restored backup was created at 2026-01-31T02:10:00Z, after the start of the run '
     '(2026-01-31T02:00:00Z): check the clocks'),
    (T0, RESTORED, [{'name': 'database', 'status': 'ok', 'started_at': '*', 'ended_at': T0}],
     "dr_measure: phase 'database' started_at '*' is not an ISO 8601 timestamp"),
    (T0, RESTORED, [{'name': 'database', 'status': 'ok', 'started_at': T0}],
     "dr_measure: phase 'database' ended_at is missing"),
    (T0, RESTORED, 'database', 'dr_measure: phases must be a list'),
    ('2026-01-31T03:00:00Z', RESTORED, None,
     "dr_measure: the end of phase 'database' (2026-01-31T02:20:05Z) is before the start of the run"),
])
def test_hostile_or_missing_timestamps_give_a_clear_error(started_at, restored, phases, message):
    with pytest.raises(AnsibleFilterError) as e:
        dr_measure(_run() if phases is None else phases, started_at, restored)
    assert message in str(e.value)


def test_the_plugin_utils_error_is_not_an_ansible_error():
    with pytest.raises(rules.DRError, match='dr_measure: started_at'):
        rules.measure([], None)


def test_measurements_feed_the_report_unchanged():
    objectives = {'database': {'rto': '4h', 'rpo': '1h'}, 'application': {'rto': '4h', 'rpo': None}}
    phases = _run(switch='failed')
    r = dr_report(phases, objectives, dr_measure(phases, T0, RESTORED), {'mode': 'failover'})
    comps = {c['name']: c for c in r['components']}
    assert comps['database']['rto_s'] == 1205.0 and comps['database']['rpo_met'] is True
    assert comps['application']['rto_s'] is None and comps['application']['rto_met'] is False
    assert r['missed_objectives'] == ['application RTO not measured (objective 4h)']
    assert r['failed_phases'] == ['switch'] and r['ok'] is False
