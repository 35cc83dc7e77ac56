# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_retention, the one owner of retention for both engines (moved from pg_backup): one meaning of 0, GFS
buckets, the newest valid backup, the guard before retention, the manifest deleted first; and each engine raising
the rule's refusal as its own BackupError with the same text."""
from __future__ import annotations

import datetime
import hashlib
import json
import os

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import backup_retention as br
from ansible_collections.runbook.ops.plugins.module_utils import mysql_backup as mb
from ansible_collections.runbook.ops.plugins.module_utils import pg_backup as pb

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 3, 15, 12, 0, 0, tzinfo=UTC)
PAST_TIME = datetime.datetime(2020, 6, 15, 12, 0, 0, tzinfo=UTC)
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
    assert br.plan_retention(es, {rule: 0, 'keep_last' if rule != 'keep_last' else 'daily': 3}, now=NOW) == \
        br.plan_retention(es, {'keep_last' if rule != 'keep_last' else 'daily': 3}, now=NOW)


@pytest.mark.parametrize('policy', [{r: 0} for r in RULES] + [dict((r, 0) for r in RULES),
                                                              {'keep_last': 0, 'daily': None}])
def test_a_policy_with_every_rule_off_is_refused(policy):
    es = [entry(NOW - datetime.timedelta(days=d)) for d in range(5)]
    with pytest.raises(br.RetentionError) as e:
        br.plan_retention(es, policy, now=NOW)
    msg = str(e.value)
    assert msg.startswith('Could not apply retention')
    assert '0 turns a rule off' in msg and 'leave retention out to keep every backup' in msg
    with pytest.raises(br.RetentionError):
        br.check_retention(policy)


@pytest.mark.parametrize('rule', RULES)
def test_negative_values_are_refused_without_recommending_0(rule):
    with pytest.raises(br.RetentionError) as e:
        br.check_retention({rule: -1, 'daily': 7} if rule != 'daily' else {rule: -1})
    msg = str(e.value)
    assert rule in msg and 'negative' in msg
    assert 'Use 0' not in msg and 'use 0' not in msg
    assert 'positive' in msg


def test_no_rule_at_all_keeps_everything():
    es = [entry(NOW - datetime.timedelta(days=d)) for d in range(5)]
    for policy in ({}, None, dict((r, None) for r in RULES)):
        assert actions(br.plan_retention(es, policy, now=NOW)) == ['keep'] * 5
        assert br.check_retention(policy) == {}
    assert br.check_retention({'keep_last': 0, 'daily': 7, 'weekly': None}) == {'daily': 7}
    with pytest.raises(br.RetentionError, match='unknown'):
        br.check_retention({'hourly': 3})


@pytest.mark.parametrize('policy', [{'keep_last': 1}, {'max_age_days': 1}, {'daily': 1}, {'weekly': 1},
                                    {'monthly': 1}, {'yearly': 1}, {'keep_last': 1, 'max_age_days': 1}])
def test_retention_never_deletes_the_newest_valid_backup(policy):
    # every valid backup is old; the newest valid one is older than an invalid newer one
    es = [entry(NOW - datetime.timedelta(days=400 + d)) for d in range(5)]
    broken = entry(NOW, valid=False, reason='no manifest')
    future = entry(NOW + datetime.timedelta(days=30))  # a clock-skewed newer valid backup
    for entries, newest in (([broken] + es, es[0]), ([future, broken] + es, future)):
        plan = br.plan_retention(entries, policy, now=NOW)
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
    plan = br.plan_retention(es, {'monthly': 24}, now=NOW)
    keep = kept(plan)
    assert len(keep) == 24
    assert len({p['created_at'][:7] for p in keep}) == 24
    assert keep[-1]['created_at'][:7] == '2024-04'
    assert actions(plan) == ['keep'] * 24 + ['delete'] * 6


