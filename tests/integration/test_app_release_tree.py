# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# app_release main() in-process on a temp app_root: present / active / failed / info / keep-N / lock.
#
# test_app_release.py runs the same module through ansible itself.

import json
import os
import subprocess
import sys
import time

import pytest

from release_fixtures import IDS, sha256, tree_state
from testkit import make_tarball

R1, R2, R3, R4, R5 = IDS


def present(run_release, root, rid, src, **kw):
    args = dict(app_root=str(root), release_id=rid, src=str(src))
    args.update(kw)
    return run_release('app_release', args)


def history(root):
    with open(os.path.join(str(root), 'history.jsonl')) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_present_active_info_cycle(run_release, app_root, artifacts):
    root = app_root
    # check mode on an empty tree: predicts, changes nothing
    before = tree_state(str(root))
    r = run_release('app_release', dict(app_root=str(root), release_id=R1, src=artifacts['v1'],
                                        shared_paths=['.env', 'storage/uploads']), check=True, diff=True)
    assert r['changed'] is True, r
    assert r['diff']['before']['releases'] == [] and r['diff']['after']['releases'] == [R1]
    assert tree_state(str(root)) == before

    # act
    r = run_release('app_release', dict(app_root=str(root), release_id=R1, src=artifacts['v1'],
                                        shared_paths=['.env', 'storage/uploads']))
    assert r['changed'] is True, r
    assert r['checksum'] == sha256(artifacts['v1']) == r['revision']
    assert r['releases'] == [R1] and r['active_release'] is None
    # independent check of the tree
    rel = root / 'releases' / R1
    assert (rel / 'VERSION').read_text() == 'v1\n'
    assert (rel / 'REVISION').read_text() == sha256(artifacts['v1']) + '\n'
    assert os.readlink(str(rel / 'run.py')) == 'app.py'
    assert os.path.islink(str(rel / '.env')) and (rel / '.env').read_text() == 'SECRET_FROM_SHARED=1\n'
    assert os.path.realpath(str(rel / 'storage/uploads')) == os.path.realpath(str(root / 'shared/storage/uploads'))
    assert not [n for n in os.listdir(str(root / 'releases')) if n.startswith('.')]  # no temp dirs left

    # idempotence: same id, same artifact
    r = run_release('app_release', dict(app_root=str(root), release_id=R1, src=artifacts['v1'],
                                        shared_paths=['.env', 'storage/uploads']))
    assert r['changed'] is False, r

    # same id, another artifact: refused, release untouched
    r = run_release('app_release', dict(app_root=str(root), release_id=R1, src=artifacts['v2']))
    assert r.get('failed') is True
    assert 'already exists with checksum %s' % sha256(artifacts['v1']) in r['msg']
    assert (rel / 'VERSION').read_text() == 'v1\n'

    # activate: check mode first
    r = run_release('app_release', dict(app_root=str(root), release_id=R1, state='active'), check=True, diff=True)
    assert r['changed'] is True and r['diff']['before']['active_release'] is None
    assert r['diff']['after']['active_release'] == R1
    assert not os.path.lexists(str(root / 'current'))
    r = run_release('app_release', dict(app_root=str(root), release_id=R1, state='active', actor='alice',
                                        reason='first deploy'))
    assert r['changed'] is True and r['previous_release'] is None and r['active_release'] == R1
    assert os.readlink(str(root / 'current')) == 'releases/' + R1
    assert (root / 'current' / 'VERSION').read_text() == 'v1\n'

    present(run_release, root, R2, artifacts['v2'])
    r = run_release('app_release', dict(app_root=str(root), release_id=R2, state='active', actor='alice',
                                        reason='deploy v2'), diff=True)
    assert r['changed'] is True and r['previous_release'] == R1
    assert r['diff'] == {'before': {'active_release': R1, 'releases': [R1, R2], 'failed_releases': [],
                                    'lock_owner': None},
                         'after': {'active_release': R2, 'releases': [R1, R2], 'failed_releases': [],
                                   'lock_owner': None}}
    assert (root / 'current' / 'VERSION').read_text() == 'v2\n'
    r = run_release('app_release', dict(app_root=str(root), release_id=R2, state='active'))
    assert r['changed'] is False and r['previous_release'] == R1

    h = history(root)
    assert [(e['action'], e['release_id'], e['previous'], e['actor'], e['reason']) for e in h] == [
        ('activate', R1, None, 'alice', 'first deploy'), ('activate', R2, R1, 'alice', 'deploy v2')]

    # info never changes anything, in or out of check mode
    snap = tree_state(str(root))
    r = run_release('app_release_info', dict(app_root=str(root)))
    assert r['changed'] is False
    assert r['releases'] == [R1, R2] and r['active_release'] == R2 and r['previous_release'] == R1
    assert r['rollback_candidate'] == R1 and r['failed_releases'] == [] and len(r['history']) == 2
    assert r['lock'] is None
    r = run_release('app_release_info', dict(app_root=str(root)), check=True)
    assert r['changed'] is False and r['active_release'] == R2
    assert tree_state(str(root)) == snap


