# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fault table of the mysql engine: each fault fails clearly and loses nothing (real MariaDB)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from backup_fixtures import local_files, no_secret, wait_for, write_fake_tool
from conftest import REPO, VENV_BIN
from mysql_fixtures import (counts, create_db, databases, drop_db, qi, unique_db)
from servers import free_port


def ansible_argv(module, args, verbosity=None):
    argv = [os.path.join(VENV_BIN, 'ansible'), 'localhost', '-i', 'localhost,', '-c', 'local',
            '-m', 'runbook.ops.' + module, '-a', json.dumps(args)]
    if verbosity:
        argv.append(verbosity)
    return argv


def ansible_env():
    e = dict(os.environ, ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR='1',
             ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.build', 'collections'))
    return e


def test_wrong_password_is_in_no_output(mariadb_server, run_module, tmp_path):
    my = mariadb_server
    db = create_db(my, unique_db(), rows=5)
    wrong = 'Wr0ng-' + my.password[::-1]
    args = dict(my.params, login_password=wrong, db=db, store=str(tmp_path / 'store'))
    r = run_module('db_backup', args)
    assert r['failed'] is True
    assert r['msg'].startswith('Could not connect to') and 'Access denied' in r['msg']
    no_secret(r, wrong)
    p = subprocess.run(ansible_argv('db_backup', args, '-vvv'), capture_output=True, text=True, env=ansible_env(),
                       cwd=REPO, timeout=300, check=False)
    assert p.returncode != 0 and 'Access denied' in p.stdout
    assert wrong not in p.stdout and wrong not in p.stderr
    assert not os.path.exists(str(tmp_path / 'store'))
    for module, extra in (('db_restore', dict(mode='verify')), ('db_maintenance', dict(db=db)),):
        a = dict(my.params, login_password=wrong, store=str(tmp_path), **extra)
        if module == 'db_maintenance':
            a.pop('store')
        r = run_module(module, a)
        assert r['failed'] is True and 'Access denied' in r['msg'], r['msg']
        no_secret(r, wrong)


def test_unreachable_server(mariadb_server, run_module, tmp_path):
    my = mariadb_server
    r = run_module('db_backup', dict(my.params, login_port=free_port(), db='x', store=str(tmp_path / 's'),
                                     connect_timeout=5))
    assert r['failed'] is True and r['msg'].startswith('Could not connect to') and "Can't connect" in r['msg']


def killed_dump(bindir, after_bytes=1 << 20):
    """The real mariadb-dump, SIGKILLed by a watcher once it has written ``after_bytes`` bytes."""
    real = shutil.which('mariadb-dump')
    body = '''#!%(py)s
import os, signal, sys, time
real = %(real)r
if sys.argv[1:2] == ['--version']:
    os.execv(real, [real] + sys.argv[1:])
pid = os.getpid()
if os.fork() == 0:
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with open('/proc/%%d/io' %% pid) as f:
                io = dict(line.split(': ') for line in f.read().splitlines())
        except OSError:
            os._exit(0)
        if int(io['wchar']) >= %(limit)d:
            break
        time.sleep(0.001)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    os._exit(0)
os.execv(real, [real] + sys.argv[1:])
''' % {'py': sys.executable, 'real': real, 'limit': after_bytes}
    return write_fake_tool(bindir, 'mariadb-dump', body)


def test_dump_killed_mid_run_leaves_no_valid_backup(mariadb_server, run_module, tmp_path):
    my = mariadb_server
    db = create_db(my, unique_db(), rows=200000)
    store = str(tmp_path / 'store')
    good = run_module('db_backup', dict(my.params, db=db, store=store))
    assert good.get('failed') is not True, good.get('msg')
    files_before = local_files(store)
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    killed_dump(str(bindir))
    r = run_module('db_backup', dict(my.params, db=db, store=store, bin_dir=str(bindir), compression='none',
                                     retention={'keep_last': 1}))
    assert r['failed'] is True
    assert 'mariadb-dump was killed by signal 9' in r['msg'] and 'retention did not run' in r['msg']
    assert local_files(store) == files_before
    info = run_module('db_backup_info', dict(store=store, engine='mysql', db=db))
    assert info['valid_count'] == 1


def test_corrupted_object_refused_before_any_database(mariadb_server, run_module, tmp_path):
    my = mariadb_server
    db = create_db(my, unique_db(), rows=500)
    store = str(tmp_path / 'store')
    b = run_module('db_backup', dict(my.params, db=db, store=store))
    assert b.get('failed') is not True, b.get('msg')
    path = os.path.join(store, b['key'])
    data = bytearray(open(path, 'rb').read())
    data[len(data) // 2] ^= 0xFF
    open(path, 'wb').write(bytes(data))
    dbs = databases(my)
    r = run_module('db_restore', dict(my.params, store=store, mode='replace', target_db=db))
    assert r['failed'] is True and 'sha256 mismatch' in r['msg'] and 'No database was touched' in r['msg']
    assert databases(my) == dbs


def test_interrupted_restore_keeps_live_and_is_swept(mariadb_server, run_module, tmp_path):
    my = mariadb_server
    db = create_db(my, unique_db(), rows=100)
    before = counts(my, db)
    store = str(tmp_path / 'store')
    b = run_module('db_backup', dict(my.params, db=db, store=store))
    assert b.get('failed') is not True, b.get('msg')
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    pidfile = tmp_path / 'client.pid'
    write_fake_tool(str(bindir), 'mariadb', '#!/bin/sh\necho $$ > %s\nexec sleep 600\n' % pidfile)
    proc = subprocess.Popen(ansible_argv('db_restore', dict(my.params, store=store, mode='replace', target_db=db,
                                                            bin_dir=str(bindir))),
                            env=ansible_env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_for(pidfile.exists, timeout=180, what='the restore to reach its load step')
        scratch = [d for d in databases(my) if d.startswith('rbo_restore_')]
        assert len(scratch) == 1
        client = int(pidfile.read_text())
        with open('/proc/%d/status' % client) as f:
            module_pid = int([line.split()[1] for line in f if line.startswith('PPid:')][0])
        os.kill(module_pid, signal.SIGKILL)  # the module dies in the middle of its load step
        os.kill(client, signal.SIGKILL)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(60)
    assert counts(my, db) == before
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and my.sql('SELECT IS_FREE_LOCK(%s)', (scratch[0],))[0][0] != 1:
        time.sleep(0.2)  # the server notices the killed connection
    assert scratch[0] in databases(my)
    r = run_module('db_restore', dict(my.params, store=store, mode='verify'))
    assert r.get('failed') is not True, r.get('msg')
    assert [s['database'] for s in r['swept']] == scratch
    assert scratch[0] not in databases(my)
    assert counts(my, db) == before


def test_myisam_refused_unless_locking_allowed(mariadb_server, run_module, tmp_path):
    my = mariadb_server
    db = create_db(my, unique_db(), rows=50, engine='MyISAM')
    store = str(tmp_path / 'store')
    r = run_module('db_backup', dict(my.params, db=db, store=store))
    assert r['failed'] is True and 'not transactional' in r['msg'] and '"orders" (MyISAM)' in r['msg']
    assert 'allow_locking' in r['msg'] and not os.path.exists(store)
    ok = run_module('db_backup', dict(my.params, db=db, store=store, allow_locking=True))
    assert ok.get('failed') is not True, ok.get('msg')
    assert ok['manifest']['locking'] == 'read lock for the whole dump'
    assert dict((t['table'], t['rows']) for t in ok['manifest']['tables']) == counts(my, db)
    v = run_module('db_restore', dict(my.params, store=store, mode='verify'))
    assert v.get('failed') is not True and v['verification']['ok'] is True, v.get('msg')


def test_hostile_database_name_round_trip(mariadb_server, run_module, tmp_path):
    my = mariadb_server
    db = create_db(my, 'h`x "q\'; --ü_%s' % unique_db('d'), rows=30, hostile=True)
    before = counts(my, db)
    store = str(tmp_path / 'store')
    # mariadb-dump --events fails on such a name when the database has events: refused up front, clearly
    refused = run_module('db_backup', dict(my.params, db=db, store=store))
    assert refused['failed'] is True and 'events' in refused['msg'] and 'mariadb-dump' in refused['msg']
    my.sql('DROP EVENT nightly', db=db)
    b = run_module('db_backup', dict(my.params, db=db, store=store))
    assert b.get('failed') is not True, b.get('msg')
    my.sql('DELETE FROM orders', db=db)
    r = run_module('db_restore', dict(my.params, store=store, mode='replace', target_db=db, keep_previous=False))
    assert r.get('failed') is not True, r.get('msg')
    assert counts(my, db) == before and r['previous_db'] is None
    assert not [d for d in databases(my) if '_pre_restore_' in d and d.startswith('h`x')]
    drop_db(my, db)
    assert qi(db)
