# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ReleaseManager (app_release's state machine in plugins/module_utils/release.py) without Ansible, on real dirs."""
from __future__ import annotations

import json
import os

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import release as rel
from ansible_collections.runbook.ops.plugins.module_utils.release import ReleaseError, ReleaseManager

R1, R2, R3, R4, R5 = ('20261101T080000Z', '20261110T120000Z', '20261120T101500Z', '20261122T090000Z',
                      '20261123T150405Z')


def params(app_root, **kw):
    p = dict(app_root=str(app_root), state='present', release_id=None, src=None, checksum=None, git_repo=None,
             git_ref='HEAD', shared_paths=[], keep=0, keep_failed=1, force=False, owner=None, group=None, mode=None,
             history_file=None, actor='tester', reason='unit test', lock_owner=None, lock_ttl=3600,
             break_stale=False, validate_certs=True, timeout=60)
    p.update(kw)
    return p


def snapshot(root, mtimes=True):
    """Every entry under root: type, mode, mtime, bytes or link target (byte-identical means equal snapshots)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(str(root)):
        for n in dirnames + filenames:
            full = os.path.join(dirpath, n)
            st = os.lstat(full)
            if os.path.islink(full):
                data = ('link', os.readlink(full))
            elif os.path.isfile(full):
                with open(full, 'rb') as f:
                    data = ('file', f.read())
            else:
                data = ('dir', None)
            out[os.path.relpath(full, str(root))] = (st.st_mode, st.st_mtime_ns if mtimes else None, data)
    return out


@pytest.fixture
def site(tmp_path):
    """app_root with R1..R4 (R4 marked failed), current -> R2, a history, a shared .env and an artifact dir."""
    root = tmp_path / 'app'
    tree = rel.ReleaseTree(str(root), actor='setup')
    src = tmp_path / 'artifact'
    src.mkdir()
    (src / 'index.html').write_text('v5\n')
    (root / 'shared').mkdir(parents=True)
    (root / 'shared' / '.env').write_text('A=1\n')
    for rid in (R1, R2, R3, R4):
        tree.present(rid, rel.PathSource(str(src)))
    tree.activate(R2)
    tree.mark_failed(R4)
    return root, str(src)


SCENARIOS = {
    'present new, keep=2': dict(state='present', release_id=R5, keep=2, shared_paths=['.env']),
    'present existing': dict(state='present', release_id=R3),
    'activate newer, keep=1': dict(state='active', release_id=R3, keep=1),
    'activate older, keep=1': dict(state='active', release_id=R1, keep=1),
    'activate failed with force': dict(state='active', release_id=R4, force=True, keep=2, keep_failed=0),
    'activate active (unchanged)': dict(state='active', release_id=R2, keep=3),
    'mark failed': dict(state='failed', release_id=R3),
    'mark failed again': dict(state='failed', release_id=R4),
    'lock': dict(state='locked', lock_owner='bob'),
    'unlock (none held)': dict(state='unlocked', lock_owner='bob'),
}
PREDICTED = ('changed', 'releases', 'failed_releases', 'active_release', 'rollback_candidate', 'removed_releases',
             'previous_release', 'checksum', 'release_id', 'release_path', 'app_root')


@pytest.mark.parametrize('name', sorted(SCENARIOS))
def test_check_mode_touches_nothing_and_predicts_the_real_run(site, name):
    root, src = site
    kw = dict(SCENARIOS[name])
    if kw['state'] == 'present':
        kw['src'] = src
    before = snapshot(root.parent)
    predicted = ReleaseManager(params(root, **kw), check_mode=True).run(diff=True)
    assert snapshot(root.parent) == before  # byte-identical, same modes and mtimes
    real = ReleaseManager(params(root, **kw)).run(diff=True)
    assert dict((k, predicted.get(k)) for k in PREDICTED) == dict((k, real.get(k)) for k in PREDICTED)
    assert predicted['diff']['after'] == real['diff']['after'] or kw['state'] == 'locked'
    if kw['state'] == 'locked':
        assert predicted['lock']['owner'] == real['lock']['owner'] == 'bob'
        assert predicted['diff']['after']['lock_owner'] == real['diff']['after']['lock_owner'] == 'bob'


def test_check_mode_on_a_missing_app_root_creates_nothing(tmp_path, site):
    dummy, src = site
    root = tmp_path / 'new'
    for kw in (dict(state='present', release_id=R5, src=src, keep=1), dict(state='locked', lock_owner='bob')):
        r = ReleaseManager(params(root, **kw), check_mode=True).run()
        assert r['changed'] is True
    assert not root.exists()


def test_switch_and_prune_hold_one_module_lock(site, monkeypatch):
    """state=active takes the flock once and prunes inside it; present takes it for install and for prune."""
    root, src = site
    taken = []
    real = rel.ReleaseTree._flock

    def counting(self, fd):
        taken.append(fd)
        return real(self, fd)
    monkeypatch.setattr(rel.ReleaseTree, '_flock', counting)
    real_cleanup = rel.ReleaseTree.cleanup

    def cleanup(self, *args, **kwargs):
        assert self._mutex_depth >= 1, 'cleanup must run under the hold that switched'
        return real_cleanup(self, *args, **kwargs)
    monkeypatch.setattr(rel.ReleaseTree, 'cleanup', cleanup)
    r = ReleaseManager(params(root, state='active', release_id=R3, keep=1)).run()
    assert r['changed'] is True and r['removed_releases'] == [R1, R2] and len(taken) == 1
    del taken[:]
    r = ReleaseManager(params(root, state='present', release_id=R5, src=src, keep=1)).run()
    assert r['changed'] is True and r['removed_releases'] == [] and len(taken) == 2  # R3 is active, R5 newest


def test_cleanup_spared_release_is_warned(site, monkeypatch):
    root, dummy = site
    warnings = []
    real = rel.plan_cleanup

    def plan_then_switch(*args, **kwargs):
        doomed = real(*args, **kwargs)
        tmp = str(root / 'current.foreign')
        os.symlink(os.path.join('releases', doomed[0]), tmp)
        os.replace(tmp, str(root / 'current'))  # a foreign ln -sfn between plan and delete
        return doomed
    monkeypatch.setattr(rel, 'plan_cleanup', plan_then_switch)
    r = ReleaseManager(params(root, state='active', release_id=R3, keep=1), warn=warnings.append).run()
    assert r['removed_releases'] == [R2] and r['active_release'] == R1
    assert warnings == ['Kept release %s although keep=1 would remove it: current pointed to it when it was about to '
                        'be deleted (switched outside app_release).' % R1]


@pytest.mark.parametrize('kw, msg', [
    (dict(keep=-1), 'Could not use keep=-1: it must be 0 or more.'),
    (dict(keep_failed=-2), 'Could not use keep_failed=-2: it must be 0 or more.'),
    (dict(lock_ttl=0), 'Could not use lock_ttl=0: it must be at least 1 second.'),
    (dict(app_root='relative/app'), "Could not use app_root 'relative/app': it must be an absolute path."),
    (dict(release_id='../x'), 'Could not use release id'),
    (dict(release_id='2026\x00'), 'Could not use release id'),
])
def test_invalid_options_refused_before_any_change(site, kw, msg):
    root, src = site
    before = snapshot(root.parent)
    p = params(root, state='active', release_id=R3)
    p.update(kw)
    with pytest.raises(ReleaseError) as e:
        ReleaseManager(p).run()
    assert str(e.value).startswith(msg)
    assert snapshot(root.parent) == before


def test_option_errors_come_before_app_root_errors(tmp_path):
    with pytest.raises(ReleaseError, match=r'^Could not use keep=-1'):
        ReleaseManager(params('relative', keep=-1))


def test_lock_then_unlock_with_diff(site):
    root, dummy = site
    r = ReleaseManager(params(root, state='locked', lock_owner='alice', reason='deploy')).run(diff=True)
    assert r['changed'] is True and r['lock']['owner'] == 'alice' and r['broken_lock'] is None
    assert r['diff']['before']['lock_owner'] is None and r['diff']['after']['lock_owner'] == 'alice'
    again = ReleaseManager(params(root, state='locked', lock_owner='alice')).run()
    assert again['changed'] is False
    with pytest.raises(ReleaseError):
        ReleaseManager(params(root, state='unlocked', lock_owner='bob')).run()
    r = ReleaseManager(params(root, state='unlocked', lock_owner='alice')).run(diff=True)
    assert r['changed'] is True and r['lock'] is None and r['diff']['after']['lock_owner'] is None


def test_history_records_the_switch(site):
    root, dummy = site
    ReleaseManager(params(root, state='active', release_id=R3, actor='alice', reason='deploy v3')).run()
    with open(str(root / 'history.jsonl')) as f:
        last = json.loads(f.read().splitlines()[-1])
    assert (last['action'], last['release_id'], last['previous'], last['actor'], last['reason']) == \
        ('activate', R3, R2, 'alice', 'deploy v3')


class TestMakeSource:
    def test_file_url_is_a_path(self, site):
        dummy, src = site
        s = rel.make_source(params('/x', src='file://' + src))
        assert isinstance(s, rel.PathSource) and s.path == src

    def test_url_needs_a_checksum(self):
        with pytest.raises(ReleaseError, match=r'^Could not fetch https://a\.test/x\.tgz: a URL needs a checksum'):
            rel.make_source(params('/x', src='https://a.test/x.tgz'))

    def test_git_asks_for_the_binary_only_for_git(self):
        asked = []

        def find_git():
            asked.append(True)
            return '/usr/bin/git'
        s = rel.make_source(params('/x', git_repo='https://git.test/app.git', git_ref='v1'), lambda a: (0, '', ''),
                            find_git)
        assert isinstance(s, rel.GitSource) and s.git == '/usr/bin/git' and asked == [True]

    def test_download_failure_message(self, tmp_path):
        fetch = rel.url_fetcher(timeout=5)
        with pytest.raises(ReleaseError, match=r'^Could not download http://127\.0\.0\.1:1/x: .+\. Check the URL'):
            fetch('http://127.0.0.1:1/x', str(tmp_path / 'out'))


def test_present_failure_leaves_no_release(site, monkeypatch):
    root, src = site
    before = snapshot(root, mtimes=False)

    def boom(*args, **kwargs):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(rel, 'unpack', boom)
    with pytest.raises(OSError):
        ReleaseManager(params(root, state='present', release_id=R5, src=src, keep=1)).run()
    assert snapshot(root, mtimes=False) == before  # no temp dir, no half release, nothing pruned
