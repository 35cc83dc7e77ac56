# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The file_prune planner (age, size cap, oldest first) and its path checks, on pure data and temp dirs."""
from __future__ import annotations

import os

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import file_prune as fp

DAY = 86400
NOW = 1000 * DAY


def _f(path, age_days, size):
    return {'path': path, 'mtime': NOW - age_days * DAY, 'size': size}


FILES = [_f('/l/a.1', 1, 1000), _f('/l/b.1', 40, 3000), _f('/l/c.1', 10, 1500), _f('/l/d.1', 35, 2000)]


def test_plan_age_then_cap_oldest_first():
    plan = fp.plan_files(FILES, max_age_days=30, max_total_mb=0.002, now=NOW)
    assert [(d['path'], d['reason']) for d in plan['delete']] == [
        ('/l/b.1', 'older than 30 days'), ('/l/d.1', 'older than 30 days'), ('/l/c.1', 'over the 0.002 MB cap')]
    assert plan['deleted_count'] == 3 and plan['deleted_bytes'] == 6500
    assert plan['bytes_before'] == 7500 and plan['bytes_after'] == 1000 and plan['kept_count'] == 1
    assert plan['matched_count'] == 4 and [k['path'] for k in plan['keep']] == ['/l/a.1']


def test_plan_without_rules_deletes_nothing():
    plan = fp.plan_files(FILES, now=NOW)
    assert plan['delete'] == [] and plan['bytes_after'] == 7500 and plan['kept_count'] == 4


def test_plan_cap_alone_keeps_the_newest_that_fit():
    capped = fp.plan_files(FILES, max_total_mb=2500 / 1048576.0, now=NOW)
    assert [d['path'] for d in capped['delete']] == ['/l/b.1', '/l/d.1'] and capped['bytes_after'] == 2500
    capped = fp.plan_files(FILES, max_total_mb=2400 / 1048576.0, now=NOW)
    assert [d['path'] for d in capped['delete']] == ['/l/b.1', '/l/d.1', '/l/c.1'] and capped['bytes_after'] == 1000


def test_plan_age_boundary_and_ties_by_path():
    files = [_f('/l/z', 30, 1), _f('/l/y', 31, 1), _f('/l/x', 31, 1)]
    plan = fp.plan_files(files, max_age_days=30, now=NOW)
    # exactly 30 days old is not "older than"; equal mtimes go in path order
    assert [d['path'] for d in plan['delete']] == ['/l/x', '/l/y']


def test_plan_total_size_exactly_at_cap_is_kept():
    plan = fp.plan_files([_f('/l/a', 1, 1048576)], max_total_mb=1, now=NOW)
    assert plan['delete'] == [] and plan['bytes_after'] == 1048576


@pytest.mark.parametrize('name, expected', [
    ('app.log.1', True), ('.app.log.1', False), ('keep.log.1', False), ('app.log', False), ('a*b.log.1', True)])
def test_name_matches(name, expected):
    assert fp.name_matches(name, ['*.log.*'], exclude=['keep*'], hidden=False) is expected


def test_pattern_with_a_slash_never_matches():
    assert not fp.name_matches('x.log', ['../*', '*/x.log'])


@pytest.mark.parametrize('path', ['/', '/tmp/../', '//', '/tmp/..'])
def test_check_target_refuses_root(path):
    with pytest.raises(fp.PruneError, match='which is never pruned'):
        fp.check_target(path, ['/tmp'])


def test_check_target_roots_and_links(tmp_path):
    root = tmp_path / 'root'
    (root / 'cache').mkdir(parents=True)
    (tmp_path / 'out').mkdir()
    (root / 'link').symlink_to(tmp_path / 'out')
    assert fp.check_target(str(root / 'cache') + '/', [str(root)])[:2] == (True, str(root / 'cache'))
    assert fp.check_target(str(root / 'missing'), [str(root)])[0] is False
    assert fp.check_target(str(root), [str(root)])[0] is True      # the root itself, as the role allowed
    with pytest.raises(fp.PruneError, match='it is a symlink'):
        fp.check_target(str(root / 'link'), [str(root)])
    with pytest.raises(fp.PruneError, match='not inside any of the allowed roots'):
        fp.check_target(str(root / 'link' / 'x'), [str(root)])
    with pytest.raises(fp.PruneError, match='no usable allowed root'):
        fp.check_target(str(root / 'cache'), ['/', 'relative'])
    with pytest.raises(fp.PruneError, match='not absolute'):
        fp.check_target('cache', [str(root)])
    # a sibling sharing the prefix is not inside
    (tmp_path / 'root2').mkdir()
    with pytest.raises(fp.PruneError, match='not inside'):
        fp.check_target(str(tmp_path / 'root2'), [str(root)])
    (root / 'file').write_text('x')
    with pytest.raises(fp.PruneError, match='not a directory'):
        fp.check_target(str(root / 'file'), [str(root)])


def test_open_dir_nofollow_refuses_a_link_component(tmp_path):
    (tmp_path / 'real').mkdir()
    (tmp_path / 'link').symlink_to(tmp_path / 'real')
    os.close(fp.open_dir_nofollow(str(tmp_path / 'real')))
    with pytest.raises(OSError):
        fp.open_dir_nofollow(str(tmp_path / 'link'))


def _params(path, **kw):
    p = dict(path=str(path), allowed_roots=[str(path)], contents=False, patterns=['*'], exclude=[], hidden=True,
             recurse=False, max_age_days=None, max_total_mb=None, batch_size=2, report_limit=1000)
    p.update(kw)
    return p


def test_pruner_batches_report_limit_and_vanished(tmp_path, monkeypatch):
    for i in range(5):
        (tmp_path / ('f%d' % i)).write_text('x' * 10)
        os.utime(str(tmp_path / ('f%d' % i)), (NOW - (10 - i) * DAY, NOW - (10 - i) * DAY))
    pruner = fp.Pruner(_params(tmp_path, max_age_days=1, report_limit=2), now=NOW)
    real_unlink = os.unlink

    def unlink(name, dir_fd=None):
        if name == 'f2':       # removed by someone else meanwhile
            real_unlink(name, dir_fd=dir_fd)
        return real_unlink(name, dir_fd=dir_fd)

    monkeypatch.setattr(fp.os, 'unlink', unlink)
    r = pruner.run()
    assert r['batches'] == 3 and r['vanished'] == 1 and r['errors'] == []
    assert r['removed']['count'] == 4 and r['removed']['bytes'] == 40
    assert r['removed']['paths'] == [str(tmp_path / 'f0'), str(tmp_path / 'f1')] and r['removed']['paths_truncated']
    assert os.listdir(str(tmp_path)) == []


def test_pruner_reports_a_removal_error(tmp_path, monkeypatch):
    (tmp_path / 'a').write_text('x')
    (tmp_path / 'b').write_text('x')
    real_unlink = os.unlink

    def unlink(name, dir_fd=None):
        if name == 'a':
            raise PermissionError(13, 'Permission denied')
        return real_unlink(name, dir_fd=dir_fd)

    monkeypatch.setattr(fp.os, 'unlink', unlink)
    with pytest.raises(fp.PruneError) as err:
        fp.prune(_params(tmp_path, contents=True))
    assert err.value.msg.startswith('Could not prune %s: 1 entry could not be removed (first: %s: Permission denied)'
                                    % (tmp_path, tmp_path / 'a'))
    assert err.value.result['removed']['paths'] == [str(tmp_path / 'b')]
