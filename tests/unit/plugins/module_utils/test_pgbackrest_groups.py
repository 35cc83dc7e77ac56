# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/pgbackrest: the process groups a restore records before they run, and how a sweep stops them
(a ``pgbackrest restore`` that outlived its SIGKILLed module must be gone before its directory is touched)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import pgbackrest as pb

PARAMS = dict(stanza='main', config=None, repo_type='posix', repo_path='/pgbr', run_as='postgres', pg_bindir='/pg/bin')
# a process that ignores SIGTERM (only SIGKILL ends it), and one that leaves a child behind in its group
DEAF = [sys.executable, '-c', 'import signal,time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(300)']
PARENT = [sys.executable, '-c', 'import subprocess,sys,time\n'
          'p = subprocess.Popen(["sleep", "300"])\nprint(p.pid, flush=True)\ntime.sleep(300)']


def _wait_for(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, 'condition not met within %d s' % timeout
        time.sleep(0.02)


@pytest.fixture
def groups():
    """Spawned groups, killed at the end whatever the test did."""
    made = []
    yield made
    for proc, group in made:
        if pb.group_members(group):
            os.killpg(group['pgid'], signal.SIGKILL)
        proc.wait()


def _spawn(groups, argv, **kw):
    proc, group, release = pb.spawn_gated(argv, **kw)
    groups.append((proc, group))
    return proc, group, release


def test_a_gated_command_runs_only_once_released_in_a_group_of_its_own(tmp_path, groups):
    flag = str(tmp_path / 'ran')
    proc, group, release = _spawn(groups, ['touch', flag])
    assert group == {'pgid': proc.pid, 'start': pb.process_start(proc.pid)} and group['start']
    assert os.getpgid(proc.pid) == proc.pid != os.getpgid(0)
    assert os.getsid(proc.pid) == os.getsid(0)          # the caller's session: not a scheduling autogroup of its own
    assert pb.group_members(group) == [proc.pid]
    time.sleep(0.3)                                     # held: nothing of the command has run
    assert not os.path.exists(flag)
    release()
    assert proc.wait(60) == 0 and os.path.exists(flag)
    release()                                           # once only
    assert pb.group_members(group) == []


def test_a_gate_never_released_ends_without_running_the_command(tmp_path, groups):
    flag = str(tmp_path / 'ran')
    proc, _group, release = _spawn(groups, ['touch', flag])
    release(run=False)                                  # what the module dying before recording it amounts to
    assert proc.wait(60) == 70 and not os.path.exists(flag)


@pytest.mark.parametrize('group', [None, {}, {'pgid': 'x'}, {'pgid': 1, 'start': '1'}, {'pgid': 0}])
def test_a_group_record_that_names_nothing_has_no_members(group):
    assert pb.group_members(group) == []


def test_a_reused_pgid_is_not_our_group(groups):
    proc, group, release = _spawn(groups, ['sleep', '300'])
    release()
    assert pb.group_members(group) == [proc.pid]
    assert pb.group_members(dict(group, start=str(int(group['start']) - 1))) == []   # another process, same pid
    assert pb.stop_group(dict(group, start='1'), 'pgbackrest restore', '/new') is None
    assert proc.poll() is None                          # not ours: never signalled


def test_the_members_of_a_group_whose_leader_died_are_found_and_stopped(groups):
    proc, group, release = _spawn(groups, PARENT, stdout=subprocess.PIPE)
    release()
    child = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)                   # the runuser/pgbackrest parent killed outright
    proc.wait()
    assert pb.group_members(group) == [child]           # the orphan is still in the group
    record = pb.stop_group(group, 'pgbackrest restore', '/new')
    assert record == {'process': 'pgbackrest restore', 'pgid': proc.pid, 'processes': 1, 'signal': 'SIGTERM'}
    assert pb.group_members(group) == []


def test_a_group_deaf_to_sigterm_is_killed_and_one_that_outlives_sigkill_is_refused(groups, monkeypatch):
    proc, group, release = _spawn(groups, DEAF)
    release()
    _wait_for(lambda: _ignores_term(proc.pid))
    record = pb.stop_group(group, 'pgbackrest restore', '/new', wait_s=0.5)
    assert record['signal'] == 'SIGKILL' and proc.wait(60) == -signal.SIGKILL
    proc2, group2, release2 = _spawn(groups, ['sleep', '300'])
    release2()
    monkeypatch.setattr(pb.os, 'killpg', lambda pgid, sig: None)     # a process in D state, say
    with pytest.raises(pb.PitrError) as e:
        pb.stop_group(group2, 'pgbackrest restore', '/new', wait_s=0.2)
    assert 'outlived SIGKILL' in str(e.value) and 'Nothing was removed' in str(e.value) and '/new' in str(e.value)
    assert 'process group %d' % proc2.pid in str(e.value)


def _ignores_term(pid):
    with open('/proc/%d/status' % pid) as f:
        ign = next(int(ln.split()[1], 16) for ln in f if ln.startswith('SigIgn:'))
    return bool(ign & (1 << (signal.SIGTERM - 1)))


