# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""release rules that surviving mutants showed unpinned (issue 17, make mutants): path safety of shared paths and
artifact members, keep-N cleanup of failed releases, the rollback candidate."""
from __future__ import annotations

import os

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import release as rel
from ansible_collections.runbook.ops.plugins.module_utils.release import ReleaseError

R1, R2, R3, R4, R5 = ('20261101T080000Z', '20261110T120000Z', '20261120T101500Z', '20261122T090000Z',
                      '20261123T090000Z')


@pytest.mark.parametrize('value', [20261123150405, None, '', b'20261123T150405Z'])
def test_a_release_id_that_is_not_a_non_empty_string_is_refused(value):
    with pytest.raises(ReleaseError):
        rel.validate_release_id(value)


# --------------------------------------------------------------------------- keep-N cleanup

def test_cleanup_keeps_only_the_newest_failed_release_by_default():
    releases = [R1, R2, R3, R4, R5]
    failed = [R1, R2, R3]
    assert rel.plan_cleanup(releases, R5, failed, keep=2) == [R1, R2]
    assert rel.plan_cleanup(releases, R5, failed, keep=2, keep_failed=2) == [R1]
    assert rel.plan_cleanup(releases, R5, [R4], keep=1) == [R1, R2, R3]  # the one failed release is kept


# --------------------------------------------------------------------------- shared paths

@pytest.mark.parametrize('path, norm', [
    ('config/app.yml', 'config/app.yml'),
    ('storage', 'storage'),
    ('a/./b/', 'a/b'),
    ('.env', '.env'),
])
def test_safe_relpath_accepts_paths_inside_the_release(path, norm):
    assert rel.safe_relpath(path, 'shared path') == norm


@pytest.mark.parametrize('path', [
    '', None, 5, 'a\x00b', '/etc/passwd', '..', '../x', 'a/../b', 'a/../../x', 'a\\..\\b', '..\\x', '.', './',
    'a/..',
])
def test_safe_relpath_refuses_paths_that_leave_or_do_not_name_anything_in_the_release(path):
    with pytest.raises(ReleaseError) as e:
        rel.safe_relpath(path, 'shared path')
    assert 'shared path' in str(e.value)


def test_is_within(tmp_path):
    root = tmp_path / 'release'
    (root / 'sub').mkdir(parents=True)
    (tmp_path / 'release-other').mkdir()
    os.symlink(str(tmp_path), str(root / 'escape'))
    assert rel.is_within(str(root), str(root))
    assert rel.is_within(str(root), str(root / 'sub'))
    assert not rel.is_within(str(root), str(tmp_path / 'release-other'))
    assert not rel.is_within(str(root), str(tmp_path))
    assert not rel.is_within(str(root), str(root / 'escape'))


# --------------------------------------------------------------------------- artifact members and links

@pytest.mark.parametrize('name', ['', 'a\x00b', '/etc/passwd', '\\etc\\passwd', 'C:/Windows/x', 'c:\\windows\\x',
                                  'a\\..\\..\\x', '..\\x', '../x', 'a/../../x'])
def test_member_names_outside_the_release_are_refused(name):
    with pytest.raises(ReleaseError):
        rel._check_member_name(name, 'app.tar.gz')


@pytest.mark.parametrize('name', ['app/main.py', 'a..b/c', '.env', 'bin/run'])
def test_member_names_inside_the_release_are_accepted(name):
    rel._check_member_name(name, 'app.tar.gz')


@pytest.mark.parametrize('member, target', [
    ('link', ''), ('link', 'a\x00b'), ('link', '/etc/passwd'), ('link', '..'), ('link', '../x'),
    ('dir/link', '../../x'), ('dir/link', '../..'), ('a/b/link', '../../../etc'),
])
def test_links_pointing_outside_the_release_are_refused(member, target):
    with pytest.raises(ReleaseError):
        rel._check_link_target(member, target, 'app.tar.gz')


@pytest.mark.parametrize('member, target', [
    ('link', 'app/main.py'), ('dir/link', '../other'), ('a/b/link', '../../c'), ('dir/link', '.'),
])
def test_links_inside_the_release_are_accepted(member, target):
    rel._check_link_target(member, target, 'app.tar.gz')


# --------------------------------------------------------------------------- rollback candidate

def test_rollback_candidate_without_arguments_is_older_than_the_active_release(tmp_path):
    tree = rel.ReleaseTree(str(tmp_path))
    for rid in (R1, R2, R3, R4):
        os.makedirs(tree.release_path(rid))
    os.symlink(os.path.join('releases', R2), tree.current)
    assert tree.rollback_candidate() == R1