def test_rollback_flow_failed_marks_and_keep(run_release, app_root, artifacts):
    root = app_root
    for rid, v in ((R1, 'v1'), (R2, 'v2'), (R3, 'v3')):
        assert present(run_release, root, rid, artifacts[v])['changed'] is True
    run_release('app_release', dict(app_root=str(root), release_id=R1, state='active'))
    run_release('app_release', dict(app_root=str(root), release_id=R2, state='active'))
    sw = run_release('app_release', dict(app_root=str(root), release_id=R3, state='active', reason='deploy v3'))
    assert sw['previous_release'] == R2

    # the active release cannot be marked failed
    r = run_release('app_release', dict(app_root=str(root), release_id=R3, state='failed'))
    assert r.get('failed') is True and 'it is the active release' in r['msg']
    assert not (root / 'releases' / (R3 + '.failed')).exists()

    # the rescue: switch back, then mark failed
    r = run_release('app_release', dict(app_root=str(root), release_id=sw['previous_release'], state='active',
                                        reason='health gate failed'))
    assert r['changed'] is True and r['previous_release'] == R3
    r = run_release('app_release', dict(app_root=str(root), release_id=R3, state='failed'), check=True, diff=True)
    assert r['changed'] is True and r['diff']['after']['failed_releases'] == [R3]
    assert not (root / 'releases' / (R3 + '.failed')).exists()
    r = run_release('app_release', dict(app_root=str(root), release_id=R3, state='failed', actor='ci',
                                        reason='health gate failed'))
    assert r['changed'] is True and r['failed_releases'] == [R3]
    mark = json.loads((root / 'releases' / (R3 + '.failed')).read_text())
    assert mark['reason'] == 'health gate failed' and mark['actor'] == 'ci'
    assert run_release('app_release', dict(app_root=str(root), release_id=R3, state='failed'))['changed'] is False

    # a failed release is not activated without force
    r = run_release('app_release', dict(app_root=str(root), release_id=R3, state='active'))
    assert r.get('failed') is True and 'is marked failed' in r['msg']
    assert os.readlink(str(root / 'current')) == 'releases/' + R2

    # info: previous from history is R3 (the one rolled back from); the rollback candidate skips failed ones
    info = run_release('app_release_info', dict(app_root=str(root)))
    assert info['previous_release'] == R3 and info['rollback_candidate'] == R1
    assert info['failed_details'][R3]['reason'] == 'health gate failed'

    # keep-N: a fourth release arrives; keep=2 keeps R2 (active) + R4, and R3 as the newest failed one.
    present(run_release, root, R4, artifacts['v1'])
    r = run_release('app_release', dict(app_root=str(root), release_id=R2, state='active', keep=2), check=True)
    assert r['changed'] is True and r['removed_releases'] == [R1]
    assert (root / 'releases' / R1).is_dir()
    r = run_release('app_release', dict(app_root=str(root), release_id=R2, state='active', keep=2))
    assert r['changed'] is True and r['removed_releases'] == [R1]
    assert sorted(os.listdir(str(root / 'releases'))) == [R2, R3, R3 + '.failed', R4]
    r = run_release('app_release', dict(app_root=str(root), release_id=R2, state='active', keep=2))
    assert r['changed'] is False and r['removed_releases'] == []
    # keep_failed=0 drops the failed one, never the active R2 nor the newest good R4
    r = run_release('app_release', dict(app_root=str(root), release_id=R2, state='active', keep=1, keep_failed=0))
    assert r['removed_releases'] == [R3]
    assert sorted(os.listdir(str(root / 'releases'))) == [R2, R4]


