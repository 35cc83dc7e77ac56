# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A pitr_restore interrupted mid-recovery, against real PostgreSQL 15 + pgBackRest 2.45 + SeaweedFS behind TLS.

Recovery is held in the middle on purpose: the source cluster has ``recovery_min_apply_delay = 1h`` in its
postgresql.auto.conf when the full backup is taken (it does nothing on a primary), so the restored copy replays
up to consistency, accepts connections in recovery and then waits before the first commit after the backup.

- SIGTERM to the module: it stops the recovering cluster, fails naming the directory and its marker, left aside;
  the next run into the same data_dir sweeps it and lists it in ``swept``.
- SIGKILL to the module: its recovering cluster keeps running on the scratch port; the directory is found by its
  marker: check mode reports it, ``state=absent`` stops and removes it (and the temporary config with the secret).
- SIGKILL to the module while ``pgbackrest restore`` downloads (held in the middle by a proxy that stops passing
  bytes once a budget is spent): the restore outlives the module, still running in the process group the marker
  recorded before it started; ``state=absent`` stops that group (and checks it is gone) before removing anything.
- SIGKILL to the recovering postgres: the module fails naming the directory; the next run sweeps it.
In every case the live cluster is untouched: same postmaster, same data directory contents, still serving.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import pgbackrest as pb
from conftest import REPO, VENV_BIN
from pitr_fixtures import psql_port, stop_recovered
from servers import free_port

MARKER_SUFFIX = '.runbook_pitr.json'


@pytest.fixture
def new_dir():
    base = tempfile.mkdtemp(prefix='rbo-pitr-int-')
    os.chmod(base, 0o755)
    d = os.path.join(base, 'restored')
    yield d
    stop_recovered(d)
    shutil.rmtree(base, ignore_errors=True)


def _held_recovery_source(c):
    """A backup whose restored copy holds its recovery before the first commit after it; returns the target."""
    pg = c.server
    pg.psql("ALTER SYSTEM SET recovery_min_apply_delay = '1h'")
    pg.psql('SELECT pg_reload_conf()')
    pg.psql('CREATE TABLE orders (id int PRIMARY KEY)')
    pg.psql('INSERT INTO orders SELECT generate_series(1, 100)')
    c.pgbackrest('backup', '--type=full')
    pg.psql('INSERT INTO orders SELECT generate_series(101, 200)')
    c.switch_wal()
    return 'latest'


def _live_state(c):
    """What must not change on the live cluster: its postmaster, data directory entries, and that it serves."""
    pg = c.server
    with open(os.path.join(pg.datadir, 'postmaster.pid')) as f:
        pid = f.readline().strip()
    return {'pid': pid, 'entries': sorted(os.listdir(pg.datadir)), 'rows': pg.psql('SELECT count(*) FROM orders'),
            'port': pg.psql('SHOW port'), 'data_directory': pg.psql('SHOW data_directory')}


