# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_backup (issue 17): one meaning of 0 in retention, GFS buckets, the guard before retention, the deadline."""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import time

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import pg_backup as pb

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 3, 15, 12, 0, 0, tzinfo=UTC)
RULES = ('daily', 'weekly', 'monthly', 'yearly', 'keep_last', 'max_age_days')


def entry(created, valid=True, reason='ok'):
    return {'id': bs.new_backup_id('app', created), 'created_at': bs.format_time(created), 'valid': valid,
            'reason': reason}


def actions(plan):
    return [p['action'] for p in plan]


def kept(plan):
    return [p for p in plan if p['action'] == 'keep']


# --------------------------------------------------------------------------- #2 the meaning of 0

@pytest.mark.parametrize('rule', RULES)
def test_zero_turns_a_rule_off(rule):
    es = [entry(NOW - datetime.timedelta(days=d)) for d in range(10)]
    # 0 is "this rule is off": next to another rule it changes nothing
    assert pb.plan_retention(es, {rule: 0, 'keep_last' if rule != 'keep_last' else 'daily': 3}, now=NOW) == \
        pb.plan_retention(es, {'keep_last' if rule != 'keep_last' else 'daily': 3}, now=NOW)


@pytest.mark.parametrize('policy', [{r: 0} for r in RULES] + [dict((r, 0) for r in RULES),
                                                              {'keep_last': 0, 'daily': None}])
def test_a_policy_with_every_rule_off_is_refused(policy):
    es = [entry(NOW - datetime.timedelta(days=d)) for d in range(5)]
    with pytest.raises(pb.BackupError) as e:
        pb.plan_retention(es, policy, now=NOW)
    msg = str(e.value)
    assert msg.startswith('Could not apply retention')
    assert '0 turns a rule off' in msg and 'leave retention out to keep every backup' in msg
    with pytest.raises(pb.BackupError):
        pb.check_retention(policy)


@pytest.mark.parametrize('rule', RULES)
def test_negative_values_are_refused_without_recommending_0(rule):
    with pytest.raises(pb.BackupError) as e:
        pb.check_retention({rule: -1, 'daily': 7} if rule != 'daily' else {rule: -1})
    msg = str(e.value)
    assert rule in msg and 'negative' in msg
    assert 'Use 0' not in msg and 'use 0' not in msg
    assert 'positive' in msg


def test_no_rule_at_all_keeps_everything():
    es = [entry(NOW - datetime.timedelta(days=d)) for d in range(5)]
    for policy in ({}, None, dict((r, None) for r in RULES)):
        assert actions(pb.plan_retention(es, policy, now=NOW)) == ['keep'] * 5
        assert pb.check_retention(policy) == {}
    assert pb.check_retention({'keep_last': 0, 'daily': 7, 'weekly': None}) == {'daily': 7}
    with pytest.raises(pb.BackupError, match='unknown'):
        pb.check_retention({'hourly': 3})


@pytest.mark.parametrize('policy', [{'keep_last': 1}, {'max_age_days': 1}, {'daily': 1}, {'weekly': 1},
                                    {'monthly': 1}, {'yearly': 1}, {'keep_last': 1, 'max_age_days': 1}])
def test_retention_never_deletes_the_newest_valid_backup(policy):
    # every valid backup is old; the newest valid one is older than an invalid newer one
    es = [entry(NOW - datetime.timedelta(days=400 + d)) for d in range(5)]
    broken = entry(NOW, valid=False, reason='no manifest')
    future = entry(NOW + datetime.timedelta(days=30))  # a clock-skewed newer valid backup
    for entries, newest in (([broken] + es, es[0]), ([future, broken] + es, future)):
        plan = pb.plan_retention(entries, policy, now=NOW)
        by = dict((p['id'], p) for p in plan)
        assert by[newest['id']]['action'] == 'keep'
        assert 'newest valid backup' in by[newest['id']]['reasons']
        assert by[broken['id']]['action'] == 'ignore'
        assert len(kept(plan)) >= 1


# --------------------------------------------------------------------------- GFS buckets

def _monthly_dates(months):
    out = []
    y, m = 2026, 3
    for _i in range(months):
        out.append(datetime.datetime(y, m, 10, 2, 0, tzinfo=UTC))
        m -= 1
        if m == 0:
            y, m = y - 1, 12
    return out


def test_monthly_buckets_are_per_year_month():
    """Pinned: monthly 24 over 30 months keeps 24 distinct year-months, not 12 month numbers."""
    es = [entry(d) for d in _monthly_dates(30)]
    plan = pb.plan_retention(es, {'monthly': 24}, now=NOW)
    keep = kept(plan)
    assert len(keep) == 24
    assert len({p['created_at'][:7] for p in keep}) == 24
    assert keep[-1]['created_at'][:7] == '2024-04'
    assert actions(plan) == ['keep'] * 24 + ['delete'] * 6


