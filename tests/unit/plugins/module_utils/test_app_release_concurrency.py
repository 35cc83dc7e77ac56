# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 17 #3: two activations at once must never leave ``current`` dangling.

The interleaving is reproduced deterministically: ``plan_cleanup`` is wrapped so that, after activation A has
decided what to prune and before it deletes anything, a second activation B (or a foreign ``ln -sfn``) switches
``current`` to a release in A's plan. No thread, no sleep: B runs synchronously inside A's critical section and
must be refused by the module lock instead of waiting (``mutex_wait = 0``).
"""
from __future__ import annotations

import fcntl
import json
import os

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import release as rel
from ansible_collections.runbook.ops.plugins.module_utils.release import ReleaseError

R1, R2, R3, R4 = '20261101T080000Z', '20261110T120000Z', '20261120T101500Z', '20261122T090000Z'


def make_tree(root, active=R2, actor='A'):
    tree = rel.ReleaseTree(str(root), actor=actor)
    for rid in (R1, R2, R3, R4):
        os.makedirs(tree.release_path(rid))
        with open(os.path.join(tree.release_path(rid), 'VERSION'), 'w') as f:
            f.write(rid + '\n')
    os.symlink(os.path.join('releases', active), tree.current)
    return tree


def resolves(tree):
    """current is a symlink to a release directory that exists."""
    return os.path.islink(tree.current) and os.path.isdir(os.path.realpath(tree.current))


def switch_between_plan_and_delete(monkeypatch, action):
    """Run ``action(doomed)`` right after cleanup planned and before it deletes (once)."""
    real = rel.plan_cleanup
    calls = []

    def plan_then_act(*args, **kwargs):
        doomed = real(*args, **kwargs)
        if not calls:
            calls.append(list(doomed))
            action(list(doomed))
        return doomed
    monkeypatch.setattr(rel, 'plan_cleanup', plan_then_act)
    return calls


def test_second_activation_during_prune_is_refused_and_current_resolves(tmp_path, monkeypatch):
    a = make_tree(tmp_path, active=R2, actor='A')
    b = rel.ReleaseTree(str(tmp_path), actor='B')
    b.mutex_wait = 0  # B is called inside A's critical section: it must be refused, not wait (no deadlock)
    outcome = {}

    def activate_b(doomed):
        assert R1 in doomed  # A plans to prune R1 ...
        try:
            outcome['b'] = b.activate(R1)  # ... and B wants to make it current
        except ReleaseError as e:
            outcome['b_error'] = str(e)

    calls = switch_between_plan_and_delete(monkeypatch, activate_b)
    assert a.activate(R4)['changed'] is True
    removed = a.cleanup(keep=1, keep_failed=1, protect=[R4])
    assert calls == [[R1, R2, R3]]
    assert resolves(a), 'current -> %s dangles' % os.readlink(a.current)
    # B was refused while A held the lock, with a message that says why and what to do
    assert 'b' not in outcome, 'B switched current inside A\'s prune: %r' % outcome
    assert outcome['b_error'].startswith('Could not lock %s: another app_release run holds it' % a.mutex_file)
    assert os.readlink(a.current) == 'releases/' + R4
    assert removed == [R1, R2, R3]
    assert sorted(os.listdir(a.releases_dir)) == [R4]
    # the history tells the truth: only A switched
    assert [(e['release_id'], e['actor']) for e in a.history()] == [(R4, 'A')]
    # the lock is released afterwards: B can now run (R1 is gone, and B says so)
    with pytest.raises(ReleaseError, match='Could not activate release %s: .* does not exist' % R1):
        b.activate(R1)


def test_foreign_switch_between_plan_and_delete_is_never_deleted(tmp_path, monkeypatch):
    """Something outside app_release (ln -sfn, another tool) switches current: the re-read spares that release."""
    a = make_tree(tmp_path, active=R2)

    def ln_sfn(doomed):
        tmp = a.current + '.foreign'
        os.symlink(os.path.join('releases', R1), tmp)
        os.replace(tmp, a.current)

    switch_between_plan_and_delete(monkeypatch, ln_sfn)
    a.activate(R4)
    removed = a.cleanup(keep=1, keep_failed=1, protect=[R4])
    assert resolves(a), 'current -> %s dangles' % os.readlink(a.current)
    assert os.readlink(a.current) == 'releases/' + R1
    assert R1 not in removed and removed == [R2, R3]
    assert sorted(os.listdir(a.releases_dir)) == [R1, R4]
    assert a.cleanup_skipped == [R1]


def test_cleanup_holds_the_module_lock_while_deleting(tmp_path, monkeypatch):
    a = make_tree(tmp_path, active=R4)
    seen = []

    def probe(doomed):
        fd = os.open(a.mutex_file, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen.append(json.loads(os.read(fd, 4096).decode())['pid'])
        finally:
            os.close(fd)

    switch_between_plan_and_delete(monkeypatch, probe)
    a.cleanup(keep=1, keep_failed=1)
    assert seen == [os.getpid()]
    # released afterwards, and it is not the deploy lock (that one is a lease the role holds across a deploy)
    fd = os.open(a.mutex_file, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    assert a.mutex_file != a.lock_file and not os.path.exists(a.lock_file)


def test_lock_released_after_a_failure(tmp_path, monkeypatch):
    a = make_tree(tmp_path, active=R4)

    def boom(doomed):
        raise OSError(28, 'No space left on device')

    switch_between_plan_and_delete(monkeypatch, boom)
    with pytest.raises(OSError):
        a.cleanup(keep=1, keep_failed=1)
    b = rel.ReleaseTree(str(tmp_path))
    b.mutex_wait = 0
    assert b.activate(R3)['changed'] is True


def test_activation_checks_existence_under_the_lock(tmp_path):
    """Held by someone else: activate neither switches nor reads a stale plan; it is refused with the holder."""
    a = make_tree(tmp_path, active=R2)
    b = rel.ReleaseTree(str(tmp_path))
    b.mutex_wait = 0
    with a.mutex():
        with pytest.raises(ReleaseError) as e:
            b.activate(R3)
        with pytest.raises(ReleaseError):
            b.mark_failed(R3)
        with pytest.raises(ReleaseError):
            b.cleanup(keep=1, keep_failed=1)
        # re-entrant for the holder
        assert a.activate(R3)['changed'] is True
    assert 'pid %d' % os.getpid() in str(e.value)
    assert os.readlink(a.current) == 'releases/' + R3
    assert not os.path.exists(a.release_path(R3) + rel.FAILED_SUFFIX)


def test_check_mode_takes_no_lock_and_writes_nothing(tmp_path):
    a = make_tree(tmp_path, active=R2)
    before = sorted(os.listdir(str(tmp_path)))
    c = rel.ReleaseTree(str(tmp_path), check_mode=True)
    assert c.activate(R4)['changed'] is True
    assert c.cleanup(keep=1, keep_failed=1, protect=[R4]) == [R1, R3]
    assert sorted(os.listdir(str(tmp_path))) == before
    assert os.readlink(a.current) == 'releases/' + R2
