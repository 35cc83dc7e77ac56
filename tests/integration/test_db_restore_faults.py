# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_restore faults: corrupted/truncated data and interrupted restores never touch the live database."""
from __future__ import annotations

import json
import os
import shutil
import signal
import threading

import pytest

from backup_fixtures import create_db, databases, drop_db, find_process, fingerprint, unique_db


@pytest.fixture(scope='module')
def _one_backup(postgres_server, run_module, tmp_path_factory):
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=500, big_rows=250000)
    pg.psql('CREATE INDEX big_payload ON big (payload)', db=db)
    store = str(tmp_path_factory.mktemp('restore-faults') / 'store')
    b = run_module('db_backup', dict(pg.params, db=db, store=store))
    assert b.get('failed') is not True, b.get('msg')
    pg.psql("INSERT INTO items VALUES (-1, 'after the backup')", db=db)
    yield pg, db, store, b, fingerprint(pg, db)
    drop_db(pg, db)


@pytest.fixture
def backed_up(_one_backup, tmp_path):
    """Every test gets its own copy of the store (some corrupt it)."""
    pg, db, store, b, live = _one_backup
    mine = str(tmp_path / 'store')
    shutil.copytree(store, mine)
    return pg, db, mine, b, live


def _data_path(store, b):
    return os.path.join(store, b['backup_id'], 'data.dump.zst')


def test_corrupted_then_truncated_object_is_refused(backed_up, run_module):
    pg, db, store, b, live = backed_up
    path = _data_path(store, b)
    with open(path, 'r+b') as f:
        f.seek(os.path.getsize(path) // 2)
        f.write(b'\x00CORRUPT\x00')
    dbs = databases(pg)
    r = run_module('db_restore', dict(pg.params, store=store, source_db=db, mode='replace'))
    assert r['failed'] is True
    assert b['backup_id'] in r['msg'] and b['manifest']['sha256'] in r['msg']
    assert 'no database was touched' in r['msg']
    actual = r['msg'].split('got ')[1].split(';')[0]
    assert len(actual) == 64 and actual != b['manifest']['sha256']
    assert fingerprint(pg, db) == live and databases(pg) == dbs

    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) // 3)
    r = run_module('db_restore', dict(pg.params, store=store, backup=b['backup_id'], mode='replace'))
    assert r['failed'] is True and 'not valid' in r['msg'] and 'truncated' in r['msg']
    r = run_module('db_restore', dict(pg.params, store=store, source_db=db, mode='replace'))
    assert r['failed'] is True and 'no valid backup' in r['msg']
    assert fingerprint(pg, db) == live and databases(pg) == dbs


def _interrupt(run_module, pg, db, store, tmp_path, victim):
    """Start a replace restore, kill ``victim`` (pg_restore or the module) while pg_restore runs."""
    work = tmp_path / 'work'
    work.mkdir()
    out = {}
    t = threading.Thread(target=lambda: out.update(run_module('db_restore', dict(
        pg.params, store=store, source_db=db, mode='replace', tmp_dir=str(work), jobs=1))))
    t.start()
    pid = find_process(str(work), 'pg_restore', timeout=60)
    assert pid is not None, 'pg_restore never started'
    if victim == 'module':
        with open('/proc/%d/stat' % pid) as f:
            pid = int(f.read().rsplit(')', 1)[1].split()[1])  # the parent: the module's python
        os.kill(pid, signal.SIGTERM)
    else:
        os.kill(pid, signal.SIGKILL)
    t.join(120)
    assert not t.is_alive()
    return out, work


def test_restore_interrupted_pg_restore_killed(backed_up, run_module, tmp_path):
    pg, db, store, _b, live = backed_up
    dbs = databases(pg)
    r, work = _interrupt(run_module, pg, db, store, tmp_path, 'pg_restore')
    assert r['failed'] is True, json.dumps(r)[:500]
    assert 'pg_restore was killed by signal 9' in r['msg'] and 'live database was not touched' in r['msg']
    assert fingerprint(pg, db) == live
    assert databases(pg) == dbs  # the scratch database is gone
    assert os.listdir(str(work)) == []  # the downloaded archive is gone


def test_restore_interrupted_module_terminated(backed_up, run_module, tmp_path):
    pg, db, store, _b, live = backed_up
    dbs = databases(pg)
    r, work = _interrupt(run_module, pg, db, store, tmp_path, 'module')
    assert r['failed'] is True
    assert 'interrupted by signal 15' in r['msg']
    assert fingerprint(pg, db) == live
    assert databases(pg) == dbs
    assert os.listdir(str(work)) == []
