# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup stores (a local directory or an S3 prefix) and the backup catalogue on top of them.

A store is named by a URL, option ``store``: ``s3://bucket/prefix`` or a local directory path
(``/var/backups/pg`` or ``file:///var/backups/pg``).  Options (see :func:`store_argument_spec`
and ``doc_fragments/backup_store.py``): ``s3_endpoint_url``, ``aws_region``, ``aws_access_key``,
``aws_secret_key`` (no_log), ``s3_storage_class``, ``s3_sse`` (``AES256`` | ``aws:kms``),
``s3_kms_key_id``, and the S3 client's ``s3_connect_timeout`` (s, default 10), ``s3_read_timeout``
(s, default 60) and ``s3_max_attempts`` (attempts per request, the first included, default 3).
Without explicit keys boto3's usual chain applies (environment, profile, instance role).

Layout, one folder per backup under the store root::

    <root>/<id>/data.dump[.zst|.gz]     the pg_dump custom-format archive, compressed
    <root>/<id>/globals.sql[.zst|.gz]   optional pg_dumpall --globals-only
    <root>/<id>/manifest.json           written LAST: the commit marker

A backup is *valid* when its manifest exists, parses, has the required fields, and the data
object's size equals the manifest's ``size`` (``verify_checksum=True`` also reads the object and
compares its sha256).  Writes never leave a partial object under a valid name: S3 uses a
multipart upload that is aborted on failure; a local store writes a private (0600) temp file
``.<name>.rbo-tmp.<host tag>.<pid>.<random>`` in the same directory, fsyncs, and renames atomically
(the temp file is removed on failure).

A writer killed with SIGKILL cannot clean up.  :func:`find_leftovers` finds what such a writer left,
by its marker, never by a name a user could have chosen: a local temp file must sit in a backup-id
folder and carry the temp marker above (or the ``.<name>.tmp-<8 hex>`` of earlier versions); an S3
multipart upload must be pending on ``<prefix>/<backup id>/<data or globals name>``.  A leftover is
*stale* (:func:`sweep_leftovers` removes it) when its writer ran on this host under a pid that no
longer runs, or when it has not been written to (local) / was started (S3) more than
``LEFTOVER_STALE_S`` ago, so a backup running in parallel is never disturbed.

Public API (used by db_backup, db_backup_info, db_restore and the health check):

