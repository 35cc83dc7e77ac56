# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore a tree of files from an S3 prefix into a local directory (module ``files_restore``).

Every object under ``s3://bucket/prefix/`` lands in ``dest`` under its key relative to the prefix.
The work, in order, and nothing is written before step 4:

1. list the prefix with the ``list_objects_v2`` paginator (refuse when more than ``max_files``);
2. check every relative name (no absolute name, no ``..``/``.``/empty component, no NUL or backslash,
   no name that is both a file and a directory) and every local path (no symlink, no directory or
   special file in the way under ``dest``); any refusal fails the run naming the keys;
3. compare each existing file with its object (see :func:`unchanged`), in parallel;
4. create the missing directories, download the changed objects in parallel (``concurrency``), each to
   a temp file in its target's directory that is renamed over the target only when complete and
   verified (size; MD5 for single-part ETags); fix mode/owner of unchanged files;
5. with ``delete``, remove files under ``dest`` that have no object (never following symlinks, never
   outside ``dest``, never an ``exclude``d name), then directories left empty by that.

Check mode stops after step 3 and reports what would be done.
"""

from __future__ import annotations

import concurrent.futures
import fnmatch
import grp
import hashlib
import os
import pwd
import re
import secrets
import stat
import time
import urllib.parse

from ansible_collections.runbook.ops.plugins.module_utils import redaction
from ansible_collections.runbook.ops.plugins.module_utils.backup_store import StoreError, make_s3_client

try:
    import botocore.exceptions
except ImportError:
    pass  # HAS_BOTO3 is False; the module fails with missing_required_lib()

CHUNK = 1024 * 1024
MIB = 1024 * 1024
MAX_CONCURRENCY = 64
LIST_LIMIT = 1000
DIFF_LIMIT = 100
TMP_PREFIX = '.files_restore-'
# part sizes that uploaders commonly use (aws cli / s3transfer default first), tried for multipart ETags
COMMON_PART_SIZES = tuple(m * MIB for m in (8, 5, 16, 15, 10, 32, 64, 100, 128, 256, 512))
MAX_PART_CANDIDATES = 3
MD5_RE = re.compile(r'^[0-9a-f]{32}$')
MULTIPART_RE = re.compile(r'^([0-9a-f]{32})-([0-9]+)$')
BUCKET_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$')
MODE_RE = re.compile(r'^[0-7]{3,4}$')


class RestoreError(Exception):
    """A failure with its cause and what to do; ``partial`` holds result keys for fail_json."""

    def __init__(self, cause, advice='', partial=None):
        super(RestoreError, self).__init__(cause)
        self.cause = cause
        self.advice = advice
        self.partial = partial or {}


def argument_spec():
    return dict(
        src=dict(type='str', required=True),
        dest=dict(type='path', required=True),
        s3_endpoint_url=dict(type='str'),
        aws_region=dict(type='str'),
        aws_access_key=dict(type='str', no_log=True),
        aws_secret_key=dict(type='str', no_log=True),
        owner=dict(type='str'),
        group=dict(type='str'),
        mode=dict(type='raw', default='0644'),
        dir_mode=dict(type='raw', default='0755'),
        delete=dict(type='bool', default=False),
        exclude=dict(type='list', elements='str', default=[]),
        concurrency=dict(type='int', default=8),
        max_files=dict(type='int', default=100000),
    )


def required_by():
    return {'aws_secret_key': ('aws_access_key',), 'aws_access_key': ('aws_secret_key',)}


# ---------------------------------------------------------------------------------------------
# names, options

def parse_src(src):
    """``s3://bucket/prefix`` -> (bucket, prefix) with prefix '' or ending in '/'.  Raises RestoreError."""
    src = (src or '').strip()
    if not src.startswith('s3://'):
        raise RestoreError('src %r is not an s3:// URL' % src, 'Use s3://bucket/prefix/')
    bucket, _sep, prefix = src[len('s3://'):].partition('/')
    if not BUCKET_RE.match(bucket):
        raise RestoreError('src %r names no valid bucket' % src, 'Use s3://bucket/prefix/')
    if '\x00' in prefix or '\\' in prefix:
        raise RestoreError('the prefix in src holds a NUL byte or a backslash', 'Fix src')
    if prefix and not prefix.endswith('/'):
        prefix += '/'
    return bucket, prefix


