# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/pgbackrest: the marker of a restore, what a later run may sweep, interruption, the recovery wait."""
from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import pgbackrest as pb

PARAMS = dict(stanza='main', config=None, repo_type='posix', repo_path='/pgbr', run_as='postgres', pg_bindir='/pg/bin')


class Runner(object):
    def __init__(self, rc=0):
        self.calls = []
        self.rc = rc

    def __call__(self, argv, **kw):
        self.calls.append(argv)
        return self.rc, '', ''


def _marker(data_dir, state, pid=None, pid_start=None, **kw):
    m = {'data_dir': data_dir, 'state': state, 'pid': pid or 1, 'pid_start': pid_start or 'gone',
         'port': 5499, 'created_at': '2026-01-31T14:00:00.000000Z'}
    m.update(kw)
    pb.write_marker(data_dir, m)
    return m


def _alive():
    return {'pid': os.getpid(), 'pid_start': pb.process_start(os.getpid())}


def test_the_marker_lives_beside_the_directory_and_is_replaced_whole(tmp_path):
    d = str(tmp_path / 'restored')
    assert pb.marker_path(d + '/') == d + '.runbook_pitr.json'
    assert pb.read_marker(d) is None
    _marker(d, 'restoring')
    _marker(d, 'recovering')
    assert pb.read_marker(d)['state'] == 'recovering'
    assert sorted(os.listdir(str(tmp_path))) == ['restored.runbook_pitr.json']   # no temp file left
    with open(pb.marker_path(d), 'w') as f:
        f.write('[1, 2')
    assert pb.read_marker(d) is None


@pytest.mark.parametrize('state,owner,leftover', [
    ('restoring', 'dead', True), ('recovering', 'dead', True), ('interrupted', 'dead', True),
    ('recovering', 'reused', True),       # the pid was reused by another process: its start time differs
    ('recovering', 'alive', False),       # still running
    ('verified', 'dead', False),          # may be serving after a failover
    ('unverified', 'dead', False),        # evidence of a failed verification
])
def test_only_an_unfinished_run_whose_process_is_gone_is_a_leftover(state, owner, leftover):
    me = _alive()
    marker = {'state': state, 'pid': me['pid'] if owner != 'dead' else 2 ** 22 + 7,
              'pid_start': me['pid_start'] if owner == 'alive' else '1'}
    assert pb.is_leftover(marker) is leftover
    assert pb.owner_alive(marker) is (owner == 'alive')


def test_sweep_reports_in_check_mode_and_removes_only_what_the_run_made(tmp_path):
    d = str(tmp_path / 'restored')
    os.makedirs(os.path.join(d, 'base'))
    work = tempfile.mkdtemp(prefix='rbo-pitr-')
    foreign = str(tmp_path / 'rbo-pitr-not-in-tmp')
    os.makedirs(foreign)
    _marker(d, 'recovering', workdir=work, socket_dir=foreign)
    record = {'data_dir': d, 'state': 'recovering', 'created_at': '2026-01-31T14:00:00.000000Z', 'pid': 1,
              'port': 5499, 'stopped': []}
    runner = Runner()
    assert pb.sweep_leftover(d, PARAMS, runner, check_mode=True) == [record]
    assert os.path.isdir(d) and os.path.isdir(work) and pb.read_marker(d)
    assert pb.sweep_leftover(d, PARAMS, runner) == [record]
    assert not os.path.exists(d) and not os.path.exists(work) and pb.read_marker(d) is None
    assert os.path.isdir(foreign)                       # not a temporary directory of this module
    assert runner.calls == []                           # no postmaster.pid: nothing to stop


def test_sweep_stops_a_cluster_still_running_in_the_leftover(tmp_path):
    d = str(tmp_path / 'restored')
    os.makedirs(d)
    with open(os.path.join(d, 'postmaster.pid'), 'w') as f:
        f.write('4242\n')
    _marker(d, 'recovering', bindir='/somewhere/else')   # a path in the marker is never run
    runner = Runner()
    pb.sweep_leftover(d, PARAMS, runner)
    assert runner.calls[0][-9:] == ['/pg/bin/pg_ctl', 'stop', '-D', d, '-m', 'immediate', '-w', '-t', '120']
    assert not os.path.exists(d)


def test_a_run_in_progress_is_neither_swept_nor_removed(tmp_path):
    d = str(tmp_path / 'restored')
    os.makedirs(d)
    _marker(d, 'recovering', **_alive())
    with pytest.raises(pb.PitrError) as e:
        pb.sweep_leftover(d, PARAMS, Runner())
    assert 'another pitr_restore run (pid %d)' % os.getpid() in str(e.value)
    with pytest.raises(pb.PitrError) as e:
        pb.remove(dict(PARAMS, data_dir=d), Runner())
    assert 'still running' in str(e.value)
    assert os.path.isdir(d)


def test_a_finished_restore_is_not_swept_and_the_refusal_says_how_to_remove_it(tmp_path):
    d = str(tmp_path / 'restored')
    os.makedirs(d)
    with open(os.path.join(d, 'PG_VERSION'), 'w') as f:
        f.write('15\n')
    _marker(d, 'unverified')
    assert pb.sweep_leftover(d, PARAMS, Runner()) == []
    with pytest.raises(pb.PitrError) as e:
        pb.check_new_data_dir(d)
    assert 'not empty' in str(e.value) and 'state unverified' in str(e.value) and 'state=absent' in str(e.value)


