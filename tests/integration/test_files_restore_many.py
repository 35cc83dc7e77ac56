# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""files_restore with 1500 objects (listing pagination) against a real moto S3 server."""
from __future__ import annotations

import os
import time

from files_restore_fixtures import tree


def test_pagination_1500_objects(bucket, workdir, run_module):
    items = [('many/%02d/f%04d.txt' % (i % 30, i), b'%d\n' % i) for i in range(1500)]
    bucket.put_many(items, workers=32)
    dest = os.path.join(workdir, 'many')
    args = bucket.args(dest, 'many', concurrency=16)

    r = run_module('files_restore', dict(args, max_files=1499))
    assert r.get('failed') is True and 'more than max_files=1499' in r['msg']
    assert not os.path.exists(dest)

    t0 = time.monotonic()
    r = run_module('files_restore', args)
    took = time.monotonic() - t0
    assert not r.get('failed'), r.get('msg')
    assert r['downloaded'] == 1500 and len(r['files']) == 1000
    assert len(tree(dest)) == 1500
    with open(os.path.join(dest, '29', 'f1499.txt'), 'rb') as f:
        assert f.read() == b'1499\n'
    assert took < 120, took
    r = run_module('files_restore', args)
    assert r['changed'] is False and r['unchanged'] == 1500
