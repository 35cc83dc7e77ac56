# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""runbook.ops.file_prune through ansible on a real temp filesystem: check mode, real run, second run,
and the hostile inputs ("/", "/tmp/../", a symlinked directory, a link inside pointing outside, names with
a newline and a "*", a path outside the allowed roots)."""
from __future__ import annotations

import os
import time

import pytest

DAY = 86400


def tree(tmp_path):
    root = tmp_path / 'srv'
    outside = tmp_path / 'outside'
    cache = root / 'app' / 'cache'
    (cache / 'sub' / 'deeper').mkdir(parents=True)
    (outside / 'dir').mkdir(parents=True)
    (outside / 'precious').write_text('keep me')
    (outside / 'dir' / 'precious2').write_text('keep me too')
    (cache / 'a').write_text('x' * 10)
    (cache / '.hidden').write_text('x' * 5)
    (cache / 'new\nline').write_text('x')
    (cache / '*').write_text('x')
    (cache / 'sub' / 'deeper' / 'b').write_text('x' * 100)
    (cache / 'sub' / 'escape').symlink_to(outside)            # a link deep inside, to a directory outside
    (cache / 'to-file').symlink_to(outside / 'precious')      # a link directly inside, to a file outside
    (cache / 'to-dir').symlink_to(outside / 'dir')
    return root, outside, cache


def outside_intact(outside):
    return ((outside / 'precious').read_text() == 'keep me'
            and (outside / 'dir' / 'precious2').read_text() == 'keep me too')


def test_contents_check_mode_real_run_second_run(tmp_path, run_module):
    root, outside, cache = tree(tmp_path)
    args = {'path': str(cache), 'allowed_roots': [str(root)], 'contents': True}
    before = sorted(os.listdir(str(cache)))

    r = run_module('file_prune', args, check=True, diff=True)
    assert r.get('failed') is not True, r
    assert r['changed'] is True and r['check_mode'] is True and r['contents'] is True
    assert r['removed']['count'] == 7 and r['removed']['bytes'] == 10 + 5 + 1 + 1 + 100
    assert str(cache / 'new\nline') in r['removed']['paths'] and str(cache / '*') in r['removed']['paths']
    assert r['batches'] == 0 and r['errors'] == []
    assert sorted(os.listdir(str(cache))) == before                   # check mode removed nothing
    diff = r['diff'][0] if isinstance(r['diff'], list) else r['diff']
    assert str(cache / 'new\\nline') + '\n' in diff['before'] and diff['after'] == ''

    r = run_module('file_prune', args)
    assert r.get('failed') is not True, r
    assert r['changed'] is True and r['removed']['count'] == 7 and r['removed']['bytes'] == 117
    assert sorted(r['removed']['paths']) == sorted(str(cache / n) for n in before)
    assert cache.is_dir() and os.listdir(str(cache)) == []
    assert outside_intact(outside)                                     # link targets survive

    r = run_module('file_prune', args)
    assert r['changed'] is False and r['removed']['count'] == 0 and r['matched']['count'] == 0


def test_files_age_and_cap_recurse_links_and_hostile_names(tmp_path, run_module):
    root, outside, logs = tmp_path / 'srv', tmp_path / 'outside', tmp_path / 'srv' / 'logs'
    (logs / 'old-dir').mkdir(parents=True)
    outside.mkdir()
    now = time.time()
    files = {'old.log.1': (40, 3000), 'a\nb.log.1': (35, 2000), '*.log.1': (10, 1500), 'new.log.1': (1, 1000),
             'app.log': (90, 10), 'old-dir/deep.log.1': (50, 700)}
    for name, (age, size) in files.items():
        (logs / name).write_text('y' * size)
        os.utime(str(logs / name), (now - age * DAY, now - age * DAY))
    (outside / 'target.log.1').write_text('precious')
    os.utime(str(outside / 'target.log.1'), (now - 99 * DAY, now - 99 * DAY))
    (logs / 'escape.log.9').symlink_to(outside / 'target.log.1')
    os.utime(str(logs / 'escape.log.9'), (now - 99 * DAY, now - 99 * DAY), follow_symlinks=False)
    args = {'path': str(logs), 'allowed_roots': [str(root)], 'patterns': ['*.log.*', '../*'],
            'max_age_days': 30, 'max_total_mb': 2500 / 1048576.0}

    r = run_module('file_prune', args, check=True)
    assert r['changed'] is True and r['removed']['count'] == 2 and r['kept']['count'] == 2
    assert [p['reason'] for p in r['planned']] == ['older than 30 days', 'older than 30 days']
    assert all((logs / n).exists() for n in files)

    r = run_module('file_prune', dict(args, max_total_mb=2400 / 1048576.0))
    assert r.get('failed') is not True, r
    assert r['removed']['paths'] == [str(logs / 'old.log.1'), str(logs / 'a\nb.log.1'), str(logs / '*.log.1')]
    assert r['removed']['bytes'] == 6500 and r['kept'] == {'count': 1, 'bytes': 1000}
    for name in ('new.log.1', 'app.log', 'old-dir/deep.log.1'):           # newer, unmatched, not recursed
        assert (logs / name).exists(), name
    assert os.path.islink(str(logs / 'escape.log.9')) and (outside / 'target.log.1').read_text() == 'precious'

    r = run_module('file_prune', dict(args, recurse=True, max_total_mb=0))
    assert r['removed']['paths'] == [str(logs / 'old-dir' / 'deep.log.1')] and r['changed'] is True
    r = run_module('file_prune', dict(args, recurse=True, max_total_mb=0))
    assert r['changed'] is False and r['removed']['count'] == 0


@pytest.mark.parametrize('case', ['root', 'root-dotdot', 'symlink', 'escape', 'outside', 'only-slash-root'])
def test_refusals_touch_nothing(tmp_path, run_module, case):
    root, outside, cache = tree(tmp_path)
    (root / 'linked').symlink_to(outside)
    path, roots = {
        'root': ('/', [str(root), '/']),
        'root-dotdot': ('/tmp/../', ['/tmp', '/']),
        'symlink': (str(root / 'linked'), [str(root)]),
        'escape': (str(root / 'linked' / 'dir'), [str(root)]),
        'outside': (str(outside), [str(root)]),
        'only-slash-root': (str(cache), ['/']),
    }[case]
    before = sorted(os.listdir(str(cache)))
    r = run_module('file_prune', {'path': path, 'allowed_roots': roots, 'contents': True})
    assert r.get('failed') is True and r['msg'].startswith('Could not prune '), r
    expected = {'root': 'which is never pruned', 'root-dotdot': 'which is never pruned',
                'symlink': 'it is a symlink (to %s)' % outside,
                'escape': 'it resolves to "%s", which is "/" or not inside any of the allowed roots' % (outside / 'dir'),
                'outside': 'not inside any of the allowed roots', 'only-slash-root': 'no usable allowed root'}[case]
    assert expected in r['msg'], r['msg']
    assert sorted(os.listdir(str(cache))) == before and outside_intact(outside)


def test_missing_directory_and_argument_rules(tmp_path, run_module):
    root = tmp_path / 'srv'
    root.mkdir()
    r = run_module('file_prune', {'path': str(root / 'nope'), 'allowed_roots': [str(root)], 'contents': True})
    assert r.get('failed') is not True and r['exists'] is False and r['changed'] is False
    r = run_module('file_prune', {'path': str(root), 'allowed_roots': [str(root)], 'contents': True, 'max_age_days': 1})
    assert r.get('failed') is True and 'mutually exclusive' in r['msg']
    r = run_module('file_prune', {'path': str(root), 'allowed_roots': [str(root)]})
    assert r.get('failed') is True and 'max_age_days' in r['msg']
