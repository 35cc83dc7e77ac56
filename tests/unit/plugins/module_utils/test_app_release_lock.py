# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import datetime
import json
import os

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import release as rel
from ansible_collections.runbook.ops.plugins.module_utils.release import ReleaseError

T0 = datetime.datetime(2026, 11, 23, 15, 0, 0, tzinfo=datetime.timezone.utc)


def later(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


def test_take_and_content(tmp_path):
    path = str(tmp_path / 'deploy.lock')
    r = rel.acquire_lock(path, 'deploy A', 600, now=T0, reason='v2')
    assert r['changed'] is True and r['broken_lock'] is None
    data = json.loads(open(path).read())
    assert data['owner'] == 'deploy A'
    assert data['created'] == '2026-11-23T15:00:00Z'
    assert data['expires'] == '2026-11-23T15:10:00Z'
    assert data['pid'] == os.getpid() and data['host'] and data['reason'] == 'v2'
    assert os.listdir(str(tmp_path)) == ['deploy.lock']  # no temp file left


def test_second_owner_refused_names_owner_and_expiry(tmp_path):
    path = str(tmp_path / 'deploy.lock')
    rel.acquire_lock(path, 'deploy A', 600, now=T0)
    with pytest.raises(ReleaseError) as e:
        rel.acquire_lock(path, 'deploy B', 600, now=later(60))
    msg = str(e.value)
    assert "held by owner 'deploy A'" in msg
    assert 'expires 2026-11-23T15:10:00Z' in msg
    assert json.loads(open(path).read())['owner'] == 'deploy A'


def test_same_owner_is_unchanged(tmp_path):
    path = str(tmp_path / 'deploy.lock')
    rel.acquire_lock(path, 'deploy A', 600, now=T0)
    r = rel.acquire_lock(path, 'deploy A', 600, now=later(30))
    assert r['changed'] is False and r['lock']['created'] == '2026-11-23T15:00:00Z'


def test_stale_lock_needs_break_stale(tmp_path):
    path = str(tmp_path / 'deploy.lock')
    rel.acquire_lock(path, 'deploy A', 600, now=T0)
    with pytest.raises(ReleaseError) as e:
        rel.acquire_lock(path, 'deploy B', 600, now=later(601))
    assert 'stale lock' in str(e.value) and 'break_stale=true' in str(e.value)
    assert "'deploy A'" in str(e.value)
    # even the same owner does not silently reuse an expired lock
    with pytest.raises(ReleaseError):
        rel.acquire_lock(path, 'deploy A', 600, now=later(601))
    r = rel.acquire_lock(path, 'deploy B', 600, break_stale=True, now=later(601))
    assert r['changed'] is True and r['broken_lock']['owner'] == 'deploy A'
    assert json.loads(open(path).read())['owner'] == 'deploy B'
    assert sorted(os.listdir(str(tmp_path))) == ['deploy.lock']


def test_break_stale_does_not_break_valid_lock(tmp_path):
    path = str(tmp_path / 'deploy.lock')
    rel.acquire_lock(path, 'deploy A', 600, now=T0)
    with pytest.raises(ReleaseError) as e:
        rel.acquire_lock(path, 'deploy B', 600, break_stale=True, now=later(10))
    assert 'Wait for that deploy to finish' in str(e.value)


def test_corrupt_lock_counts_as_stale(tmp_path):
    path = tmp_path / 'deploy.lock'
    path.write_text('{not json')
    with pytest.raises(ReleaseError) as e:
        rel.acquire_lock(str(path), 'deploy B', 600, now=T0)
    assert 'stale lock' in str(e.value)
    assert rel.acquire_lock(str(path), 'deploy B', 600, break_stale=True, now=T0)['changed'] is True


def test_check_mode_writes_nothing(tmp_path):
    path = str(tmp_path / 'deploy.lock')
    r = rel.acquire_lock(path, 'deploy A', 600, check_mode=True, now=T0)
    assert r['changed'] is True and not os.path.exists(path)
    rel.acquire_lock(path, 'deploy A', 600, now=T0)
    r = rel.release_lock(path, 'deploy A', check_mode=True)
    assert r['changed'] is True and os.path.exists(path)


def test_release_by_owner_and_force(tmp_path):
    path = str(tmp_path / 'deploy.lock')
    assert rel.release_lock(path, 'deploy A') == {'changed': False, 'lock': None}
    rel.acquire_lock(path, 'deploy A', 600, now=T0)
    with pytest.raises(ReleaseError) as e:
        rel.release_lock(path, 'deploy B')
    assert "not by 'deploy B'" in str(e.value) and 'force=true' in str(e.value)
    assert os.path.exists(path)
    assert rel.release_lock(path, 'deploy B', force=True)['changed'] is True
    assert not os.path.exists(path)


@pytest.mark.parametrize('owner', ['', 'a\x00b'])
def test_hostile_owner(tmp_path, owner):
    with pytest.raises(ReleaseError):
        rel.acquire_lock(str(tmp_path / 'deploy.lock'), owner, 600, now=T0)


def test_lock_race_loses_cleanly(tmp_path, monkeypatch):
    """Another deploy creates the lock between our read and our link: we fail, theirs stays."""
    path = str(tmp_path / 'deploy.lock')
    real_link = os.link

    def racing_link(src, dst):
        with open(dst, 'w') as f:
            json.dump({'owner': 'deploy Z', 'expires': '2026-11-23T16:00:00Z'}, f)
        return real_link(src, dst)

    monkeypatch.setattr(rel.os, 'link', racing_link)
    with pytest.raises(ReleaseError) as e:
        rel.acquire_lock(path, 'deploy A', 600, now=T0)
    assert "'deploy Z'" in str(e.value)
    assert json.loads(open(path).read())['owner'] == 'deploy Z'
    assert os.listdir(str(tmp_path)) == ['deploy.lock']