``store_argument_spec()``
    the argspec dict of the store options (merge it into a module's spec).
``open_store(params)`` -> ``LocalStore`` | ``S3Store``
    raises :class:`StoreError`.  A store has ``describe()`` (a URL without secrets),
    ``check(create=False)``, ``open_writer(key)`` (``write()``, ``commit()``, ``abort()``),
    ``put_bytes(key, data)``, ``iter_read(key)``, ``read_bytes(key)``, ``size(key)``,
    ``list_objects()`` -> ``{key: size}`` and ``delete(keys)``.
``list_backups(store, database=None, verify_checksum=False, now=None)``
    -> list of entry dicts, newest first: ``id, created_at, age_s, size, valid, reason, database,
    manifest`` (``manifest`` is the parsed JSON or ``None``).
``select_backup(entries, selector)``
    selector ``latest`` | ``<id>`` | ``before:<ISO 8601>``; returns the entry or raises
    :class:`StoreError` saying why nothing fits.
``find_leftovers(store, now=None)`` / ``sweep_leftovers(store, now=None, check_mode=False)``
    what killed writers left (see above): ``{key, kind, size, age_s, stale, reason}`` (``upload_id`` too
    for S3); the sweep removes the stale ones and returns them.
``find_orphans(store, now=None)`` / ``sweep_orphans(store, now=None, check_mode=False)``
    committed data/globals objects of a backup folder without a manifest, by the same marker and
    ``LEFTOVER_STALE_S`` (from the later of the id's time and the object's): ``{key, kind, size, age_s, stale,
    reason}``; the sweep deletes the stale ones (db_backup, after a successful backup) and returns them.
``backup_age(params, database=None, now=None)``
    for a ``backup_age`` health probe: ``{'found': bool, 'id', 'created_at', 'age_s',
    'valid_count', 'invalid_count', 'store'}`` about the newest *valid* backup (``found`` False
    and ``age_s`` None when there is none).  Raises :class:`StoreError` when the store cannot be
    read; the probe should grade that as critical.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import errno
import hashlib
import json
import os
import re
import secrets
import socket
import stat

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils import _lazy

# boto3 is imported on first use (a local store never pays for it)
HAS_BOTO3, BOTO3_IMP_ERR = _lazy.available('boto3', 'botocore')
boto3 = _lazy.module('boto3')
botocore = _lazy.module('botocore')

from ansible_collections.runbook.ops.plugins.module_utils import redaction
from ansible_collections.runbook.ops.plugins.module_utils._time import utcnow

MANIFEST_NAME = 'manifest.json'
MANIFEST_VERSION = 1
CHUNK = 1024 * 1024
# S3 multipart: parts of 8 MiB (s3transfer's default), doubling every 1000 parts so that objects of
# any size fit in S3's 10000 parts; at most S3_MAX_INFLIGHT * S3_PART_SIZE bytes in flight (64 MiB,
# fewer parts when they grow) plus the part being filled.  Measured in bench/backup against moto.
S3_PART_SIZE = 8 * 1024 * 1024
S3_MAX_INFLIGHT = 8
S3_PART_GROWTH = 1000
S3_MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
REQUIRED_MANIFEST_FIELDS = {
    'id': str, 'engine': str, 'server_version': str, 'database': str, 'created_at': str,
    'duration_s': (int, float), 'format': str, 'compression': str, 'size': int, 'sha256': str,
    'data_key': str, 'tables': list,
}
ID_RE = re.compile(r'^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9_-]{0,40}-[0-9a-f]{6}$')
SHA256_RE = re.compile(r'^[0-9a-f]{64}$')
ROW_COUNT_KINDS = ('exact', 'estimate', 'none')
ENGINES = ('postgresql', 'mysql')
FORMATS = ('custom', 'sql')
# per engine: the format of its data object and the manifest field holding its dump tool's version
ENGINE_FORMAT = {'postgresql': 'custom', 'mysql': 'sql'}
ENGINE_VERSION_FIELD = {'postgresql': 'pg_dump_version', 'mysql': 'dump_version'}
COMPRESSIONS = ('zstd', 'gzip', 'none')
VERSION_NUMBER_RE = re.compile(r'^[0-9]+(\.[0-9]+)*$')        # pg_dump_version 15.18, dump_version 10.11.14
SERVER_VERSION_RE = re.compile(r'^[0-9]+[.a-z0-9]*( .*)?$')    # 15.18, 16beta1, 15.18 (Debian ...)
OBJECT_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$')
# S3 client defaults (store options s3_connect_timeout, s3_read_timeout, s3_max_attempts)
S3_CONNECT_TIMEOUT = 10
S3_READ_TIMEOUT = 60
S3_MAX_ATTEMPTS = 3
# temp files of the local writer: .<name>.rbo-tmp.<host tag>.<pid>.<random>; .<name>.tmp-<random> before
TEMP_RE = re.compile(r'^\.(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\.rbo-tmp\.(?P<host>[0-9a-f]{8})\.(?P<pid>[0-9]+)'
                     r'\.[0-9a-f]{8}$')
LEGACY_TEMP_RE = re.compile(r'^\.(?P<name>(data\.dump|globals\.sql|manifest\.json)(\.zst|\.gz)?)\.tmp-[0-9a-f]{8}$')
# names a writer of db_backup puts under a backup id (the S3 uploads the sweep may abort)
WRITER_NAME_RE = re.compile(r'^(data\.dump|globals\.sql)(\.zst|\.gz)?$')
# a leftover whose writer cannot be proven dead is removed only when older than this
LEFTOVER_STALE_S = 24 * 3600


class StoreError(Exception):
    """A store operation failed; the message is safe to show (no secrets)."""


def store_argument_spec():
    """Options naming a backup store (see doc fragment ``runbook.ops.backup_store``)."""
    return dict(
        store=dict(type='str', required=True),
        s3_endpoint_url=dict(type='str'),
        aws_region=dict(type='str'),
        aws_access_key=dict(type='str', no_log=True),
        aws_secret_key=dict(type='str', no_log=True),
        s3_storage_class=dict(type='str', default='STANDARD',
                              choices=['STANDARD', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING',
                                       'GLACIER_IR', 'REDUCED_REDUNDANCY']),
        s3_sse=dict(type='str', choices=['AES256', 'aws:kms']),
        s3_kms_key_id=dict(type='str', no_log=False),
        s3_connect_timeout=dict(type='int', default=S3_CONNECT_TIMEOUT),
        s3_read_timeout=dict(type='int', default=S3_READ_TIMEOUT),
        s3_max_attempts=dict(type='int', default=S3_MAX_ATTEMPTS),
    )


def store_required_by():
    """``required_by`` entries for the store options."""
    return {'s3_kms_key_id': ('s3_sse',), 'aws_secret_key': ('aws_access_key',),
            'aws_access_key': ('aws_secret_key',)}


# ---------------------------------------------------------------------------------------------
# time and ids

def format_time(dt):
    return dt.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def parse_time(text):
    """Parse an ISO 8601 time; naive times are taken as UTC.  Raises ValueError."""
    text = str(text).strip()
    if text.endswith('Z') or text.endswith('z'):
        text = text[:-1] + '+00:00'
    dt = datetime.datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.astimezone(datetime.timezone.utc)


def slug(name, limit=40):
    s = re.sub(r'[^A-Za-z0-9_]+', '_', name or '').strip('_')
    return s[:limit]


def new_backup_id(database, when=None):
    """``YYYYMMDDTHHMMSSZ-<db slug>-<6 hex>``: sorts by time, readable, never collides in practice."""
    when = when or utcnow()
    return '%s-%s-%s' % (when.strftime('%Y%m%dT%H%M%SZ'), slug(database), secrets.token_hex(3))


def data_name(compression):
    return 'data.dump' + {'zstd': '.zst', 'gzip': '.gz'}.get(compression, '')


def globals_name(compression):
    return 'globals.sql' + {'zstd': '.zst', 'gzip': '.gz'}.get(compression, '')


def backup_key(backup_id, name):
    """Key of one object of a backup, relative to the store root."""
    if not ID_RE.match(backup_id or ''):
        raise StoreError('invalid backup id %r' % (backup_id,))
    if '/' in name or name.startswith('.'):
        raise StoreError('invalid object name %r' % (name,))
    return '%s/%s' % (backup_id, name)


# ---------------------------------------------------------------------------------------------
# stores

def open_store(params):
    url = (params.get('store') or '').strip()
    if not url:
        raise StoreError('the store URL is empty')
    if url.startswith('s3://'):
        return S3Store(url, params)
    if url.startswith('file://'):
        url = url[len('file://'):]
    if '://' in url:
        raise StoreError('unsupported store URL scheme in %r; use s3://bucket/prefix or a directory path' % url)
    if not url.startswith('/'):
        raise StoreError('a local store must be an absolute directory path, got %r' % url)
    return LocalStore(url)


class LocalStore(object):
    kind = 'local'

    def __init__(self, root):
        self.root = os.path.normpath(root)

    def describe(self):
        return self.root

    def _path(self, key):
        parts = key.split('/')
        if any(p in ('', '.', '..') for p in parts):
            raise StoreError('invalid key %r' % key)
        return os.path.join(self.root, *parts)

    def check(self, create=False):
        if not os.path.isdir(self.root):
            if not create:
                raise StoreError('the store directory %s does not exist' % self.root)
            try:
                os.makedirs(self.root, mode=0o700, exist_ok=True)
            except OSError as e:
                raise StoreError('cannot create the store directory %s: %s' % (self.root, e.strerror))
        if create and not os.access(self.root, os.W_OK | os.X_OK):
            raise StoreError('the store directory %s is not writable' % self.root)

    def open_writer(self, key):
        return _LocalWriter(self._path(key))

    def put_bytes(self, key, data):
        w = self.open_writer(key)
        try:
            w.write(data)
            w.commit()
        except BaseException:
            w.abort()
            raise

    def iter_read(self, key, chunk=CHUNK):
        try:
            f = open(self._path(key), 'rb')
        except OSError as e:
            raise StoreError('cannot read %s: %s' % (self._path(key), e.strerror))
        with f:
            while True:
                block = f.read(chunk)
                if not block:
                    return
                yield block

    def read_bytes(self, key):
        return b''.join(self.iter_read(key))

    def size(self, key):
        try:
            return os.stat(self._path(key)).st_size
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StoreError('cannot stat %s: %s' % (self._path(key), e.strerror))

    def modified(self, key):
        """When ``key`` was last written (aware UTC datetime), None when it is gone."""
        try:
            return datetime.datetime.fromtimestamp(os.stat(self._path(key)).st_mtime, datetime.timezone.utc)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StoreError('cannot stat %s: %s' % (self._path(key), e.strerror))

    def list_objects(self):
        if not os.path.isdir(self.root):
            raise StoreError('the store directory %s does not exist' % self.root)
        out = {}
        try:
            for dirpath, dirnames, filenames in os.walk(self.root):
                dirnames[:] = [d for d in dirnames if not d.startswith('.')]
                rel = os.path.relpath(dirpath, self.root)
                for fn in filenames:
                    if fn.startswith('.'):
                        continue  # temp files of writes in progress
                    key = fn if rel == '.' else '%s/%s' % (rel.replace(os.sep, '/'), fn)
                    try:
                        out[key] = os.stat(os.path.join(dirpath, fn)).st_size
                    except FileNotFoundError:
                        continue
        except OSError as e:
            raise StoreError('cannot list %s: %s' % (self.root, e.strerror))
        return out

    def delete(self, keys):
        dirs = set()
        for key in keys:
            path = self._path(key)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as e:
                raise StoreError('cannot delete %s: %s' % (path, e.strerror))
            dirs.add(os.path.dirname(path))
        for d in dirs:
            if d != self.root:
                try:
                    os.rmdir(d)
                except OSError:
                    pass  # not empty (another object, a write in progress): leave it

    def find_leftovers(self, now):
        """Temp files of writers (see the module docstring), each ``{key, kind, size, age_s, stale, reason}``."""
        out = []
        try:
            folders = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return out
        except OSError as e:
            raise StoreError('cannot list %s: %s' % (self.root, e.strerror))
        for folder in folders:
            if not ID_RE.match(folder) or not os.path.isdir(os.path.join(self.root, folder)):
                continue
            try:
                names = sorted(os.listdir(os.path.join(self.root, folder)))
            except OSError:
                continue
            for name in names:
                m = TEMP_RE.match(name)
                legacy = LEGACY_TEMP_RE.match(name)
                if not (m or legacy):
                    continue
                try:
                    st = os.lstat(os.path.join(self.root, folder, name))
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                idle = max(0.0, now.timestamp() - st.st_mtime)
                stale, reason = _temp_is_stale(m, idle)
                out.append({'key': '%s/%s' % (folder, name), 'kind': 'temporary_file', 'size': st.st_size,
                            'age_s': round(idle, 3), 'stale': stale, 'reason': reason})
        return out

    def remove_leftover(self, leftover):
        path = self._path(leftover['key'])
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise StoreError('cannot remove %s: %s' % (path, e.strerror))
        try:
            os.rmdir(os.path.dirname(path))  # the backup folder the killed writer made, when nothing else is in it
        except OSError:
            pass


def host_tag():
    """8 hex digits naming this host in temp names (a hash: no dots, no length limit)."""
    return hashlib.sha256(socket.gethostname().encode('utf-8', 'replace')).hexdigest()[:8]


def temp_name(name):
    """The temp name of a local write of ``name``: hidden, marked, with the host and pid of the writer."""
    return '.%s.rbo-tmp.%s.%d.%s' % (name, host_tag(), os.getpid(), secrets.token_hex(4))


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _temp_is_stale(match, idle_s):
    """(stale, reason) for a temp file: its writer is gone (same host) or it has not been written to for long."""
    if match is not None and match.group('host') == host_tag():
        pid = int(match.group('pid'))
        if pid != os.getpid() and not _pid_alive(pid):
            return True, 'left by a db_backup run (pid %d on this host) that no longer runs' % pid
        if idle_s <= LEFTOVER_STALE_S:
            return False, 'its writer (pid %d on this host) is still running' % pid
    elif idle_s <= LEFTOVER_STALE_S:
        return False, 'written to %d s ago (by another host, or an earlier version): it may still be in ' \
                      'progress' % idle_s
    return True, 'not written to for %d s (more than %d s)' % (idle_s, LEFTOVER_STALE_S)


class _LocalWriter(object):
    """Temp name in the target directory, fsync, atomic rename; the temp file is removed on failure."""

    def __init__(self, path):
        self.path = path
        self.dir = os.path.dirname(path)
        self.created_dir = False
        if not os.path.isdir(self.dir):
            try:
                os.makedirs(self.dir, mode=0o700)
                self.created_dir = True
            except FileExistsError:
                pass
            except OSError as e:
                raise StoreError(_os_message('create the directory %s' % self.dir, e))
        self.tmp = os.path.join(self.dir, temp_name(os.path.basename(path)))
        try:
            self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as e:
            self._cleanup_dir()
            raise StoreError(_os_message('create %s' % self.tmp, e))
        self.done = False

    def write(self, data):
        view = memoryview(data)
        try:
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
        except OSError as e:
            raise StoreError(_os_message('write %s' % self.tmp, e))

    def commit(self):
        try:
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = None
            os.rename(self.tmp, self.path)
            dfd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as e:
            self.abort()
            raise StoreError(_os_message('commit %s' % self.path, e))
        self.done = True

    def abort(self):
        if self.done:
            return
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None
        try:
            os.unlink(self.tmp)
        except OSError:
            pass
        self._cleanup_dir()
        self.done = True

    def _cleanup_dir(self):
        if self.created_dir:
            try:
                os.rmdir(self.dir)
            except OSError:
                pass


def _os_message(what, e):
    if e.errno == errno.ENOSPC:
        return 'cannot %s: no space left on the device' % what
    return 'cannot %s: %s' % (what, e.strerror or e)


def _positive_int(params, name, default):
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StoreError('%s must be a whole number of at least 1, got %r' % (name, value))
    return value


def s3_client_config(params):
    """botocore Config options from the store options ``s3_connect_timeout`` and ``s3_read_timeout`` (seconds per
    connection attempt and per socket read) and ``s3_max_attempts`` (attempts per request, the first included, in
    ``standard`` retry mode).  Absent or None options take their defaults (10 s, 60 s, 3), so callers with their own
    argspec (files_restore, the health probe) need not know them.  Raises :class:`StoreError` for values below 1."""
    return dict(connect_timeout=_positive_int(params, 's3_connect_timeout', S3_CONNECT_TIMEOUT),
                read_timeout=_positive_int(params, 's3_read_timeout', S3_READ_TIMEOUT),
                retries={'total_max_attempts': _positive_int(params, 's3_max_attempts', S3_MAX_ATTEMPTS),
                         'mode': 'standard'})


def safe_url(url):
    """``url`` (or an error text quoting URLs) for messages and results: every URL in the one masking form of
    :func:`redaction.safe_url` (``http://user:********@host``, token-like query values masked)."""
    if not url:
        return url
    return redaction.redact_urls(url)


def missing_boto3(store=None):
    """True when boto3 is needed and not installed: for an ``s3://`` ``store``, or always when ``store`` is None
    (a caller that only talks to S3)."""
    if HAS_BOTO3:
        return False
    return store is None or str(store).strip().startswith('s3://')


def require_boto3(module, store=None):
    """The one boto3 presence check of the modules: fail ``module`` with ``missing_required_lib('boto3')`` when
    :func:`missing_boto3` says so."""
    if missing_boto3(store):
        module.fail_json(msg=missing_required_lib('boto3'), exception=BOTO3_IMP_ERR)


def make_s3_client(params, max_pool_connections=None):
    """A boto3 S3 client from the S3 options (``s3_endpoint_url``, ``aws_region``, ``aws_access_key``,
    ``aws_secret_key``) and the timeouts of :func:`s3_client_config`.  Without explicit keys boto3's usual
    chain applies.  ``max_pool_connections`` (default botocore's 10) for callers running more requests in
    parallel.  Raises :class:`StoreError` (no secrets in it)."""
    options = s3_client_config(params)
    if max_pool_connections:
        options['max_pool_connections'] = max_pool_connections
    config = botocore.config.Config(**options)
    kwargs = {}
    if params.get('aws_access_key'):
        kwargs['aws_access_key_id'] = params['aws_access_key']
        kwargs['aws_secret_access_key'] = params.get('aws_secret_key')
    region = params.get('aws_region') or os.environ.get('AWS_REGION') or os.environ.get('AWS_DEFAULT_REGION')
    if region:
        kwargs['region_name'] = region
    try:
        session = boto3.session.Session(**kwargs)
        return session.client('s3', endpoint_url=params.get('s3_endpoint_url') or None, config=config)
    except (botocore.exceptions.BotoCoreError, ValueError) as e:
        raise StoreError('cannot set up the S3 client: %s' % safe_url(str(e)))


class S3Store(object):
    kind = 's3'

    def __init__(self, url, params):
        if not HAS_BOTO3:
            raise StoreError('boto3 is required for an s3:// store')
        rest = url[len('s3://'):]
        bucket, _sep, prefix = rest.partition('/')
        if not bucket:
            raise StoreError('no bucket in the store URL %r' % url)
        self.bucket = bucket
        self.prefix = prefix.strip('/')
        self.endpoint = params.get('s3_endpoint_url')
        self.storage_class = params.get('s3_storage_class') or 'STANDARD'
        self.sse = params.get('s3_sse')
        self.kms_key_id = params.get('s3_kms_key_id')
        self.timeouts = s3_client_config(params)
        self.client = make_s3_client(params)

    def describe(self):
        url = 's3://%s/%s' % (self.bucket, self.prefix) if self.prefix else 's3://%s' % self.bucket
        if self.endpoint:
            url += ' (endpoint %s)' % safe_url(self.endpoint)
        return url

    def _k(self, key):
        return '%s/%s' % (self.prefix, key) if self.prefix else key

    def _error(self, what, e):
        if isinstance(e, botocore.exceptions.ClientError):
            code = e.response.get('Error', {}).get('Code', '')
            if code in ('NoSuchBucket',) or (code in ('404', 'NotFound') and what.startswith('check')):
                return StoreError('cannot %s: the bucket %s does not exist' % (what, self.bucket))
            if code in ('AccessDenied', '403', 'InvalidAccessKeyId', 'SignatureDoesNotMatch'):
                return StoreError('cannot %s: access denied (%s); check the credentials and the bucket policy'
                                  % (what, code))
            return StoreError('cannot %s: %s %s' % (what, code, e.response.get('Error', {}).get('Message', '')))
        endpoint = safe_url(self.endpoint) or 'AWS'
        attempts = self.timeouts['retries']['total_max_attempts']
        tries = '%d attempt%s' % (attempts, '' if attempts == 1 else 's')
        if isinstance(e, botocore.exceptions.ConnectTimeoutError):
            return StoreError('cannot %s: the S3 endpoint %s did not accept a connection within %d s (%s); check '
                              'the endpoint, or raise s3_connect_timeout / s3_max_attempts'
                              % (what, endpoint, self.timeouts['connect_timeout'], tries))
        if isinstance(e, botocore.exceptions.ReadTimeoutError):
            return StoreError('cannot %s: the S3 endpoint %s did not answer within %d s (%s); check the endpoint, '
                              'or raise s3_read_timeout / s3_max_attempts'
                              % (what, endpoint, self.timeouts['read_timeout'], tries))
        if isinstance(e, botocore.exceptions.EndpointConnectionError):
            return StoreError('cannot %s: the S3 endpoint %s cannot be reached' % (what, endpoint))
        if isinstance(e, botocore.exceptions.NoCredentialsError):
            return StoreError('cannot %s: no AWS credentials (set aws_access_key/aws_secret_key or the '
                              'AWS_* environment)' % what)
        return StoreError('cannot %s: %s' % (what, safe_url(str(e)) if self.endpoint else e))

    def check(self, create=False):
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self._error('check the bucket %s' % self.bucket, e)

    def extra_put_args(self):
        args = {}
        if self.storage_class and self.storage_class != 'STANDARD':
            args['StorageClass'] = self.storage_class
        if self.sse:
            args['ServerSideEncryption'] = self.sse
            if self.sse == 'aws:kms' and self.kms_key_id:
                args['SSEKMSKeyId'] = self.kms_key_id
        return args

    def open_writer(self, key):
        return _S3Writer(self, self._k(key))

    def put_bytes(self, key, data):
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._k(key), Body=data, **self.extra_put_args())
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self._error('write s3://%s/%s' % (self.bucket, self._k(key)), e)

    def iter_read(self, key, chunk=CHUNK):
        what = 'read s3://%s/%s' % (self.bucket, self._k(key))
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._k(key))['Body']
            yield from body.iter_chunks(chunk)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self._error(what, e)

    def read_bytes(self, key):
        return b''.join(self.iter_read(key))

    def size(self, key):
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._k(key))['ContentLength']
        except botocore.exceptions.ClientError as e:
            if e.response.get('Error', {}).get('Code') in ('404', 'NoSuchKey', 'NotFound'):
                return None
            raise self._error('stat s3://%s/%s' % (self.bucket, self._k(key)), e)
        except botocore.exceptions.BotoCoreError as e:
            raise self._error('stat s3://%s/%s' % (self.bucket, self._k(key)), e)

    def modified(self, key):
        """The object's LastModified (aware UTC datetime), None when it is gone or the server gives none."""
        try:
            when = self.client.head_object(Bucket=self.bucket, Key=self._k(key)).get('LastModified')
        except botocore.exceptions.ClientError as e:
            if e.response.get('Error', {}).get('Code') in ('404', 'NoSuchKey', 'NotFound'):
                return None
            raise self._error('stat s3://%s/%s' % (self.bucket, self._k(key)), e)
        except botocore.exceptions.BotoCoreError as e:
            raise self._error('stat s3://%s/%s' % (self.bucket, self._k(key)), e)
        if isinstance(when, datetime.datetime) and when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        return when if isinstance(when, datetime.datetime) else None

    def list_objects(self):
        out = {}
        base = self.prefix + '/' if self.prefix else ''
        try:
            paginator = self.client.get_paginator('list_objects_v2')
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
                for obj in page.get('Contents', []):
                    out[obj['Key'][len(base):]] = obj['Size']
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self._error('list %s' % self.describe(), e)
        return out

    def delete(self, keys):
        keys = list(keys)
        for i in range(0, len(keys), 1000):
            batch = [{'Key': self._k(k)} for k in keys[i:i + 1000]]
            try:
                r = self.client.delete_objects(Bucket=self.bucket, Delete={'Objects': batch, 'Quiet': True})
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
                raise self._error('delete objects in %s' % self.describe(), e)
            if r.get('Errors'):
                err = r['Errors'][0]
                raise StoreError('cannot delete %s: %s' % (err.get('Key'), err.get('Message') or err.get('Code')))

    def find_leftovers(self, now):
        """Pending multipart uploads on a data or globals object of a backup folder under our prefix."""
        out = []
        base = self.prefix + '/' if self.prefix else ''
        try:
            paginator = self.client.get_paginator('list_multipart_uploads')
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
                for up in page.get('Uploads', []):
                    rel = up['Key'][len(base):]
                    bid, sep, name = rel.partition('/')
                    if not sep or not ID_RE.match(bid) or not WRITER_NAME_RE.match(name):
                        continue
                    # the later of the server's Initiated and the time in the backup id (our writer's clock): an
                    # S3-compatible server with a wrong or fixed Initiated (moto says 2010) cannot make a running
                    # upload look old
                    started = id_time(bid)
                    initiated = up.get('Initiated')
                    if isinstance(initiated, datetime.datetime):
                        if initiated.tzinfo is None:
                            initiated = initiated.replace(tzinfo=datetime.timezone.utc)
                        started = max(started, initiated)
                    age = max(0.0, (now - started).total_seconds())
                    stale = age > LEFTOVER_STALE_S
                    reason = ('started %d s ago (more than %d s) and never completed' % (age, LEFTOVER_STALE_S)
                              if stale else 'started %d s ago: it may still be in progress' % age)
                    out.append({'key': rel, 'kind': 'multipart_upload', 'size': None, 'age_s': round(age, 3),
                                'stale': stale, 'reason': reason, 'upload_id': up['UploadId']})
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self._error('list the pending uploads of %s' % self.describe(), e)
        return out

    def remove_leftover(self, leftover):
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._k(leftover['key']),
                                               UploadId=leftover['upload_id'])
        except botocore.exceptions.ClientError as e:
            if e.response.get('Error', {}).get('Code') in ('NoSuchUpload', '404'):
                return
            raise self._error('abort the upload of s3://%s/%s' % (self.bucket, self._k(leftover['key'])), e)
        except botocore.exceptions.BotoCoreError as e:
            raise self._error('abort the upload of s3://%s/%s' % (self.bucket, self._k(leftover['key'])), e)


