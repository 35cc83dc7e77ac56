# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_maintenance against a real PostgreSQL: bloated tables and indexes, check mode, reindex, hostile names.

The tests of this file run in order on one database (check mode -> act -> run again).
"""
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import pg_maintenance as pm
from maintenance_fixtures import dead_tuples, fresh_db, relation_size, table_exists

HOSTILE = 'x"; DROP TABLE y; --'

SETUP = """
CREATE TABLE bloated (id int NOT NULL, val int NOT NULL, pad text) WITH (autovacuum_enabled = false);
INSERT INTO bloated SELECT g, g, 'p' FROM generate_series(1, 100000) g;
CREATE INDEX bloated_val_idx ON bloated (val);
DELETE FROM bloated WHERE id % 10 <> 0;
UPDATE bloated SET pad = 'q' WHERE id % 20 = 0;
CREATE TABLE small (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = false);
INSERT INTO small SELECT g, 'v' FROM generate_series(1, 100) g;
CREATE INDEX small_hash ON small USING hash (id);
CREATE TABLE steady (id int NOT NULL) WITH (autovacuum_enabled = false);
INSERT INTO steady SELECT g FROM generate_series(1, 60000) g;
CREATE INDEX steady_idx ON steady (id);
CREATE TABLE "x""; DROP TABLE y; --" (id int) WITH (autovacuum_enabled = false);
INSERT INTO "x""; DROP TABLE y; --" SELECT generate_series(1, 5000);
DELETE FROM "x""; DROP TABLE y; --" WHERE id > 1000;
CREATE TABLE y (id int);
ANALYZE;
"""


@pytest.fixture(scope='module')
def maint(postgres_server):
    db = fresh_db(postgres_server)
    postgres_server.psql(SETUP, db=db)
    return db


def args(server, db, **extra):
    a = dict(server.params, db=db)
    a.update(extra)
    return a


def direct(server, db, check_mode=False, **extra):
    """The module's logic in-process (faster than a full ansible run; the module itself is run above)."""
    params = dict(pm_defaults(), **args(server, db, **extra))
    return pm.Maintenance(params, check_mode=check_mode).run()


def pm_defaults():
    from ansible_collections.runbook.ops.plugins.modules.db_maintenance import argument_spec
    return {k: v.get('default') for k, v in argument_spec().items()}


