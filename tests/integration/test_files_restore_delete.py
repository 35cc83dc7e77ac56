# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""files_restore delete=true and symlinks under dest, against a real moto S3 server."""
from __future__ import annotations

import os

from files_restore_fixtures import md5, tree


def test_delete_removes_extraneous_files_only_inside_dest(bucket, workdir, run_module):
    bucket.put_many([('cfg/app.yml', b'a: 1\n'), ('cfg/sub/db.yml', b'db: x\n')])
    dest = os.path.join(workdir, 'etc', 'app')
    sibling = os.path.join(workdir, 'etc', 'app-other')   # shares the prefix of dest's name
    os.makedirs(os.path.join(dest, 'old'))
    os.makedirs(sibling)
    outside = os.path.join(workdir, 'outside.txt')
    for p, data in ((os.path.join(dest, 'stale.txt'), b's'), (os.path.join(dest, 'old', 'gone.txt'), b'g'),
                    (os.path.join(dest, 'keep.local'), b'k'), (os.path.join(sibling, 'stale.txt'), b'x'),
                    (outside, b'o')):
        with open(p, 'wb') as f:
            f.write(data)
    os.symlink(outside, os.path.join(dest, 'link-out'))
    args = bucket.args(dest, 'cfg/', delete=True, exclude=['*.local'])

    r = run_module('files_restore', args, check=True)
    assert r['changed'] is True and r['deleted_files'] == ['link-out', 'old/gone.txt', 'stale.txt']
    assert os.path.exists(os.path.join(dest, 'stale.txt')) and not os.path.exists(os.path.join(dest, 'app.yml'))

    r = run_module('files_restore', args)
    assert not r.get('failed'), r.get('msg')
    assert r['downloaded'] == 2 and r['deleted'] == 3
    assert r['deleted_files'] == ['link-out', 'old/gone.txt', 'stale.txt']
    assert tree(dest) == {'app.yml': md5(b'a: 1\n'), 'sub/db.yml': md5(b'db: x\n'), 'keep.local': md5(b'k')}
    assert not os.path.exists(os.path.join(dest, 'old'))            # left empty by the delete
    assert tree(sibling) == {'stale.txt': md5(b'x')}                # a sibling directory is never touched
    with open(outside, 'rb') as f:                                  # the symlink went, not its target
        assert f.read() == b'o'

    r = run_module('files_restore', args)
    assert r['changed'] is False and r['deleted'] == 0 and r['downloaded'] == 0


def test_symlinks_under_dest_are_never_followed(bucket, workdir, run_module):
    bucket.put_many([('s/dir/f.txt', b'f'), ('s/file.txt', b'new')])
    dest = os.path.join(workdir, 'dest')
    elsewhere = os.path.join(workdir, 'elsewhere')
    os.makedirs(dest)
    os.makedirs(elsewhere)
    os.symlink(elsewhere, os.path.join(dest, 'dir'))
    victim = os.path.join(workdir, 'victim.txt')
    with open(victim, 'wb') as f:
        f.write(b'old')
    os.symlink(victim, os.path.join(dest, 'file.txt'))
    r = run_module('files_restore', bucket.args(dest, 's'))
    assert r.get('failed') is True
    assert 'is a symlink' in r['msg'] and 'dir/f.txt' in r['msg'] and 'file.txt' in r['msg']
    assert os.listdir(elsewhere) == []
    with open(victim, 'rb') as f:
        assert f.read() == b'old'

    # dest itself may be a symlink (a release's shared dir): it is resolved once
    real = os.path.join(workdir, 'real')
    os.makedirs(real)
    os.symlink(real, os.path.join(workdir, 'current'))
    r = run_module('files_restore', bucket.args(os.path.join(workdir, 'current'), 's'))
    assert not r.get('failed'), r.get('msg')
    assert tree(real) == {'dir/f.txt': md5(b'f'), 'file.txt': md5(b'new')}
