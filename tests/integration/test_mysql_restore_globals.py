# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_restore engine mysql with globals: true against the session's real MariaDB: a dropped user comes back and
can log in with its grants, an existing user keeps its (changed) password and gets back a revoked grant; check
mode and verify plan without changing anything; no password or hash in any output."""
from __future__ import annotations

import json
import secrets

import pymysql
import pytest

from backup_fixtures import no_secret
from mysql_fixtures import create_db, drop_db, qi, unique_db


def login(my, user, password, db):
    conn = pymysql.connect(host='127.0.0.1', port=my.port, user=user, password=password, database=db,
                           autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT COUNT(*) FROM orders')
            return cur.fetchone()[0]
    finally:
        conn.close()


def grants(my, user):
    return ' '.join(r[0] for r in my.sql('SHOW GRANTS FOR %s@%s', (user, '%')))


def users(my):
    return set(r[0] for r in my.sql('SELECT User FROM mysql.user'))


def test_globals_restore_creates_missing_users_and_keeps_existing_passwords(mariadb_server, run_module, tmp_path):
    my = mariadb_server
    db = create_db(my, unique_db('glob'), rows=50)
    gone, keep = 'rbo_g_%s' % secrets.token_hex(3), 'rbo_k_%s' % secrets.token_hex(3)
    gone_pw, keep_pw, keep_new_pw = 'g-' + secrets.token_hex(6), 'k-' + secrets.token_hex(6), 'n-' + secrets.token_hex(6)
    my.sql('CREATE USER %s@%s IDENTIFIED BY %s', (gone, '%', gone_pw))
    my.sql('GRANT SELECT, INSERT ON %s.* TO %%s@%%s' % qi(db), (gone, '%'))
    my.sql('CREATE USER %s@%s IDENTIFIED BY %s', (keep, '%', keep_pw))
    my.sql('GRANT SELECT ON %s.orders TO %%s@%%s' % qi(db), (keep, '%'))
    gone_hash = my.sql('SELECT authentication_string FROM mysql.user WHERE User = %s', (gone,))[0][0]
    keep_hash = my.sql('SELECT authentication_string FROM mysql.user WHERE User = %s', (keep,))[0][0]
    store = str(tmp_path / 'store')
    try:
        b = run_module('db_backup', dict(my.params, db=db, store=store, globals=True))
        assert b.get('failed') is not True, b.get('msg')

        # the incident: one user dropped, the other's password changed and a grant revoked
        my.sql('DROP USER %s@%s', (gone, '%'))
        my.sql('ALTER USER %s@%s IDENTIFIED BY %s', (keep, '%', keep_new_pw))
        my.sql('REVOKE SELECT ON %s.orders FROM %%s@%%s' % qi(db), (keep, '%'))
        before = users(my)

        args = dict(my.params, store=store, mode='replace', target_db=db, globals=True)
        c = run_module('db_restore', args, check=True)
        assert c.get('failed') is not True, c.get('msg')
        assert c['globals']['applied'] is False
        assert '`%s`@`%%`' % gone in c['globals']['created'] and '`%s`@`%%`' % keep in c['globals']['kept']
        assert 'would create' in c['msg'] and users(my) == before
        v = run_module('db_restore', dict(args, mode='verify'))
        assert v.get('failed') is not True, v.get('msg')
        assert v['globals']['applied'] is False and users(my) == before

        r = run_module('db_restore', args)
        assert r.get('failed') is not True, r.get('msg')
        assert r['globals']['applied'] is True and '`%s`@`%%`' % gone in r['globals']['created']
        # independent checks: the dropped user logs in with its old password and has its grants back
        assert login(my, gone, gone_pw, db) == 50
        assert 'SELECT, INSERT ON %s.*' % qi(db) in grants(my, gone)
        # the existing user kept its new password (the old one is refused) and got its grant back
        assert login(my, keep, keep_new_pw, db) == 50
        with pytest.raises(pymysql.err.OperationalError):
            login(my, keep, keep_pw, db)
        assert 'SELECT ON %s.`orders`' % qi(db) in grants(my, keep)
        for result in (c, v, r):
            no_secret(result, my.password, gone_pw, keep_pw, keep_new_pw, gone_hash, keep_hash)
            assert gone_hash not in json.dumps(result)

        # again: nothing left to create or grant
        again = run_module('db_restore', args)
        assert again.get('failed') is not True, again.get('msg')
        assert again['globals']['created'] == [] and again['globals']['grants'] == 0
        assert login(my, keep, keep_new_pw, db) == 50
        for prev in (r['previous_db'], again['previous_db']):
            drop_db(my, prev)
    finally:
        for user in (gone, keep):
            my.sql('DROP USER IF EXISTS %s@%s', (user, '%'))
        drop_db(my, db)


def test_globals_refused_without_globals_in_the_backup(mariadb_server, run_module, tmp_path):
    my = mariadb_server
    db = create_db(my, unique_db('globno'), rows=5)
    store = str(tmp_path / 'store')
    try:
        b = run_module('db_backup', dict(my.params, db=db, store=store))
        assert b.get('failed') is not True, b.get('msg')
        r = run_module('db_restore', dict(my.params, store=store, mode='verify', globals=True))
        assert r['failed'] is True and 'taken without globals' in r['msg'] and 'Nothing was changed' in r['msg']
    finally:
        drop_db(my, db)
