# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_store orphans (issue 16): committed objects of a backup that never got its manifest, found by the same
marker and grace period as the leftovers of killed writers; never an object of a backup with a manifest."""
from __future__ import annotations

import datetime
import json
import os

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs

NOW = datetime.datetime(2026, 3, 15, 12, 0, 0, tzinfo=datetime.timezone.utc)
OLD = NOW - datetime.timedelta(seconds=bs.LEFTOVER_STALE_S + 3600)


def _age(store, key, when):
    path = store._path(key)
    os.utime(path, (when.timestamp(), when.timestamp()))


def _put(store, key, data=b'x' * 10, when=OLD):
    store.put_bytes(key, data)
    _age(store, key, when)


def test_orphans_are_marked_old_objects_of_folders_without_manifest(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    killed = bs.new_backup_id('app', OLD)           # a killed run: data committed, no manifest
    _put(store, bs.backup_key(killed, 'data.dump.zst'))
    _put(store, bs.backup_key(killed, 'globals.sql.zst'))
    running = bs.new_backup_id('app', NOW)          # a run in progress: fresh data, no manifest yet
    _put(store, bs.backup_key(running, 'data.dump.zst'), when=NOW)
    fresh_file = bs.new_backup_id('app', OLD)       # an old id but an object written a minute ago
    _put(store, bs.backup_key(fresh_file, 'data.dump'), when=NOW - datetime.timedelta(minutes=1))
    valid = bs.new_backup_id('app', OLD)            # a backup with a manifest: never an orphan
    _put(store, bs.backup_key(valid, 'data.dump.zst'))
    _put(store, bs.backup_key(valid, bs.MANIFEST_NAME), b'{}')
    _put(store, bs.backup_key(killed, 'notes.txt'))          # not a name our writer uses
    _put(store, 'my-folder/data.dump.zst')                   # not a backup-id folder
    _put(store, 'data.dump.zst')                             # at the root

    found = bs.find_orphans(store, now=NOW)
    by_key = dict((x['key'], x) for x in found)
    assert set(by_key) == {bs.backup_key(killed, 'data.dump.zst'), bs.backup_key(killed, 'globals.sql.zst'),
                           bs.backup_key(running, 'data.dump.zst'), bs.backup_key(fresh_file, 'data.dump')}
    assert by_key[bs.backup_key(killed, 'data.dump.zst')]['stale'] is True
    assert by_key[bs.backup_key(killed, 'data.dump.zst')]['kind'] == 'orphan_object'
    assert by_key[bs.backup_key(killed, 'data.dump.zst')]['size'] == 10
    assert by_key[bs.backup_key(running, 'data.dump.zst')]['stale'] is False
    assert by_key[bs.backup_key(fresh_file, 'data.dump')]['stale'] is False
    assert 'manifest' in by_key[bs.backup_key(killed, 'data.dump.zst')]['reason']

    planned = bs.sweep_orphans(store, now=NOW, check_mode=True)
    assert sorted(x['key'] for x in planned) == sorted([bs.backup_key(killed, 'data.dump.zst'),
                                                        bs.backup_key(killed, 'globals.sql.zst')])
    assert bs.backup_key(killed, 'data.dump.zst') in store.list_objects()

    swept = bs.sweep_orphans(store, now=NOW)
    assert [x['key'] for x in swept] == [x['key'] for x in planned]
    left = store.list_objects()
    assert bs.backup_key(killed, 'data.dump.zst') not in left and bs.backup_key(killed, 'globals.sql.zst') not in left
    for key in (bs.backup_key(running, 'data.dump.zst'), bs.backup_key(fresh_file, 'data.dump'),
                bs.backup_key(valid, 'data.dump.zst'), bs.backup_key(valid, bs.MANIFEST_NAME),
                bs.backup_key(killed, 'notes.txt'), 'my-folder/data.dump.zst', 'data.dump.zst'):
        assert key in left, key
    assert bs.sweep_orphans(store, now=NOW) == []


def test_a_manifest_that_does_not_parse_protects_its_folder(tmp_path):
    """A folder with any manifest object is a backup (valid or not): retention and the sweep leave it alone."""
    store = bs.open_store({'store': str(tmp_path)})
    bid = bs.new_backup_id('app', OLD)
    _put(store, bs.backup_key(bid, 'data.dump.zst'))
    _put(store, bs.backup_key(bid, bs.MANIFEST_NAME), b'not json')
    assert bs.find_orphans(store, now=NOW) == []


class FakeS3(object):
    def __init__(self, objects, modified):
        self.objects = objects
        self.modified_at = modified
        self.deleted = []

    def list_objects(self):
        return dict(self.objects)

    def modified(self, key):
        return self.modified_at.get(key)

    def delete(self, keys):
        keys = list(keys)
        self.deleted.extend(keys)
        for k in keys:
            self.objects.pop(k, None)


def test_age_is_the_later_of_the_id_time_and_the_object_time():
    """An S3-compatible server that reports no time (None) falls back to the id; a recent one keeps it young."""
    bid = bs.new_backup_id('app', OLD)
    k1, k2 = bs.backup_key(bid, 'data.dump.zst'), bs.backup_key(bid, 'globals.sql.zst')
    store = FakeS3({k1: 5, k2: 6}, {k1: None, k2: NOW - datetime.timedelta(seconds=30)})
    found = dict((x['key'], x) for x in bs.find_orphans(store, now=NOW))
    assert found[k1]['stale'] is True and found[k1]['age_s'] > bs.LEFTOVER_STALE_S
    assert found[k2]['stale'] is False and found[k2]['age_s'] == 30
    assert json.dumps(found[k1])  # serialisable for the module result
    assert [x['key'] for x in bs.sweep_orphans(store, now=NOW)] == [k1] and store.deleted == [k1]