def display_src(bucket, prefix):
    return 's3://%s/%s' % (bucket, prefix)


def display_endpoint(url):
    """The endpoint URL without any user:password part."""
    if not url:
        return 'AWS'
    try:
        p = urllib.parse.urlsplit(url)
    except ValueError:
        return '(unparsable endpoint)'
    netloc = p.hostname or ''
    if p.port:
        netloc += ':%d' % p.port
    return urllib.parse.urlunsplit((p.scheme, netloc, p.path, '', ''))


def name_problem(rel):
    """Why a relative name cannot be restored under dest, or None when it is fine."""
    if rel == '':
        return 'its relative name is empty'
    if '\x00' in rel:
        return 'it contains a NUL byte'
    if '\\' in rel:
        return 'it contains a backslash'
    if rel.startswith('/'):
        return 'its relative name is absolute'
    parts = rel.split('/')
    if '..' in parts:
        return "it contains a '..' component"
    if '' in parts or '.' in parts:
        return "it contains an empty or '.' component"
    if any(len(p.encode('utf-8', 'surrogateescape')) > 255 for p in parts):
        return 'a component is longer than 255 bytes'
    return None


def file_conflicts(names):
    """Names that are also a parent directory of another name (``a`` and ``a/b``)."""
    names = set(names)
    bad = set()
    for n in names:
        parts = n.split('/')
        for i in range(1, len(parts)):
            parent = '/'.join(parts[:i])
            if parent in names:
                bad.add(parent)
    return sorted(bad)


def excluded(rel, patterns):
    return any(fnmatch.fnmatchcase(rel, p) for p in patterns)


def parse_mode(value, option):
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    elif isinstance(value, str) and MODE_RE.match(value.strip()):
        mode = int(value.strip(), 8)
    else:
        raise RestoreError('%s %r is not an octal mode' % (option, value),
                           "Give %s as a quoted octal string such as '0644'" % option)
    if not 0 <= mode <= 0o7777:
        raise RestoreError('%s %r is out of range' % (option, value), "Give %s such as '0644'" % option)
    return mode


def resolve_owner(owner, group):
    uid = gid = -1
    if owner:
        try:
            uid = pwd.getpwnam(owner).pw_uid
        except KeyError:
            if not owner.isdigit():
                raise RestoreError('the user %s does not exist' % owner, 'Create the user first or fix owner')
            uid = int(owner)
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            if not group.isdigit():
                raise RestoreError('the group %s does not exist' % group, 'Create the group first or fix group')
            gid = int(group)
    return uid, gid


# ---------------------------------------------------------------------------------------------
# the unchanged check

def md5_file(path):
    h = hashlib.md5(usedforsecurity=False)
    with open(path, 'rb') as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                return h.hexdigest()
            h.update(block)


def multipart_etags(path, part_sizes):
    """``{part_size: etag}`` for each part size, in one read of the file.

    The ETag of a multipart upload is ``md5(md5(part 1) + ... + md5(part n))-n``.
    """
    states = [[ps, hashlib.md5(usedforsecurity=False), 0, []] for ps in part_sizes]
    with open(path, 'rb') as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                break
            for st in states:
                view = memoryview(block)
                while view.nbytes:
                    take = min(st[0] - st[2], view.nbytes)
                    st[1].update(view[:take])
                    st[2] += take
                    view = view[take:]
                    if st[2] == st[0]:
                        st[3].append(st[1].digest())
                        st[1], st[2] = hashlib.md5(usedforsecurity=False), 0
    out = {}
    for ps, h, fill, digests in states:
        if fill:
            digests.append(h.digest())
        out[ps] = '%s-%d' % (hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest(), len(digests))
    return out


