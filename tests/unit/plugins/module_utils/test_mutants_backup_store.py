# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_store rules that surviving mutants showed unpinned (issue 17, make mutants): which backup is valid,
how the catalogue is ordered and filtered, leftover detection and the stale decision."""
from __future__ import annotations

import collections
import datetime
import hashlib
import json
import os
import time

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 3, 15, 12, 0, 0, tzinfo=UTC)
ENTRY_KEYS = {'id', 'created_at', 'age_s', 'size', 'valid', 'reason', 'database', 'tags', 'manifest'}


def manifest(bid, created, data=b'0123456789', database='app', **extra):
    m = {'id': bid, 'engine': 'postgresql', 'server_version': '15.18', 'database': database,
         'created_at': bs.format_time(created), 'duration_s': 1.5, 'format': 'custom', 'compression': 'zstd',
         'size': len(data), 'sha256': hashlib.sha256(data).hexdigest(), 'data_key': 'data.dump.zst',
         'tables': [{'schema': 'public', 'table': 't', 'rows': 3}], 'pg_dump_version': '15.18', 'globals': None,
         'tags': {}}
    m.update(extra)
    return m


class MemStore(object):
    """A store whose objects are listed in insertion order (the order the test chooses)."""

    def __init__(self):
        self.objects = collections.OrderedDict()
        self.reads = []

    def put_bytes(self, key, data):
        self.objects[key] = data

    def list_objects(self):
        return collections.OrderedDict((k, len(v)) for k, v in self.objects.items())

    def read_bytes(self, key):
        self.reads.append(key)
        return self.objects[key]

    def iter_read(self, key, chunk=bs.CHUNK):
        self.reads.append(key)
        if key not in self.objects:
            raise bs.StoreError('no object %s' % key)
        yield self.objects[key]


def put(store, created, database='app', data=b'0123456789', bid=None, with_manifest=True, with_data=True, **extra):
    bid = bid or bs.new_backup_id(database, created)
    if with_data:
        store.put_bytes(bs.backup_key(bid, 'data.dump.zst'), data)
    if with_manifest:
        m = manifest(bid, created, data=data, database=database, **extra)
        store.put_bytes(bs.backup_key(bid, bs.MANIFEST_NAME), json.dumps(m).encode())
    return bid


def by_id(entries):
    return dict((e['id'], e) for e in entries)


# --------------------------------------------------------------------------- parse_time, backup_key

@pytest.fixture
def local_tz_new_york():
    """Run with a local time zone that is not UTC (naive times must still be taken as UTC)."""
    old = os.environ.get('TZ')
    os.environ['TZ'] = 'America/New_York'
    time.tzset()
    yield
    if old is None:
        del os.environ['TZ']
    else:
        os.environ['TZ'] = old
    time.tzset()


def test_parse_time_takes_naive_times_as_utc_and_returns_utc(local_tz_new_york):
    dt = bs.parse_time('2026-03-15T12:00:00')
    assert dt == NOW
    assert dt.utcoffset() == datetime.timedelta(0)
    assert bs.parse_time('2026-03-15T14:00:00+02:00').utcoffset() == datetime.timedelta(0)


@pytest.mark.parametrize('text', ['2026-03-15T12:00:00Z', '2026-03-15T12:00:00z', ' 2026-03-15T12:00:00.000000Z '])
def test_parse_time_accepts_both_z_suffixes(text):
    assert bs.parse_time(text) == NOW


def test_parse_time_reads_z_times_where_fromisoformat_does_not(monkeypatch):
    """Managed nodes may run Python < 3.11 (RHEL 9: 3.9), whose fromisoformat refuses a Z suffix; every
    created_at this collection writes ends with Z."""
    real = datetime.datetime

    class Py310Datetime(real):
        @classmethod
        def fromisoformat(cls, date_string):
            if date_string[-1:] in ('Z', 'z'):
                raise ValueError('Invalid isoformat string: %r' % date_string)
            return real.fromisoformat(date_string)
    monkeypatch.setattr(bs.datetime, 'datetime', Py310Datetime)
    assert bs.parse_time('2026-03-15T12:00:00.000000Z') == NOW
    assert bs.parse_time('2026-03-15T12:00:00z') == NOW


@pytest.mark.parametrize('name', ['sub/data.dump', 'a/b', '.hidden'])
def test_backup_key_refuses_object_names_outside_the_backup_folder(name):
    with pytest.raises(bs.StoreError):
        bs.backup_key(bs.new_backup_id('app', NOW), name)


# --------------------------------------------------------------------------- validate_manifest

def test_validate_manifest_accepts_well_formed_globals():
    bid = bs.new_backup_id('app', NOW)
    g = {'key': 'globals.sql.zst', 'size': 120, 'sha256': 'b' * 64}
    assert bs.validate_manifest(manifest(bid, NOW, globals=g), bid) == []


@pytest.mark.parametrize('field, value', [
    ('size', 0),
    ('server_version_num', 0),
    ('tables', [{'schema': 'public', 'table': 'empty', 'rows': 0}]),
    ('globals', {'key': 'globals.sql', 'size': 0, 'sha256': 'b' * 64}),
])
def test_validate_manifest_zero_is_a_valid_size_or_count(field, value):
    """An empty table (rows: 0) or an empty object is well-formed; only negative numbers are refused."""
    bid = bs.new_backup_id('app', NOW)
    assert bs.validate_manifest(manifest(bid, NOW, **{field: value}), bid) == []


def test_validate_manifest_refuses_a_globals_size_that_is_a_boolean():
    bid = bs.new_backup_id('app', NOW)
    bad_globals = {'key': 'globals.sql', 'size': True, 'sha256': 'b' * 64}
    problems = bs.validate_manifest(manifest(bid, NOW, globals=bad_globals), bid)
    assert any('globals' in p for p in problems)


# --------------------------------------------------------------------------- list_backups: validity

def test_a_manifest_copied_into_another_folder_is_invalid():
    store = MemStore()
    bid = put(store, NOW)
    other = bs.new_backup_id('app', NOW)
    store.put_bytes(bs.backup_key(other, 'data.dump.zst'), b'0123456789')
    store.put_bytes(bs.backup_key(other, bs.MANIFEST_NAME), store.objects[bs.backup_key(bid, bs.MANIFEST_NAME)])
    entries = by_id(bs.list_backups(store, now=NOW))
    assert entries[bid]['valid']
    assert not entries[other]['valid']
    assert 'does not match' in entries[other]['reason'] and other in entries[other]['reason']


def test_a_backup_whose_data_object_is_missing_is_invalid_and_named():
    store = MemStore()
    bid = put(store, NOW, with_data=False)
    [entry] = bs.list_backups(store, now=NOW)
    assert not entry['valid']
    assert 'missing' in entry['reason'] and 'data.dump.zst' in entry['reason']


def test_checksum_listing_reports_a_missing_data_object_instead_of_reading_it():
    store = MemStore()
    good = put(store, NOW - datetime.timedelta(hours=1))
    gone = put(store, NOW, with_data=False)
    entries = by_id(bs.list_backups(store, verify_checksum=True, now=NOW))
    assert entries[good]['valid']
    assert not entries[gone]['valid'] and 'missing' in entries[gone]['reason']


def test_a_backup_with_globals_of_the_recorded_size_is_valid():
    store = MemStore()
    g = b'CREATE ROLE app;'
    bid = bs.new_backup_id('app', NOW)
    store.put_bytes(bs.backup_key(bid, 'globals.sql'), g)
    put(store, NOW, bid=bid, globals={'key': 'globals.sql', 'size': len(g), 'sha256': hashlib.sha256(g).hexdigest()})
    [entry] = bs.list_backups(store, now=NOW)
    assert entry['valid'], entry['reason']


def test_default_listing_does_not_read_data_objects():
    """The catalogue (backup_age probe, retention) reads manifests only; checksums are read on request."""
    store = MemStore()
    put(store, NOW)
    bs.list_backups(store, now=NOW)
    assert all(k.endswith('/' + bs.MANIFEST_NAME) for k in store.reads), store.reads


def test_every_entry_has_the_same_keys_whatever_its_validity():
    store = MemStore()
    no_manifest = put(store, NOW - datetime.timedelta(hours=3), with_manifest=False, data=b'12345')
    bad_json = put(store, NOW - datetime.timedelta(hours=2), with_manifest=False)
    store.put_bytes(bs.backup_key(bad_json, bs.MANIFEST_NAME), b'{not json')
    bad_manifest = put(store, NOW - datetime.timedelta(hours=1), engine='oracle')
    good = put(store, NOW)
    entries = by_id(bs.list_backups(store, now=NOW))
    assert set(entries) == {no_manifest, bad_json, bad_manifest, good}
    for e in entries.values():
        assert set(e) == ENTRY_KEYS, e
    assert entries[no_manifest]['size'] == 5  # what a failed backup occupies
    assert 'not valid JSON' in entries[bad_json]['reason'] and bad_json in entries[bad_json]['reason']
    assert 'engine' in entries[bad_manifest]['reason']


def test_an_invalid_backup_listed_first_does_not_hide_the_others():
    """Objects come in store order: an invalid backup met first must not end the listing."""
    for kind in ('json', 'manifest'):
        store = MemStore()
        bad = put(store, NOW - datetime.timedelta(hours=2), with_manifest=kind != 'json',
                  **({'format': 'tar'} if kind == 'manifest' else {}))
        if kind == 'json':
            store.put_bytes(bs.backup_key(bad, bs.MANIFEST_NAME), b'\xff\xfe')
        good = put(store, NOW)
        entries = bs.list_backups(store, now=NOW)
        assert [e['id'] for e in entries] == [good, bad]
        assert [e['valid'] for e in entries] == [True, False]


def test_objects_outside_backup_folders_are_not_backups_and_do_not_stop_the_listing(tmp_path):
    store = MemStore()
    store.put_bytes('README', b'notes')
    store.put_bytes('notes/todo.txt', b'x')
    bid = put(store, NOW)
    store.put_bytes(bid + '/extra/nested.bin', b'xxxxxxxxxxxxxxxxxxxx')
    only_nested = bs.new_backup_id('app', NOW - datetime.timedelta(days=1))
    store.put_bytes(only_nested + '/sub/data.dump.zst', b'x')
    entries = bs.list_backups(store, now=NOW)
    assert [e['id'] for e in entries] == [bid]
    assert entries[0]['valid']
    # a local store too: a stray file at the root and a non-backup folder
    local = bs.LocalStore(str(tmp_path))
    (tmp_path / 'README').write_text('notes')
    (tmp_path / 'lost+found').mkdir()
    (tmp_path / 'lost+found' / 'x').write_text('x')
    lbid = put(local, NOW)
    assert [e['id'] for e in bs.list_backups(local, now=NOW)] == [lbid]


def test_a_valid_entry_carries_its_manifest_size_tags_and_age():
    store = MemStore()
    created = NOW - datetime.timedelta(seconds=90.4004)
    bid = put(store, created, data=b'x' * 33, tags={'release': '20260315T110000Z'})
    [entry] = bs.list_backups(store, now=NOW)
    assert entry['valid']
    assert entry['manifest']['id'] == bid and entry['manifest']['data_key'] == 'data.dump.zst'
    assert entry['size'] == 33
    assert entry['tags'] == {'release': '20260315T110000Z'}
    assert entry['age_s'] == 90.4


# --------------------------------------------------------------------------- order, database, selection

def test_backups_of_the_same_second_are_ordered_by_creation_time_not_by_id():
    store = MemStore()
    older = put(store, NOW.replace(microsecond=100000), bid=NOW.strftime('%Y%m%dT%H%M%SZ') + '-app-ffffff')
    newer = put(store, NOW.replace(microsecond=900000), bid=NOW.strftime('%Y%m%dT%H%M%SZ') + '-app-000000')
    entries = bs.list_backups(store, now=NOW + datetime.timedelta(seconds=5))
    assert [e['id'] for e in entries] == [newer, older]
    assert bs.select_backup(entries, 'latest')['id'] == newer


def test_a_folder_without_manifest_belongs_to_the_database_named_by_its_whole_slug():
    store = MemStore()
    stamp = NOW.strftime('%Y%m%dT%H%M%SZ')
    other = put(store, NOW, bid=stamp + '-my-app-abcdef', with_manifest=False)   # a hand-made id with dashes
    mine = put(store, NOW, bid=stamp + '-my-123456', with_manifest=False)
    assert [e['id'] for e in bs.list_backups(store, database='my', now=NOW)] == [mine]
    assert other not in [e['id'] for e in bs.list_backups(store, database='app', now=NOW)]


def test_select_backup_without_selector_takes_the_newest_valid():
    store = MemStore()
    put(store, NOW - datetime.timedelta(days=1))
    newest = put(store, NOW)
    entries = bs.list_backups(store, now=NOW)
    assert bs.select_backup(entries, None)['id'] == newest
    assert bs.select_backup(entries, '')['id'] == newest


# --------------------------------------------------------------------------- leftovers of killed writers

def _temp(folder, name='data.dump.zst', pid=None):
    path = folder / ('.%s.rbo-tmp.%s.%d.%s' % (name, bs.host_tag(), pid or 999999999, 'abcd1234'))
    path.write_bytes(b'partial')
    return path


def test_leftovers_are_found_past_stray_folders_and_hidden_files(tmp_path):
    (tmp_path / '0-notes').mkdir()                 # sorts before every backup folder, is not one
    (tmp_path / '.snapshot').mkdir()
    folder = tmp_path / bs.new_backup_id('app', NOW)
    folder.mkdir()
    (folder / '.DS_Store').write_bytes(b'x')       # a hidden file that sorts before the temp file
    (folder / '.abc').write_bytes(b'x')
    temp = _temp(folder)
    # named like temp files of this host but not regular files: never reported (so never removed), and they
    # must not end the scan of the folder
    os.mkdir(str(folder / ('.data.dump.rbo-tmp.%s.1.aaaaaaaa' % bs.host_tag())))
    os.symlink(str(temp), str(folder / ('.data.dump.gz.rbo-tmp.%s.1.aaaaaaaa' % bs.host_tag())))
    assert sorted(os.listdir(str(folder)))[-1] == temp.name
    found = bs.LocalStore(str(tmp_path)).find_leftovers(NOW)
    assert [f['key'] for f in found] == ['%s/%s' % (folder.name, temp.name)]


def test_an_unreadable_folder_or_vanished_file_does_not_hide_later_leftovers(tmp_path, monkeypatch):
    first = tmp_path / bs.new_backup_id('app', NOW - datetime.timedelta(days=2))
    second = tmp_path / bs.new_backup_id('app', NOW - datetime.timedelta(days=1))
    first.mkdir()
    second.mkdir()
    vanished = _temp(second, 'data.dump')
    temp = _temp(second, 'globals.sql')
    assert vanished.name < temp.name
    real_listdir, real_lstat = os.listdir, os.lstat

    def listdir(path):
        if os.path.basename(str(path)) == first.name:
            raise PermissionError(13, 'Permission denied')
        return real_listdir(path)

    def lstat(path, *a, **kw):
        if os.path.basename(str(path)) == vanished.name:
            raise FileNotFoundError(2, 'gone')
        return real_lstat(path, *a, **kw)
    monkeypatch.setattr(bs.os, 'listdir', listdir)
    monkeypatch.setattr(bs.os, 'lstat', lstat)
    found = bs.LocalStore(str(tmp_path)).find_leftovers(NOW)
    assert [f['key'] for f in found] == ['%s/%s' % (second.name, temp.name)]


def test_leftover_age_is_the_idle_time_rounded_to_milliseconds(tmp_path):
    folder = tmp_path / bs.new_backup_id('app', NOW)
    folder.mkdir()
    temp = _temp(folder)
    mtime_ns = int(NOW.timestamp() * 10**9) - 100400400000   # idle 100.4004 s
    os.utime(str(temp), ns=(mtime_ns, mtime_ns))
    [found] = bs.LocalStore(str(tmp_path)).find_leftovers(NOW)
    assert found['age_s'] == 100.4
    future = int(NOW.timestamp() * 10**9) + 50 * 10**9       # clock skew: written "after" now
    os.utime(str(temp), ns=(future, future))
    [found] = bs.LocalStore(str(tmp_path)).find_leftovers(NOW)
    assert found['age_s'] == 0


def _match(pid, host=None):
    return bs.TEMP_RE.match('.data.dump.zst.rbo-tmp.%s.%d.abcd1234' % (host or bs.host_tag(), pid))


def test_a_temp_file_of_another_live_writer_on_this_host_is_not_stale():
    stale, reason = bs._temp_is_stale(_match(os.getppid()), 10)
    assert stale is False
    assert str(os.getppid()) in reason


def test_exactly_the_stale_age_is_not_yet_stale():
    """Stale means idle for MORE than LEFTOVER_STALE_S, for a live writer here and for another host's file."""
    assert bs._temp_is_stale(_match(os.getpid()), bs.LEFTOVER_STALE_S)[0] is False
    assert bs._temp_is_stale(_match(os.getpid(), host='0badc0de'), bs.LEFTOVER_STALE_S)[0] is False
    assert bs._temp_is_stale(None, bs.LEFTOVER_STALE_S)[0] is False
    assert bs._temp_is_stale(_match(os.getpid()), bs.LEFTOVER_STALE_S + 1)[0] is True
    assert bs._temp_is_stale(None, bs.LEFTOVER_STALE_S + 1)[0] is True
