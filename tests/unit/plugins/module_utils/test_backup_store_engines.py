# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_store: engine-aware manifests (postgresql and mysql) in one catalogue (#13)."""
from __future__ import annotations

import datetime
import hashlib
import json

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import mysql_backup as mb

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 3, 15, 12, 0, 0, tzinfo=UTC)


def pg_manifest(bid, created, **extra):
    m = {'id': bid, 'engine': 'postgresql', 'server_version': '15.18', 'database': 'app',
         'created_at': bs.format_time(created), 'duration_s': 1.5, 'format': 'custom', 'compression': 'zstd',
         'size': 10, 'sha256': 'a' * 64, 'data_key': 'data.dump.zst',
         'tables': [{'schema': 'public', 'table': 't', 'rows': 3}], 'pg_dump_version': '15.18', 'globals': None,
         'tags': {}}
    m.update(extra)
    return m


def my_manifest(bid, created, **extra):
    m = {'id': bid, 'engine': 'mysql', 'server_version': '10.11.14 (10.11.14-MariaDB)', 'database': 'app',
         'created_at': bs.format_time(created), 'duration_s': 1.0, 'format': 'sql', 'compression': 'gzip',
         'size': 10, 'sha256': 'a' * 64, 'data_key': 'data.dump.gz',
         'tables': [{'schema': 'app', 'table': 't', 'rows': 3}], 'dump_version': '10.11.14', 'row_counts': 'exact',
         'globals': None, 'tags': {}}
    m.update(extra)
    return m


def put(store, m, data=b'0123456789'):
    m = dict(m, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    store.put_bytes(bs.backup_key(m['id'], m['data_key']), data)
    store.put_bytes(bs.backup_key(m['id'], bs.MANIFEST_NAME), json.dumps(m).encode())
    return m['id']


def bid_at(created, database='app'):
    return bs.new_backup_id(database, created)


def test_engines_and_formats_are_known():
    assert bs.ENGINES == ('postgresql', 'mysql')
    assert bs.FORMATS == ('custom', 'sql')


def test_a_mysql_manifest_needs_dump_version_not_pg_dump_version():
    bid = bid_at(NOW)
    assert bs.validate_manifest(my_manifest(bid, NOW), bid, engine='mysql') == []
    assert bs.validate_manifest(my_manifest(bid, NOW), bid, engine=None) == []
    m = my_manifest(bid, NOW)
    del m['dump_version']
    assert bs.validate_manifest(m, bid, engine='mysql') == ['field dump_version is missing']
    assert any('dump_version' in p and 'version number' in p
               for p in bs.validate_manifest(my_manifest(bid, NOW, dump_version='ten'), bid, engine='mysql'))
    assert bs.validate_manifest(my_manifest(bid, NOW, dump_version=10), bid, engine='mysql') == [
        'field dump_version has the wrong type']


def test_a_postgresql_manifest_still_needs_pg_dump_version():
    bid = bid_at(NOW)
    assert bs.validate_manifest(pg_manifest(bid, NOW), bid) == []
    assert bs.validate_manifest(pg_manifest(bid, NOW), bid, engine=None) == []
    m = pg_manifest(bid, NOW)
    del m['pg_dump_version']
    assert bs.validate_manifest(m, bid, engine=None) == ['field pg_dump_version is missing']
    # a dump_version does not stand in for it
    m['dump_version'] = '15.18'
    assert bs.validate_manifest(m, bid, engine=None) == ['field pg_dump_version is missing']


@pytest.mark.parametrize('engine, fmt', [('postgresql', 'sql'), ('mysql', 'custom'), ('mysql', 'tar')])
def test_the_format_must_be_the_engines(engine, fmt):
    bid = bid_at(NOW)
    build = pg_manifest if engine == 'postgresql' else my_manifest
    problems = bs.validate_manifest(build(bid, NOW, format=fmt), bid, engine=None)
    assert len(problems) == 1 and 'field format' in problems[0] and repr(fmt) in problems[0]


def test_an_unknown_engine_is_refused_by_name():
    bid = bid_at(NOW)
    problems = bs.validate_manifest(my_manifest(bid, NOW, engine='oracle'), bid, engine=None)
    assert problems and 'field engine' in problems[0] and 'oracle' in problems[0]


def test_a_catalogue_of_one_engine_refuses_the_others_backups():
    """The default (postgresql) keeps what a PostgreSQL restore and its retention relied on: a MySQL backup is
    never chosen nor counted; the reason names the engine."""
    bid = bid_at(NOW)
    problems = bs.validate_manifest(my_manifest(bid, NOW), bid)
    assert problems == ["field engine 'mysql' is not postgresql (the engine read here)"]
    problems = bs.validate_manifest(pg_manifest(bid, NOW), bid, engine='mysql')
    assert problems == ["field engine 'postgresql' is not mysql (the engine read here)"]


def test_list_backups_by_engine(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    store.check(create=True)
    old, new = NOW - datetime.timedelta(days=2), NOW - datetime.timedelta(hours=1)
    pg_id = put(store, pg_manifest(bid_at(old), old))
    my_id = put(store, my_manifest(bid_at(new), new))
    every = dict((e['id'], e) for e in bs.list_backups(store, now=NOW, engine=None))
    assert every[pg_id]['valid'] and every[my_id]['valid'] and every[my_id]['database'] == 'app'
    pg = dict((e['id'], e) for e in bs.list_backups(store, now=NOW))
    assert pg[pg_id]['valid'] and not pg[my_id]['valid'] and 'mysql' in pg[my_id]['reason']
    assert bs.select_backup(list(pg.values()), 'latest')['id'] == pg_id
    my = dict((e['id'], e) for e in bs.list_backups(store, now=NOW, engine='mysql'))
    assert my[my_id]['valid'] and not my[pg_id]['valid']
    assert bs.select_backup(list(my.values()), 'latest')['id'] == my_id


def test_mysql_backup_list_backups_is_backup_stores_listing(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    store.check(create=True)
    my_id = put(store, my_manifest(bid_at(NOW), NOW))
    expected = bs.list_backups(store, database='app', now=NOW, engine='mysql')
    assert mb.list_backups(store, database='app', now=NOW) == expected
    assert mb.list_backups(store, database='app', now=NOW)[0]['id'] == my_id
    # a corrupted data object: found by the checksum, through the same listing
    store.put_bytes(bs.backup_key(my_id, 'data.dump.gz'), b'9876543210')
    entry = mb.list_backups(store, database='app', verify_checksum=True, now=NOW)[0]
    assert entry['valid'] is False and 'sha256 mismatch' in entry['reason']


def test_backup_age_sees_a_mysql_backup(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    store.check(create=True)
    created = NOW - datetime.timedelta(hours=3)
    my_id = put(store, my_manifest(bid_at(created), created))
    found = bs.backup_age({'store': str(tmp_path)}, database='app', now=NOW)
    assert found['found'] is True and found['id'] == my_id and found['age_s'] == 3 * 3600
    assert found['valid_count'] == 1 and found['invalid_count'] == 0