def find_leftovers(store, now=None):
    """What writers killed before they could clean up left in ``store`` (see the module docstring)."""
    return store.find_leftovers(now or utcnow())


def sweep_leftovers(store, now=None, check_mode=False):
    """Remove the stale leftovers (only list them in check mode); return them."""
    stale = [x for x in find_leftovers(store, now) if x['stale']]
    if not check_mode:
        for x in stale:
            store.remove_leftover(x)
    return stale


def find_orphans(store, now=None):
    """Objects a writer committed in a backup folder that has no manifest (a run killed between its data and its
    manifest, or a prune stopped after the manifest went): the leftovers' marker (a backup-id folder, a data or
    globals name) and grace period (``LEFTOVER_STALE_S``, from the later of the id's time and the object's), so a
    backup still being written is never one.  A folder holding any manifest, valid or not, has no orphans.
    Each ``{key, kind: 'orphan_object', size, age_s, stale, reason}``."""
    now = now or utcnow()
    groups = {}
    for key, size in store.list_objects().items():
        bid, sep, name = key.partition('/')
        if sep and '/' not in name and ID_RE.match(bid):
            groups.setdefault(bid, {})[name] = size
    out = []
    for bid in sorted(groups):
        names = groups[bid]
        if MANIFEST_NAME in names:
            continue
        for name in sorted(n for n in names if WRITER_NAME_RE.match(n)):
            key = backup_key(bid, name)
            started = id_time(bid)
            written = store.modified(key)
            if written is not None:
                started = max(started, written)
            age = max(0.0, (now - started).total_seconds())
            stale = age > LEFTOVER_STALE_S
            reason = ('backup %s has no manifest and this object was written %d s ago (more than %d s)'
                      % (bid, age, LEFTOVER_STALE_S) if stale else
                      'backup %s has no manifest yet; written %d s ago: it may still be in progress' % (bid, age))
            out.append({'key': key, 'kind': 'orphan_object', 'size': names[name], 'age_s': round(age, 3),
                        'stale': stale, 'reason': reason})
    return out


