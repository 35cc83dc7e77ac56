# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safety rules pinned by issue 17: each test fails when its rule breaks (one-line mutations included)."""
from __future__ import annotations

import datetime
import os

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import release as rel
from ansible_collections.runbook.ops.plugins.module_utils.release import ReleaseError

R1, R2, R3, R4 = '20261101T080000Z', '20261110T120000Z', '20261120T101500Z', '20261122T090000Z'
UTC = datetime.timezone.utc
EXPIRES = datetime.datetime(2026, 11, 23, 15, 10, 0, tzinfo=UTC)
ONE_US = datetime.timedelta(microseconds=1)


# --------------------------------------------------------------------------- rollback goes back, never forward

def test_rollback_picks_older_good_release_never_a_newer_one():
    """current=R2, R1 good, R3 newer and not failed -> R1 (the rollback role uses rollback_candidate)."""
    tree = rel.ReleaseTree('/nonexistent-app-root')
    assert tree.rollback_candidate(active=R2, releases=[R1, R2, R3], failed=[]) == R1


def test_rollback_picks_the_newest_of_the_older_good_releases():
    tree = rel.ReleaseTree('/nonexistent-app-root')
    assert tree.rollback_candidate(active=R3, releases=[R1, R2, R3, R4], failed=[]) == R2
    assert tree.rollback_candidate(active=R3, releases=[R4, R3, R2, R1], failed=[]) == R2  # input order is ignored


def test_rollback_skips_failed_and_never_falls_forward():
    tree = rel.ReleaseTree('/nonexistent-app-root')
    assert tree.rollback_candidate(active=R3, releases=[R1, R2, R3, R4], failed=[R2]) == R1
    # nothing older and good: no candidate at all, even though R4 is newer and good
    assert tree.rollback_candidate(active=R2, releases=[R1, R2, R3, R4], failed=[R1]) is None
    assert tree.rollback_candidate(active=R1, releases=[R1, R2, R3], failed=[]) is None


def test_rollback_candidate_on_disk(tmp_path):
    tree = rel.ReleaseTree(str(tmp_path))
    for rid in (R1, R2, R3):
        os.makedirs(tree.release_path(rid))
    tree.activate(R2)
    assert tree.info()['rollback_candidate'] == R1
    tree.mark_failed(R1)
    assert tree.info()['rollback_candidate'] is None


# --------------------------------------------------------------------------- a lock that expires now is stale

def lock(expires=EXPIRES):
    return {'owner': 'deploy A', 'expires': rel.isoformat(expires)}


def test_lock_expiring_exactly_now_is_stale():
    assert rel.lock_expired(lock(), EXPIRES) is True


def test_lock_expiring_a_microsecond_later_is_not_stale():
    assert rel.lock_expired(lock(), EXPIRES - ONE_US) is False
    assert rel.lock_expired(lock(), EXPIRES + ONE_US) is True


@pytest.mark.parametrize('expires', [None, '', 'tomorrow', 12])
def test_unreadable_expiry_is_stale(expires):
    assert rel.lock_expired({'owner': 'x', 'expires': expires}, EXPIRES) is True


def test_acquire_at_the_expiry_instant(tmp_path):
    path = str(tmp_path / 'deploy.lock')
    start = EXPIRES - datetime.timedelta(seconds=600)
    rel.acquire_lock(path, 'deploy A', 600, now=start)
    # a microsecond before expiry the lock is held: refused as held, not as stale
    with pytest.raises(ReleaseError) as e:
        rel.acquire_lock(path, 'deploy B', 600, now=EXPIRES - ONE_US, break_stale=True)
    assert 'it is held by' in str(e.value)
    # at the expiry instant it is stale: refused as stale without break_stale, broken with it
    with pytest.raises(ReleaseError) as e:
        rel.acquire_lock(path, 'deploy B', 600, now=EXPIRES)
    assert 'a stale lock is held by' in str(e.value)
    r = rel.acquire_lock(path, 'deploy B', 600, now=EXPIRES, break_stale=True)
    assert r['changed'] is True and r['broken_lock']['owner'] == 'deploy A'
    assert rel.read_lock(path)['owner'] == 'deploy B'
