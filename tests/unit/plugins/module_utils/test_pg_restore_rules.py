# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_restore safety rules on pure functions (issue 17): row-count verification, which backup a replace may use,
markers of leftovers and what the sweep may touch, the pg_dump_version field, what a failure says of the live
database."""
from __future__ import annotations

import json
import os

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import pg_restore as pr


# ---------------------------------------------------------------------------------------------
# compare_counts: a restored table must hold exactly the manifest's exact count

def _one(expected, actual, kind='exact'):
    ok, rows = pr.compare_counts([{'schema': 'public', 'table': 't', 'rows': expected}],
                                 {('public', 't'): actual}, kind)
    assert rows[0]['ok'] is ok
    return ok


@pytest.mark.parametrize('expected,actual,ok', [
    (1000, 1000, True),
    (1000, 999, False),     # fewer rows than the manifest: fails
    (1000, 1, False),
    (1000, 0, False),       # an empty table where rows were expected
    (1000, 1001, False),    # more rows: fails too
    (0, 0, True),
    (0, 1, False),
    (1000, None, False),    # the table is missing
    (0, None, False),       # even an empty table must exist
])
def test_exact_counts_must_match_exactly(expected, actual, ok):
    assert _one(expected, actual) is ok


def test_one_bad_table_fails_the_whole_verification():
    expected = [{'schema': 'public', 'table': 'a', 'rows': 5}, {'schema': 'public', 'table': 'b', 'rows': 7}]
    ok, rows = pr.compare_counts(expected, {('public', 'a'): 5, ('public', 'b'): 6})
    assert ok is False and [r['ok'] for r in rows] == [True, False]
    ok, rows = pr.compare_counts(expected, {('public', 'a'): 5})  # b not counted at all
    assert ok is False and rows[1]['actual'] is None
    ok, _rows = pr.compare_counts(expected, {('public', 'a'): 5, ('public', 'b'): 7})
    assert ok is True


def test_estimates_only_require_the_table_to_exist():
    assert _one(1000, 10, 'estimate') is True and _one(1000, None, 'estimate') is False
    assert _one(None, 0, 'none') is True and _one(None, None, 'none') is False


# ---------------------------------------------------------------------------------------------
# which backup a restore may use

def _entry(db, stamp, valid=True):
    bid = '2026031%sT120000Z-%s-abcdef' % (stamp, db)
    return {'id': bid, 'database': db, 'valid': valid, 'reason': 'ok' if valid else 'bad',
            'created_at': '2026-03-1%sT12:00:00.000000Z' % stamp, 'manifest': {'database': db}}


ENTRIES = sorted([_entry('victim', '1'), _entry('victim', '2'), _entry('other', '3')], key=bs.entry_order,
                 reverse=True)  # other's backup is the newest


def _params(**kw):
    p = {'mode': 'replace', 'source_db': None, 'target_db': None, 'backup': 'latest', 'allow_cross_database': False}
    p.update(kw)
    return p


def test_replace_without_source_db_takes_the_targets_own_newest_backup():
    considered, entry = pr.choose_backup(_params(target_db='victim'), ENTRIES)
    assert entry['database'] == 'victim' and entry['id'].startswith('20260312')
    assert {e['database'] for e in considered} == {'victim'}


def test_replace_from_another_database_needs_the_confirmation():
    with pytest.raises(pr.RestoreError) as e:
        pr.choose_backup(_params(target_db='victim', source_db='other'), ENTRIES)
    assert 'allow_cross_database' in str(e.value) and 'Nothing was changed' in str(e.value)
    with pytest.raises(pr.RestoreError):
        pr.check_source_policy(_params(target_db='victim', source_db='other'))
    _c, entry = pr.choose_backup(_params(target_db='victim', source_db='other', allow_cross_database=True), ENTRIES)
    assert entry['database'] == 'other'


def test_replace_by_id_of_another_database_is_refused_even_when_confirmed_without_source_db():
    other_id = [e for e in ENTRIES if e['database'] == 'other'][0]['id']
    for confirm in (False, True):
        with pytest.raises(pr.RestoreError) as e:
            pr.choose_backup(_params(target_db='victim', backup=other_id, allow_cross_database=confirm), ENTRIES)
        assert other_id in str(e.value) and 'allow_cross_database' in str(e.value)
    with pytest.raises(pr.RestoreError) as e:
        pr.choose_backup(_params(target_db='victim', backup=other_id, source_db='victim'), ENTRIES)
    assert 'not of source_db' in str(e.value)
    # the id of the target's own backup is fine, and so is a confirmed, named cross restore
    own = [e for e in ENTRIES if e['database'] == 'victim'][-1]['id']
    assert pr.choose_backup(_params(target_db='victim', backup=own), ENTRIES)[1]['id'] == own
    _c, entry = pr.choose_backup(_params(target_db='victim', backup=other_id, source_db='other',
                                         allow_cross_database=True), ENTRIES)
    assert entry['id'] == other_id


def test_latest_without_any_name_on_a_multi_db_store():
    with pytest.raises(pr.RestoreError) as e:
        pr.choose_backup(_params(), ENTRIES)
    assert 'several databases' in str(e.value) and 'target_db' in str(e.value)
    with pytest.raises(pr.RestoreError) as e:
        pr.choose_backup(_params(mode='new', target_db='copy'), ENTRIES)
    assert 'source_db' in str(e.value)
    # verify takes the newest of any database (and the result names it); one database: no ambiguity
    assert pr.choose_backup(_params(mode='verify'), ENTRIES)[1]['database'] == 'other'
    single = [e for e in ENTRIES if e['database'] == 'victim']
    assert pr.choose_backup(_params(), single)[1]['database'] == 'victim'
    # new into another name from a named source needs no confirmation (nothing is overwritten)
    assert pr.choose_backup(_params(mode='new', target_db='copy', source_db='other'), ENTRIES)[1]['database'] == 'other'


def test_no_backup_of_the_target_names_the_databases_the_store_holds():
    only_other = [e for e in ENTRIES if e['database'] == 'other']
    with pytest.raises(bs.StoreError) as e:
        pr.choose_backup(_params(target_db='victim'), only_other)
    assert 'no valid backup' in str(e.value) and '"other"' in str(e.value) and 'allow_cross_database' in str(e.value)


# ---------------------------------------------------------------------------------------------
# pg_dump_version

@pytest.mark.parametrize('value', ['fifteen', '', '15.x', ' 15', None, 15, '15.4 (Debian)'])
def test_dump_major_names_the_backup_and_the_field(value):
    with pytest.raises(pr.RestoreError) as e:
        pr.dump_major({'pg_dump_version': value}, '20260315T120000Z-app-abcdef')
    msg = str(e.value)
    assert msg.startswith('Could not restore backup 20260315T120000Z-app-abcdef')
    assert 'pg_dump_version' in msg and 'invalid literal' not in msg


def test_dump_major_of_a_good_version():
    assert pr.dump_major({'pg_dump_version': '15.4'}, 'x') == 15
    assert pr.dump_major({'pg_dump_version': '16'}, 'x') == 16


# ---------------------------------------------------------------------------------------------
# markers and the sweep plan

RUN = {'run': '0123456789abcdef', 'host': 'db1', 'pid': 4242, 'lock': 777, 'started_at': '2026-03-15T12:00:00Z'}


def test_marker_round_trip_and_look_alikes():
    m = pr.make_marker('scratch', dict(RUN, name='rbo_restore_0123456789ab'))
    kind, data = pr.parse_marker(m)
    assert kind == 'scratch' and data['lock'] == 777 and data['name'] == 'rbo_restore_0123456789ab'
    for text in (None, '', 'rbo_restore scratch', 'runbook.ops db_restore scratch', 'runbook.ops db_restore x {}',
                 'runbook.ops db_restore scratch {not json', 'runbook.ops db_restore scratch {"run": "r"}',
                 'runbook.ops db_restore scratch {"run": "r", "lock": true, "name": "n"}',
                 'runbook.ops db_restore swap {"run": "r", "lock": 1}',
                 'RUNBOOK.OPS db_restore scratch ' + json.dumps(dict(RUN, name='n'))):
        assert pr.parse_marker(text) is None, text


def _rows():
    scratch = 'rbo_restore_0123456789ab'
    swap = pr.make_marker('swap', dict(RUN, lock=778, database='app', allow_connections=True, comment='orders'))
    return [
        (scratch, True, pr.make_marker('scratch', dict(RUN, name=scratch))),
        ('rbo_restore_aaaaaaaaaaaa', True, None),                                   # named like one, no marker
        ('rbo_restore_bbbbbbbbbbbb', True, 'a scratch database of someone else'),
        ('app', False, swap),                                                       # blocked by a dead swap
        ('app2', False, None),                                                      # blocked by hand
        ('app3', True, pr.make_marker('scratch', dict(RUN, name='app3'))),          # marker on a non-scratch name
        ('rbo_restore_cccccccccccc', True, pr.make_marker('scratch', dict(RUN, name='rbo_restore_dddddddddddd'))),
    ]


def test_plan_drops_only_marked_scratch_databases_of_runs_that_are_gone():
    drop, reopen, busy = pr.plan_leftovers(_rows(), held_locks=set())
    assert [d['name'] for d in drop] == ['rbo_restore_0123456789ab']
    assert drop[0]['type'] == 'scratch_database' and drop[0]['run'] == RUN['run']
    assert [(r['database'], r['allow_connections'], r['comment']) for r in reopen] == [('app', True, 'orders')]
    assert busy == []


def test_plan_leaves_what_a_running_restore_holds():
    drop, reopen, busy = pr.plan_leftovers(_rows(), held_locks={777, 778})
    assert drop == [] and reopen == []
    assert sorted(b['database'] for b in busy) == ['app', 'app3', 'rbo_restore_0123456789ab',
                                                   'rbo_restore_cccccccccccc']
    drop, reopen, _busy = pr.plan_leftovers(_rows(), held_locks={778})
    assert [d['name'] for d in drop] == ['rbo_restore_0123456789ab'] and reopen == []


def _temp(base, name, data, mode=0o700):
    path = os.path.join(str(base), name)
    os.mkdir(path, mode)
    if data is not None:
        with open(os.path.join(path, pr.TEMP_MARKER), 'w') as f:
            f.write(data if isinstance(data, str) else json.dumps(data))
    with open(os.path.join(path, 'data.dump'), 'wb') as f:
        f.write(b'x')
    return path


def test_temp_leftovers_need_the_marker_this_host_and_a_dead_process(tmp_path):
    mine = dict(RUN, kind=pr.TEMP_KIND, host='here', proc_start='1')
    dead = _temp(tmp_path, 'rbo-restore-dead', dict(mine, pid=111))
    _temp(tmp_path, 'rbo-restore-alive', dict(mine, pid=222))
    _temp(tmp_path, 'rbo-restore-elsewhere', dict(mine, pid=111, host='there'))
    _temp(tmp_path, 'rbo-restore-nomarker', None)
    _temp(tmp_path, 'rbo-restore-garbage', '{not json')
    _temp(tmp_path, 'rbo-restore-otherkind', dict(mine, pid=111, kind='something else'))
    _temp(tmp_path, 'other-dead', dict(mine, pid=111))
    os.symlink(dead, str(tmp_path / 'rbo-restore-link'))
    found = pr.find_temp_leftovers(str(tmp_path), host='here', alive=lambda pid, start: pid == 222)
    assert [f['name'] for f in found] == [dead]
    assert found[0]['type'] == 'temp_dir' and found[0]['pid'] == 111
    assert pr.find_temp_leftovers(str(tmp_path / 'missing'), host='here') == []


def test_process_alive_checks_the_start_time():
    me = os.getpid()
    start = pr._proc_start(me)
    assert pr.process_alive(me, start) is True
    assert pr.process_alive(me, 'not-my-start-time') is False   # the pid was reused by another process
    assert pr.process_alive(2 ** 22 + 12345, None) is False


def test_temp_marker_is_private(tmp_path):
    pr.write_temp_marker(str(tmp_path), RUN)
    path = tmp_path / pr.TEMP_MARKER
    assert (os.stat(str(path)).st_mode & 0o777) == 0o600
    data = json.loads(path.read_text())
    assert data['kind'] == pr.TEMP_KIND and data['pid'] == RUN['pid'] and data['proc_start']


# ---------------------------------------------------------------------------------------------
# what a failure says about the live database

def test_live_note_never_says_untouched_when_the_database_was_blocked():
    assert pr.live_note({'state': 'untouched'}) == 'The live database was not touched.'
    for state in ('reopened', 'left_blocked', 'replaced', 'blocked'):
        note = pr.live_note({'state': state, 'database': 'app', 'previous': 'app_pre_restore_1'})
        assert 'not touched' not in note and '"app"' in note
    left = pr.live_note({'state': 'left_blocked', 'database': 'app', 'error': 'connection refused'})
    assert 'refusing new connections' in left and 'next db_restore run' in left and 'connection refused' in left


def test_replace_into_a_database_that_does_not_exist_follows_the_rules_of_new():
    # nothing is overwritten: a named source needs no confirmation (dr failover into a new name)
    _c, entry = pr.choose_backup(_params(target_db='fresh', source_db='other'), ENTRIES, target_exists=False)
    assert entry['database'] == 'other'
    pr.check_source_policy(_params(target_db='fresh', source_db='other'), target_exists=False)
    # but latest of "some database" is still ambiguous
    with pytest.raises(pr.RestoreError) as e:
        pr.choose_backup(_params(target_db='fresh'), ENTRIES, target_exists=False)
    assert 'several databases' in str(e.value) and 'source_db' in str(e.value)
    # once it exists, the same call is a cross-database overwrite and needs the confirmation
    with pytest.raises(pr.RestoreError):
        pr.choose_backup(_params(target_db='fresh', source_db='other'), ENTRIES, target_exists=True)