@pytest.mark.parametrize('rid', ['../x', 'a/b', '\x00', '20261123T150405Z/../../x', '..'])
def test_hostile_release_ids(run_release, app_root, artifacts, rid):
    before = tree_state(str(app_root))
    for state in ('present', 'active', 'failed'):
        r = run_release('app_release', dict(app_root=str(app_root), release_id=rid, state=state,
                                            src=artifacts['v1']))
        assert r.get('failed') is True, (state, r)
        assert 'Could not use release id' in r['msg'] and 'UTC timestamp' in r['msg'], r['msg']
    assert tree_state(str(app_root)) == before
    assert not os.path.exists(os.path.join(str(app_root), '..', 'x'))


def test_hostile_archive_leaves_nothing(run_release, app_root, tmp_path):
    evil = make_tarball(tmp_path / 'evil.tgz', [('ok.txt', 'file', b'ok'), ('escape', 'sym', '../../../../etc')])
    r = run_release('app_release', dict(app_root=str(app_root), release_id=R1, src=evil))
    assert r.get('failed') is True and 'outside the release' in r['msg']
    assert os.listdir(str(app_root / 'releases')) == []


READER = r"""
import sys, time
path, stop, progress = sys.argv[1], sys.argv[2], sys.argv[3]
import os
reads = misses = 0
versions = set()
deadline = time.monotonic() + 600
while not os.path.exists(stop) and time.monotonic() < deadline:
    try:
        with open(path) as f:
            versions.add(f.read().strip())
    except OSError:
        misses += 1
    reads += 1
    if reads in (1, 1000):  # tell the test: started, and enough reads to count
        open(progress + str(reads), 'w').close()
print(reads, misses, ','.join(sorted(versions)))
"""


def test_current_always_resolves_during_switches(run_release, app_root, artifacts, tmp_path):
    """A separate process reads current/VERSION in a tight loop while current is switched 200 times or more.

    No timing assumption: the switches start once the reader has read once, and go on until it has read at least
    1000 times (however slow the machine), so the reads and the switches really overlap.
    """
    root = app_root
    present(run_release, root, R1, artifacts['v1'])
    present(run_release, root, R2, artifacts['v2'])
    run_release('app_release', dict(app_root=str(root), release_id=R1, state='active'))
    stop = str(tmp_path / 'stop')
    progress = str(tmp_path / 'reads-')
    reader = subprocess.Popen([sys.executable, '-c', READER, str(root / 'current' / 'VERSION'), stop, progress],
                              stdout=subprocess.PIPE, text=True)
    switches = 0
    try:
        deadline = time.monotonic() + 300
        while not os.path.exists(progress + '1') and reader.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        while switches < 200 or (not os.path.exists(progress + '1000') and switches < 20000):
            r = run_release('app_release', dict(app_root=str(root), release_id=(R2, R1)[switches % 2],
                                                state='active'))
            assert r['changed'] is True, r
            switches += 1
    finally:
        open(stop, 'w').close()
        out, dummy = reader.communicate(timeout=300)
    reads, misses, versions = out.split()
    assert int(reads) >= 1000
    assert int(misses) == 0
    assert versions == 'v1,v2'
    assert not [n for n in os.listdir(str(root)) if n.startswith('.current')]
    assert len(history(root)) == switches + 1


