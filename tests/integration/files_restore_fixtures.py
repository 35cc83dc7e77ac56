# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the files_restore integration tests.

Objects are written and read back with plain boto3, and the restored tree is checked with os/hashlib:
never through the code under test.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile

import boto3
import botocore.config
import pytest

from servers import free_port, stop_process, wait_port


def s3_client(endpoint):
    return boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1',
                        config=botocore.config.Config(max_pool_connections=16))


class Bucket(object):
    """A fresh bucket on a moto server, with helpers to fill it."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.name = 'fr-%s' % secrets.token_hex(6)
        self.client = s3_client(endpoint)
        self.client.create_bucket(Bucket=self.name)

    def put(self, key, data):
        self.client.put_object(Bucket=self.name, Key=key, Body=data)

    def put_many(self, items, workers=16):
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda kv: self.put(kv[0], kv[1]), items))

    def delete(self, key):
        self.client.delete_object(Bucket=self.name, Key=key)

    def etag(self, key):
        return self.client.head_object(Bucket=self.name, Key=key)['ETag'].strip('"')

    def args(self, dest, prefix='', **extra):
        a = {'src': 's3://%s/%s' % (self.name, prefix), 'dest': dest, 's3_endpoint_url': self.endpoint}
        a.update(extra)
        return a


@pytest.fixture
def bucket(moto_server):
    return Bucket(moto_server)


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix='rbo-fr-')
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def private_moto():
    """A moto server of our own, which a test may stop (the session one is shared)."""
    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), 'moto_server')
    if not os.path.exists(exe):
        exe = shutil.which('moto_server')
    log = tempfile.NamedTemporaryFile(prefix='rbo-moto-fr-', suffix='.log', delete=False)
    proc = subprocess.Popen([exe, '-H', '127.0.0.1', '-p', str(port)], stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, proc=proc)
    os.environ.setdefault('AWS_ACCESS_KEY_ID', 'testing')
    os.environ.setdefault('AWS_SECRET_ACCESS_KEY', 'testing')
    os.environ.setdefault('AWS_DEFAULT_REGION', 'us-east-1')
    server = type('PrivateMoto', (), {})()
    server.url = 'http://127.0.0.1:%d' % port
    server.proc = proc
    yield server
    stop_process(proc)
    log.close()
    os.unlink(log.name)


def tree(root):
    """{relative name: md5} of every file under root (symlinks not followed), independent of the module."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = 'symlink'
                continue
            with open(p, 'rb') as fh:
                out[rel] = hashlib.md5(fh.read()).hexdigest()
    return out


def md5(data):
    return hashlib.md5(data).hexdigest()


def snapshot(root):
    """(path, mode, size, mtime_ns) of everything under root, to prove that nothing changed."""
    out = []
    for dirpath, dirs, files in os.walk(root):
        for n in sorted(dirs + files):
            st = os.lstat(os.path.join(dirpath, n))
            out.append((os.path.join(dirpath, n), st.st_mode, st.st_size, st.st_mtime_ns))
    return sorted(out)