def test_remove_needs_the_marker_and_takes_the_log(tmp_path):
    d = str(tmp_path / 'restored')
    os.makedirs(d)
    with pytest.raises(pb.PitrError) as e:
        pb.remove(dict(PARAMS, data_dir=d), Runner())
    assert 'did not create it' in str(e.value) and os.path.isdir(d)
    _marker(d, 'verified')
    with open(d + '.recovery.log', 'w') as f:
        f.write('log\n')
    assert pb.remove(dict(PARAMS, data_dir=d), Runner(), check_mode=True)['state_found'] == 'verified'
    assert os.path.isdir(d)
    r = pb.remove(dict(PARAMS, data_dir=d), Runner())
    assert r == {'changed': True, 'data_dir': d, 'removed': True, 'state_found': 'verified', 'stopped': []}
    assert os.listdir(str(tmp_path)) == []
    assert pb.remove(dict(PARAMS, data_dir=d), Runner())['changed'] is False


def test_a_signal_becomes_interrupted_and_the_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(pb.Interrupted):
        with pb.interruptible():
            os.kill(os.getpid(), signal.SIGTERM)
            for _i in range(1000):
                pass
    assert signal.getsignal(signal.SIGTERM) is before


def test_an_interrupted_pipeline_stops_its_stages(tmp_path, monkeypatch):
    started = []
    real = subprocess.Popen

    def popen(*a, **kw):
        p = real(*a, **kw)
        started.append(p)
        return p
    monkeypatch.setattr(pb.subprocess, 'Popen', popen)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    with pytest.raises(pb.Interrupted):
        with pb.interruptible():
            timer.start()
            pb.run_pipeline([['sleep', '300'], ['cat']], str(tmp_path / 'out'))
    timer.join()
    assert len(started) == 2 and all(p.poll() is not None for p in started)


def test_restore_options_name_the_backup_the_target_and_the_processes():
    plan = {'backup': '20260131-140000F'}
    opts = pb.restore_options(plan, '/new', 'time', pb.parse_target_time('2026-01-31 14:05:00Z'), 'promote', 3)
    assert opts == ['--pg1-path=/new', '--set=20260131-140000F', '--target-timeline=current', '--process-max=3',
                    '--type=time', '--target=2026-01-31 14:05:00.000000+00', '--target-action=promote']
    latest = pb.restore_options(plan, '/new', 'latest', None, 'promote')
    assert '--process-max=%d' % pb.default_process_max() in latest and not [o for o in latest if 'target-' in o
                                                                            and 'timeline' not in o]
    assert 1 <= pb.default_process_max() <= 4


class _Proc(object):
    def __init__(self, rc=None):
        self.rc = rc

    def poll(self):
        return self.rc


def _cluster(tmp_path, answers):
    d = str(tmp_path / 'restored')
    c = pb.Recovered(d, 5499, 'postgres', '/pg/bin', None)
    c.proc = _Proc()
    asked = []

    def psql(sql, db='postgres'):
        asked.append(sql)
        return 0, answers.pop(0) if answers else 'f|', ''
    c.psql = psql
    return c, asked


def test_wait_asks_the_server_when_its_log_says_recovery_is_over(tmp_path):
    c, asked = _cluster(tmp_path, ['t|2026-01-31 14:04:59.123+00'])
    with open(c.log, 'w') as f:
        f.write('old run: database system is ready to accept connections\n')
    c.log_offset = os.path.getsize(c.log)                # what an earlier run wrote does not count
    assert c.log_says(pb.LOG_DONE['promote']) is False
    with open(c.log, 'a') as f:
        f.write('LOG:  database system is ready to accept read-only connections\n')
    assert c.log_says(pb.LOG_DONE['promote']) is False
    with open(c.log, 'a') as f:
        f.write('LOG:  database system is ready to accept connections\n')
    c.log_offset = 0
    assert c.wait('promote', timeout=600, tick=0.01, query_every=3600) == '2026-01-31 14:04:59.123+00'
    assert asked == ["SELECT NOT pg_is_in_recovery(), coalesce(pg_last_xact_replay_timestamp()::text, '')"]


def test_wait_fails_naming_the_marked_directory_when_postgres_stops(tmp_path):
    c, _asked = _cluster(tmp_path, [])
    c.proc = _Proc(rc=1)
    with open(c.log, 'w') as f:
        f.write('FATAL:  recovery ended before configured recovery target was reached\n')
    with pytest.raises(pb.PitrError) as e:
        c.wait('pause', timeout=600)
    msg = str(e.value)
    assert 'recovery ended before' in msg and pb.marker_path(c.data_dir) in msg and 'left aside' in msg


def test_a_stopped_cluster_takes_its_socket_directory_along(tmp_path):
    c = pb.Recovered(str(tmp_path / 'restored'), 5499, 'postgres', '/pg/bin', Runner(rc=1))
    c.socket_dir = tempfile.mkdtemp(prefix='rbo-pitr-sock-')
    try:
        c.stop()
        assert os.path.isdir(c.socket_dir)              # pg_ctl failed: the server may still use it
        c.runner = Runner(rc=0)
        c.stop()
        assert not os.path.exists(c.socket_dir)
    finally:
        if os.path.isdir(c.socket_dir):
            os.rmdir(c.socket_dir)
