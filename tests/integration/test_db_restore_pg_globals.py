# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_restore globals (engine postgresql) against the session's real PostgreSQL: a role that exists keeps the
password it has now (pg_dumpall's ALTER ROLE ... PASSWORD is left out for it); a dropped role comes back."""
from __future__ import annotations

import os
import secrets
import subprocess

from backup_fixtures import create_db, drop_db, no_secret, unique_db


def can_login(pg, role, password, db):
    env = dict(os.environ, PGPASSWORD=password)
    r = subprocess.run(['psql', '-h', '127.0.0.1', '-p', str(pg.port), '-U', role, '-d', db, '-X', '-A', '-t',
                        '-c', 'SELECT 1'], env=env, capture_output=True, text=True, check=False)
    return r.returncode == 0 and r.stdout.strip() == '1'


def test_existing_role_keeps_its_password_and_dropped_role_comes_back(postgres_server, run_module, tmp_path):
    pg = postgres_server
    db = create_db(pg, unique_db('pgglob'), rows=20)
    keep, gone = 'rbo_k_%s' % secrets.token_hex(3), 'rbo_g_%s' % secrets.token_hex(3)
    old_pw, new_pw, gone_pw = 'o-' + secrets.token_hex(6), 'n-' + secrets.token_hex(6), 'g-' + secrets.token_hex(6)
    pg.psql("CREATE ROLE %s LOGIN PASSWORD '%s'; CREATE ROLE %s LOGIN PASSWORD '%s'" % (keep, old_pw, gone, gone_pw))
    store = str(tmp_path / 'store')
    try:
        b = run_module('db_backup', dict(pg.params, db=db, store=store, globals=True))
        assert b.get('failed') is not True, b.get('msg')
        pg.psql("ALTER ROLE %s PASSWORD '%s'; DROP ROLE %s" % (keep, new_pw, gone))
        r = run_module('db_restore', dict(pg.params, store=store, source_db=db, mode='verify', globals=True))
        assert r.get('failed') is not True, r.get('msg')
        assert can_login(pg, keep, new_pw, db) and not can_login(pg, keep, old_pw, db)
        assert can_login(pg, gone, gone_pw, db)
        no_secret(r, pg.password, old_pw, new_pw, gone_pw)
    finally:
        drop_db(pg, db)
        pg.psql('DROP ROLE IF EXISTS %s; DROP ROLE IF EXISTS %s' % (keep, gone), check=False)
