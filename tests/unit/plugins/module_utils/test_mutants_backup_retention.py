# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_retention rules (formerly pg_backup's) that surviving mutants showed unpinned (issue 17, make mutants): what retention may
delete after a backup, and the policy values it refuses."""
from __future__ import annotations

import datetime
import hashlib
import json

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import backup_retention as br

UTC = datetime.timezone.utc
PAST = datetime.datetime(2020, 6, 15, 12, 0, 0, tzinfo=UTC)   # far from the real clock on purpose


def put(store, created, database='app'):
    data = b'0123456789'
    bid = bs.new_backup_id(database, created)
    store.put_bytes(bs.backup_key(bid, 'data.dump.zst'), data)
    m = {'id': bid, 'engine': 'postgresql', 'server_version': '15.18', 'database': database,
         'created_at': bs.format_time(created), 'duration_s': 1.5, 'format': 'custom', 'compression': 'zstd',
         'size': len(data), 'sha256': hashlib.sha256(data).hexdigest(), 'data_key': 'data.dump.zst',
         'tables': [{'schema': 'public', 'table': 't', 'rows': 3}], 'pg_dump_version': '15.18', 'globals': None,
         'tags': {}}
    store.put_bytes(bs.backup_key(bid, bs.MANIFEST_NAME), json.dumps(m).encode())
    return bid


def reasons_are_text(plan):
    return all(p['reasons'] and all(isinstance(r, str) and r for r in p['reasons']) for p in plan)


def remaining(store):
    return set(e['id'] for e in bs.list_backups(store, now=PAST))


@pytest.mark.parametrize('value', [True, False, 2.5, '3', [1]])
def test_a_retention_value_that_is_not_a_whole_number_is_refused(value):
    with pytest.raises(br.RetentionError) as e:
        br.check_retention({'keep_last': value})
    assert 'keep_last' in str(e.value) and 'whole number' in str(e.value)


def test_every_plan_item_names_id_time_action_and_reasons():
    es = [{'id': bs.new_backup_id('app', PAST - datetime.timedelta(days=d)),
           'created_at': bs.format_time(PAST - datetime.timedelta(days=d)), 'valid': True, 'reason': 'ok'}
          for d in range(3)]
    plan = br.plan_retention(es, {'keep_last': 1}, now=PAST)
    assert [p['action'] for p in plan] == ['keep', 'delete', 'delete']
    for p, e in zip(plan, es):
        assert set(p) == {'id', 'created_at', 'action', 'reasons'}
        assert (p['id'], p['created_at']) == (e['id'], e['created_at'])
        assert p['reasons'] and all(isinstance(r, str) and r for r in p['reasons'])


def test_retention_after_a_backup_never_touches_backups_of_other_databases(tmp_path):
    store = bs.LocalStore(str(tmp_path))
    other = [put(store, PAST - datetime.timedelta(days=d), database='billing') for d in range(1, 4)]
    mine = [put(store, PAST - datetime.timedelta(days=d)) for d in range(1, 4)]
    just_made = put(store, PAST)
    plan, pruned = br.retain(store, 'app', just_made, {'keep_last': 1}, now=PAST)
    assert sorted(pruned) == sorted(mine)
    assert set(p['id'] for p in plan) == set(mine) | {just_made}
    assert remaining(store) == set(other) | {just_made}


def test_retention_measures_max_age_from_the_given_time_not_the_clock(tmp_path):
    store = bs.LocalStore(str(tmp_path))
    young = [put(store, PAST - datetime.timedelta(days=d)) for d in (1, 5, 20)]
    old = put(store, PAST - datetime.timedelta(days=60))
    just_made = put(store, PAST)
    plan, pruned = br.retain(store, 'app', just_made, {'max_age_days': 30}, now=PAST)
    assert pruned == [old]
    assert reasons_are_text(plan)
    assert remaining(store) == set(young) | {just_made}


def test_retention_keeps_the_backup_just_made_even_when_a_newer_one_exists(tmp_path):
    """Two runs racing: the other run's backup is newer; ours must survive our own retention."""
    store = bs.LocalStore(str(tmp_path))
    older = put(store, PAST - datetime.timedelta(days=2))
    just_made = put(store, PAST - datetime.timedelta(minutes=5))
    newer = put(store, PAST)
    plan, pruned = br.retain(store, 'app', just_made, {'keep_last': 1}, now=PAST)
    assert pruned == [older]
    assert reasons_are_text(plan)
    assert remaining(store) == {just_made, newer}


def test_without_rules_every_backup_is_kept_with_a_reason(tmp_path):
    store = bs.LocalStore(str(tmp_path))
    bids = [put(store, PAST - datetime.timedelta(days=d)) for d in range(3)]
    plan, pruned = br.retain(store, 'app', bids[0], {}, now=PAST)
    assert pruned == [] and [p['action'] for p in plan] == ['keep'] * 3
    assert reasons_are_text(plan)
