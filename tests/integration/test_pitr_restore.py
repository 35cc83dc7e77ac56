# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pitr_info / pitr_restore against real PostgreSQL 15 + pgBackRest 2.45 + SeaweedFS behind a TLS front (nginx).

A table dropped after time T comes back by restoring to T (rows and md5 checked with psql); the faults are refused
before anything is touched.
"""
from __future__ import annotations

import os
import time
import shutil
import tempfile

import pytest

from pitr_fixtures import psql_port, stop_recovered
from servers import free_port


def _lose_a_table(c):
    """orders (1000 rows) exists at T; it is dropped after T; the archive reaches past the drop."""
    pg = c.server
    pg.psql('CREATE TABLE orders (id int PRIMARY KEY, item text)')
    pg.psql('INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 1000) g')
    c.pgbackrest('backup', '--type=full')
    pg.psql("INSERT INTO orders SELECT g, 'after backup ' || g FROM generate_series(1001, 1200) g")
    digest = pg.psql("SELECT md5(string_agg(id || ':' || item, ',' ORDER BY id)) FROM orders")
    pg.psql("SELECT pg_create_restore_point('before_drop')")
    target = pg.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
    pg.psql('DROP TABLE orders')
    pg.psql('CREATE TABLE later (v int); INSERT INTO later VALUES (1)')
    c.switch_wal()
    return target, digest


def _restored_digest(port, sockdir):
    return psql_port(port, "SELECT md5(string_agg(id || ':' || item, ',' ORDER BY id)) FROM orders", sockdir=sockdir)


@pytest.fixture
def new_dir():
    """A path the postgres user can reach (pytest's tmp_path is root-only), not created yet."""
    base = tempfile.mkdtemp(prefix='rbo-pitr-t-')
    os.chmod(base, 0o755)
    d = os.path.join(base, 'restored')
    yield d
    stop_recovered(d)
    shutil.rmtree(base, ignore_errors=True)


def test_drop_table_recovered_by_restoring_to_time(pitr_cluster, run_module, new_dir):
    c = pitr_cluster
    target, digest = _lose_a_table(c)
    live_before = c.server.psql("SELECT to_regclass('orders') IS NULL")
    info = run_module('pitr_info', dict(c.repo, stanza=c.stanza, target_type='time', target=target))
    assert info.get('failed') is not True, info.get('msg')
    assert info["reaches_target"] is True and info["changed"] is False, info.get("reach_error")
    assert info['reach']['archive_reaches'] > target.replace(' ', 'T')[:19]
    assert [b['type'] for b in info['backups']] == ['full'] and info['newest_backup_age_s'] >= 0

    port = free_port()
    args = dict(c.repo, stanza=c.stanza, data_dir=new_dir, target_type='time', target=target, port=port,
                verify_queries=[{'sql': 'SELECT count(*) FROM orders', 'expect': '1200'},
                                {'sql': "SELECT to_regclass('later') IS NULL", 'expect': 't'}])
    dry = run_module('pitr_restore', args, check=True)
    assert dry.get('failed') is not True, dry.get('msg')
    assert dry['changed'] is True and dry['plan']['backup'] == info['reach']['backup']
    assert not os.path.exists(new_dir)

    r = run_module('pitr_restore', args)
    assert r.get('failed') is not True, r.get('msg')
    assert r['changed'] is True and r['running'] is True
    assert all(v['ok'] for v in r['verifications']), r['verifications']
    # independent checks: the data as it was at T, through psql on the scratch socket
    assert _restored_digest(port, r['socket_dir']) == digest
    assert psql_port(port, 'SELECT pg_is_in_recovery()', sockdir=r['socket_dir']) == 'f'
    assert psql_port(port, 'SHOW archive_mode', sockdir=r['socket_dir']) == 'off'
    assert r['last_replayed'] <= r['recovery_target'] and r['rpo_s'] >= 0
    # the live cluster was not touched
    assert c.server.psql("SELECT to_regclass('orders') IS NULL") == live_before == 't'
    assert c.server.psql('SELECT count(*) FROM later') == '1'
    for secret in (c.seaweed.secret_key,):
        assert secret not in r['_stdout'] and secret not in r['_stderr']

    again = run_module('pitr_restore', args)
    assert again.get('failed') is True and 'not empty' in again['msg']

    gone = run_module('pitr_restore', dict(args, state='absent'))
    assert gone.get('failed') is not True, gone.get('msg')
    assert gone['changed'] is True and not os.path.exists(new_dir)
    assert run_module('pitr_restore', dict(args, state='absent'))['changed'] is False


def test_restore_to_named_point_then_teardown(pitr_cluster, run_module, new_dir):
    c = pitr_cluster
    _target, digest = _lose_a_table(c)
    port = free_port()
    r = run_module('pitr_restore', dict(c.repo, stanza=c.stanza, data_dir=new_dir, target_type='name',
                                        target='before_drop', port=port, keep_running=False,
                                        verify_queries=[{'sql': 'SELECT count(*) FROM orders', 'expect': '1200'}]))
    assert r.get('failed') is not True, r.get('msg')
    assert r['running'] is False and r['recovery_target'] == 'before_drop'
    assert not os.path.exists(os.path.join(new_dir, 'postmaster.pid'))
    missing = run_module('pitr_info', dict(c.repo, stanza=c.stanza, target_type='name', target='no_such_point'))
    assert missing['reaches_target'] is False and 'no_such_point' in missing['reach_error']
    assert digest


def test_archive_gap_before_target_is_refused_before_touching_anything(pitr_cluster, run_module, new_dir):
    c = pitr_cluster
    pg = c.server
    pg.psql('CREATE TABLE t (v int)')
    c.pgbackrest('backup', '--type=full')
    pg.psql('INSERT INTO t VALUES (1)')
    lost = c.switch_wal()
    pg.psql('INSERT INTO t VALUES (2)')
    target = pg.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || 'Z'")
    pg.psql('INSERT INTO t VALUES (3)')
    c.switch_wal()
    keys = c.wal_objects()
    c.seaweed.client().delete_object(Bucket=c.bucket, Key=keys[lost])   # the gap: a segment before T
    r = run_module('pitr_restore', dict(c.repo, stanza=c.stanza, data_dir=new_dir, target_type='time',
                                        target=target, port=free_port()))
    assert r.get('failed') is True
    assert 'Nothing was touched' in r['msg'] and lost in r['msg'], r['msg']
    assert not os.path.exists(new_dir)
    info = run_module('pitr_info', dict(c.repo, stanza=c.stanza, target_type='latest'))
    assert info['reaches_target'] is False and 'gap' in info['reach_error']


def test_target_after_the_archive_end_is_refused(pitr_cluster, run_module, new_dir):
    c = pitr_cluster
    c.pgbackrest('backup', '--type=full')
    c.server.psql('CREATE TABLE t (v int); INSERT INTO t VALUES (1)')
    c.switch_wal()
    c.server.psql('INSERT INTO t VALUES (2)')   # committed, not archived yet: recovery could not reach it
    # the target has whole seconds: a second later it is surely after that commit (in the same second it could fall
    # before it, and even before the archived INSERT 1, which then reaches it)
    time.sleep(1.1)
    target = c.server.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00'")
    r = run_module('pitr_restore', dict(c.repo, stanza=c.stanza, data_dir=new_dir, target_type='time',
                                        target=target, port=free_port()))
    assert r.get('failed') is True and 'reaches only to' in r['msg'] and 'pg_switch_wal' in r['msg']
    assert not os.path.exists(new_dir)


# every format rule is a unit test (test_pgbackrest_rules.py); here the module refuses before touching anything
@pytest.mark.parametrize('bad', ['2026-01-31 14:05:00', "x'; DROP"])
def test_wrong_target_time_format_is_refused(run_module, tmp_path, bad):
    d = str(tmp_path / 'never')
    r = run_module('pitr_restore', dict(stanza='nowhere', repo_path=str(tmp_path / 'repo'), data_dir=d,
                                        target_type='time', target=bad))
    assert r.get('failed') is True and 'Could not' in r['msg'] and 'target time' in r['msg']
    assert not os.path.exists(d)


def test_existing_non_empty_directory_is_refused(run_module, tmp_path):
    d = tmp_path / 'live'
    d.mkdir()
    (d / 'PG_VERSION').write_text('15\n')
    r = run_module('pitr_restore', dict(stanza='nowhere', repo_path=str(tmp_path / 'repo'), data_dir=str(d)))
    assert r.get('failed') is True and 'not empty' in r['msg']
    assert sorted(os.listdir(str(d))) == ['PG_VERSION']
