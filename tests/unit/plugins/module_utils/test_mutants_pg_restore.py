# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_restore rules that surviving mutants showed unpinned (issue 17, make mutants): which backup a restore
selects, when it refuses, the name of the kept previous database and the pg_restore argv."""
from __future__ import annotations

import datetime

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import pg_restore as pr

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 3, 15, 12, 0, 0, tzinfo=UTC)


def entry(database, days_ago, valid=True):
    created = NOW - datetime.timedelta(days=days_ago)
    return {'id': bs.new_backup_id(database, created), 'created_at': bs.format_time(created), 'valid': valid,
            'reason': 'ok' if valid else 'no manifest', 'database': database}


def catalogue(*entries):
    return sorted(entries, key=bs.entry_order, reverse=True)


def params(**kw):
    p = {'mode': 'replace', 'source_db': None, 'target_db': None, 'backup': None, 'allow_cross_database': False}
    p.update(kw)
    return p


def test_without_a_backup_selector_the_newest_backup_of_the_target_is_chosen():
    old, new, other = entry('app', 2), entry('app', 1), entry('billing', 0)
    considered, chosen = pr.choose_backup(params(target_db='app'), catalogue(old, new, other))
    assert chosen['id'] == new['id']
    assert [e['id'] for e in considered] == [new['id'], old['id']]


def test_a_before_selector_is_applied_to_the_backups_of_the_target():
    old, new = entry('app', 3), entry('app', 1)
    limit = bs.format_time(NOW - datetime.timedelta(days=2))
    _considered, chosen = pr.choose_backup(params(target_db='app', backup='before:' + limit),
                                           catalogue(old, new, entry('billing', 2.5)))
    assert chosen['id'] == old['id']


def test_an_explicit_id_considers_the_backups_of_its_own_database():
    a1, a2, b1 = entry('app', 2), entry('app', 1), entry('billing', 0)
    considered, chosen = pr.choose_backup(params(mode='new', target_db='copy', backup=a1['id']),
                                          catalogue(a1, a2, b1))
    assert chosen['id'] == a1['id']
    assert sorted(e['id'] for e in considered) == sorted([a1['id'], a2['id']])


def test_a_cross_restore_without_confirmation_is_refused_before_looking_for_backups():
    """replace over an existing database from another source_db: the refusal says what to confirm, even when
    that source has no backup at all."""
    with pytest.raises(pr.RestoreError) as e:
        pr.choose_backup(params(target_db='victim', source_db='other'), catalogue(entry('victim', 1)))
    assert 'allow_cross_database' in str(e.value)


def test_several_databases_and_mode_new_without_target_asks_for_source_db():
    with pytest.raises(pr.RestoreError) as e:
        pr.choose_backup(params(mode='new'), catalogue(entry('app', 1), entry('billing', 1)))
    assert 'source_db' in str(e.value) and 'target_db' not in str(e.value)


def test_no_backup_of_the_named_source_does_not_suggest_setting_source_db_again():
    entries = catalogue(entry('app', 1), entry('billing', 1))
    with pytest.raises(bs.StoreError) as e:
        pr.choose_backup(params(mode='new', target_db='copy', source_db='ghost'), entries)
    assert 'allow_cross_database' not in str(e.value)
    with pytest.raises(bs.StoreError) as e:   # verify mode without any valid backup: a plain "no valid backup"
        pr.choose_backup(params(mode='verify'), catalogue(entry('app', 1, valid=False), entry('billing', 1, False)))
    assert 'allow_cross_database' not in str(e.value)


@pytest.mark.parametrize('target', ['ü' * 40, 'a' + 'é' * 30, '数据库' * 10])
def test_previous_name_cuts_multibyte_names_on_a_character_boundary(target):
    name = pr.previous_name(target, NOW)
    assert len(name.encode('utf-8')) <= pr.MAX_IDENT
    assert name.endswith('_pre_restore_20260315120000')
    assert target.startswith(name[:-len('_pre_restore_20260315120000')])


def test_pg_restore_argv_default_is_one_job_and_no_owner_keeps_the_whole_command():
    assert pr.pg_restore_argv('/usr/bin/pg_restore', 'app_scratch', '/tmp/d.dump') == [
        '/usr/bin/pg_restore', '--exit-on-error', '--no-password', '--jobs=1', '--dbname=app_scratch', '/tmp/d.dump']
    argv = pr.pg_restore_argv('/usr/bin/pg_restore', 'app_scratch', '/tmp/d.dump', jobs=4, no_owner=True)
    assert argv[0] == '/usr/bin/pg_restore' and argv[-1] == '/tmp/d.dump'
    assert '--dbname=app_scratch' in argv and '--jobs=4' in argv
    assert '--no-owner' in argv and '--no-acl' in argv