def test_weekly_buckets_are_iso_year_weeks():
    """Pinned: weekly buckets are ISO (year, week): 60 weeks over more than a year keeps 60 backups, and days that
    share an ISO week across a new year share a bucket."""
    es = [entry(datetime.datetime(2026, 3, 9, 2, 0, tzinfo=UTC) - datetime.timedelta(weeks=w)) for w in range(70)]
    plan = br.plan_retention(es, {'weekly': 60}, now=NOW)
    assert actions(plan) == ['keep'] * 60 + ['delete'] * 10
    # 2024-12-30 (Mon) and 2025-01-02 (Thu) are both ISO 2025-W01; 2024-12-29 (Sun) is 2024-W52
    es = [entry(datetime.datetime(2025, 1, 2, tzinfo=UTC)), entry(datetime.datetime(2024, 12, 30, tzinfo=UTC)),
          entry(datetime.datetime(2024, 12, 29, tzinfo=UTC))]
    plan = br.plan_retention(es, {'weekly': 2}, now=NOW)
    assert actions(plan) == ['keep', 'delete', 'keep']
    assert 'weekly 2025-W01' in plan[0]['reasons'] and 'weekly 2024-W52' in plan[2]['reasons']


def test_yearly_buckets_are_per_year():
    es = [entry(datetime.datetime(2026 - y, 6, 1, tzinfo=UTC) - datetime.timedelta(days=d))
          for y in range(5) for d in (0, 100)]
    plan = br.plan_retention(es, {'yearly': 3}, now=NOW)
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
    with pytest.raises(br.RetentionError) as e:
        br.retain(store, 'app', fresh, {'keep_last': 1})
    msg = str(e.value)
    assert 'retention did not run' in msg and fresh in msg and 'larger' in msg
    assert sorted(store.list_objects()) == before
    # not listed at all (deleted under our feet)
    store.delete([bs.backup_key(fresh, 'data.dump.zst'), bs.backup_key(fresh, bs.MANIFEST_NAME)])
    with pytest.raises(br.RetentionError, match='not listed'):
        br.retain(store, 'app', fresh, {'keep_last': 1})
    assert len(store.list_objects()) == 6
    # and with a valid fresh backup, the same call prunes
    fresh = _put(store, bs.utcnow())
    plan, pruned = br.retain(store, 'app', fresh, {'keep_last': 1})
    assert sorted(pruned) == sorted(old)
    assert [e['id'] for e in bs.list_backups(store)] == [fresh]
    assert [p['action'] for p in plan] == ['keep', 'delete', 'delete', 'delete']