def test_weekly_buckets_are_iso_year_weeks():
    """Pinned: weekly buckets are ISO (year, week): 60 weeks over more than a year keeps 60 backups, and days that
    share an ISO week across a new year share a bucket."""
    es = [entry(datetime.datetime(2026, 3, 9, 2, 0, tzinfo=UTC) - datetime.timedelta(weeks=w)) for w in range(70)]
    plan = pb.plan_retention(es, {'weekly': 60}, now=NOW)
    assert actions(plan) == ['keep'] * 60 + ['delete'] * 10
    # 2024-12-30 (Mon) and 2025-01-02 (Thu) are both ISO 2025-W01; 2024-12-29 (Sun) is 2024-W52
    es = [entry(datetime.datetime(2025, 1, 2, tzinfo=UTC)), entry(datetime.datetime(2024, 12, 30, tzinfo=UTC)),
          entry(datetime.datetime(2024, 12, 29, tzinfo=UTC))]
    plan = pb.plan_retention(es, {'weekly': 2}, now=NOW)
    assert actions(plan) == ['keep', 'delete', 'keep']
    assert 'weekly 2025-W01' in plan[0]['reasons'] and 'weekly 2024-W52' in plan[2]['reasons']


def test_yearly_buckets_are_per_year():
    es = [entry(datetime.datetime(2026 - y, 6, 1, tzinfo=UTC) - datetime.timedelta(days=d))
          for y in range(5) for d in (0, 100)]
    plan = pb.plan_retention(es, {'yearly': 3}, now=NOW)
    keep = kept(plan)
    assert [p['created_at'][:4] for p in keep] == ['2026', '2025', '2024']
    assert len(keep) == 3
    assert 'yearly 2026' in keep[0]['reasons']


# --------------------------------------------------------------------------- the guard before retention

def _put(store, created, data=b'0123456789'):
    bid = bs.new_backup_id('app', created)
    store.put_bytes(bs.backup_key(bid, 'data.dump.zst'), data)
    m = {'id': bid, 'engine': 'postgresql', 'server_version': '15.18', 'database': 'app',
         'created_at': bs.format_time(created), 'duration_s': 1.5, 'format': 'custom', 'compression': 'zstd',
         'size': len(data), 'sha256': hashlib.sha256(data).hexdigest(), 'data_key': 'data.dump.zst',
         'tables': [], 'pg_dump_version': '15.18', 'globals': None, 'tags': {}}
    store.put_bytes(bs.backup_key(bid, bs.MANIFEST_NAME), json.dumps(m).encode())
    return bid


def test_retention_never_runs_when_the_fresh_backup_is_not_valid(tmp_path):
    """Pinned: when the just-written backup does not list as valid, nothing is deleted and the error says why."""
    store = bs.open_store({'store': str(tmp_path)})
    old = [_put(store, bs.utcnow() - datetime.timedelta(days=d)) for d in (3, 2, 1)]
    fresh = _put(store, bs.utcnow())
    # corrupted between the commit and the listing: one byte more than the manifest says
    with open(os.path.join(str(tmp_path), fresh, 'data.dump.zst'), 'ab') as f:
        f.write(b'!')
    before = sorted(store.list_objects())
    with pytest.raises(pb.BackupError) as e:
        pb.retain(store, 'app', fresh, {'keep_last': 1})
    msg = str(e.value)
    assert 'retention did not run' in msg and fresh in msg and 'larger' in msg
    assert sorted(store.list_objects()) == before
    # not listed at all (deleted under our feet)
    store.delete([bs.backup_key(fresh, 'data.dump.zst'), bs.backup_key(fresh, bs.MANIFEST_NAME)])
    with pytest.raises(pb.BackupError, match='not listed'):
        pb.retain(store, 'app', fresh, {'keep_last': 1})
    assert len(store.list_objects()) == 6
    # and with a valid fresh backup, the same call prunes
    fresh = _put(store, bs.utcnow())
    plan, pruned = pb.retain(store, 'app', fresh, {'keep_last': 1})
    assert sorted(pruned) == sorted(old)
    assert [e['id'] for e in bs.list_backups(store)] == [fresh]
    assert [p['action'] for p in plan] == ['keep', 'delete', 'delete', 'delete']


def test_retain_without_policy_deletes_nothing(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    for d in (3, 2, 1):
        _put(store, bs.utcnow() - datetime.timedelta(days=d))
    fresh = _put(store, bs.utcnow())
    plan, pruned = pb.retain(store, 'app', fresh, {})
    assert pruned == [] and actions(plan) == ['keep'] * 4


# --------------------------------------------------------------------------- #10 the overall deadline

def test_deadline_interrupts_a_blocked_call():
    t0 = time.monotonic()
    with pytest.raises(pb.DeadlineExceeded) as e:
        with pb.deadline(1):
            time.sleep(60)
    assert 'timeout' in str(e.value) and '1 s' in str(e.value)
    assert time.monotonic() - t0 < 50  # not the 60 s sleep
    # disarmed on exit: nothing fires later
    with pb.deadline(1):
        pass
    time.sleep(1.5)
    with pb.deadline(0):  # 0 turns the deadline off
        time.sleep(0.01)


def test_deadline_is_an_interruption():
    assert issubclass(pb.DeadlineExceeded, pb.Interrupted)
