# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_backup retention over faked dates, hostile names and an empty database (local store)."""
from __future__ import annotations

import datetime
import os

from backup_fixtures import (HOSTILE_DB, clone_local_backup, create_db, databases, drop_db, fingerprint,
                             local_files, unique_db)


def test_hostile_names_and_empty_database(postgres_server, run_module, tmp_path):
    pg = postgres_server
    drop_db(pg, HOSTILE_DB)
    create_db(pg, HOSTILE_DB, rows=50, hostile_table=True)
    before = fingerprint(pg, HOSTILE_DB)
    store = str(tmp_path / 'store')
    b = run_module('db_backup', dict(pg.params, db=HOSTILE_DB, store=store, compression='none'))
    assert b.get('failed') is not True, b.get('msg')
    assert b['backup_id'].split('-')[1] == 'db_x'  # the slug in the id is sanitised
    r = run_module('db_restore', dict(pg.params, store=store, source_db=HOSTILE_DB, mode='replace'))
    assert r.get('failed') is not True, r.get('msg')
    assert fingerprint(pg, HOSTILE_DB) == before
    assert fingerprint(pg, r['previous_db']) == before
    assert 'postgres' in databases(pg)
    drop_db(pg, r['previous_db'])
    drop_db(pg, HOSTILE_DB)

    empty = unique_db('empty')
    pg.psql('CREATE DATABASE %s' % empty)
    e = run_module('db_backup', dict(pg.params, db=empty, store=store))
    assert e.get('failed') is not True, e.get('msg')
    assert e['manifest']['tables'] == []
    v = run_module('db_restore', dict(pg.params, store=store, source_db=empty, mode='verify'))
    assert v.get('failed') is not True, v.get('msg')
    assert v['verification']['ok'] is True and v['verification']['tables'] == []
    drop_db(pg, empty)


def test_retention_gfs_with_faked_dates_and_check_mode(postgres_server, run_module, tmp_path):
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=10)
    store = str(tmp_path / 'store')
    first = run_module('db_backup', dict(pg.params, db=db, store=store))
    assert first.get('failed') is not True, first.get('msg')
    now = datetime.datetime.now(datetime.timezone.utc)
    # 60 days of daily backups (faked dates), plus an orphan without a manifest
    fake = [clone_local_backup(store, first['backup_id'], now - datetime.timedelta(days=d, hours=1))
            for d in range(1, 61)]
    orphan = fake[-1]
    os.unlink(os.path.join(store, orphan, 'manifest.json'))
    policy = {'daily': 7, 'weekly': 4, 'monthly': 3}

    plan = run_module('db_backup', dict(pg.params, db=db, store=store, retention=policy), check=True)
    assert plan.get('failed') is not True, plan.get('msg')
    files_before = local_files(store)
    assert len(files_before) == 2 * 60 + 1  # check mode wrote and deleted nothing
    actions = {p['id']: p for p in plan['retention']}
    assert actions[orphan]['action'] == 'ignore'
    assert actions[plan['backup_id']]['action'] == 'keep'
    assert 'newest valid backup' in actions[plan['backup_id']]['reasons']
    assert set(plan['pruned']) == {i for i, p in actions.items() if p['action'] == 'delete'}

    r = run_module('db_backup', dict(pg.params, db=db, store=store, retention=policy))
    assert r.get('failed') is not True, r.get('msg')
    kept = sorted({f.split('/')[0] for f in local_files(store)})
    assert r['backup_id'] in kept and orphan in kept
    assert not set(r['pruned']) & set(kept)
    # GFS by hand: newest per day (7 days), per ISO week (4), per month (3), among valid backups
    valid = sorted([first['backup_id'], r['backup_id']] + fake[:-1], reverse=True)

    def newest_per(fmt, n):
        seen, out = [], set()
        for i in valid:
            d = datetime.datetime.strptime(i[:16], '%Y%m%dT%H%M%SZ')
            k = fmt(d)
            if k not in seen and len(seen) < n:
                seen.append(k)
                out.add(i)
        return out
    expected = (newest_per(lambda d: d.date(), 7) | newest_per(lambda d: d.isocalendar()[:2], 4)
                | newest_per(lambda d: (d.year, d.month), 3))
    assert set(kept) - {orphan} == expected
    # the next run with the same policy deletes nothing more than the one new backup allows
    r2 = run_module('db_backup', dict(pg.params, db=db, store=store, retention={'keep_last': 2}))
    assert r2.get('failed') is not True, r2.get('msg')
    ids = sorted({f.split('/')[0] for f in local_files(store)})
    assert set(ids) == {r2['backup_id'], r['backup_id'], orphan}
    drop_db(pg, db)