def test_shared_path_missing_is_clear(run_release, app_root, artifacts):
    r = run_release('app_release', dict(app_root=str(app_root), release_id=R1, src=artifacts['v1'],
                                        shared_paths=['config/missing.yml']))
    assert r.get('failed') is True
    assert "Could not link shared path 'config/missing.yml'" in r['msg'] and 'Create it first' in r['msg']
    r = run_release('app_release', dict(app_root=str(app_root), release_id=R1, src=artifacts['v1'],
                                        shared_paths=['../../etc/passwd']))
    assert r.get('failed') is True and 'contains ".."' in r['msg']
    assert not (app_root / 'releases').exists() or os.listdir(str(app_root / 'releases')) == []


def test_lock_through_module(run_release, app_root):
    root = str(app_root)
    r = run_release('app_release', dict(app_root=root, state='locked', lock_owner='deploy A', lock_ttl=600),
                    check=True)
    assert r['changed'] is True and not os.path.exists(os.path.join(root, 'deploy.lock'))
    r = run_release('app_release', dict(app_root=root, state='locked', lock_owner='deploy A', lock_ttl=600,
                                        reason='v2'), diff=True)
    assert r['changed'] is True and r['lock']['owner'] == 'deploy A'
    assert r['diff']['before']['lock_owner'] is None and r['diff']['after']['lock_owner'] == 'deploy A'
    with open(os.path.join(root, 'deploy.lock')) as f:
        on_disk = json.load(f)
    assert on_disk['owner'] == 'deploy A' and on_disk['reason'] == 'v2'
    r = run_release('app_release', dict(app_root=root, state='locked', lock_owner='deploy A', lock_ttl=600))
    assert r['changed'] is False
    r = run_release('app_release', dict(app_root=root, state='locked', lock_owner='deploy B'))
    assert r.get('failed') is True
    assert "held by owner 'deploy A'" in r['msg'] and 'expires %s' % on_disk['expires'] in r['msg']
    info = run_release('app_release_info', dict(app_root=root))
    assert info['lock']['owner'] == 'deploy A'
    r = run_release('app_release', dict(app_root=root, state='unlocked', lock_owner='deploy B'))
    assert r.get('failed') is True and os.path.exists(os.path.join(root, 'deploy.lock'))
    r = run_release('app_release', dict(app_root=root, state='unlocked', lock_owner='deploy A'))
    assert r['changed'] is True and not os.path.exists(os.path.join(root, 'deploy.lock'))
    r = run_release('app_release', dict(app_root=root, state='unlocked', lock_owner='deploy A'))
    assert r['changed'] is False


def test_stale_lock_through_module(run_release, app_root):
    root = str(app_root)
    with open(os.path.join(root, 'deploy.lock'), 'w') as f:
        json.dump({'owner': 'deploy OLD', 'host': 'h', 'pid': 1, 'created': '2026-01-01T00:00:00Z',
                   'expires': '2026-01-01T00:30:00Z'}, f)
    r = run_release('app_release', dict(app_root=root, state='locked', lock_owner='deploy NEW'))
    assert r.get('failed') is True and 'stale lock' in r['msg'] and "'deploy OLD'" in r['msg']
    assert 'expires 2026-01-01T00:30:00Z' in r['msg']
    r = run_release('app_release', dict(app_root=root, state='locked', lock_owner='deploy NEW', break_stale=True))
    assert r['changed'] is True and r['broken_lock']['owner'] == 'deploy OLD'
    with open(os.path.join(root, 'deploy.lock')) as f:
        assert json.load(f)['owner'] == 'deploy NEW'
