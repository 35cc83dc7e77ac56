# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the db_backup / db_backup_info / db_restore integration tests.

Independent checks go through psql (row counts, an md5 of every table's sorted rows) and
through boto3 or the file system for the store; never through the code under test.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time

import boto3
import pytest


HOSTILE_DB = 'db."x; --'
HOSTILE_SCHEMA = "s'c\"h"
HOSTILE_TABLE = 't"; DROP TABLE x; --'


def qi(name):
    """Quote an identifier for the psql checks (independent of psycopg.sql)."""
    return '"%s"' % name.replace('"', '""')


def ql(text):
    return "'%s'" % text.replace("'", "''")


def unique_db(prefix='app'):
    return '%s_%s' % (prefix, secrets.token_hex(4))


def create_db(pg, name, rows=2000, big_rows=0, hostile_table=False):
    """A database with a keyed table, a table with an array/json/NULL mix, optionally a big md5 table."""
    pg.psql('CREATE DATABASE %s' % qi(name))
    pg.psql('CREATE TABLE items (id int PRIMARY KEY, name text, tags text[], doc jsonb, price numeric(10,2));'
            'INSERT INTO items SELECT g, md5(g::text), ARRAY[g::text, NULL], jsonb_build_object(\'g\', g), g / 7.0 '
            'FROM generate_series(1, %d) g;'
            'CREATE TABLE events (id bigserial PRIMARY KEY, item int REFERENCES items(id), at timestamptz);'
            'INSERT INTO events (item, at) SELECT (g %% %d) + 1, now() FROM generate_series(1, %d) g;'
            % (rows, rows, rows * 2), db=name)
    if big_rows:
        pg.psql('CREATE TABLE big (id int, payload text);'
                'INSERT INTO big SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, %d) g'
                % big_rows, db=name)
    if hostile_table:
        pg.psql('CREATE SCHEMA %s; CREATE TABLE %s.%s (v text); INSERT INTO %s.%s VALUES (%s), (NULL)'
                % (qi(HOSTILE_SCHEMA), qi(HOSTILE_SCHEMA), qi(HOSTILE_TABLE), qi(HOSTILE_SCHEMA), qi(HOSTILE_TABLE),
                   ql("'); DROP DATABASE postgres; --")), db=name)
    return name


def fingerprint(pg, db):
    """{schema.table: (rows, md5 of the sorted rows)} for every user table, via psql."""
    listing = pg.psql("SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
                      "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1", db=db)
    out = {}
    for qualified in [line for line in listing.splitlines() if line]:
        row = pg.psql('SELECT count(*) || \'|\' || coalesce(md5(string_agg(t::text, \',\' ORDER BY t::text)), \'-\') '
                      'FROM %s t' % qualified, db=db)
        n, digest = row.split('|')
        out[qualified] = (int(n), digest)
    return out


def databases(pg):
    return set(pg.psql('SELECT datname FROM pg_database').splitlines())


def drop_db(pg, name):
    pg.psql('DROP DATABASE IF EXISTS %s WITH (FORCE)' % qi(name), check=False)


def s3_client(endpoint):
    return boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1',
                        aws_access_key_id='testing', aws_secret_access_key='testing')


def new_bucket(endpoint):
    name = 'rbo-%s' % secrets.token_hex(6)
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


def s3_keys(endpoint, bucket, prefix=''):
    r = s3_client(endpoint).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o['Key']: o['Size'] for o in r.get('Contents', [])}


def s3_uploads(endpoint, bucket):
    return s3_client(endpoint).list_multipart_uploads(Bucket=bucket).get('Uploads', [])


def local_files(root):
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            out.append(os.path.relpath(os.path.join(dirpath, f), root))
    return sorted(out)


def clone_local_backup(root, src_id, created_at):
    """Copy a real backup under a new id with a faked created_at (for retention tests)."""
    stamp = created_at.strftime('%Y%m%dT%H%M%SZ')
    dbslug = src_id.split('-', 1)[1].rsplit('-', 1)[0]
    new_id = '%s-%s-%s' % (stamp, dbslug, secrets.token_hex(3))
    os.makedirs(os.path.join(root, new_id))
    with open(os.path.join(root, src_id, 'manifest.json')) as f:
        manifest = json.load(f)
    shutil.copy(os.path.join(root, src_id, manifest['data_key']), os.path.join(root, new_id, manifest['data_key']))
    manifest['id'] = new_id
    manifest['created_at'] = created_at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')
    with open(os.path.join(root, new_id, 'manifest.json'), 'w') as f:
        json.dump(manifest, f)
    return new_id


