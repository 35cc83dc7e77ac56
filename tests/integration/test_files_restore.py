# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""files_restore against a real moto S3 server, run through ansible: restore, idempotence, one change."""
from __future__ import annotations

import os
import stat

from files_restore_fixtures import md5, snapshot, tree


NESTED = {
    'top.txt': b'top level\n',
    'a/one.txt': b'one\n' * 100,
    'a/b/two.bin': os.urandom(70000),
    'a/b/c/three.json': b'{"three": 3}\n',
    'x/y/z/deep.txt': b'',
}


def test_nested_restore_mode_owner_idempotent_and_one_change(bucket, workdir, run_module):
    bucket.put_many([('uploads/' + k, v) for k, v in NESTED.items()] + [('uploads/a/b/', b''), ('other/x', b'no')])
    dest = os.path.join(workdir, 'srv', 'uploads')
    args = bucket.args(dest, 'uploads', owner='nobody', group='nogroup', mode='0640', dir_mode='0750')

    # check mode first: reports everything, writes nothing (dest is not even created)
    r = run_module('files_restore', args, check=True, diff=True)
    assert not r.get('failed'), r.get('msg')
    assert r['changed'] is True and r['downloaded'] == 5 and r['bytes'] == sum(len(v) for v in NESTED.values())
    assert r['files'] == sorted(NESTED)
    assert 'a/b/c/three.json' in r['diff']['after']
    assert not os.path.exists(os.path.join(workdir, 'srv'))

    r = run_module('files_restore', args)
    assert not r.get('failed'), r.get('msg')
    assert r['changed'] is True and r['downloaded'] == 5 and r['unchanged'] == 0 and r['deleted'] == 0
    assert r['src'] == 's3://%s/uploads/' % bucket.name and r['dest'] == dest
    assert r['files'] == sorted(NESTED)
    # independent check: contents, modes, owners
    assert tree(dest) == {k: md5(v) for k, v in NESTED.items()}
    for name in NESTED:
        st = os.lstat(os.path.join(dest, name))
        assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_uid == 65534 and st.st_gid == 65534, name
    for d in ('', 'a', 'a/b', 'a/b/c', 'x', 'x/y', 'x/y/z'):
        st = os.stat(os.path.join(dest, d))
        assert stat.S_IMODE(st.st_mode) == 0o750 and st.st_uid == 65534, d
    assert not [n for n in os.listdir(os.path.join(dest, 'a')) if n.startswith('.')]

    # second run: idempotent, nothing downloaded, nothing touched
    before = snapshot(dest)
    r = run_module('files_restore', args)
    assert r['changed'] is False and r['downloaded'] == 0 and r['unchanged'] == 5 and r['bytes'] == 0
    assert r['total_bytes'] == sum(len(v) for v in NESTED.values())
    assert snapshot(dest) == before
    r = run_module('files_restore', args, check=True)
    assert r['changed'] is False and r['files'] == []

    # one object changes (same size: the MD5 decides) -> only it is downloaded
    bucket.put('uploads/a/one.txt', b'ONE\n' * 100)
    r = run_module('files_restore', args, diff=True)
    assert r['changed'] is True and r['downloaded'] == 1 and r['files'] == ['a/one.txt'] and r['unchanged'] == 4
    assert 'a/one.txt' in r['diff']['before'] and 'a/one.txt' in r['diff']['after']
    with open(os.path.join(dest, 'a/one.txt'), 'rb') as f:
        assert f.read() == b'ONE\n' * 100
    assert [p for p in snapshot(dest) if not p[0].endswith('one.txt') and not os.path.isdir(p[0])] == \
        [p for p in before if not p[0].endswith('one.txt') and not os.path.isdir(p[0])]

    # a local mode change is corrected without a download
    os.chmod(os.path.join(dest, 'top.txt'), 0o600)
    r = run_module('files_restore', args)
    assert r['changed'] is True and r['downloaded'] == 0 and r['attributes_fixed'] == 1
    assert stat.S_IMODE(os.stat(os.path.join(dest, 'top.txt')).st_mode) == 0o640


def test_empty_prefix_restores_the_whole_bucket(bucket, workdir, run_module):
    bucket.put_many([('root.txt', b'r'), ('d/e.txt', b'e'), ('d/', b'')])
    dest = os.path.join(workdir, 'all')
    r = run_module('files_restore', bucket.args(dest, ''))
    assert not r.get('failed'), r.get('msg')
    assert r['src'] == 's3://%s/' % bucket.name and r['downloaded'] == 2
    assert tree(dest) == {'root.txt': md5(b'r'), 'd/e.txt': md5(b'e')}