def sweep_orphans(store, now=None, check_mode=False):
    """Delete the stale orphans (only list them in check mode); return them."""
    stale = [x for x in find_orphans(store, now) if x['stale']]
    if stale and not check_mode:
        store.delete([x['key'] for x in stale])
    return stale


def part_size(number):
    """Size of multipart part ``number`` (1-based): S3_PART_SIZE, doubled every S3_PART_GROWTH parts."""
    return min(S3_PART_SIZE << ((number - 1) // S3_PART_GROWTH), S3_MAX_PART_SIZE)


def max_inflight(size):
    """How many parts of ``size`` bytes may be in flight: the byte window, at least one part."""
    return max(1, (S3_MAX_INFLIGHT * S3_PART_SIZE) // max(size, 1))


class _S3Writer(object):
    """Multipart upload (aborted on failure); objects smaller than one part use a single PUT.

    The producer fills a preallocated part buffer (one copy per byte); a full part is handed as is to
    a pool of upload threads, so the producer (pg_dump | zstd) keeps running while parts travel.
    Memory is bounded: at most ``S3_MAX_INFLIGHT * S3_PART_SIZE`` bytes in flight plus the part being
    filled; the producer waits for the oldest part when the window is full.  See :func:`part_size`.
    """

    def __init__(self, store, key):
        self.store = store
        self.client = store.client
        self.key = key
        self.part = None
        self.fill = 0
        self.upload_id = None
        self.futures = []
        self.pool = None
        self.done = False
        # like s3transfer (aws s3 cp): a CRC32 per part, checked by S3 on every part and combined at the
        # end, unless botocore is told to send checksums only when required (some S3-compatible servers).
        # Without it, S3 (and moto) compute a full-object CRC64NVME at completion instead.
        self.checksum = None
        config = getattr(getattr(self.client, 'meta', None), 'config', None)
        if getattr(config, 'request_checksum_calculation', None) == 'when_supported':
            self.checksum = 'CRC32'

    @property
    def buf(self):
        """The bytes not yet handed to an upload (the part being filled)."""
        return b'' if self.part is None else memoryview(self.part)[:self.fill]

    def _what(self):
        return 'upload s3://%s/%s' % (self.store.bucket, self.key)

    def write(self, data):
        view = memoryview(data).cast('B')
        while view.nbytes:
            if self.part is None:
                self.part = bytearray(part_size(len(self.futures) + 1))
                self.fill = 0
            take = min(len(self.part) - self.fill, view.nbytes)
            self.part[self.fill:self.fill + take] = view[:take]
            self.fill += take
            view = view[take:]
            if self.fill == len(self.part):
                part, self.part, self.fill = self.part, None, 0
                self._submit(part)

    def _submit(self, data):
        try:
            if self.upload_id is None:
                extra = self.store.extra_put_args()
                if self.checksum:
                    extra['ChecksumAlgorithm'] = self.checksum
                r = self.client.create_multipart_upload(Bucket=self.store.bucket, Key=self.key, **extra)
                self.upload_id = r['UploadId']
                self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=S3_MAX_INFLIGHT)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self.store._error(self._what(), e)
        number = len(self.futures) + 1
        if number > 10000:
            raise StoreError('cannot %s: more than 10000 parts' % self._what())
        # bound the memory: wait for the oldest parts in flight
        limit = max_inflight(len(data))
        inflight = [f for f in self.futures if not f.done()]
        while len(inflight) >= limit:
            concurrent.futures.wait(inflight, return_when=concurrent.futures.FIRST_COMPLETED)
            inflight = [f for f in inflight if not f.done()]
        for f in self.futures:
            if f.done() and f.exception() is not None:
                raise f.exception()
        self.futures.append(self.pool.submit(self._upload_part, number, data))

    def _upload_part(self, number, data):
        try:
            extra = {'ChecksumAlgorithm': self.checksum} if self.checksum else {}
            r = self.client.upload_part(Bucket=self.store.bucket, Key=self.key, UploadId=self.upload_id,
                                        PartNumber=number, Body=data, **extra)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self.store._error(self._what(), e)
        part = {'PartNumber': number, 'ETag': r['ETag']}
        if self.checksum and r.get('Checksum' + self.checksum):
            part['Checksum' + self.checksum] = r['Checksum' + self.checksum]
        return part

    def commit(self):
        try:
            if self.upload_id is None:
                self.client.put_object(Bucket=self.store.bucket, Key=self.key, Body=bytes(self.buf),
                                       **self.store.extra_put_args())
            else:
                if self.fill:
                    self._submit(bytes(self.buf))
                parts = [f.result() for f in self.futures]
                self.client.complete_multipart_upload(Bucket=self.store.bucket, Key=self.key,
                                                      UploadId=self.upload_id,
                                                      MultipartUpload={'Parts': parts})
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            self.abort()
            raise self.store._error(self._what(), e)
        except BaseException:
            self.abort()
            raise
        self._shutdown()
        self.part, self.fill = None, 0
        self.done = True

    def _shutdown(self):
        if self.pool is not None:
            for f in self.futures:
                f.cancel()
            self.pool.shutdown(wait=True)
            self.pool = None

    def abort(self):
        if self.done:
            return
        self.done = True
        self.part, self.fill = None, 0
        self._shutdown()
        if self.upload_id is not None:
            try:
                self.client.abort_multipart_upload(Bucket=self.store.bucket, Key=self.key, UploadId=self.upload_id)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                pass  # the bucket's lifecycle rule for incomplete uploads is the last resort


# ---------------------------------------------------------------------------------------------
# manifests and the catalogue

def _short(value, limit=40):
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + '...'


def _plain_name(name):
    return isinstance(name, str) and bool(OBJECT_NAME_RE.match(name)) and name != MANIFEST_NAME


def validate_manifest(manifest, backup_id=None, engine='postgresql'):
    """Return a list of problems (empty when the manifest is well-formed); each names the field at fault.

    Checks the type of every required field and the values a restore relies on: sha256 format, size, created_at,
    a numeric major in the dump tool's version (``pg_dump_version`` for engine postgresql, ``dump_version`` for
    mysql) and in server_version, the engine, its format and the compression known to the restore, plain object
    names for data_key and globals.key, and the shape of tables, globals and tags.

    ``engine``: the engine the caller reads (a manifest of another engine is a problem), or None for any of
    ``ENGINES``."""
    problems = []
    if not isinstance(manifest, dict):
        return ['the manifest is not a JSON object']
    if engine is not None and manifest.get('engine') in ENGINES and manifest['engine'] != engine:
        return ['field engine %s is not %s (the engine read here)' % (_short(manifest['engine']), engine)]
    fields = dict(REQUIRED_MANIFEST_FIELDS)
    version_field = ENGINE_VERSION_FIELD.get(manifest.get('engine'))
    if version_field:
        fields[version_field] = str
    for field, types in fields.items():
        if field not in manifest:
            problems.append('field %s is missing' % field)
        elif isinstance(manifest[field], bool) or not isinstance(manifest[field], types):
            problems.append('field %s has the wrong type' % field)
    if problems:
        return problems
    if manifest['engine'] not in ENGINES:
        return ['field engine %s is not one of %s' % (_short(manifest['engine']), ', '.join(ENGINES))]
    if backup_id is not None and manifest['id'] != backup_id:
        problems.append('the manifest id %s does not match its folder %s' % (_short(manifest['id']), backup_id))
    if not SHA256_RE.match(manifest['sha256']):
        problems.append('field sha256 is not a hex sha256')
    if manifest['size'] < 0:
        problems.append('field size is negative')
    try:
        parse_time(manifest['created_at'])
    except (ValueError, OverflowError):
        problems.append('field created_at %s is not an ISO 8601 time' % _short(manifest['created_at']))
    if not VERSION_NUMBER_RE.match(manifest[version_field]):
        problems.append('field %s %s is not a version number (like %s)'
                        % (version_field, _short(manifest[version_field]),
                           '15.18' if manifest['engine'] == 'postgresql' else '10.11.14'))
    if not SERVER_VERSION_RE.match(manifest['server_version']):
        problems.append('field server_version %s does not start with a major version number'
                        % _short(manifest['server_version']))
    num = manifest.get('server_version_num')
    if num is not None and (isinstance(num, bool) or not isinstance(num, int) or num < 0):
        problems.append('field server_version_num %s is not a version number' % _short(num))
    if manifest['format'] != ENGINE_FORMAT[manifest['engine']]:
        problems.append('field format %s is not %s (the format of engine %s)'
                        % (_short(manifest['format']), ENGINE_FORMAT[manifest['engine']], manifest['engine']))
    if manifest['compression'] not in COMPRESSIONS:
        problems.append('field compression %s is not one of %s'
                        % (_short(manifest['compression']), ', '.join(COMPRESSIONS)))
    if not _plain_name(manifest['data_key']):
        problems.append('field data_key is not a plain object name')
    row_counts = manifest.get('row_counts', 'exact')
    if row_counts not in ROW_COUNT_KINDS:
        problems.append('field row_counts is not one of %s' % ', '.join(ROW_COUNT_KINDS))
    for t in manifest['tables']:
        rows = t.get('rows') if isinstance(t, dict) else None
        # exact counts are integers; estimates may be unknown (null), and row_counts none records none
        rows_ok = (isinstance(rows, int) and not isinstance(rows, bool) and rows >= 0) or (
            rows is None and row_counts in ('estimate', 'none'))
        if not (isinstance(t, dict) and isinstance(t.get('schema'), str) and isinstance(t.get('table'), str)
                and rows_ok):
            problems.append('field tables holds an entry that is not {schema, table, rows}')
            break
    g = manifest.get('globals')
    if g is not None and not (isinstance(g, dict) and _plain_name(g.get('key'))
                              and isinstance(g.get('size'), int) and not isinstance(g.get('size'), bool)
                              and g['size'] >= 0 and isinstance(g.get('sha256'), str)
                              and SHA256_RE.match(g['sha256'])):
        problems.append('field globals is neither null nor {key, size, sha256}')
    tags = manifest.get('tags')
    if tags is not None and not isinstance(tags, dict):
        problems.append('field tags is not a mapping')
    return problems


def sha256_of(store, key):
    h = hashlib.sha256()
    n = 0
    for block in store.iter_read(key):
        h.update(block)
        n += len(block)
    return h.hexdigest(), n


def list_backups(store, database=None, verify_checksum=False, now=None, engine='postgresql'):
    """Every backup folder in the store, newest first, with its validity (see the module docstring).

    ``engine``: the engine whose backups can be valid (a backup of another engine is listed, not valid, so a
    restore never picks it and retention leaves it alone), or None for every engine (a backup age probe)."""
    now = now or utcnow()
    objects = store.list_objects()
    groups = {}
    for key, size in objects.items():
        bid, sep, name = key.partition('/')
        if not sep or '/' in name or not ID_RE.match(bid):
            continue
        groups.setdefault(bid, {})[name] = size
    entries = []
    for bid, names in groups.items():
        entry = {'id': bid, 'created_at': None, 'age_s': None, 'size': None, 'valid': False, 'reason': '',
                 'database': None, 'tags': {}, 'manifest': None}
        if MANIFEST_NAME not in names:
            entry['reason'] = 'no manifest (the backup did not finish, or is still running)'
            entry['size'] = sum(names.values())
            entries.append(entry)
            continue
        try:
            manifest = json.loads(store.read_bytes(backup_key(bid, MANIFEST_NAME)).decode('utf-8'))
        except (ValueError, UnicodeDecodeError):
            entry['reason'] = 'the manifest of backup %s is not valid JSON' % bid
            entries.append(entry)
            continue
        problems = validate_manifest(manifest, bid, engine=engine)
        if problems:
            entry['reason'] = 'the manifest of backup %s is invalid: %s' % (bid, '; '.join(problems))
            entries.append(entry)
            continue
        created = parse_time(manifest['created_at'])
        entry.update(manifest=manifest, database=manifest['database'], created_at=format_time(created),
                     age_s=round((now - created).total_seconds(), 3), size=manifest['size'],
                     tags=manifest.get('tags') or {})
        actual = names.get(manifest['data_key'])
        reason = ''
        if actual is None:
            reason = 'the data object %s is missing' % manifest['data_key']
        elif actual < manifest['size']:
            reason = 'the data object is %d bytes, the manifest says %d (truncated)' % (actual, manifest['size'])
        elif actual > manifest['size']:
            reason = 'the data object is %d bytes, the manifest says %d (larger than recorded: corrupted or ' \
                     'overwritten)' % (actual, manifest['size'])
        elif manifest.get('globals'):
            g = manifest['globals']
            if names.get(g['key']) != g['size']:
                reason = 'the globals object %s is missing or has the wrong size (%s bytes, the manifest says %d)' % (
                    g['key'], names.get(g['key']), g['size'])
        if not reason and verify_checksum:
            digest, _n = sha256_of(store, backup_key(bid, manifest['data_key']))
            if digest != manifest['sha256']:
                reason = 'sha256 mismatch: manifest %s, data %s' % (manifest['sha256'], digest)
        entry['valid'] = not reason
        entry['reason'] = reason or 'ok'
        entries.append(entry)
    if database is not None:
        entries = [e for e in entries if _belongs_to(e, database)]

    entries.sort(key=entry_order, reverse=True)
    return entries


def id_time(backup_id):
    """The UTC time written in a backup id (used to order backups that have no readable manifest)."""
    return datetime.datetime.strptime(backup_id[:16], '%Y%m%dT%H%M%SZ').replace(tzinfo=datetime.timezone.utc)


def entry_order(entry):
    when = parse_time(entry['created_at']) if entry['created_at'] else id_time(entry['id'])
    return (when, entry['id'])


def _belongs_to(entry, database):
    if entry['database'] is not None:
        return entry['database'] == database
    # no readable manifest: judge by the database slug inside the id
    return entry['id'].split('-', 1)[1].rsplit('-', 1)[0] == slug(database)


def select_backup(entries, selector):
    """Pick a valid entry: ``latest``, an id, or ``before:<ISO time>`` (newest strictly before it)."""
    selector = (selector or 'latest').strip()
    valid = [e for e in entries if e['valid']]
    if selector == 'latest':
        if not valid:
            raise StoreError('the store holds no valid backup%s' % _invalid_note(entries))
        return valid[0]
    if selector.startswith('before:'):
        try:
            limit = parse_time(selector[len('before:'):])
        except ValueError:
            raise StoreError('%r is not an ISO 8601 time (for example before:2026-01-31T23:00:00Z)'
                             % selector[len('before:'):])
        for e in valid:
            if parse_time(e['created_at']) < limit:
                return e
        raise StoreError('no valid backup was taken before %s' % format_time(limit))
    for e in entries:
        if e['id'] == selector:
            if not e['valid']:
                raise StoreError('the backup %s is not valid: %s' % (selector, e['reason']))
            return e
    raise StoreError('no backup with id %s in the store' % selector)


def _invalid_note(entries):
    bad = [e for e in entries if not e['valid']]
    if not bad:
        return ''
    return ' (%d invalid: %s: %s)' % (len(bad), bad[0]['id'], bad[0]['reason'])


def public_entry(entry):
    """An entry without the full manifest, for module results."""
    return dict((k, v) for k, v in entry.items() if k != 'manifest')


def backup_age(params, database=None, now=None):
    """Newest valid backup of any engine and its age, for a ``backup_age`` health probe (see the module
    docstring)."""
    store = open_store(params)
    entries = list_backups(store, database=database, now=now, engine=None)
    valid = [e for e in entries if e['valid']]
    result = {'found': bool(valid), 'id': None, 'created_at': None, 'age_s': None,
              'valid_count': len(valid), 'invalid_count': len(entries) - len(valid), 'store': store.describe()}
    if valid:
        result.update(id=valid[0]['id'], created_at=valid[0]['created_at'], age_s=valid[0]['age_s'])
    return result
