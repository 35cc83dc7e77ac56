# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""files_restore faults and multipart objects, against a moto S3 server of the test's own."""
from __future__ import annotations

import os
import threading
import time

import boto3.s3.transfer

from files_restore_fixtures import Bucket, md5, tree


MIB = 1024 * 1024


def _upload_multipart(bucket, key, data):
    path = os.path.join(os.environ.get('TMPDIR', '/tmp'), 'rbo-fr-up-%s' % os.urandom(4).hex())
    with open(path, 'wb') as f:
        f.write(data)
    try:
        cfg = boto3.s3.transfer.TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
        bucket.client.upload_file(path, bucket.name, key, Config=cfg)
    finally:
        os.unlink(path)


def test_multipart_object_is_idempotent_and_a_killed_server_leaves_no_partial_file(private_moto, workdir,
                                                                                   run_module):
    bucket = Bucket(private_moto.url)
    data = os.urandom(20 * MIB + 12345)
    _upload_multipart(bucket, 'm/multi.bin', data)
    assert bucket.etag('m/multi.bin').endswith('-3')
    dest = os.path.join(workdir, 'm')
    r = run_module('files_restore', bucket.args(dest, 'm'))
    assert not r.get('failed'), r.get('msg')
    assert r['downloaded'] == 1 and tree(dest) == {'multi.bin': md5(data)}
    # same size, content differs: our own multipart ETag (8 MiB parts) catches it, whatever the mtime
    with open(os.path.join(dest, 'multi.bin'), 'r+b') as f:
        f.seek(9 * MIB)
        f.write(b'corrupted')
    r = run_module('files_restore', bucket.args(dest, 'm'))
    assert r['downloaded'] == 1 and tree(dest) == {'multi.bin': md5(data)}
    r = run_module('files_restore', bucket.args(dest, 'm'))
    assert r['changed'] is False and r['unchanged'] == 1

    # a big object, and the server dies while it downloads
    big = os.urandom(96 * MIB)
    bucket.put('k/big.bin', big)
    bucket.put('k/small.txt', b'small')
    kdest = os.path.join(workdir, 'k')
    os.makedirs(kdest)
    with open(os.path.join(kdest, 'big.bin'), 'wb') as f:
        f.write(b'the previous version')
    seen = {}

    def kill_when_half_written():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and 'killed' not in seen:
            for n in os.listdir(kdest):
                if n.startswith('.files_restore-'):
                    try:
                        size = os.path.getsize(os.path.join(kdest, n))
                    except OSError:
                        continue
                    if size > 2 * MIB:
                        seen['tmp'], seen['size'] = n, size
                        private_moto.proc.kill()
                        seen['killed'] = True
            time.sleep(0.005)

    watcher = threading.Thread(target=kill_when_half_written)
    watcher.start()
    r = run_module('files_restore', bucket.args(kdest, 'k', concurrency=2))
    watcher.join()
    assert seen.get('killed'), 'the download finished before the server could be stopped'
    assert r.get('failed') is True
    assert r['msg'].startswith('Could not restore files from s3://%s/k/ to %s: ' % (bucket.name, kdest))
    assert 'no partial file is left, nothing was deleted' in r['msg'], r['msg']
    # the old file is intact under its name, and no temp file is left behind
    with open(os.path.join(kdest, 'big.bin'), 'rb') as f:
        assert f.read() == b'the previous version'
    assert [n for n in os.listdir(kdest) if n.startswith('.')] == []
    assert seen['size'] < len(big)