def _start_module(args):
    """pitr_restore through ansible, in the background (killable); returns the Popen."""
    argv = [os.path.join(VENV_BIN, 'ansible'), 'localhost', '-i', 'localhost,', '-c', 'local',
            '-m', 'runbook.ops.pitr_restore', '-a', json.dumps(args)]
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
               ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.build', 'collections'), ANSIBLE_NOCOLOR='1')
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def _read_marker(d):
    try:
        with open(d + MARKER_SUFFIX) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _wait_mid_recovery(proc, d, timeout=300):
    """Wait until the restored cluster answers and is still in recovery; returns the marker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, 'the module ended before recovery was held: %s %s' % proc.communicate()
        m = _read_marker(d)
        if m and m.get('state') == 'recovering' and os.path.exists(os.path.join(d, 'postmaster.pid')):
            try:
                if psql_port(m['port'], 'SELECT pg_is_in_recovery()', sockdir=m['socket_dir']) == 't':
                    return m
            except RuntimeError:
                pass
        time.sleep(0.5)
    raise AssertionError('recovery was not held within %d s' % timeout)


def _result(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    doc = json.loads(out)
    res = doc['plays'][0]['tasks'][0]['hosts']['localhost']
    res['_stdout'], res['_stderr'] = out, err
    return res


def _postgres_running_in(d):
    pidfile = os.path.join(d, 'postmaster.pid')
    if not os.path.exists(pidfile):
        return False
    with open(pidfile) as f:
        pid = int(f.readline())
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _args(c, d, port, **kw):
    return dict(c.repo, stanza=c.stanza, data_dir=d, target_type='latest', port=port, recovery_timeout=600, **kw)


def test_sigterm_mid_recovery_leaves_the_directory_aside_named_then_the_next_run_sweeps_it(
        pitr_cluster, run_module, new_dir):
    c = pitr_cluster
    _held_recovery_source(c)
    live = _live_state(c)
    port = free_port()
    proc = _start_module(_args(c, new_dir, port))
    marker = _wait_mid_recovery(proc, new_dir)
    os.kill(marker['pid'], signal.SIGTERM)                    # the module process (AnsiballZ runs it in-process)
    r = _result(proc)
    assert r.get('failed') is True
    assert new_dir in r['msg'] and 'interrupted' in r['msg'] and 'left aside' in r['msg'], r['msg']
    assert new_dir + MARKER_SUFFIX in r['msg'] and 'live cluster was not touched' in r['msg']
    assert c.seaweed.secret_key not in r['_stdout'] + r['_stderr']
    # left aside: the restored files are there, its cluster stopped, the marker says what happened
    assert os.path.exists(os.path.join(new_dir, 'PG_VERSION'))
    assert not _postgres_running_in(new_dir)
    assert _read_marker(new_dir)['state'] == 'interrupted'
    assert not os.path.exists(marker['workdir'])               # the temporary config (with the S3 secret) is gone
    assert _live_state(c) == live

    # the next run into the same directory sweeps the leftover (check mode only says so), then restores
    c.server.psql('ALTER SYSTEM RESET recovery_min_apply_delay')
    c.server.psql('SELECT pg_reload_conf()')
    # a backup whose copy replays without delay; it holds all 200 rows and its own WAL is archived (archive-check),
    # so the run to 'latest' needs no later segment. (Waiting here for the next segment's archiving timed out twice
    # in CI with no failed attempt counted; pitr_fixtures.switch_wal now prints the archiver's state if it recurs.)
    c.pgbackrest('backup', '--type=diff')
    args = _args(c, new_dir, port, verify_queries=[{'sql': 'SELECT count(*) FROM orders', 'expect': '200'}])
    dry = run_module('pitr_restore', args, check=True)
    assert dry.get('failed') is not True, dry.get('msg')
    assert [s['data_dir'] for s in dry['swept']] == [new_dir] and dry['swept'][0]['state'] == 'interrupted'
    assert _read_marker(new_dir)['state'] == 'interrupted'     # check mode swept nothing
    again = run_module('pitr_restore', args)
    assert again.get('failed') is not True, again.get('msg')
    assert [s['data_dir'] for s in again['swept']] == [new_dir]
    assert again['verifications'][0]['value'] == '200'
    assert _read_marker(new_dir)['state'] == 'verified'
    assert _live_state(c)['pid'] == live['pid']


def test_sigkill_mid_recovery_is_found_by_its_marker_and_removed(pitr_cluster, run_module, new_dir):
    c = pitr_cluster
    _held_recovery_source(c)
    live = _live_state(c)
    port = free_port()
    proc = _start_module(_args(c, new_dir, port))
    marker = _wait_mid_recovery(proc, new_dir)
    os.kill(marker['pid'], signal.SIGKILL)
    proc.communicate(timeout=120)
    assert proc.returncode != 0
    # the orphaned cluster still recovers on the scratch port, from its own directory; the live one is untouched
    assert _postgres_running_in(new_dir) and _read_marker(new_dir)['state'] == 'recovering'
    assert psql_port(port, 'SELECT pg_is_in_recovery()', sockdir=marker['socket_dir']) == 't'
    assert _live_state(c) == live

    dry = run_module('pitr_restore', _args(c, new_dir, port), check=True)
    assert dry.get('failed') is not True, dry.get('msg')
    cluster = {'process': 'restored cluster', 'pgid': marker['cluster_group']['pgid'], 'signal': None}
    assert [dict((k, s[k]) for k in cluster) for s in dry['swept'][0].pop('stopped')] == [cluster]
    assert dry['swept'] == [{'data_dir': new_dir, 'state': 'recovering', 'created_at': marker['created_at'],
                             'pid': marker['pid'], 'port': port}]
    gone = run_module('pitr_restore', _args(c, new_dir, port, state='absent'))
    assert gone.get('failed') is not True, gone.get('msg')
    assert gone['removed'] is True and gone['state_found'] == 'recovering'
    assert [(s['process'], s['signal']) for s in gone['stopped']] == [('restored cluster', 'pg_ctl stop -m immediate')]
    assert _group(marker['cluster_group']['pgid']) == []
    assert not os.path.exists(new_dir) and _read_marker(new_dir) is None
    assert not os.path.exists(marker['workdir']) and not os.path.exists(marker['socket_dir'])
    assert _live_state(c) == live


def test_recovering_postgres_killed_fails_naming_the_directory(pitr_cluster, run_module, new_dir):
    c = pitr_cluster
    _held_recovery_source(c)
    live = _live_state(c)
    proc = _start_module(_args(c, new_dir, free_port()))
    _wait_mid_recovery(proc, new_dir)
    with open(os.path.join(new_dir, 'postmaster.pid')) as f:
        os.kill(int(f.readline()), signal.SIGKILL)
    r = _result(proc)
    assert r.get('failed') is True and 'PostgreSQL stopped' in r['msg'], r['msg']
    assert new_dir + MARKER_SUFFIX in r['msg'] and 'left aside' in r['msg']
    assert os.path.exists(os.path.join(new_dir, 'PG_VERSION'))
    assert _live_state(c) == live
    # a restore it did not make is never swept: a directory without a marker is refused
    other = new_dir + '-not-ours'
    os.makedirs(other)
    with open(os.path.join(other, 'PG_VERSION'), 'w') as f:
        f.write('15\n')
    try:
        refused = run_module('pitr_restore', _args(c, other, free_port(), state='absent'))
        assert refused.get('failed') is True and 'did not create it' in refused['msg']
        assert os.path.exists(os.path.join(other, 'PG_VERSION'))
    finally:
        shutil.rmtree(other, ignore_errors=True)
    swept = run_module('pitr_restore', _args(c, new_dir, free_port()), check=True)
    assert [s['state'] for s in swept['swept']] == ['recovering']


def _group(pgid):
    """{pid: command name} of the live processes in process group ``pgid`` (read from /proc, independently)."""
    found = {}
    for name in os.listdir('/proc'):
        try:
            with open('/proc/%s/stat' % name) as f:
                head, _sep, tail = f.read().rpartition(')')
        except (OSError, ValueError):
            continue
        fields = tail.split()
        if name.isdigit() and fields[0] not in ('Z', 'X') and fields[2] == str(pgid):
            found[int(name)] = head.split('(', 1)[1]
    return sorted(found.items())


def _runner(argv, **kw):
    env = dict(os.environ, **(kw.get('environ_update') or {}))
    r = subprocess.run(argv, capture_output=True, text=True, env=env, cwd='/', check=False)
    return r.returncode, r.stdout, r.stderr


def test_sigkill_mid_restore_the_orphaned_pgbackrest_is_stopped_before_the_directory_goes(
        pitr_cluster, holding_proxy, run_module, new_dir):
    c = pitr_cluster
    pg = c.server
    pg.psql('CREATE TABLE orders (id int PRIMARY KEY)')
    pg.psql('INSERT INTO orders SELECT generate_series(1, 100)')
    # ~12 MiB that zstd cannot shrink: the download is far longer than the budget below
    pg.psql('CREATE TABLE noise AS SELECT i, decode(md5(random()::text) || md5(random()::text) || md5(random()::text)'
            " || md5(random()::text) || md5(random()::text) || md5(random()::text), 'hex') AS b "
            'FROM generate_series(1, 130000) i')
    c.pgbackrest('backup', '--type=full')
    c.switch_wal()
    live = _live_state(c)
    # the module reads the repository through the proxy (pgBackRest waits an hour on a silent server)
    config = c.write_config(port=holding_proxy.port, io_timeout=3600, path=os.path.join(c.confdir, 'held.conf'))
    args = dict(stanza=c.stanza, config=config, data_dir=new_dir, target_type='latest', port=free_port(),
                recovery_timeout=600)
    # what the module reads before the restore starts (info, the reach check), measured: the restore gets 2 MiB more
    holding_proxy.arm(None)
    assert pb.info_report(dict(args, run_as='postgres', pgbackrest_bin='pgbackrest'), _runner)['reaches_target']
    holding_proxy.arm(holding_proxy.down + 2 * 1024 * 1024)
    proc = _start_module(args)
    deadline = time.monotonic() + 300
    while not (holding_proxy.held.is_set() and (_read_marker(new_dir) or {}).get('restore_group')):
        assert proc.poll() is None, 'the module ended before the restore was held: %s %s' % proc.communicate()
        assert time.monotonic() < deadline, 'the restore was not held within 300 s'
        time.sleep(0.2)
    marker = _read_marker(new_dir)
    assert marker['state'] == 'restoring'
    pgid = marker['restore_group']['pgid']
    assert 'pgbackrest' in [name for _pid, name in _group(pgid)]
    os.kill(marker['pid'], signal.SIGKILL)
    proc.communicate(timeout=120)
    # the race: the restore outlived its module and still holds the directory it writes into
    assert 'pgbackrest' in [name for _pid, name in _group(pgid)] and os.listdir(new_dir)
    assert _live_state(c) == live

    gone = run_module('pitr_restore', dict(args, state='absent'))
    assert gone.get('failed') is not True, gone.get('msg')
    assert gone['removed'] is True and gone['state_found'] == 'restoring'
    stopped, = gone['stopped']
    assert stopped['process'] == 'pgbackrest restore' and stopped['pgid'] == pgid and stopped['processes'] >= 2
    assert stopped['signal'] in ('SIGTERM', 'SIGKILL')
    assert _group(pgid) == []                                  # nothing of the restore is left
    assert not os.path.exists(new_dir) and _read_marker(new_dir) is None
    assert not os.path.exists(marker['workdir'])
    assert _live_state(c) == live