def by(items, **match):
    found = [i for i in items if all(i.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, items)
    return found[0]


def test_check_mode_returns_the_plan_and_changes_nothing(postgres_server, run_module, maint):
    dead_before = dead_tuples(postgres_server, maint, 'public', 'bloated')
    size_before = relation_size(postgres_server, maint, 'public', 'bloated_val_idx')
    assert dead_before >= 90000
    r = run_module('db_maintenance', args(postgres_server, maint, reindex=True, vacuum_min_dead_tuples=1000),
                   check=True)
    assert not r.get("failed"), r["msg"]
    assert r['changed'] is True and r['actions'] == [] and r['terminated'] == []
    plan = {(p['action'], p['target']) for p in r['plan']}
    assert plan == {('vacuum_analyze', 'public.bloated'), ('analyze', 'public.small'), ('analyze', 'public.steady'),
                    ('vacuum_analyze', 'public.' + HOSTILE), ('analyze', 'public.y'),
                    ('reindex', 'public.bloated_val_idx')}
    assert 'dead tuples >= vacuum_min_dead_tuples 1000' in by(r['plan'], target='public.bloated')['reason']
    ix = by(r['indexes'], index='bloated_val_idx')
    assert ix['bloat_method'] == 'estimate' and ix['bloat_pct'] > 60 and ix['reindexed'] is False
    assert ix['size_bytes_after'] is None
    assert by(r['tables'], table='bloated')['dead_tuples_after'] is None
    # nothing changed, checked through psql
    assert dead_tuples(postgres_server, maint, 'public', 'bloated') == dead_before
    assert relation_size(postgres_server, maint, 'public', 'bloated_val_idx') == size_before
    assert postgres_server.password not in r['_stdout'] + r['_stderr']


def test_vacuum_analyze_and_reindex_over_the_threshold(postgres_server, run_module, maint):
    size_before = relation_size(postgres_server, maint, 'public', 'bloated_val_idx')
    steady_before = relation_size(postgres_server, maint, 'public', 'steady_idx')
    r = run_module('db_maintenance', args(postgres_server, maint, reindex=True, vacuum_min_dead_tuples=1000))
    assert not r.get("failed"), r["msg"]
    assert r['changed'] is True and not r.get('skipped') and r['standby'] is False and r['db'] == maint
    assert all(a['status'] == 'ok' and a['error'] is None for a in r['actions']), r['actions']
    assert {(a['action'], a['target']) for a in r['actions']} == {(p['action'], p['target']) for p in r['plan']}
    assert all(isinstance(a['duration_s'], float) for a in r['actions'])

    t = by(r['tables'], table='bloated')
    assert t['dead_tuples_before'] >= 90000 and t['dead_tuples_after'] == 0 and t['live_tuples'] == 10000
    assert t['size_bytes_before'] > 0 and t['size_bytes_after'] is not None
    assert dead_tuples(postgres_server, maint, 'public', 'bloated') == 0        # independent check

    ix = by(r['indexes'], index='bloated_val_idx')
    assert ix['reindexed'] is True and ix['bloat_method'] == 'estimate' and ix['bloat_pct'] >= 30
    assert ix['size_bytes_before'] == size_before
    after = relation_size(postgres_server, maint, 'public', 'bloated_val_idx')
    assert ix['size_bytes_after'] == after and after < size_before / 3
    steady = by(r['indexes'], index='steady_idx')           # > 1 MB but not bloated
    assert steady['reindexed'] is False and steady['bloat_pct'] < 30 and 'reindex_min_bloat_pct' in steady['reason']
    assert relation_size(postgres_server, maint, 'public', 'steady_idx') == steady_before
    pkey = by(r['indexes'], index='small_pkey')             # small: below the size threshold
    assert pkey['reindexed'] is False and 'reindex_min_size_mb' in pkey['reason']
    hashed = by(r['indexes'], index='small_hash')
    assert hashed['bloat_method'] == 'not_estimated' and hashed['bloat_pct'] is None
    assert 'hash' in hashed['bloat_note'] and hashed['reindexed'] is False

    # the hostile name was a plain identifier: vacuumed, and nothing dropped
    hostile = by(r['tables'], table=HOSTILE)
    assert hostile['dead_tuples_before'] >= 1000 and hostile['dead_tuples_after'] == 0
    assert dead_tuples(postgres_server, maint, 'public', HOSTILE) == 0
    assert table_exists(postgres_server, maint, 'public', 'y')
    assert by(r['actions'], target='public.small')['action'] == 'analyze'


def test_second_run_does_not_reindex_again(postgres_server, maint):
    r = direct(postgres_server, maint, check_mode=True, reindex=True)
    assert [p for p in r['plan'] if p['action'] == 'reindex'] == []
    assert by(r['indexes'], index='bloated_val_idx')['bloat_pct'] < 30
    r = direct(postgres_server, maint, reindex=True)
    assert r['failed_steps'] == []
    assert [a for a in r['actions'] if a['action'] == 'reindex'] == []
    # vacuum and analyze run again on purpose (documented: not strictly idempotent)
    assert r['changed'] is True and {a['action'] for a in r['actions']} == {'vacuum_analyze'}


def test_hostile_and_unknown_table_names(postgres_server, run_module, maint):
    postgres_server.psql('DELETE FROM "x""; DROP TABLE y; --" WHERE id > 500', db=maint)
    assert dead_tuples(postgres_server, maint, 'public', HOSTILE) == 500
    with pytest.raises(pm.MaintenanceError) as e:
        direct(postgres_server, maint, tables=['public.nope', HOSTILE, 'y."; --'])
    msg = str(e.value)
    assert msg.startswith('Could not run maintenance on postgres@127.0.0.1:')
    assert "unknown table(s) 'public.nope', 'y.\"; --'. Nothing was done." in msg
    assert dead_tuples(postgres_server, maint, 'public', HOSTILE) == 500       # untouched

    r = run_module('db_maintenance', args(postgres_server, maint, tables=[HOSTILE], analyze=False))
    assert not r.get("failed"), r["msg"]
    assert [(a['action'], a['target'], a['status']) for a in r['actions']] == [('vacuum', 'public.' + HOSTILE, 'ok')]
    assert [t['table'] for t in r['tables']] == [HOSTILE]
    assert dead_tuples(postgres_server, maint, 'public', HOSTILE) == 0
    assert table_exists(postgres_server, maint, 'public', 'y')


def test_pgstattuple_method_when_the_extension_is_installed(postgres_server):
    db = fresh_db(postgres_server, 'maintpgs')
    postgres_server.psql("""
        CREATE EXTENSION pgstattuple;
        CREATE TABLE "Orders" (id int NOT NULL, v int) WITH (autovacuum_enabled = false);
        INSERT INTO "Orders" SELECT g, g FROM generate_series(1, 100000) g;
        CREATE INDEX "Orders_id_idx" ON "Orders" (id);
        CREATE INDEX orders_small ON "Orders" (v) WHERE v < 100;
        DELETE FROM "Orders" WHERE id % 10 <> 0;
    """, db=db)
    before = relation_size(postgres_server, db, 'public', 'Orders_id_idx')
    r = direct(postgres_server, db, tables=['public.Orders'], reindex=True, reindex_concurrently=False)
    assert r['failed_steps'] == [] and r['changed'] is True
    ix = by(r['indexes'], index='Orders_id_idx')
    assert ix['bloat_method'] == 'pgstattuple' and ix['bloat_pct'] > 60 and ix['reindexed'] is True
    assert ix['size_bytes_after'] == relation_size(postgres_server, db, 'public', 'Orders_id_idx') < before / 3
    small = by(r['indexes'], index='orders_small')          # below reindex_min_size_mb: the cheap estimate
    assert small['bloat_method'] in ('estimate', 'not_estimated') and small['reindexed'] is False
    assert [a['action'] for a in r['actions']] == ['vacuum_analyze', 'reindex']
    assert dead_tuples(postgres_server, db, 'public', 'Orders') == 0
