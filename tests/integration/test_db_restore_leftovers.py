# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_restore leftovers (issue 17, defect 11): what a killed run or a stopped server leaves behind is found by its
runbook.ops marker on the next run, removed and reported; look-alikes without the marker are left alone.

Real PostgreSQL and a local store. To stop at a known point without depending on timing, pg_restore is reached
through a gate (``bin_dir``): a wrapper that records its pid, waits for a ``go`` file, then execs the real
pg_restore. While it waits, the scratch database exists and the downloaded dump is in the temp directory.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from ansible_collections.runbook.ops.plugins.module_utils import pg_restore as pr

from backup_fixtures import create_db, databases, drop_db, fingerprint, ql, qi, unique_db, write_fake_tool

GATE = '''#!%(py)s
import os, sys, time
real = %(real)r
gate = %(gate)r
if sys.argv[1:2] == ['--version']:
    os.execv(real, [real] + sys.argv[1:])
parent = os.getppid()
with open(os.path.join(gate, 'started.tmp'), 'w') as f:
    f.write('%%d %%d' %% (os.getpid(), parent))
os.rename(os.path.join(gate, 'started.tmp'), os.path.join(gate, 'started'))
deadline = time.time() + 180
while not os.path.exists(os.path.join(gate, 'go')):
    if os.getppid() != parent or time.time() > deadline:
        sys.exit(3)
    time.sleep(0.05)
os.execv(real, [real] + sys.argv[1:])
'''


def gated_bin_dir(root):
    """A bin_dir whose pg_restore waits at ``<root>/gate/go``; psql is the real one."""
    bindir = os.path.join(root, 'bin')
    gate = os.path.join(root, 'gate')
    os.makedirs(bindir)
    os.makedirs(gate)
    write_fake_tool(bindir, 'pg_restore', GATE % {'py': sys.executable, 'real': shutil.which('pg_restore'),
                                                  'gate': gate})
    os.symlink(shutil.which('psql'), os.path.join(bindir, 'psql'))
    return bindir, gate


def wait_started(gate, timeout=120):
    path = os.path.join(gate, 'started')
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, 'the gated pg_restore never started'
        time.sleep(0.05)
    with open(path) as f:
        pid, parent = (int(x) for x in f.read().split())
    return pid, parent


def start_restore(run_module, args):
    out = {}
    t = threading.Thread(target=lambda: out.update(run_module('db_restore', args)))
    t.start()
    return t, out


def marked_scratch(pg, before):
    new = sorted(d for d in databases(pg) - before if d.startswith('rbo_restore_'))
    assert len(new) == 1, new
    return new[0]


@pytest.fixture(scope='module')
def backed_up(postgres_server, run_module, tmp_path_factory):
    pg = postgres_server
    db = create_db(pg, unique_db('leftover'), rows=2000)
    store = str(tmp_path_factory.mktemp('leftovers') / 'store')
    b = run_module('db_backup', dict(pg.params, db=db, store=store))
    assert b.get('failed') is not True, b.get('msg')
    yield pg, db, store
    drop_db(pg, db)


def test_kill_9_of_a_running_restore_then_next_run_sweeps_scratch_db_and_temp_dir(backed_up, run_module, tmp_path):
    pg, db, store = backed_up
    live = fingerprint(pg, db)
    before = databases(pg)
    bindir, gate = gated_bin_dir(str(tmp_path))
    work = tmp_path / 'work'
    work.mkdir()
    t, out = start_restore(run_module, dict(pg.params, store=store, source_db=db, mode='replace', tmp_dir=str(work),
                                            bin_dir=bindir, jobs=1))
    gated_pid, module_pid = wait_started(gate)
    try:
        scratch = marked_scratch(pg, before)
        [tmp] = [p for p in os.listdir(str(work)) if p.startswith('rbo-restore-')]
        tmpdir = os.path.join(str(work), tmp)
        dump = os.path.join(tmpdir, 'data.dump')
        # temporary files are private
        assert stat.S_IMODE(os.stat(tmpdir).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(dump).st_mode) == 0o600 and os.path.getsize(dump) > 0
    finally:
        os.kill(module_pid, signal.SIGKILL)
    t.join(120)
    assert not t.is_alive() and out.get('failed') is True
    # what the killed run left: its scratch database and its temp directory with the full dump
    assert scratch in databases(pg) and os.path.exists(dump)
    assert fingerprint(pg, db) == live

    # look-alikes without the marker: a database named like a scratch, a folder named like a temp dir
    lookalike_db = 'rbo_restore_0123456789ab'
    pg.psql('CREATE DATABASE %s' % qi(lookalike_db))
    pg.psql("COMMENT ON DATABASE %s IS 'rbo_restore scratch of someone else'" % qi(lookalike_db))
    lookalike_dir = work / 'rbo-restore-notours'
    lookalike_dir.mkdir()
    (lookalike_dir / 'data.dump').write_bytes(b'keep me')
    try:
        # check mode reports what it would sweep and removes nothing
        chk = run_module('db_restore', dict(pg.params, store=store, source_db=db, mode='verify', tmp_dir=str(work)),
                         check=True)
        assert chk.get('failed') is not True, chk.get('msg')
        assert {s['name'] for s in chk['swept']} == {scratch, tmpdir}, json.dumps(chk['swept'])
        assert scratch in databases(pg) and os.path.exists(dump)

        r = run_module('db_restore', dict(pg.params, store=store, source_db=db, mode='verify', tmp_dir=str(work)))
        assert r.get('failed') is not True, r.get('msg')
        kinds = {s['name']: s['type'] for s in r['swept']}
        assert kinds == {scratch: 'scratch_database', tmpdir: 'temp_dir'}, json.dumps(r['swept'])
        assert r['changed'] is True and scratch in r['msg']
        # independent checks: both gone, look-alikes kept, live database untouched
        assert scratch not in databases(pg) and not os.path.exists(tmpdir)
        assert lookalike_db in databases(pg) and (lookalike_dir / 'data.dump').read_bytes() == b'keep me'
        assert fingerprint(pg, db) == live

        again = run_module('db_restore', dict(pg.params, store=store, source_db=db, mode='verify', tmp_dir=str(work)))
        assert again.get('failed') is not True and again['swept'] == [] and again['changed'] is False
    finally:
        drop_db(pg, lookalike_db)
        if os.path.exists('/proc/%d' % gated_pid):
            os.kill(gated_pid, signal.SIGKILL)


