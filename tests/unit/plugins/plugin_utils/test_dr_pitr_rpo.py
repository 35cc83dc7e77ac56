# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DR RPO when the database was recovered by PITR (plugin_utils/dr.py recovery_point, measure, report):
the gap between the recovery target / last archived transaction and the failure, not the dump's age."""
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.filter.dr import dr_measure, dr_report
from ansible_collections.runbook.ops.plugins.plugin_utils import dr as rules

T0 = '2026-01-31T02:00:00.000000Z'
PHASES = [{'name': 'database', 'host': 'h', 'status': 'ok', 'detail': '',
           'started_at': '2026-01-31T02:00:05Z', 'ended_at': '2026-01-31T02:01:05Z'}]
# What the dr role records after the pitr role's restore: the pgBackRest backup is 3 days old, but WAL carries
# the data up to the target / the last archived commit.
PITR = {'method': 'pitr', 'backup_id': '20260128-010000F', 'backup_created_at': '2026-01-28T01:00:00Z',
        'recovery_target_type': 'latest', 'recovery_target': None,
        'last_replayed': '2026-01-31T01:59:48.500000Z', 'archive_reaches': '2026-01-31T01:59:48.500000Z'}


def test_latest_pitr_rpo_is_the_gap_to_the_last_archived_commit_not_the_backup_age():
    m = dr_measure(PHASES, T0, PITR)
    assert m['database'] == {'rto_s': 65.0, 'rpo_s': 11.5, 'rpo_source': 'wal_archive'}
    assert m['application']['rpo_s'] == 11.5 and m['application']['rpo_source'] == 'wal_archive'


def test_time_target_rpo_is_the_gap_to_the_target():
    restored = dict(PITR, recovery_target_type='time', recovery_target='2026-01-31T01:58:00Z',
                    last_replayed='2026-01-31T01:57:59.900000Z')
    assert dr_measure(PHASES, T0, restored)['database']['rpo_s'] == 120.0


def test_archive_reaches_is_used_when_nothing_was_replayed_after_the_backup():
    restored = dict(PITR, recovery_target_type='name', last_replayed=None, archive_reaches='2026-01-31T01:59:00Z')
    assert dr_measure(PHASES, T0, restored)['database']['rpo_s'] == 60.0


def test_an_archive_past_the_start_of_a_rehearsal_loses_nothing():
    # the rehearsal's primary keeps archiving while the run goes on: no data lost, never negative
    restored = dict(PITR, last_replayed='2026-01-31T02:00:30Z')
    assert dr_measure(PHASES, T0, restored)['database']['rpo_s'] == 0.0


def test_a_dump_after_the_start_is_still_a_clock_error():
    with pytest.raises(rules.DRError, match='after the start of the run'):
        rules.measure(PHASES, T0, {'method': 'dump', 'backup_created_at': '2026-01-31T02:00:30Z'})


def test_a_dump_rpo_is_its_age_and_says_so():
    m = dr_measure(PHASES, T0, {'method': 'dump', 'backup_created_at': '2026-01-31T01:30:00Z'})
    assert m['database'] == {'rto_s': 65.0, 'rpo_s': 1800.0, 'rpo_source': 'dump'}


def test_facts_without_a_method_keep_the_old_shape():
    m = dr_measure(PHASES, T0, {'backup_created_at': '2026-01-31T01:30:00Z'})
    assert m['database'] == {'rto_s': 65.0, 'rpo_s': 1800.0}


@pytest.mark.parametrize('restored, message', [
    (dict(PITR, last_replayed=None, archive_reaches=None), 'the PITR facts have no last_replayed or archive_reaches'),
    (dict(PITR, recovery_target_type='time', recovery_target=''), 'the PITR facts have no recovery_target'),
    (dict(PITR, method='wal-g'), "method 'wal-g': use dump or pitr"),
    (dict(PITR, last_replayed='2026-01-31 01:59:48'), 'has no time zone'),
    (dict(PITR, last_replayed='yesterday\x00'), 'is not an ISO 8601 timestamp'),
])
def test_bad_pitr_facts_are_refused_with_the_field_named(restored, message):
    with pytest.raises(rules.DRError, match='dr_measure: ') as e:
        rules.measure(PHASES, T0, restored)
    assert message in str(e.value)


def test_the_report_keeps_the_rpo_source_per_component():
    objectives = {'database': {'rto': '4h', 'rpo': '1h'}}
    r = dr_report(PHASES, objectives, dr_measure(PHASES, T0, PITR))
    db = [c for c in r['components'] if c['name'] == 'database'][0]
    assert db['rpo_source'] == 'wal_archive' and db['rpo_s'] == 11.5 and db['rpo_met'] is True
    # the same three-day-old base backup graded by its age would miss the 1 h objective
    dump = {'method': 'dump', 'backup_created_at': PITR['backup_created_at']}
    old = dr_report(PHASES, objectives, dr_measure(PHASES, T0, dump))
    assert old['missed_objectives'] == ['database RPO 3d 01h > 1h']


def test_the_report_refuses_an_unknown_rpo_source():
    from ansible.errors import AnsibleFilterError  # pylint: disable=import-outside-toplevel
    with pytest.raises((rules.DRError, AnsibleFilterError), match="rpo_source 'guess': use dump, wal_archive"):
        dr_report(PHASES, {}, {'database': {'rto_s': 1, 'rpo_s': 1, 'rpo_source': 'guess'}})


def test_the_markdown_report_names_the_rpo_source_and_the_dump_rpo_beside_it():
    from ansible_collections.runbook.ops.plugins.plugin_utils.dr_render import dr_markdown  # pylint: disable=import-outside-toplevel
    r = dr_report(PHASES, {'database': {'rto': '4h', 'rpo': '1h'}}, dr_measure(PHASES, T0, PITR),
                  meta={'dump_rpo_s': 3700.0})
    md = dr_markdown(r)
    assert 'RPO source: database from wal\\_archive' in md or 'RPO source: database from wal_archive' in md
    assert 'newest dump would have lost 1h 01m' in md or 'newest dump would have lost 1h' in md
    plain = dr_markdown(dr_report(PHASES, {}, {'database': {'rto_s': 1, 'rpo_s': 1}}))
    assert 'RPO source' not in plain and 'newest dump' not in plain
