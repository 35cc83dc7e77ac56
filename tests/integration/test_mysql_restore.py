# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_restore with engine mysql against a real MariaDB: verify, replace, new, adoption of foreign dumps."""
from __future__ import annotations

import gzip
import subprocess

from backup_fixtures import new_bucket, no_secret, s3_client
from mysql_fixtures import (counts, create_db, databases, drop_db, qi, unique_db)


def backup(run_module, my, db, store, **kw):
    r = run_module('db_backup', dict(my.params, db=db, store=store, **kw))
    assert r.get('failed') is not True, r.get('msg')
    return r


PHASES = ('preflight_s', 'download_s', 'restore_s', 'verify_s', 'switch_s')


def assert_phases_add_up(result):
    """The PostgreSQL path's phase names, and phases that add up to the total (by construction, up to rounding)."""
    t = result['timings']
    assert set(t) == set(PHASES) | {'total_s'}, t
    assert all(t[k] >= 0 for k in t), t
    assert abs(sum(t[k] for k in PHASES) - t['total_s']) <= 0.01, t


def objects(my, db):
    def q(statement):
        return sorted(r[0] for r in my.sql(statement, (db,)))
    return {
        'views': q("SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s"),
        'triggers': q("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s"),
        'routines': q("SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s"),
        'events': q("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s"),
    }


def test_round_trip_verify_replace_new(mariadb_server, run_module, tmp_path):
    my = mariadb_server
    db = create_db(my, unique_db(), rows=300, hostile=True)
    store = str(tmp_path / 'store')
    before = counts(my, db)
    before_objects = objects(my, db)
    b = backup(run_module, my, db, store)

    v = run_module('db_restore', dict(my.params, store=store, mode='verify'))
    assert v.get('failed') is not True, v.get('msg')
    assert v['verification']['ok'] is True and v['backup_id'] == b['backup_id']
    assert_phases_add_up(v)
    assert not [d for d in databases(my) if d.startswith('rbo_restore_')]

    # damage the live data, then replace
    my.sql('DELETE FROM orders WHERE id > 10', db=db)
    my.sql('CREATE TABLE extra (id INT) ENGINE=InnoDB', db=db)
    my.sql('DROP VIEW big_orders', db=db)
    r = run_module('db_restore', dict(my.params, store=store, mode='replace', target_db=db))
    assert r.get('failed') is not True, r.get('msg')
    assert counts(my, db) == before
    assert objects(my, db) == before_objects
    assert_phases_add_up(r)
    prev = r['previous_db']
    assert prev.startswith(db + '_pre_restore_')
    assert counts(my, prev)['orders'] == 10 and 'extra' in counts(my, prev)
    # the trigger works on the restored table, and the restored view reads the restored table
    my.sql('INSERT INTO orders VALUES (999999, %s, 5000)', ('x',), db=db)
    assert my.sql('SELECT COUNT(*) FROM audit', db=db)[0][0] == before['audit'] + 1
    assert my.sql('SELECT COUNT(*) FROM big_orders WHERE id = 999999', db=db)[0][0] == 1
    assert my.sql('SELECT twice(21)', db=db)[0][0] == 42

    n = run_module('db_restore', dict(my.params, store=store, mode='new', target_db=db + '_copy'))
    assert n.get('failed') is not True, n.get('msg')
    assert counts(my, db + '_copy') == before
    assert objects(my, db + '_copy') == before_objects
    assert_phases_add_up(n)
    assert not [d for d in databases(my) if d.startswith('rbo_restore_')]
    no_secret(n, my.password)

    again = run_module('db_restore', dict(my.params, store=store, mode='new', target_db=db + '_copy'))
    assert again['failed'] is True and 'already exists' in again['msg']
    drop_db(my, db + '_copy')
    drop_db(my, prev)


def test_check_mode_touches_nothing(mariadb_server, run_module, tmp_path):
    my = mariadb_server
    db = create_db(my, unique_db(), rows=20)
    store = str(tmp_path / 'store')
    backup(run_module, my, db, store)
    dbs = databases(my)
    r = run_module('db_restore', dict(my.params, store=store, mode='replace', target_db=db), check=True)
    assert r.get('failed') is not True, r.get('msg')
    assert 'would restore' in r['msg'] and databases(my) == dbs


def test_adopt_gzip_dump_from_s3_and_plain_local(mariadb_server, moto_server, run_module, tmp_path):
    """seed 000's way: mysqldump | gzip > backup-YYYY-MM-DD.sql.gz in S3, no manifest."""
    my = mariadb_server
    db = create_db(my, unique_db(), rows=150)
    before = counts(my, db)
    cnf = tmp_path / 'my.cnf'
    cnf.write_text('[client]\nhost=127.0.0.1\nport=%d\nuser=%s\npassword="%s"\n' % (
        my.port, my.user, my.password.replace('\\', '\\\\').replace('"', '\\"')))
    cnf.chmod(0o600)
    dump = subprocess.run(['mariadb-dump', '--defaults-file=%s' % cnf, '--single-transaction', db],
                          capture_output=True, check=True).stdout
    bucket = new_bucket(moto_server)
    s3_client(moto_server).put_object(Bucket=bucket, Key='daily/backup-2026-01-31.sql.gz', Body=gzip.compress(dump))
    s3 = dict(store='s3://%s/daily' % bucket, s3_endpoint_url=moto_server)
    r = run_module('db_restore', dict(my.params, backup='s3://%s/daily/backup-2026-01-31.sql.gz' % bucket,
                                      mode='new', target_db=db + '_adopted', **s3))
    assert r.get('failed') is not True, r.get('msg')
    assert r['verification']['ok'] is None and 'nothing to verify against' in r['verification']['summary']
    assert r['adopted']['compression'] == 'gzip'
    assert counts(my, db + '_adopted') == before
    plain = tmp_path / 'backup.sql'
    plain.write_bytes(dump)
    v = run_module('db_restore', dict(my.params, backup=str(plain), store=str(tmp_path), mode='verify'))
    assert v.get('failed') is not True, v.get('msg')
    assert v['adopted']['compression'] == 'none'
    assert dict((t['table'], t['actual']) for t in v['verification']['tables']) == before
    # a dump made with --databases would write outside the scratch database: refused
    multi = tmp_path / 'all.sql'
    multi.write_bytes(subprocess.run(['mariadb-dump', '--defaults-file=%s' % cnf, '--databases', db],
                                     capture_output=True, check=True).stdout)
    dbs = databases(my)
    bad = run_module('db_restore', dict(my.params, backup=str(multi), store=str(tmp_path), mode='verify'))
    assert bad['failed'] is True and 'names databases' in bad['msg']
    assert databases(my) == dbs
    drop_db(my, db + '_adopted')
    assert qi('a') == '`a`'