def candidate_part_sizes(size, parts, known=None):
    """Part sizes that split ``size`` bytes into exactly ``parts`` parts; ``(sizes, authoritative)``.

    ``known`` is the first part's length from the server (HEAD with PartNumber=1), when it gave one.
    """
    def fits(ps):
        return 0 < ps < size and -(-size // ps) == parts
    if known and parts > 1 and fits(known):
        return [known], True
    out = [ps for ps in COMMON_PART_SIZES if fits(ps)]
    even = -(-(-(-size // parts)) // MIB) * MIB  # size / parts rounded up to a MiB
    if fits(even) and even not in out:
        out.append(even)
    return out[:MAX_PART_CANDIDATES], False


def normalize_etag(etag):
    return (etag or '').strip().strip('"').lower()


def unchanged(path, size, obj, probe_part_size=None):
    """Whether the local file (``size`` bytes) already holds the object ``obj`` (a listing entry).

    - single-part ETag (32 hex): size and MD5 must be equal;
    - multipart ETag ``<md5>-<n>``: size equal and our multipart ETag over the plausible part sizes
      (the server's own when ``probe_part_size`` can tell it, else common ones) equal; when the part size
      is only guessed and none matches, size equal and the file's mtime >= the object's LastModified;
    - any other ETag (e.g. SSE-KMS): size equal and mtime >= LastModified.
    Returns ``(unchanged, how)``.
    """
    if size != obj['size']:
        return False, 'size'
    etag = normalize_etag(obj['etag'])
    if MD5_RE.match(etag):
        return md5_file(path) == etag, 'md5'
    m = MULTIPART_RE.match(etag)
    if m and int(m.group(2)) >= 1:
        parts = int(m.group(2))
        known = probe_part_size() if (probe_part_size and parts > 1) else None
        sizes, authoritative = candidate_part_sizes(obj['size'], parts, known)
        if parts == 1:
            sizes, authoritative = [max(obj['size'], 1)], True
        if sizes:
            if etag in multipart_etags(path, sizes).values():
                return True, 'multipart-etag'
            if authoritative:
                return False, 'multipart-etag'
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return False, 'mtime'
    return mtime >= obj['mtime'], 'mtime'


# ---------------------------------------------------------------------------------------------
# S3 errors

def describe_error(e, bucket, endpoint):
    """(cause, advice) for an exception from boto3; never contains credentials."""
    if isinstance(e, StoreError):
        return str(e), 'Check the S3 options'
    if isinstance(e, botocore.exceptions.ClientError):
        err = e.response.get('Error', {}) or {}
        code = str(err.get('Code', ''))
        if code == 'NoSuchBucket':
            return ('the bucket %s does not exist (endpoint %s)' % (bucket, display_endpoint(endpoint)),
                    'Check the bucket name in src, s3_endpoint_url and aws_region')
        if code in ('AccessDenied', '403', 'Forbidden', 'InvalidAccessKeyId', 'SignatureDoesNotMatch',
                    'AllAccessDisabled', 'InvalidToken', 'ExpiredToken'):
            return ('access denied (%s)' % code,
                    'Check aws_access_key/aws_secret_key (or the AWS_* environment) and that the policy allows '
                    's3:ListBucket on the bucket and s3:GetObject on the prefix')
        if code in ('NoSuchKey', '404', 'NotFound'):
            return ('an object disappeared during the restore (%s)' % code,
                    'Something is changing the prefix; run the restore again')
        return ('S3 error %s: %s' % (code, err.get('Message', '')),
                'Check the S3 endpoint, the bucket and the credentials')
    if isinstance(e, botocore.exceptions.EndpointConnectionError):
        return ('the S3 endpoint %s cannot be reached' % display_endpoint(endpoint),
                'Check s3_endpoint_url and the network, then run again')
    if isinstance(e, botocore.exceptions.NoCredentialsError):
        return ('no AWS credentials', 'Set aws_access_key/aws_secret_key or the AWS_* environment')
    if isinstance(e, OSError):
        return ('%s%s' % (e.strerror or e, ' (%s)' % e.filename if e.filename else ''),
                'Check free space and permissions under dest')
    return ('%s: %s' % (type(e).__name__, e), 'Check the S3 endpoint and run again')


# ---------------------------------------------------------------------------------------------
# the restore

class Restore(object):

    def __init__(self, params, client=None):
        self.params = params
        self.bucket, self.prefix = parse_src(params['src'])
        self.src = display_src(self.bucket, self.prefix)
        self.dest = params['dest']
        self.endpoint = params.get('s3_endpoint_url')
        self.patterns = list(params.get('exclude') or [])
        self.concurrency = 8 if params.get('concurrency') is None else params['concurrency']
        self.max_files = params.get('max_files')
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise RestoreError('concurrency %d is out of range' % self.concurrency,
                               'Use 1 to %d parallel downloads' % MAX_CONCURRENCY)
        if self.max_files is None or self.max_files < 1:
            raise RestoreError('max_files must be at least 1', 'Fix max_files')
        if not self.dest or not os.path.isabs(self.dest):
            raise RestoreError('dest %r is not an absolute path' % self.dest, 'Give dest as an absolute directory')
        if os.path.normpath(self.dest) == '/':
            raise RestoreError('dest is the root directory', 'Restore into a dedicated directory')
        self.mode = parse_mode(params.get('mode', '0644'), 'mode')
        self.dir_mode = parse_mode(params.get('dir_mode', '0755'), 'dir_mode')
        self.uid, self.gid = resolve_owner(params.get('owner'), params.get('group'))
        self._client = client
        self._dir_cache = {}

    # -- S3

    @property
    def client(self):
        if self._client is None:
            self._client = make_s3_client(self.params, max_pool_connections=max(10, self.concurrency + 2))
        return self._client

    def list_objects(self):
        """``{relative name: {'key', 'size', 'etag', 'mtime'}}``, directory markers and excluded names left out."""
        objects = {}
        paginator = self.client.get_paginator('list_objects_v2')
        kwargs = {'Bucket': self.bucket, 'PaginationConfig': {'PageSize': LIST_LIMIT}}
        if self.prefix:
            kwargs['Prefix'] = self.prefix
        count = 0
        for page in paginator.paginate(**kwargs):
            for o in page.get('Contents', []) or []:
                key = o['Key']
                if key.endswith('/') or not key.startswith(self.prefix):
                    continue  # a "directory marker" (or a key outside the prefix: never expected)
                count += 1
                if count > self.max_files:
                    raise RestoreError('the prefix holds more than max_files=%d objects' % self.max_files,
                                       'Raise max_files or narrow src/exclude; nothing was written')
                rel = key[len(self.prefix):]
                if excluded(rel, self.patterns):
                    continue
                objects[rel] = {'key': key, 'size': int(o.get('Size', 0)), 'etag': o.get('ETag', ''),
                                'mtime': o['LastModified'].timestamp() if o.get('LastModified') else 0.0}
        return objects

    def probe_part_size(self, key):
        def probe():
            try:
                r = self.client.head_object(Bucket=self.bucket, Key=key, PartNumber=1)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                return None
            return r.get('ContentLength')
        return probe

    # -- local paths

    def path_of(self, rel):
        return os.path.join(self.root, *rel.split('/'))

    def _dir_state(self, path):
        """'dir' | 'missing' | a refusal reason, for a directory path under the root (cached)."""
        if path in self._dir_cache:
            return self._dir_cache[path]
        if path == self.root:
            state = 'dir' if os.path.isdir(self.root) else 'missing'
        else:
            parent = self._dir_state(os.path.dirname(path))
            if parent != 'dir':
                state = parent
            else:
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    st = None
                if st is None:
                    state = 'missing'
                elif stat.S_ISLNK(st.st_mode):
                    state = 'the directory %s is a symlink' % path
                elif not stat.S_ISDIR(st.st_mode):
                    state = '%s is in the way and is not a directory' % path
                else:
                    state = 'dir'
        self._dir_cache[path] = state
        return state

    def plan_one(self, rel, obj):
        """``(action, detail)``: ('refuse', why) | ('download', 'new'|'changed') | ('skip', fix_attrs)."""
        path = self.path_of(rel)
        state = self._dir_state(os.path.dirname(path))
        if state == 'missing':
            return 'download', 'new'
        if state != 'dir':
            return 'refuse', state
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return 'download', 'new'
        if stat.S_ISLNK(st.st_mode):
            return 'refuse', '%s is a symlink' % path
        if stat.S_ISDIR(st.st_mode):
            return 'refuse', '%s is a directory' % path
        if not stat.S_ISREG(st.st_mode):
            return 'refuse', '%s is not a regular file' % path
        same, _how = unchanged(path, st.st_size, obj, self.probe_part_size(obj['key']))
        if not same:
            return 'download', 'changed'
        return 'skip', self._attrs_differ(st, self.mode)

    def _attrs_differ(self, st, mode):
        return (stat.S_IMODE(st.st_mode) != mode or (self.uid != -1 and st.st_uid != self.uid)
                or (self.gid != -1 and st.st_gid != self.gid))

    def _fix_attrs(self, path, mode):
        if self.uid != -1 or self.gid != -1:
            os.chown(path, self.uid, self.gid, follow_symlinks=False)
        os.chmod(path, mode)

    def dirs_needed(self, names):
        """Directories (absolute paths, parents first) that hold the restored names, the root included."""
        out = {self.root}
        for rel in names:
            parts = rel.split('/')[:-1]
            for i in range(1, len(parts) + 1):
                out.add(os.path.join(self.root, *parts[:i]))
        return sorted(out, key=lambda p: (p.count(os.sep), p))

    def local_files(self):
        """Relative names of every non-directory entry under the root (symlinks included, not followed),
        plus the directories; excluded names are left out and excluded directories not entered."""
        files, dirs = [], []
        if not os.path.isdir(self.root):
            return files, dirs
        errors = []
        for dirpath, dirnames, filenames in os.walk(self.root, onerror=errors.append, followlinks=False):
            rel_dir = os.path.relpath(dirpath, self.root)
            rel_dir = '' if rel_dir == '.' else rel_dir.replace(os.sep, '/') + '/'
            keep = []
            for d in dirnames:
                rel = rel_dir + d
                if excluded(rel, self.patterns):
                    continue
                if os.path.islink(os.path.join(dirpath, d)):
                    files.append(rel)  # a symlink to a directory: the link itself is the entry
                else:
                    keep.append(d)
                    dirs.append(rel)
            dirnames[:] = keep
            for f in filenames:
                rel = rel_dir + f
                if not excluded(rel, self.patterns):
                    files.append(rel)
        if errors:
            raise RestoreError('cannot read %s: %s' % (errors[0].filename, errors[0].strerror),
                               'Check the permissions under dest')
        return files, dirs

    # -- writes

    def make_dirs(self, dirs):
        created = fixed = 0
        if not os.path.isdir(self.root):
            os.makedirs(os.path.dirname(self.root), mode=0o755, exist_ok=True)
        for d in dirs:
            try:
                st = os.lstat(d)
            except FileNotFoundError:
                st = None
            if st is None:
                os.mkdir(d, self.dir_mode)
                self._fix_attrs(d, self.dir_mode)
                created += 1
                continue
            if stat.S_ISLNK(st.st_mode) and d != self.root:
                raise RestoreError('the directory %s became a symlink' % d, 'Remove it and run again')
            if self._attrs_differ(os.stat(d), self.dir_mode):
                self._fix_attrs(d, self.dir_mode)
                fixed += 1
        return created, fixed

    def download(self, rel, obj):
        """Download one object to a temp file beside its target, verify it, rename it over the target."""
        path = self.path_of(rel)
        dirpath = os.path.dirname(path)
        tmp = os.path.join(dirpath, '%s%s.tmp' % (TMP_PREFIX, secrets.token_hex(8)))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            r = self.client.get_object(Bucket=self.bucket, Key=obj['key'])
            h = hashlib.md5(usedforsecurity=False)
            n = 0
            body = r['Body']
            try:
                for block in body.iter_chunks(CHUNK):
                    view = memoryview(block)
                    while view.nbytes:
                        written = os.write(fd, view)
                        view = view[written:]
                    h.update(block)
                    n += len(block)
            finally:
                body.close()
            expected = r.get('ContentLength', n)
            if n != expected:
                raise RestoreError('the download of %s stopped after %d of %d bytes' % (obj['key'], n, expected),
                                   'Run the restore again')
            etag = normalize_etag(r.get('ETag') or obj['etag'])
            if MD5_RE.match(etag) and h.hexdigest() != etag:
                raise RestoreError('the download of %s does not match its ETag (MD5 %s, ETag %s)'
                                   % (obj['key'], h.hexdigest(), etag), 'Run the restore again')
            if self.uid != -1 or self.gid != -1:
                os.fchown(fd, self.uid, self.gid)
            os.fchmod(fd, self.mode)
            mtime = r['LastModified'].timestamp() if r.get('LastModified') else obj['mtime']
            os.utime(fd, (mtime, mtime))
            os.fsync(fd)
            os.close(fd)
            fd = None
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                st = None
            if st is not None and not stat.S_ISREG(st.st_mode):
                raise RestoreError('%s became a symlink or directory during the restore' % path,
                                   'Remove it and run again')
            os.rename(tmp, path)
        except BaseException:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return n

    def delete_files(self, names):
        deleted = []
        for rel in names:
            path = self.path_of(rel)
            try:
                os.unlink(path)  # a symlink is removed itself, never its target
            except FileNotFoundError:
                continue
            deleted.append(rel)
        return deleted

    def remove_empty_dirs(self, dirs, keep):
        for rel in sorted(dirs, key=lambda d: d.count('/'), reverse=True):
            path = self.path_of(rel)
            if path in keep:
                continue
            try:
                os.rmdir(path)
            except OSError:
                pass  # not empty (an excluded or unexpected entry): leave it

    # -- the whole run

    def run(self, check_mode=False, diff=False):
        started = time.monotonic()
        if os.path.lexists(self.dest) and not os.path.isdir(self.dest):
            raise RestoreError('dest exists and is not a directory', 'Give a directory as dest')
        self.root = os.path.realpath(self.dest)
        try:
            objects = self.list_objects()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, StoreError) as e:
            raise RestoreError(*describe_error(e, self.bucket, self.endpoint))

        refused = []
        for rel in sorted(objects):
            why = name_problem(rel)
            if why:
                refused.append('%s (%s)' % (objects[rel]['key'], why))
        for rel in file_conflicts(objects):
            refused.append('%s (it is both a file and a directory prefix)' % objects[rel]['key'])
        if refused:
            raise RestoreError('refusing %d object(s) whose names would leave dest or are unsafe: %s'
                               % (len(refused), ', '.join(refused[:20]) + (' ...' if len(refused) > 20 else '')),
                               'Remove or rename those objects, or exclude them; nothing was written')

        names = sorted(objects)
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                plans = list(pool.map(lambda rel: self.plan_one(rel, objects[rel]), names))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise RestoreError(*describe_error(e, self.bucket, self.endpoint))
        except OSError as e:
            raise RestoreError('cannot read %s: %s' % (e.filename, e.strerror),
                               'Check the permissions under dest; nothing was written')
        refused = ['%s (%s)' % (rel, detail) for rel, (action, detail) in zip(names, plans) if action == 'refuse']
        if refused:
            raise RestoreError('refusing %d file(s) whose local path is unsafe: %s'
                               % (len(refused), ', '.join(refused[:20]) + (' ...' if len(refused) > 20 else '')),
                               'Remove the symlinks or entries in the way, or exclude those names; '
                               'nothing was written')
        to_get = [rel for rel, (action, _d) in zip(names, plans) if action == 'download']
        replaced = [rel for rel, (action, d) in zip(names, plans) if action == 'download' and d == 'changed']
        to_fix = [rel for rel, (action, d) in zip(names, plans) if action == 'skip' and d]
        n_same = len(names) - len(to_get)

        to_delete, local_dirs = [], []
        if self.params.get('delete'):
            local, local_dirs = self.local_files()
            to_delete = sorted(set(local) - set(objects))

        dirs = self.dirs_needed(names)
        result = dict(src=self.src, dest=self.dest, unchanged=n_same,
                      total_bytes=sum(o['size'] for o in objects.values()),
                      files=to_get[:LIST_LIMIT], deleted_files=to_delete[:LIST_LIMIT])
        if diff:
            result['diff'] = make_diff(self.dest, sorted(set(replaced) | set(to_delete)), to_get)

        if check_mode:
            new_dirs = [d for d in dirs if not os.path.lexists(d)]
            fix_dirs = [d for d in dirs if os.path.isdir(d) and self._attrs_differ(os.stat(d), self.dir_mode)]
            nbytes = sum(objects[rel]['size'] for rel in to_get)
            result.update(changed=bool(to_get or to_delete or to_fix or new_dirs or fix_dirs),
                          downloaded=len(to_get), deleted=len(to_delete), bytes=nbytes,
                          attributes_fixed=len(to_fix) + len(fix_dirs),
                          duration_s=round(time.monotonic() - started, 3))
            result['msg'] = 'Would download %d file(s) (%s) from %s to %s, %d unchanged, delete %d' % (
                len(to_get), human(nbytes), self.src, self.dest, n_same, len(to_delete))
            return result

        done = []
        nbytes = 0
        try:
            created, fixed_dirs = self.make_dirs(dirs)
            for rel in to_fix:
                self._fix_attrs(self.path_of(rel), self.mode)
            pending = iter(to_get)
            with concurrent.futures.ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                futures = {}
                failure = None
                while True:
                    while failure is None and len(futures) < self.concurrency * 2:
                        rel = next(pending, None)
                        if rel is None:
                            break
                        futures[pool.submit(self.download, rel, objects[rel])] = rel
                    if not futures:
                        break
                    finished, _rest = concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_COMPLETED)
                    for f in finished:
                        rel = futures.pop(f)
                        try:
                            nbytes += f.result()
                            done.append(rel)
                        except Exception as e:  # pylint: disable=broad-except
                            if failure is None:
                                failure = (rel, e)
                if failure is not None:
                    raise failure[1]
            deleted = []
            if to_delete:
                deleted = self.delete_files(to_delete)
                self.remove_empty_dirs(local_dirs, set(dirs))
        except (RestoreError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError) as e:
            if isinstance(e, RestoreError):
                cause, advice = e.cause, e.advice
            else:
                cause, advice = describe_error(e, self.bucket, self.endpoint)
            raise RestoreError(cause, advice.rstrip('.') + ' (%d file(s) were restored before the failure, '
                               'no partial file is left, nothing was deleted)' % len(done), _partial(done, nbytes))

        done.sort()
        result.update(changed=bool(done or deleted or to_fix or created or fixed_dirs),
                      downloaded=len(done), deleted=len(deleted), bytes=nbytes,
                      attributes_fixed=len(to_fix) + fixed_dirs, files=done[:LIST_LIMIT],
                      deleted_files=deleted[:LIST_LIMIT], duration_s=round(time.monotonic() - started, 3))
        result['msg'] = 'Downloaded %d file(s) (%s) from %s to %s, %d unchanged, %d deleted' % (
            len(done), human(nbytes), self.src, self.dest, n_same, len(deleted))
        return result


def _partial(done, nbytes):
    done = sorted(done)
    return {'downloaded': len(done), 'bytes': nbytes, 'files': done[:LIST_LIMIT]}


def human(n):
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if n < 1024 or unit == 'GiB':
            return ('%d %s' % (n, unit)) if unit == 'B' else ('%.1f %s' % (n, unit))
        n /= 1024.0
    return '%d B' % n


def _bounded(names):
    lines = list(names[:DIFF_LIMIT])
    if len(names) > DIFF_LIMIT:
        lines.append('... and %d more' % (len(names) - DIFF_LIMIT))
    return ''.join(line + '\n' for line in lines)


def make_diff(dest, before, after):
    """Files that go away or are replaced (before) and files written (after), first DIFF_LIMIT names."""
    return {'before_header': '%s (files replaced or deleted)' % dest, 'before': _bounded(before),
            'after_header': '%s (files downloaded)' % dest, 'after': _bounded(after)}


def redact(text, params):
    """``text`` without the AWS keys (keys shorter than 4 characters are left: they would garble the text)."""
    return redaction.mask(text, [params.get(k) for k in ('aws_secret_key', 'aws_access_key')], min_length=4)


def error_message(e, params):
    try:
        bucket, prefix = parse_src(params.get('src'))
        src = display_src(bucket, prefix)
    except RestoreError:
        src = params.get('src')
    msg = 'Could not restore files from %s to %s: %s.' % (src, params.get('dest'), e.cause.rstrip('.'))
    if e.advice:
        msg += ' ' + e.advice.rstrip('.') + '.'
    return redact(msg, params)


def restore(params, check_mode=False, diff=False, client=None):
    """Run the restore; returns the result dict or raises :class:`RestoreError`."""
    return Restore(params, client=client).run(check_mode=check_mode, diff=diff)