def write_fake_tool(bindir, name, body):
    path = os.path.join(bindir, name)
    with open(path, 'w') as f:
        f.write(body)
    os.chmod(path, 0o755)
    return path


def old_pg_dump(bindir):
    """A pg_dump that says it is 13.4 (older than the 15 test server)."""
    return write_fake_tool(bindir, 'pg_dump', '#!/bin/sh\necho "pg_dump (PostgreSQL) 13.4"\n')


def killed_pg_dump(bindir, after_bytes=262144):
    """The real pg_dump, SIGKILLed by a watcher once it has written ``after_bytes`` bytes."""
    real = shutil.which('pg_dump')
    body = '''#!%(py)s
import os, signal, sys, time
real = %(real)r
if sys.argv[1:2] == ['--version']:
    os.execv(real, [real] + sys.argv[1:])
pid = os.getpid()
if os.fork() == 0:
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            with open('/proc/%%d/io' %% pid) as f:
                io = dict(line.split(': ') for line in f.read().splitlines())
            with open('/proc/%%d/comm' %% pid) as f:
                comm = f.read().strip()
        except OSError:
            os._exit(0)
        if comm == 'pg_dump' and int(io['wchar']) >= %(limit)d:
            break
        time.sleep(0.001)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    os._exit(0)
os.execv(real, [real] + sys.argv[1:])
''' % {'py': sys.executable, 'real': real, 'limit': after_bytes}
    return write_fake_tool(bindir, 'pg_dump', body)


def find_process(marker, name, timeout=30.0):
    """Pid of a process called ``name`` whose argv contains ``marker`` (our own unique temp path)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in os.listdir('/proc'):
            if not pid.isdigit():
                continue
            try:
                with open('/proc/%s/cmdline' % pid, 'rb') as f:
                    argv = f.read().split(b'\0')
            except OSError:
                continue
            if argv and os.path.basename(argv[0].decode('utf-8', 'replace')) == name and \
                    any(marker.encode() in a for a in argv):
                return int(pid)
        time.sleep(0.01)
    return None


def no_secret(result, *secrets_):
    for s in secrets_:
        assert s not in result['_stdout']
        assert s not in result['_stderr']


@pytest.fixture
def tmpfs_dir(tmp_path):
    """A 2 MiB tmpfs (root only); yields its path, unmounts after."""
    d = tmp_path / 'small'
    d.mkdir()
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', str(d)], capture_output=True, text=True,
                       check=False)
    if r.returncode != 0:
        pytest.fail('cannot mount a tmpfs here (%s): run the suite as root' % r.stderr.strip())
    try:
        yield str(d)
    finally:
        subprocess.run(['umount', str(d)], check=False)


def held_pg_dump(bindir, mib, pidfile, release):
    """A pg_dump that writes ``mib`` MiB of random bytes, records its parent's pid (the module process) in
    ``pidfile``, then holds still until the file ``release`` exists (at most 5 minutes) and exits 0.
    ``--version`` is the real pg_dump's."""
    real = shutil.which('pg_dump')
    body = '''#!%(py)s
import os, sys, time
real = %(real)r
if sys.argv[1:2] == ['--version']:
    os.execv(real, [real] + sys.argv[1:])
with open(%(pidfile)r + '.tmp', 'w') as f:
    f.write(str(os.getppid()))
os.rename(%(pidfile)r + '.tmp', %(pidfile)r)
block = os.urandom(1024 * 1024)
for _ in range(%(mib)d):
    sys.stdout.buffer.write(block)
sys.stdout.buffer.flush()
end = time.time() + 300
while not os.path.exists(%(release)r) and time.time() < end:
    time.sleep(0.05)
''' % {'py': sys.executable, 'real': real, 'mib': mib, 'pidfile': pidfile, 'release': release}
    return write_fake_tool(bindir, 'pg_dump', body)


def wait_for(predicate, timeout=120.0, what='the condition'):
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` s (a generous bound)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail('timed out waiting for %s' % what)


class FrozenEndpoint(object):
    """A real TCP server on 127.0.0.1 that accepts every connection and never answers (nor closes)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.url = 'http://127.0.0.1:%d' % self.sock.getsockname()[1]
        self.accepted = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted.append(conn)  # held open: never read, never answered

    def close(self):
        self._stop.set()
        self._thread.join(5)
        for c in self.accepted:
            c.close()
        self.sock.close()


@pytest.fixture
def frozen_endpoint():
    srv = FrozenEndpoint()
    try:
        yield srv
    finally:
        srv.close()
