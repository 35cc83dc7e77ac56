# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Database-level properties (issue 16): ALTER DATABASE ... SET, ALTER ROLE ... IN DATABASE ... SET, GRANT ... ON
DATABASE and the owner travel with the backup and are on the restored database (new and replace), checked through
psql against the catalogs; a role missing on the target is skipped and named, never fatal.

Real PostgreSQL, a local store."""
from __future__ import annotations

import secrets

from backup_fixtures import create_db, drop_db, ql, qi, unique_db


def props(pg, db):
    """(owner, settings, acl) of ``db`` read from the catalogs, independent of the code under test."""
    owner = pg.psql('SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s' % ql(db))
    settings = pg.psql(
        "SELECT coalesce(pg_get_userbyid(NULLIF(s.setrole, 0)), '-') || '|' || array_to_string(s.setconfig, ';') "
        "FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = %s ORDER BY 1"
        % ql(db))
    acl = pg.psql(
        "SELECT coalesce(pg_get_userbyid(NULLIF(a.grantee, 0)), 'PUBLIC') || ':' || a.privilege_type || ':' || "
        "a.is_grantable FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = %s ORDER BY 1" % ql(db))
    return owner, sorted(settings.splitlines()), sorted(acl.splitlines())


def test_settings_owner_and_grants_are_restored(postgres_server, run_module, tmp_path):
    pg = postgres_server
    tag = secrets.token_hex(3)
    owner, ro, rw, gone = ('own_%s' % tag, 'ro_%s' % tag, 'rw "%s' % tag, 'gone_%s' % tag)
    for role in (owner, ro, rw, gone):
        pg.psql('CREATE ROLE %s' % qi(role))
    db = create_db(pg, unique_db('props'), rows=100)
    new_db = db + '_new'
    pg.psql('ALTER DATABASE %s OWNER TO %s' % (qi(db), qi(owner)))
    pg.psql('ALTER DATABASE %s SET work_mem TO %s' % (qi(db), ql('24MB')))
    pg.psql('ALTER DATABASE %s SET search_path TO "$user", public, "we, ird"' % qi(db))
    pg.psql('ALTER DATABASE %s SET app.tenant TO %s' % (qi(db), ql("x'; DROP DATABASE postgres; --")))
    pg.psql('ALTER ROLE %s IN DATABASE %s SET statement_timeout TO %s' % (qi(ro), qi(db), ql('5s')))
    pg.psql('ALTER ROLE %s IN DATABASE %s SET work_mem TO %s' % (qi(gone), qi(db), ql('1MB')))
    pg.psql('REVOKE ALL ON DATABASE %s FROM PUBLIC' % qi(db))
    pg.psql('GRANT CONNECT ON DATABASE %s TO %s' % (qi(db), qi(ro)))
    pg.psql('GRANT CONNECT, TEMPORARY ON DATABASE %s TO %s' % (qi(db), qi(gone)))
    pg.psql('GRANT CREATE, CONNECT ON DATABASE %s TO %s WITH GRANT OPTION' % (qi(db), qi(rw)))
    store = str(tmp_path / 'store')
    try:
        expected = props(pg, db)
        assert expected[0] == owner and len(expected[1]) == 3 and len(expected[2]) >= 5, expected
        b = run_module('db_backup', dict(pg.params, db=db, store=store))
        assert b.get('failed') is not True, b.get('msg')
        recorded = b['manifest']['database_properties']
        assert {s['name'] for s in recorded['settings']} >= {'work_mem', 'search_path', 'app.tenant'}
        assert recorded['acl'] and b['manifest']['owner'] == owner

        n = run_module('db_restore', dict(pg.params, store=store, source_db=db, target_db=new_db, mode='new'))
        assert n.get('failed') is not True, n.get('msg')
        assert props(pg, new_db) == expected
        assert n['database_properties']['owner'] == owner and n['database_properties']['skipped'] == []

        # replace: the swapped-in database carries them too (the live one was changed meanwhile)
        pg.psql('ALTER DATABASE %s RESET ALL' % qi(db))
        pg.psql('GRANT ALL ON DATABASE %s TO PUBLIC' % qi(db))
        r = run_module('db_restore', dict(pg.params, store=store, source_db=db, mode='replace',
                                          keep_previous=False))
        assert r.get('failed') is not True, r.get('msg')
        assert props(pg, db) == expected

        # a role missing on the target: its setting and grants are skipped, named, and the rest applied
        drop_db(pg, new_db)
        pg.psql('DROP OWNED BY %s; DROP ROLE %s' % (qi(gone), qi(gone)))
        m = run_module('db_restore', dict(pg.params, store=store, source_db=db, target_db=new_db, mode='new'))
        assert m.get('failed') is not True, m.get('msg')
        skipped = m['database_properties']['skipped']
        assert len(skipped) == 3 and all(gone in s for s in skipped), skipped
        assert any(gone in w for w in m['warnings'])
        owner_now, settings_now, acl_now = props(pg, new_db)
        assert owner_now == owner
        assert settings_now == [s for s in expected[1] if not s.startswith(gone)]
        assert acl_now == [a for a in expected[2] if not a.startswith(gone)]
    finally:
        drop_db(pg, new_db)
        drop_db(pg, db)
        for role in (owner, ro, rw, gone):
            pg.psql('DROP ROLE IF EXISTS %s' % qi(role), check=False)