def _pg_ctl(pg, *args, check=True):
    argv = [os.path.join(pg.bindir, 'pg_ctl'), '-D', pg.datadir] + list(args)
    if os.geteuid() == 0:
        argv = ['runuser', '-u', 'postgres', '--'] + argv
    subprocess.run(argv, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


def test_server_stopped_mid_restore_names_the_scratch_db_and_next_run_sweeps_it(
        postgres_factory, run_module, tmp_path):
    pg = postgres_factory()
    db = create_db(pg, unique_db('stopped'), rows=500)
    store = str(tmp_path / 'store')
    b = run_module('db_backup', dict(pg.params, db=db, store=store))
    assert b.get('failed') is not True, b.get('msg')
    before = databases(pg)
    bindir, gate = gated_bin_dir(str(tmp_path))
    work = tmp_path / 'work'
    work.mkdir()
    t, out = start_restore(run_module, dict(pg.params, store=store, source_db=db, mode='verify', tmp_dir=str(work),
                                            bin_dir=bindir, jobs=1))
    wait_started(gate)
    scratch = marked_scratch(pg, before)
    try:
        _pg_ctl(pg, '-m', 'fast', '-w', 'stop')   # the server stops while the restore runs
        open(os.path.join(gate, 'go'), 'w').close()
        t.join(180)
        assert not t.is_alive()
        assert out['failed'] is True
        assert scratch in out['msg'] and 'next db_restore run' in out['msg'], out['msg']
        assert not os.listdir(str(work))  # the local temp dir was still removed

        _pg_ctl(pg, '-l', os.path.join(pg.base, 'restart.log'), '-w', 'start')
        assert scratch in databases(pg)
        r = run_module('db_restore', dict(pg.params, store=store, source_db=db, mode='verify'))
        assert r.get('failed') is not True, r.get('msg')
        assert [s['name'] for s in r['swept']] == [scratch]
        assert scratch not in databases(pg)
    finally:
        _pg_ctl(pg, '-m', 'fast', '-w', 'stop', check=False)


def test_marked_scratch_db_of_a_run_that_still_holds_its_lock_is_not_swept(backed_up, run_module):
    """A run in progress is told apart from a dead one by its advisory lock: here the test's own connection holds
    the lock named in a scratch marker (standing in for a live run); released, the next run sweeps the database."""
    pg, db, store = backed_up
    name = 'rbo_restore_feedfacecafe'
    marker = pr.make_marker('scratch', {'run': 'feedfacecafe0000', 'host': 'elsewhere', 'pid': 1, 'lock': 4242,
                                        'started_at': '2026-03-15T12:00:00.000000Z', 'name': name})
    pg.psql('CREATE DATABASE %s' % qi(name))
    pg.psql('COMMENT ON DATABASE %s IS %s' % (qi(name), ql(marker)))
    holder = psycopg.connect(host='127.0.0.1', port=pg.port, user='postgres', password=pg.password, dbname='postgres',
                             autocommit=True)
    try:
        holder.execute('SELECT pg_advisory_lock(%s::int4, %s::int4)', (pr.LOCK_CLASS, 4242))
        r = run_module('db_restore', dict(pg.params, store=store, source_db=db, mode='verify'))
        assert r.get('failed') is not True, r.get('msg')
        assert name not in [s['name'] for s in r['swept']] and name in databases(pg)
        holder.close()
        r = run_module('db_restore', dict(pg.params, store=store, source_db=db, mode='verify'))
        assert [s['name'] for s in r['swept']] == [name] and name not in databases(pg)
    finally:
        holder.close()
        drop_db(pg, name)