def test_retain_without_policy_deletes_nothing(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    for d in (3, 2, 1):
        _put(store, bs.utcnow() - datetime.timedelta(days=d))
    fresh = _put(store, bs.utcnow())
    plan, pruned = br.retain(store, 'app', fresh, {})
    assert pruned == [] and actions(plan) == ['keep'] * 4


# --------------------------------------------------------------------------- GFS over faked dates (from test_pg_backup)

def by_id(plan):
    return {p['id']: p['action'] for p in plan}


def test_gfs_retention_over_faked_dates():
    # one backup a day at 02:00 for 400 days, plus a second one on the newest day
    days = [entry(NOW.replace(hour=2) - datetime.timedelta(days=d)) for d in range(400)]
    extra = entry(NOW.replace(hour=10))
    plan = br.plan_retention([extra] + days, {'daily': 7, 'weekly': 4, 'monthly': 12}, now=NOW)
    keep = [p for p in plan if p['action'] == 'keep']
    kept_dates = sorted({p['created_at'][:10] for p in keep}, reverse=True)
    # daily: the newest of each of the 7 newest days (the 10:00 one wins on 03-15)
    assert extra['id'] in by_id(plan) and by_id(plan)[extra['id']] == 'keep'
    assert by_id(plan)[days[0]['id']] == 'delete'
    assert kept_dates[:7] == ['2026-03-15', '2026-03-14', '2026-03-13', '2026-03-12', '2026-03-11', '2026-03-10',
                              '2026-03-09']
    # weekly: Sundays (the newest backup of each ISO week) 03-08, 03-01, 02-22 (03-15 is a Sunday, already kept)
    for d in ('2026-03-08', '2026-03-01', '2026-02-22'):
        assert d in kept_dates
    # monthly: the last day of each of the 12 newest months
    for d in ('2026-02-28', '2026-01-31', '2025-12-31', '2025-04-30'):
        assert d in kept_dates
    assert '2025-03-31' not in kept_dates
    assert len(keep) == 7 + 3 + 11  # 12 months, the current one already kept by daily
    reasons = {p['id']: p['reasons'] for p in plan}
    assert reasons[extra['id']] == ['newest valid backup', 'daily 2026-03-15', 'weekly 2026-W11', 'monthly 2026-03']
    assert all(p['reasons'] == ['kept by no rule of {"daily": 7, "monthly": 12, "weekly": 4}']
               for p in plan if p['action'] == 'delete')


def test_gfs_counts_days_that_have_backups():
    # backups stopped 30 days ago: daily 3 still keeps the last 3 days that have backups
    old = [entry(NOW - datetime.timedelta(days=30 + d)) for d in range(10)]
    plan = br.plan_retention(old, {'daily': 3}, now=NOW)
    assert [p['action'] for p in plan] == ['keep'] * 3 + ['delete'] * 7


def test_keep_last_max_age_and_union():
    es = [entry(NOW - datetime.timedelta(days=d)) for d in range(10)]
    assert [p['action'] for p in br.plan_retention(es, {'keep_last': 2}, now=NOW)] == ['keep'] * 2 + ['delete'] * 8
    plan = br.plan_retention(es, {'max_age_days': 3}, now=NOW)
    assert [p['action'] for p in plan] == ['keep'] * 4 + ['delete'] * 6
    plan = br.plan_retention(es, {'keep_last': 1, 'max_age_days': 2, 'daily': None}, now=NOW)
    assert [p['action'] for p in plan] == ['keep'] * 3 + ['delete'] * 7


def test_retention_never_deletes_newest_valid_and_ignores_invalid():
    es = [entry(NOW - datetime.timedelta(days=100 + d)) for d in range(3)]
    broken = entry(NOW, valid=False, reason='no manifest')
    plan = br.plan_retention([broken] + es, {'max_age_days': 1}, now=NOW)
    assert plan[0] == {'id': broken['id'], 'created_at': broken['created_at'], 'action': 'ignore',
                       'reasons': ['invalid (no manifest): retention leaves it alone']}
    assert plan[1]['action'] == 'keep' and plan[1]['reasons'] == ['newest valid backup']
    assert [p['action'] for p in plan[2:]] == ['delete', 'delete']
    # keep_last 0 turns the rule off: alone, it is refused (never "keep only the newest"); no rule keeps all
    with pytest.raises(br.RetentionError, match='0 turns a rule off'):
        br.plan_retention(es, {'keep_last': 0}, now=NOW)
    assert [p['action'] for p in br.plan_retention(es, {}, now=NOW)] == ['keep'] * 3
    # the backup just made is protected even when a faked future backup is "newer"
    future = entry(NOW + datetime.timedelta(days=1))
    plan = br.plan_retention([future] + es, {'keep_last': 1}, now=NOW, protect=(es[0]['id'],))
    assert by_id(plan)[es[0]['id']] == 'keep' and by_id(plan)[future['id']] == 'keep'


def test_apply_retention_deletes_manifest_first(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    calls = []
    store.put_bytes('20260315T120000Z-app-abcdef/data.dump.zst', b'x')
    store.put_bytes('20260315T120000Z-app-abcdef/manifest.json', b'{}')
    real = store.delete
    store.delete = lambda keys: (calls.append(list(keys)), real(keys))
    pruned = br.apply_retention(store, [{'id': '20260315T120000Z-app-abcdef', 'action': 'delete'},
                                        {'id': '20260314T120000Z-app-abcdef', 'action': 'keep'}])
    assert pruned == ['20260315T120000Z-app-abcdef']
    assert calls == [['20260315T120000Z-app-abcdef/manifest.json'], ['20260315T120000Z-app-abcdef/data.dump.zst']]
    assert store.list_objects() == {}


# --------------------------------------------------------------------------- the engines use the one owner

def _put_mysql(store, created, data=b'0123456789'):
    bid = bs.new_backup_id('app', created)
    store.put_bytes(bs.backup_key(bid, 'data.sql.zst'), data)
    m = {'id': bid, 'engine': 'mysql', 'server_version': '10.11.14 (10.11.14-MariaDB)', 'database': 'app',
         'created_at': bs.format_time(created), 'duration_s': 1.0, 'format': 'sql', 'compression': 'zstd',
         'size': len(data), 'sha256': hashlib.sha256(data).hexdigest(), 'data_key': 'data.sql.zst',
         'tables': [{'schema': 'app', 'table': 't', 'rows': 3}], 'dump_version': '10.11.14', 'row_counts': 'exact',
         'globals': None, 'tags': {}}
    store.put_bytes(bs.backup_key(bid, bs.MANIFEST_NAME), json.dumps(m).encode())
    return bid


def test_neither_engine_keeps_a_retention_copy():
    for engine in (pb, mb):
        for name in ('check_retention', 'plan_retention', 'apply_retention', 'RETENTION_RULES', 'GFS_BUCKETS'):
            assert not hasattr(engine, name), '%s.%s: retention has one owner, backup_retention' % (
                engine.__name__, name)


@pytest.mark.parametrize('policy', [{'keep_last': 0}, {'keep_last': -1}, {'hourly': 3}, {'daily': '3'}])
def test_each_engine_refuses_a_bad_policy_with_the_rules_message_as_its_own_error(policy):
    with pytest.raises(br.RetentionError) as ref:
        br.check_retention(policy)
    backup = pb.PgBackup({'db': 'app', 'compression': 'zstd', 'retention': policy})
    with pytest.raises(pb.BackupError) as e:
        backup.check_options()
    assert str(e.value) == str(ref.value)
    # mysql: refused before the store is opened or the server reached (both are absent here)
    with pytest.raises(mb.BackupError) as e:
        mb.run_backup({'db': 'app', 'retention': policy, 'store': '/nonexistent/rbo-store', 'timeout': 0,
                       'login_host': '127.0.0.1', 'login_port': 1})
    assert str(e.value) == str(ref.value)


def test_retention_of_one_engine_leaves_the_other_engines_backups_alone(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    pg_old = [_put(store, PAST_TIME - datetime.timedelta(days=d)) for d in (5, 4)]
    my_old = [_put_mysql(store, PAST_TIME - datetime.timedelta(days=d)) for d in (3, 2)]
    my_fresh = _put_mysql(store, PAST_TIME)
    plan, pruned = mb.retain(store, 'app', my_fresh, {'keep_last': 1}, now=PAST_TIME)
    assert sorted(pruned) == sorted(my_old)
    assert dict((p['id'], p['action']) for p in plan if p['id'] in pg_old) == dict((b, 'ignore') for b in pg_old)
    assert set(e['id'] for e in bs.list_backups(store, now=PAST_TIME) if e['valid']) == set(pg_old)
    assert br.retain(store, 'app', pg_old[-1], {'keep_last': 1}, now=PAST_TIME)[1] == [pg_old[0]]
    assert [e['id'] for e in bs.list_backups(store, now=PAST_TIME, engine='mysql') if e['valid']] == [my_fresh]
    assert set(e['id'] for e in bs.list_backups(store, now=PAST_TIME)) == {pg_old[-1], my_fresh}


def test_mysql_retain_refuses_a_fresh_backup_not_listed_valid_as_its_own_error(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    pg_fresh = _put(store, PAST_TIME)     # a postgresql backup is not valid for the mysql engine
    with pytest.raises(br.RetentionError) as ref:
        br.retain(store, 'app', pg_fresh, {'keep_last': 1}, now=PAST_TIME, engine='mysql')
    with pytest.raises(mb.BackupError) as e:
        mb.retain(store, 'app', pg_fresh, {'keep_last': 1}, now=PAST_TIME)
    assert str(e.value) == str(ref.value) and 'retention did not run' in str(e.value)
    assert len(store.list_objects()) == 2