def test_a_grace_lets_a_group_end_on_its_own(groups):
    proc, group, release = _spawn(groups, ['sleep', '0.2'])
    release()
    assert pb.stop_group(group, 'restored cluster', '/new', first=signal.SIGQUIT, grace_s=60) is None
    assert proc.wait(60) == 0                           # ended by itself, not by a signal


def test_run_pipeline_records_the_groups_before_the_stages_run(tmp_path):
    out = str(tmp_path / 'out')
    seen = []

    def started(group_list):
        seen.append((group_list, [pb.group_members(g) for g in group_list], open(out).read()))
    assert pb.run_pipeline([['printf', 'abc'], ['tr', 'a-c', 'A-C']], out, started=started) is None
    (group_list, members, written), = seen
    assert len(group_list) == 2 and members == [[g['pgid']] for g in group_list]
    assert written == ''                                # nothing had run yet
    with open(out) as f:
        assert f.read() == 'ABC'


def test_when_recording_fails_no_stage_runs(tmp_path):
    out, flag = str(tmp_path / 'out'), str(tmp_path / 'ran')
    kept = []

    def started(group_list):
        kept.extend(group_list)
        raise OSError('disk full')
    with pytest.raises(OSError):
        pb.run_pipeline([['touch', flag]], out, started=started)
    assert not os.path.exists(flag) and pb.group_members(kept[0]) == []


def _leftover(tmp_path, groups):
    d = str(tmp_path / 'restored')
    os.makedirs(os.path.join(d, 'base'))
    proc, group, release = _spawn(groups, ['sleep', '300'])
    release()
    pb.write_marker(d, {'data_dir': d, 'state': 'restoring', 'pid': 2 ** 22 + 7, 'pid_start': '1', 'port': 5499,
                        'created_at': '2026-01-31T14:00:00.000000Z', 'restore_group': group})
    return d, proc, group


def test_the_sweep_stops_a_restore_that_outlived_its_module_before_removing_anything(tmp_path, groups, monkeypatch):
    d, proc, group = _leftover(tmp_path, groups)
    dry = pb.sweep_leftover(d, PARAMS, None, check_mode=True)
    assert dry[0]['stopped'] == [{'process': 'pgbackrest restore', 'pgid': proc.pid, 'processes': 1, 'signal': None}]
    assert proc.poll() is None and os.path.isdir(d)
    order = []
    real_rmtree = pb.shutil.rmtree

    def rmtree(path, *a, **kw):
        order.append((path, pb.group_members(group)))
        return real_rmtree(path, *a, **kw)
    monkeypatch.setattr(pb.shutil, 'rmtree', rmtree)
    swept = pb.sweep_leftover(d, PARAMS, None)
    assert swept[0]['stopped'] == [{'process': 'pgbackrest restore', 'pgid': proc.pid, 'processes': 1,
                                    'signal': 'SIGTERM'}]
    assert order == [(d, [])]                           # the directory went only once the restore was gone
    assert proc.wait(60) == -signal.SIGTERM and not os.path.exists(d) and pb.read_marker(d) is None


def test_a_restore_that_cannot_be_stopped_leaves_everything_in_place(tmp_path, groups, monkeypatch):
    d, _proc, _group = _leftover(tmp_path, groups)
    monkeypatch.setattr(pb.os, 'killpg', lambda pgid, sig: None)
    monkeypatch.setattr(pb, 'STOP_WAIT_S', 0.2)
    with pytest.raises(pb.PitrError) as e:
        pb.remove(dict(PARAMS, data_dir=d), None)
    assert 'outlived SIGKILL' in str(e.value)
    assert os.path.isdir(os.path.join(d, 'base')) and pb.read_marker(d)['state'] == 'restoring'


def test_state_absent_says_what_it_stopped(tmp_path, groups):
    d, proc, _group = _leftover(tmp_path, groups)
    dry = pb.remove(dict(PARAMS, data_dir=d), None, check_mode=True)
    assert [s['signal'] for s in dry['stopped']] == [None] and proc.poll() is None
    r = pb.remove(dict(PARAMS, data_dir=d), None)
    assert r['stopped'][0]['process'] == 'pgbackrest restore' and r['stopped'][0]['signal'] == 'SIGTERM'
    assert not os.path.exists(d)


def test_the_cluster_is_recorded_before_postgres_runs(tmp_path, groups, monkeypatch):
    d = str(tmp_path / 'restored')
    os.makedirs(d)
    bindir = str(tmp_path / 'bin')
    os.makedirs(bindir)
    flag = str(tmp_path / 'ran')
    fake = os.path.join(bindir, 'postgres')
    with open(fake, 'w') as f:
        f.write('#!%s\nopen(%r, "w").close()\n' % (sys.executable, flag))
    os.chmod(fake, 0o755)
    monkeypatch.setattr(pb, 'as_user', lambda user: [])
    monkeypatch.setattr(pb, '_chown', lambda path, user: None)
    c = pb.Recovered(d, 5499, 'postgres', bindir, None)
    seen = []
    c.start(started=lambda group: seen.append((group, os.path.exists(flag))))
    groups.append((c.proc, seen[0][0]))
    assert seen == [({'pgid': c.proc.pid, 'start': seen[0][0]['start']}, False)]
    assert c.proc.wait(60) == 0 and os.path.exists(flag)
    pb.shutil.rmtree(c.socket_dir, ignore_errors=True)
