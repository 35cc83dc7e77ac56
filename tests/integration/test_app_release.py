# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# app_release run for real through ``ansible localhost -m runbook.ops.app_release`` on a temp app_root.
#
# Kept to a handful of ansible runs (each starts an interpreter); the state machine in all its cases is covered
# in-process by test_app_release_tree.py and test_app_release_sources.py.

import json
import os

import pytest

from release_fixtures import IDS, sha256, tree_state

R1, R2 = IDS[0], IDS[1]


def test_end_to_end_through_ansible(run_module, app_root, artifacts):
    root = str(app_root)
    args = dict(app_root=root, release_id=R1, src=artifacts['v1'], shared_paths=['.env'])
    # check mode: predicted, nothing written
    before = tree_state(root)
    r = run_module('app_release', args, check=True, diff=True)
    assert r['changed'] is True and r['diff']['after']['releases'] == [R1], r
    assert tree_state(root) == before
    # act, then check the tree independently
    r = run_module('app_release', args)
    assert r['changed'] is True and r['checksum'] == sha256(artifacts['v1']), r
    assert (app_root / 'releases' / R1 / 'VERSION').read_text() == 'v1\n'
    assert (app_root / 'releases' / R1 / '.env').read_text() == 'SECRET_FROM_SHARED=1\n'
    # idempotent
    assert run_module('app_release', args)['changed'] is False
    # switch with diff
    r = run_module('app_release', dict(app_root=root, release_id=R1, state='active', actor='ci', reason='v1'),
                   diff=True)
    assert r['changed'] is True and r['previous_release'] is None
    assert r['diff']['before']['active_release'] is None and r['diff']['after']['active_release'] == R1
    assert os.readlink(os.path.join(root, 'current')) == 'releases/' + R1
    with open(os.path.join(root, 'history.jsonl')) as f:
        entry = json.loads(f.readline())
    assert (entry['action'], entry['release_id'], entry['actor'], entry['reason']) == ('activate', R1, 'ci', 'v1')
    # the lock: a second owner is refused with owner and expiry in the message
    r = run_module('app_release', dict(app_root=root, state='locked', lock_owner='deploy A', lock_ttl=600))
    assert r['changed'] is True
    r = run_module('app_release', dict(app_root=root, state='locked', lock_owner='deploy B'))
    assert r.get('failed') is True
    assert "held by owner 'deploy A'" in r['msg']
    with open(os.path.join(root, 'deploy.lock')) as f:
        assert 'expires %s' % json.load(f)['expires'] in r['msg']
    # info through ansible: never changed
    snap = tree_state(root)
    r = run_module('app_release_info', dict(app_root=root))
    assert r['changed'] is False and r['releases'] == [R1] and r['active_release'] == R1
    assert r['lock']['owner'] == 'deploy A'
    assert tree_state(root) == snap


@pytest.mark.parametrize('rid', ['../x', 'a/b', '\x00'])
def test_hostile_ids_through_ansible(run_module, app_root, artifacts, rid):
    before = tree_state(str(app_root))
    r = run_module('app_release', dict(app_root=str(app_root), release_id=rid, src=artifacts['v1']))
    assert r.get('failed') is True, r
    assert 'Could not use release id' in r['msg']
    assert tree_state(str(app_root)) == before
    assert not os.path.exists(os.path.join(str(app_root), '..', 'x'))
