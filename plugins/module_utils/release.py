# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# Release directories, the ``current`` symlink, history and the deploy lock.
#
# Layout under ``app_root``::
#
#     releases/<id>/            one directory per release (id = UTC timestamp 20261123T150405Z)
#     releases/<id>/REVISION    git commit or artifact checksum
#     releases/<id>/.release.json   metadata (source, checksum, created)
#     releases/<id>.failed      marker: the release is known bad (JSON: time, actor, reason)
#     current -> releases/<id>  switched atomically (symlink at a temp name + rename)
#     shared/                   files and dirs linked into every release (shared_paths)
#     history.jsonl             one JSON object per switch / failure mark
#     deploy.lock               the deploy lock (JSON: owner, host, pid, created, expires)
#     .app_release.lock         the module lock: flock()ed by every app_release run while it switches, marks or
#                               prunes (never removed: an flock lives on the inode)
#     releases/.prune-<id>-*    a release being deleted by cleanup (renamed away first, marker inside)
#
# Order always comes from the release ids, never from file times.

import contextlib
import datetime
import fcntl
import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import socket
import stat
import tarfile
import tempfile
import time
import zipfile

from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import open_url

from ansible_collections.runbook.ops.plugins.module_utils._time import utcnow

RELEASE_ID_RE = re.compile(r'^[0-9]{8}T[0-9]{6}Z$')
RELEASES_DIR = 'releases'
SHARED_DIR = 'shared'
CURRENT = 'current'
HISTORY_FILE = 'history.jsonl'
LOCK_FILE = 'deploy.lock'
MUTEX_FILE = '.app_release.lock'
MUTEX_WAIT = 300  # seconds a run waits for another run's switch/prune; they hold it for moments
PRUNE_PREFIX = '.prune-'
PRUNE_MARKER = '.app_release-prune'
META_FILE = '.release.json'
REVISION_FILE = 'REVISION'
FAILED_SUFFIX = '.failed'
CHECKSUM_ALGOS = ('sha256', 'sha512')
CHUNK = 1024 * 1024


class ReleaseError(Exception):
    """A failure with a message fit for ``fail_json``."""


# --------------------------------------------------------------------------- ids and ordering

def validate_release_id(release_id):
    """Return ``release_id`` if it is a UTC timestamp id like 20261123T150405Z, else raise."""
    if not isinstance(release_id, str) or not release_id:
        raise ReleaseError('Could not use release id %r: it is empty. Use a UTC timestamp like 20261123T150405Z.'
                           % (release_id,))
    if not RELEASE_ID_RE.match(release_id):
        raise ReleaseError('Could not use release id %r: it must be a UTC timestamp like 20261123T150405Z '
                           '(digits, T, digits, Z; no paths, dots or slashes). Pass a valid release_id.'
                           % (release_id,))
    try:
        datetime.datetime.strptime(release_id, '%Y%m%dT%H%M%SZ')
    except ValueError:
        raise ReleaseError('Could not use release id %r: it is not a real date and time. '
                           'Use a UTC timestamp like 20261123T150405Z.' % (release_id,))
    return release_id


def is_release_id(name):
    try:
        validate_release_id(name)
    except ReleaseError:
        return False
    return True


def sort_release_ids(ids):
    """Oldest first. Ids are fixed-width UTC timestamps, so string order is time order."""
    return sorted(set(i for i in ids if is_release_id(i)))


def new_release_id(now=None):
    now = now or utcnow()
    return now.strftime('%Y%m%dT%H%M%SZ')


def plan_cleanup(releases, active, failed, keep, keep_failed=1, protect=()):
    """Return the release ids keep-N cleanup removes, oldest first.

    - the ``keep`` newest releases not marked failed are kept (failed ones do not count toward N);
    - the ``keep_failed`` newest failed releases are kept on top of that (for forensics);
    - the active release, the newest known-good release and every id in ``protect`` are never removed;
    - ``keep`` of 0 (or None) disables cleanup.
    """
    if not keep:
        return []
    ordered = sort_release_ids(releases)
    failed = set(failed or ())
    good = [r for r in ordered if r not in failed]
    bad = [r for r in ordered if r in failed]
    kept = set(good[-keep:])
    if keep_failed:
        kept.update(bad[-keep_failed:])
    if good:
        kept.add(good[-1])
    if active:
        kept.add(active)
    kept.update(p for p in protect if p)
    return [r for r in ordered if r not in kept]


def isoformat(dt):
    return dt.strftime('%Y-%m-%dT%H:%M:%SZ')


def parse_iso(text):
    return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)


# --------------------------------------------------------------------------- paths

def safe_relpath(path, what):
    """Validate a relative path inside a tree (shared paths); return it normalised."""
    if not isinstance(path, str) or not path or '\x00' in path:
        raise ReleaseError('Could not use %s %r: it is empty or contains a NUL byte. Pass a relative path.'
                           % (what, path))
    if os.path.isabs(path):
        raise ReleaseError('Could not use %s %r: it is absolute. Pass a path relative to the release.' % (what, path))
    parts = path.replace('\\', '/').split('/')
    if any(p == '..' for p in parts):
        raise ReleaseError('Could not use %s %r: it contains "..". Pass a path inside the release.' % (what, path))
    norm = os.path.normpath(path)
    if norm in ('.', '') or norm.startswith('..'):
        raise ReleaseError('Could not use %s %r: it does not name anything inside the release.' % (what, path))
    return norm


def is_within(root, path):
    root = os.path.realpath(root)
    path = os.path.realpath(path)
    return path == root or path.startswith(root + os.sep)


def file_checksum(path, algo='sha256'):
    h = hashlib.new(algo)
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(CHUNK), b''):
            h.update(block)
    return '%s:%s' % (algo, h.hexdigest())


def tree_checksum(root, algo='sha256'):
    """A checksum of a directory tree: relative paths, types, symlink targets and file contents."""
    h = hashlib.new(algo)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        entries = sorted(dirnames + filenames)
        for name in entries:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            h.update(rel.encode('utf-8', 'surrogateescape') + b'\x00')
            if os.path.islink(full):
                h.update(b'L' + os.readlink(full).encode('utf-8', 'surrogateescape') + b'\x00')
            elif os.path.isdir(full):
                h.update(b'D\x00')
            else:
                h.update(b'F')
                with open(full, 'rb') as f:
                    for block in iter(lambda: f.read(CHUNK), b''):
                        h.update(block)
                h.update(b'\x00')
    return '%s:%s' % (algo, h.hexdigest())


def parse_checksum(value):
    """``sha256:<hex>`` (or bare hex = sha256) -> (algo, 'algo:hex')."""
    if value is None:
        return None, None
    value = value.strip().lower()
    if ':' in value:
        algo, digest = value.split(':', 1)
    else:
        algo, digest = 'sha256', value
    size = {'sha256': 64, 'sha512': 128}.get(algo)
    if size is None or not re.match(r'^[0-9a-f]{%d}$' % size, digest):
        raise ReleaseError('Could not use checksum %r: expected sha256:<64 hex digits> or sha512:<128 hex digits>. '
                           'Pass the artifact checksum in that form.' % (value,))
    return algo, '%s:%s' % (algo, digest)


# --------------------------------------------------------------------------- safe unpacking

def _check_member_name(name, archive):
    if not name or '\x00' in name:
        raise ReleaseError('Could not unpack %s: it has an empty member name or one with a NUL byte. '
                           'Rebuild the artifact.' % archive)
    unified = name.replace('\\', '/')
    if unified.startswith('/') or re.match(r'^[A-Za-z]:', unified):
        raise ReleaseError('Could not unpack %s: member %r has an absolute path. Rebuild the artifact with '
                           'relative paths.' % (archive, name))
    if '..' in unified.split('/'):
        raise ReleaseError('Could not unpack %s: member %r contains "..". Rebuild the artifact without '
                           'parent-directory references.' % (archive, name))


def _check_link_target(member_name, target, archive):
    if not target or '\x00' in target or target.startswith('/'):
        raise ReleaseError('Could not unpack %s: link %r points to %r, outside the release. Rebuild the '
                           'artifact with relative links that stay inside it.' % (archive, member_name, target))
    resolved = os.path.normpath(os.path.join(os.path.dirname(member_name), target))
    if resolved == '..' or resolved.startswith('../') or os.path.isabs(resolved):
        raise ReleaseError('Could not unpack %s: link %r points to %r, outside the release. Rebuild the '
                           'artifact with relative links that stay inside it.' % (archive, member_name, target))


def check_tree_links(root, what):
    """Every symlink under root must resolve (physically) inside root."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            if os.path.islink(full) and not is_within(root, full):
                raise ReleaseError('Could not unpack %s: link %r resolves to %r, outside the release. Rebuild '
                                   'the artifact with links that stay inside it (use shared_paths for shared '
                                   'data).' % (what, os.path.relpath(full, root), os.readlink(full)))


def extract_tar(archive, dest):
    try:
        with tarfile.open(archive, 'r:*') as tf:
            members = tf.getmembers()
            for m in members:
                _check_member_name(m.name, archive)
                if m.issym():
                    _check_link_target(m.name, m.linkname, archive)
                elif m.islnk():
                    _check_member_name(m.linkname, archive)
                elif not (m.isfile() or m.isdir()):
                    raise ReleaseError('Could not unpack %s: member %r is a device, FIFO or other special file. '
                                       'Rebuild the artifact with regular files, dirs and links only.'
                                       % (archive, m.name))
            if hasattr(tarfile, 'data_filter'):
                tf.extractall(dest, members=members, filter='data')
            else:  # pragma: no cover - old Pythons without PEP 706
                tf.extractall(dest, members=members)
    except getattr(tarfile, 'FilterError', ()) as e:
        raise ReleaseError('Could not unpack %s: %s; a member would land outside the release. Rebuild the '
                           'artifact with paths and links that stay inside it.' % (archive, e))
    except (tarfile.TarError, EOFError) as e:
        raise ReleaseError('Could not unpack %s: %s. Check that the artifact is a complete tar archive.'
                           % (archive, e))


def extract_zip(archive, dest):
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_member_name(info.filename, archive)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise ReleaseError('Could not unpack %s: member %r is a symlink; zip links are not supported. '
                                       'Use a tar archive for artifacts with links.' % (archive, info.filename))
            for info in infos:
                zf.extract(info, dest)
                mode = (info.external_attr >> 16) & 0o777
                if mode and not info.is_dir():
                    os.chmod(os.path.join(dest, info.filename), mode)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        raise ReleaseError('Could not unpack %s: %s. Check that the artifact is a complete zip archive.'
                           % (archive, e))


def unpack(src, dest):
    """Unpack a tar/zip archive or copy a directory into dest (which exists and is empty)."""
    if os.path.isdir(src):
        for name in os.listdir(src):
            s = os.path.join(src, name)
            d = os.path.join(dest, name)
            if os.path.isdir(s) and not os.path.islink(s):
                shutil.copytree(s, d, symlinks=True)
            else:
                shutil.copy2(s, d, follow_symlinks=False)
        kind = 'directory'
    elif zipfile.is_zipfile(src):
        extract_zip(src, dest)
        kind = 'zip'
    elif tarfile.is_tarfile(src):
        extract_tar(src, dest)
        kind = 'tar'
    else:
        raise ReleaseError('Could not unpack %s: it is neither a directory nor a tar or zip archive. '
                           'Pass a .tar(.gz|.bz2|.xz), .zip or a directory as src.' % src)
    check_tree_links(dest, src)
    return kind


# --------------------------------------------------------------------------- history

def append_history(path, entry):
    line = json.dumps(entry, sort_keys=True) + '\n'
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode('utf-8'))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_history(path):
    entries = []
    try:
        with open(path, 'r', encoding='utf-8') as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a torn last line never hides the rest
                if isinstance(entry, dict):
                    entries.append(entry)
    except FileNotFoundError:
        pass
    return entries


def previous_from_history(entries, active):
    """The release that was active before ``active`` became active (last matching switch)."""
    for entry in reversed(entries):
        if entry.get('action') == 'activate' and entry.get('release_id') == active:
            return entry.get('previous')
    return None


# --------------------------------------------------------------------------- the lock

def read_lock(path):
    try:
        with open(path, 'r', encoding='utf-8') as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except ValueError:
        return {'owner': '(unreadable lock file)', 'expires': None, 'corrupt': True}
    return data if isinstance(data, dict) else {'owner': '(unreadable lock file)', 'expires': None, 'corrupt': True}


def lock_expired(lock, now):
    try:
        return parse_iso(lock.get('expires')) <= now
    except (TypeError, ValueError):
        return True  # an unreadable expiry is treated as stale, still only broken with break_stale


def _describe_lock(lock):
    return 'owner %r (host %s, pid %s, created %s, expires %s)' % (
        lock.get('owner'), lock.get('host'), lock.get('pid'), lock.get('created'), lock.get('expires'))


def acquire_lock(path, owner, ttl, break_stale=False, check_mode=False, now=None, reason=None):
    """Take the lock. Returns dict(changed, lock, broken_lock). Raises ReleaseError when held."""
    now = now or utcnow()
    if not owner or '\x00' in owner:
        raise ReleaseError('Could not take the deploy lock: lock_owner is empty or has a NUL byte. Pass a lock_owner.')
    new = {
        'owner': owner,
        'host': socket.gethostname(),
        'pid': os.getpid(),
        'created': isoformat(now),
        'expires': isoformat(now + datetime.timedelta(seconds=ttl)),
        'reason': reason,
    }
    current = read_lock(path)
    broken = None
    if current is not None:
        expired = lock_expired(current, now)
        if current.get('owner') == owner and not expired:
            return {'changed': False, 'lock': current, 'broken_lock': None}
        if not expired:
            raise ReleaseError('Could not take the deploy lock %s: it is held by %s. Wait for that deploy to '
                               'finish, or remove the lock with state=unlocked and force=true if it is dead.'
                               % (path, _describe_lock(current)))
        if not break_stale:
            raise ReleaseError('Could not take the deploy lock %s: a stale lock is held by %s; it expired. '
                               'Check that no deploy is running, then rerun with break_stale=true.'
                               % (path, _describe_lock(current)))
        broken = current
    if check_mode:
        return {'changed': True, 'lock': new, 'broken_lock': broken}
    d = os.path.dirname(path)
    if broken is not None:
        stale = '%s.stale-%s' % (path, os.getpid())
        try:
            os.rename(path, stale)
        except FileNotFoundError:
            raise ReleaseError('Could not take the deploy lock %s: the stale lock changed while breaking it. '
                               'Rerun to see who holds it now.' % path)
        os.unlink(stale)
    fd, tmp = tempfile.mkstemp(prefix='.deploy.lock.', dir=d)
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(new, f, sort_keys=True)
            f.write('\n')
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # atomic create-if-absent with the full content in place
        except FileExistsError:
            raise ReleaseError('Could not take the deploy lock %s: it is held by %s. Wait for that deploy to '
                               'finish.' % (path, _describe_lock(read_lock(path) or {})))
    finally:
        os.unlink(tmp)
    return {'changed': True, 'lock': new, 'broken_lock': broken}


def release_lock(path, owner=None, force=False, check_mode=False):
    current = read_lock(path)
    if current is None:
        return {'changed': False, 'lock': None}
    if not force and current.get('owner') != owner:
        raise ReleaseError('Could not release the deploy lock %s: it is held by %s, not by %r. Pass the same '
                           'lock_owner that took it, or force=true to remove it anyway.'
                           % (path, _describe_lock(current), owner))
    if not check_mode:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    return {'changed': True, 'lock': current}


# --------------------------------------------------------------------------- the release tree

def resolve_ids(owner=None, group=None):
    uid = gid = -1
    try:
        if owner:
            uid = int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid
        if group:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError:
        raise ReleaseError('Could not set ownership to %s:%s: no such user or group on the managed node. Create '
                           'it first or fix owner/group.' % (owner or '', group or ''))
    return uid, gid


def chown_tree(root, owner=None, group=None):
    uid, gid = resolve_ids(owner, group)
    os.lchown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


def fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class ReleaseTree(object):
    """Reads and changes one ``app_root``. ``check_mode`` guards every side effect."""

    def __init__(self, app_root, history_file=None, check_mode=False, actor=None, reason=None):
        if not app_root or '\x00' in app_root or not os.path.isabs(app_root):
            raise ReleaseError('Could not use app_root %r: it must be an absolute path. Pass an absolute app_root.'
                               % (app_root,))
        self.app_root = os.path.normpath(app_root)
        self.releases_dir = os.path.join(self.app_root, RELEASES_DIR)
        self.shared_dir = os.path.join(self.app_root, SHARED_DIR)
        self.current = os.path.join(self.app_root, CURRENT)
        self.history_file = history_file or os.path.join(self.app_root, HISTORY_FILE)
        self.lock_file = os.path.join(self.app_root, LOCK_FILE)
        self.mutex_file = os.path.join(self.app_root, MUTEX_FILE)
        self.mutex_wait = MUTEX_WAIT
        self.check_mode = check_mode
        self.actor = actor
        self.reason = reason
        self.cleanup_skipped = []  # releases cleanup planned to remove but spared: current pointed to them
        self._mutex_depth = 0

    # ----- the module lock
    @contextlib.contextmanager
    def mutex(self):
        """Hold ``.app_release.lock`` (flock) around a switch, a failure mark, an install or a prune.

        Every app_release run on this app_root takes it, so one run's plan (what to prune, whether a release
        exists, which release is active) cannot be changed by another run before it acts on it. It is not the
        deploy lock (a lease with an owner that the deploy role holds across a whole deploy); it is held for
        moments and dies with the process. Re-entrant; a no-op in check mode and while app_root does not exist.
        """
        if self.check_mode or self._mutex_depth or not os.path.isdir(self.app_root):
            self._mutex_depth += 1
            try:
                yield
            finally:
                self._mutex_depth -= 1
            return
        fd = os.open(self.mutex_file, os.O_RDWR | os.O_CREAT | getattr(os, 'O_CLOEXEC', 0), 0o644)
        try:
            self._flock(fd)
            holder = json.dumps({'pid': os.getpid(), 'host': socket.gethostname(), 'actor': self.actor,
                                 'since': isoformat(utcnow())}, sort_keys=True)
            os.ftruncate(fd, 0)
            os.pwrite(fd, (holder + '\n').encode('utf-8'), 0)
        except BaseException:
            os.close(fd)
            raise
        self._mutex_depth = 1
        try:
            yield
        finally:
            self._mutex_depth = 0
            os.close(fd)  # closing the only descriptor releases the flock

    def _flock(self, fd):
        deadline = time.monotonic() + self.mutex_wait
        pause = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except (BlockingIOError, InterruptedError):
                if time.monotonic() >= deadline:
                    break
            time.sleep(pause)
            pause = min(pause * 2, 0.2)
        try:
            holder = json.loads(os.pread(fd, 4096, 0).decode('utf-8', 'replace') or '{}')
        except ValueError:
            holder = {}
        if not isinstance(holder, dict):
            holder = {}
        raise ReleaseError('Could not lock %s: another app_release run holds it (pid %s on %s, actor %s, since %s) '
                           'and did not finish within %d s. Wait for that run, or check whether that process hangs.'
                           % (self.mutex_file, holder.get('pid', '?'), holder.get('host', '?'),
                              holder.get('actor'), holder.get('since', '?'), self.mutex_wait))

    # ----- reading
    def release_path(self, release_id):
        return os.path.join(self.releases_dir, release_id)

    def releases(self):
        try:
            names = os.listdir(self.releases_dir)
        except FileNotFoundError:
            return []
        return sort_release_ids(n for n in names
                                if is_release_id(n) and os.path.isdir(os.path.join(self.releases_dir, n)))

    def failed(self):
        try:
            names = os.listdir(self.releases_dir)
        except FileNotFoundError:
            return []
        return sort_release_ids(n[:-len(FAILED_SUFFIX)] for n in names if n.endswith(FAILED_SUFFIX))

    def is_failed(self, release_id):
        return os.path.exists(self.release_path(release_id) + FAILED_SUFFIX)

    def active(self):
        if not os.path.islink(self.current):
            if os.path.exists(self.current):
                raise ReleaseError('Could not read the active release: %s exists but is not a symlink. Move it '
                                   'away so that app_release can manage it.' % self.current)
            return None
        target = os.readlink(self.current)
        name = os.path.basename(os.path.normpath(target))
        return name if is_release_id(name) else None

    def metadata(self, release_id):
        try:
            with open(os.path.join(self.release_path(release_id), META_FILE), 'r', encoding='utf-8') as f:
                data = json.load(f)
                return data if isinstance(data, dict) else {}
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return {}

    def history(self):
        return read_history(self.history_file)

    def rollback_candidate(self, active=None, releases=None, failed=None):
        """Newest release older than the active one that is not marked failed."""
        active = self.active() if active is None else active
        releases = self.releases() if releases is None else releases
        failed = set(self.failed() if failed is None else failed)
        older = [r for r in sort_release_ids(releases) if r not in failed and (active is None or r < active)]
        return older[-1] if older else None

    def snapshot(self):
        releases = self.releases()
        return {'active_release': self.active(), 'releases': releases, 'failed_releases': self.failed()}

    def info(self, history_lines=20):
        releases = self.releases()
        failed = self.failed()
        active = self.active()
        history = self.history()
        return {
            'app_root': self.app_root,
            'releases': releases,
            'active_release': active,
            'previous_release': previous_from_history(history, active),
            'rollback_candidate': self.rollback_candidate(active, releases, failed),
            'failed_releases': failed,
            'failed_details': dict((r, self._read_json(self.release_path(r) + FAILED_SUFFIX)) for r in failed),
            'history': history[-history_lines:] if history_lines else [],
            'lock': read_lock(self.lock_file),
        }

    @staticmethod
    def _read_json(path):
        try:
            with open(path, 'r', encoding='utf-8') as f:
                return json.load(f)
        except (FileNotFoundError, ValueError):
            return {}

    # ----- writing
    def _event(self, action, release_id, **extra):
        entry = {
            'time': isoformat(utcnow()),
            'action': action,
            'release_id': release_id,
            'actor': self.actor,
            'reason': self.reason,
            'host': socket.gethostname(),
        }
        entry.update(extra)
        return entry

    def _ensure_dirs(self):
        for d in (self.app_root, self.releases_dir):
            if not os.path.isdir(d):
                os.makedirs(d, mode=0o755, exist_ok=True)

    def cleanup(self, keep, keep_failed, protect=()):
        """Keep-N cleanup under the module lock; returns the release ids removed (would remove in check mode).

        ``current`` is read again right before each deletion: a release it points to at that moment is never
        removed, even when something outside app_release switched to it after the plan was made (listed in
        ``cleanup_skipped``). A release is renamed away before it is deleted, so a failed or interrupted delete
        never leaves a half-deleted release under its id.
        """
        self.cleanup_skipped = []
        with self.mutex():
            doomed = plan_cleanup(self.releases(), self.active(), self.failed(), keep, keep_failed, protect)
            if self.check_mode:
                return doomed
            self._sweep_prune_leftovers()
            removed = []
            for rid in doomed:
                if self._remove_release(rid):
                    removed.append(rid)
                else:
                    self.cleanup_skipped.append(rid)
            if removed:
                fsync_dir(self.releases_dir)
            return removed

    def _remove_release(self, rid):
        """Delete one release unless current points to it right now. Caller holds the module lock."""
        path = self.release_path(rid)
        if self.active() == rid:
            return False
        if os.path.islink(path):
            os.unlink(path)
        elif os.path.isdir(path):
            trash = tempfile.mkdtemp(prefix='%s%s-' % (PRUNE_PREFIX, rid), dir=self.releases_dir)
            with open(os.path.join(trash, PRUNE_MARKER), 'w', encoding='utf-8') as f:
                json.dump({'release_id': rid, 'pid': os.getpid(), 'time': isoformat(utcnow())}, f)
            os.rename(path, os.path.join(trash, rid))
            if self.active() == rid:  # switched from outside between the check and the rename: put it back
                os.rename(os.path.join(trash, rid), path)
                shutil.rmtree(trash, ignore_errors=True)
                return False
            shutil.rmtree(trash)
        try:
            os.unlink(path + FAILED_SUFFIX)
        except FileNotFoundError:
            pass
        return True

    def _sweep_prune_leftovers(self):
        """Finish deletes an interrupted cleanup left: only ``.prune-*`` dirs that carry the prune marker."""
        try:
            names = os.listdir(self.releases_dir)
        except FileNotFoundError:
            return
        for name in names:
            full = os.path.join(self.releases_dir, name)
            if (name.startswith(PRUNE_PREFIX) and not os.path.islink(full)
                    and os.path.isfile(os.path.join(full, PRUNE_MARKER))):
                shutil.rmtree(full, ignore_errors=True)

    def present(self, release_id, source, shared_paths=(), owner=None, group=None, mode=None,
                force=False):
        """``source`` is a ``Source`` (below). Returns dict(changed, checksum, revision, kind, replaced)."""
        validate_release_id(release_id)
        shared = [safe_relpath(p, 'shared path') for p in (shared_paths or [])]
        path = self.release_path(release_id)
        meta = self.metadata(release_id) if os.path.isdir(path) else None
        if meta is not None:
            want = source.identity()
            have = meta.get('checksum')
            if want is not None and want == have:
                return {'changed': False, 'checksum': have, 'revision': meta.get('revision'),
                        'kind': meta.get('kind'), 'replaced': False}
            if not force:
                raise ReleaseError('Could not create release %s: it already exists with checksum %s, and the '
                                   'source is %s. Use a new release_id, or force=true to replace it.'
                                   % (release_id, have, want or 'different'))
            if self.active() == release_id:
                raise ReleaseError('Could not replace release %s: it is the active release. Activate another '
                                   'release first.' % release_id)
        for p in shared:
            target = os.path.join(self.shared_dir, p)
            if not os.path.lexists(target):
                raise ReleaseError('Could not link shared path %r: %s does not exist. Create it first (for example '
                                   'with ansible.builtin.file or ansible.builtin.copy).' % (p, target))
        if owner or group:
            resolve_ids(owner, group)
        if mode is not None and not re.match(r'^0?[0-7]{3,4}$', str(mode)):
            raise ReleaseError('Could not use mode %r: pass an octal string such as "0755".' % (mode,))
        if self.check_mode:
            return {'changed': True, 'checksum': source.identity(), 'revision': None, 'kind': source.kind,
                    'replaced': meta is not None}
        self._ensure_dirs()
        tmp = tempfile.mkdtemp(prefix='.tmp-%s-' % release_id, dir=self.releases_dir)
        try:
            work = tempfile.mkdtemp(prefix='.fetch-%s-' % release_id, dir=self.releases_dir)
            try:
                checksum, revision, kind = source.materialize(tmp, work)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            for p in shared:
                link = os.path.join(tmp, p)
                if os.path.islink(link) or os.path.isfile(link):
                    os.unlink(link)
                elif os.path.isdir(link):
                    shutil.rmtree(link)
                os.makedirs(os.path.dirname(link), exist_ok=True)
                os.symlink(os.path.relpath(os.path.join(self.shared_dir, p), os.path.dirname(
                    os.path.join(path, p))), link)
            with open(os.path.join(tmp, REVISION_FILE), 'w', encoding='utf-8') as f:
                f.write('%s\n' % revision)
            with open(os.path.join(tmp, META_FILE), 'w', encoding='utf-8') as f:
                json.dump({'release_id': release_id, 'checksum': checksum, 'revision': revision, 'kind': kind,
                           'source': source.describe(), 'created': isoformat(utcnow()),
                           'shared_paths': shared, 'actor': self.actor}, f, sort_keys=True, indent=1)
            os.chmod(tmp, int(str(mode), 8) if mode else 0o755)
            if owner or group:
                chown_tree(tmp, owner, group)
            with self.mutex():  # install under the module lock: no run activates or prunes it meanwhile
                replaced = False
                if os.path.isdir(path):
                    if meta is None and not force:  # another run created it while this one fetched
                        have = self.metadata(release_id).get('checksum')
                        if have == checksum:
                            shutil.rmtree(tmp, ignore_errors=True)
                            return {'changed': False, 'checksum': have, 'revision': revision, 'kind': kind,
                                    'replaced': False}
                        raise ReleaseError('Could not create release %s: another run created it meanwhile with '
                                           'checksum %s, and the source is %s. Use a new release_id, or force=true '
                                           'to replace it.' % (release_id, have, checksum))
                    if self.active() == release_id:
                        raise ReleaseError('Could not replace release %s: it is the active release. Activate '
                                           'another release first.' % release_id)
                    old = tempfile.mkdtemp(prefix='.old-%s-' % release_id, dir=self.releases_dir)
                    os.rename(path, os.path.join(old, 'r'))
                    os.rename(tmp, path)
                    shutil.rmtree(old, ignore_errors=True)
                    replaced = True
                else:
                    os.rename(tmp, path)
                fsync_dir(self.releases_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return {'changed': True, 'checksum': checksum, 'revision': revision, 'kind': kind, 'replaced': replaced}

    def activate(self, release_id, force=False):
        validate_release_id(release_id)
        with self.mutex():
            return self._activate(release_id, force)

    def _activate(self, release_id, force):
        path = self.release_path(release_id)
        if not os.path.isdir(path):
            raise ReleaseError('Could not activate release %s: %s does not exist. Create it first with '
                               'state=present.' % (release_id, path))
        before = self.active()
        if before == release_id:
            return {'changed': False, 'previous_release': previous_from_history(self.history(), before)}
        if self.is_failed(release_id) and not force:
            raise ReleaseError('Could not activate release %s: it is marked failed (%s%s). Pick another release, '
                               'or pass force=true to activate it anyway.'
                               % (release_id, release_id, FAILED_SUFFIX))
        if not self.check_mode:
            tmp = os.path.join(self.app_root, '.%s.tmp-%d' % (CURRENT, os.getpid()))
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(os.path.join(RELEASES_DIR, release_id), tmp)
            try:
                os.replace(tmp, self.current)
            except OSError as e:
                os.unlink(tmp)
                raise ReleaseError('Could not switch %s to release %s: %s. Make sure current is a symlink (not a '
                                   'directory) and app_root is writable.' % (self.current, release_id, e))
            fsync_dir(self.app_root)
            append_history(self.history_file, self._event('activate', release_id, previous=before,
                                                          forced=bool(force and self.is_failed(release_id))))
        return {'changed': True, 'previous_release': before}

    def mark_failed(self, release_id, force=False):
        validate_release_id(release_id)
        with self.mutex():
            return self._mark_failed(release_id, force)

    def _mark_failed(self, release_id, force):
        path = self.release_path(release_id)
        if not os.path.isdir(path):
            raise ReleaseError('Could not mark release %s failed: %s does not exist. Check the release_id '
                               '(state=info lists the releases).' % (release_id, path))
        if self.is_failed(release_id):
            return {'changed': False}
        if self.active() == release_id and not force:
            raise ReleaseError('Could not mark release %s failed: it is the active release. Switch current to '
                               'another release first (state=active), or pass force=true.' % release_id)
        if not self.check_mode:
            entry = self._event('failed', release_id)
            marker = path + FAILED_SUFFIX
            fd, tmp = tempfile.mkstemp(prefix='.failed-', dir=self.releases_dir)
            with os.fdopen(fd, 'w') as f:
                json.dump(entry, f, sort_keys=True)
                f.write('\n')
            os.chmod(tmp, 0o644)
            os.replace(tmp, marker)
            append_history(self.history_file, entry)
        return {'changed': True}


# --------------------------------------------------------------------------- sources

class Source(object):
    kind = 'unknown'

    def identity(self):
        """The checksum this source will produce, when known without fetching anything."""
        return None

    def describe(self):
        return {}

    def materialize(self, dest, work):
        """Fill ``dest``; ``work`` is scratch space. Returns (checksum, revision, kind)."""
        raise NotImplementedError


class PathSource(Source):
    def __init__(self, path, checksum=None):
        if not path or '\x00' in path:
            raise ReleaseError('Could not use src %r: it is empty or contains a NUL byte.' % (path,))
        self.path = path
        self.algo, self.expected = parse_checksum(checksum)
        if not os.path.exists(path):
            raise ReleaseError('Could not read src %s: it does not exist on the managed node. Copy the artifact '
                               'there first, or pass a URL with checksum.' % path)
        self.kind = 'directory' if os.path.isdir(path) else 'archive'
        self._sum = None

    def identity(self):
        if self._sum is None:
            algo = self.algo or 'sha256'
            self._sum = tree_checksum(self.path, algo) if os.path.isdir(self.path) else file_checksum(self.path, algo)
            if self.expected and self._sum != self.expected:
                raise ReleaseError('Could not use src %s: its checksum is %s, expected %s. The artifact is '
                                   'corrupt or not the one you meant.' % (self.path, self._sum, self.expected))
        return self._sum

    def describe(self):
        return {'src': self.path}

    def materialize(self, dest, work):
        checksum = self.identity()
        kind = unpack(self.path, dest)
        return checksum, checksum, kind


class UrlSource(Source):
    kind = 'archive'

    def __init__(self, url, checksum, fetch):
        self.url = url
        self.algo, self.expected = parse_checksum(checksum)
        if not self.expected:
            raise ReleaseError('Could not fetch %s: a URL needs a checksum (sha256:<hex>). Pass checksum so a '
                               'tampered or truncated download is refused.' % url)
        self.fetch = fetch

    def identity(self):
        return self.expected

    def describe(self):
        return {'url': self.url}

    def materialize(self, dest, work):
        target = os.path.join(work, 'artifact')
        self.fetch(self.url, target)
        got = file_checksum(target, self.algo)
        if got != self.expected:
            raise ReleaseError('Could not use the artifact from %s: its checksum is %s, expected %s. The '
                               'download is corrupt or the artifact changed; check the URL and checksum.'
                               % (self.url, got, self.expected))
        kind = unpack(target, dest)
        return got, got, kind


GIT_REF_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._/-]*$')


class GitSource(Source):
    kind = 'git'

    def __init__(self, repo, ref, run_command, git='git'):
        if not repo or '\x00' in repo or repo.startswith('-'):
            raise ReleaseError('Could not use git repo %r: it is empty, has a NUL byte or starts with "-".'
                               % (repo,))
        ref = ref or 'HEAD'
        if not GIT_REF_RE.match(ref) or '..' in ref or ref.endswith('.lock'):
            raise ReleaseError('Could not use git ref %r: only letters, digits, ".", "_", "/" and "-" are allowed '
                               '(no leading "-", no ".."). Pass a branch, tag or commit.' % (ref,))
        self.repo = repo
        self.ref = ref
        self.run = run_command
        self.git = git
        self._commit = None

    def _git(self, args, what):
        rc, out, err = self.run([self.git] + args)
        if rc != 0:
            raise ReleaseError('Could not %s: git exited %s: %s. Check git_repo, git_ref and access to the '
                               'repository.' % (what, rc, (err or out).strip()))
        return out

    def identity(self):
        if self._commit is None:
            if re.match(r'^[0-9a-f]{40}$', self.ref):
                self._commit = self.ref
            else:
                out = self._git(['ls-remote', '--', self.repo, self.ref, 'refs/tags/%s^{}' % self.ref],
                                'resolve %s in %s' % (self.ref, self.repo))
                lines = [ln.split() for ln in out.splitlines() if ln.strip()]
                peeled = [ln[0] for ln in lines if len(ln) == 2 and ln[1].endswith('^{}')]
                plain = [ln[0] for ln in lines if len(ln) == 2 and not ln[1].endswith('^{}')]
                found = peeled or plain
                self._commit = found[0] if found else None
        return ('git:%s' % self._commit) if self._commit else None

    def describe(self):
        return {'git_repo': self.repo, 'git_ref': self.ref}

    def materialize(self, dest, work):
        clone = os.path.join(work, 'clone')
        self._git(['clone', '--quiet', '--no-checkout', '--', self.repo, clone], 'clone %s' % self.repo)
        commit = None
        for cand in ('refs/remotes/origin/%s' % self.ref, 'refs/tags/%s' % self.ref, self.ref):
            rc, out, dummy = self.run([self.git, '-C', clone, 'rev-parse', '--verify', '--quiet',
                                       '%s^{commit}' % cand])
            if rc == 0 and out.strip():
                commit = out.strip()
                break
        if commit is None:
            raise ReleaseError('Could not find git ref %r in %s. Pass an existing branch, tag or commit.'
                               % (self.ref, self.repo))
        tarball = os.path.join(work, 'export.tar')
        self._git(['-C', clone, 'archive', '--format=tar', '--output=%s' % tarball, commit],
                  'export commit %s' % commit)
        extract_tar(tarball, dest)
        check_tree_links(dest, '%s@%s' % (self.repo, commit))
        self._commit = commit
        return 'git:%s' % commit, commit, 'git'


def url_fetcher(validate_certs=True, timeout=60):
    """A ``fetch(url, dest)`` for UrlSource that downloads with Ansible's open_url."""
    def fetch(url, dest):
        try:
            resp = open_url(url, validate_certs=validate_certs, timeout=timeout)
            with open(dest, 'wb') as f:
                shutil.copyfileobj(resp, f, CHUNK)
        except Exception as e:  # urllib raises many types; all mean the same to the operator
            raise ReleaseError('Could not download %s: %s. Check the URL and that the node can reach it.'
                               % (url, to_native(e)))
    return fetch


def make_source(params, run_command=None, find_git=None):
    """The Source for state=present from app_release's options (git_repo/git_ref, or src/checksum).

    ``run_command`` runs git argv lists (module.run_command's signature); ``find_git`` returns the git binary.
    """
    if params['git_repo']:
        git = find_git() if find_git else 'git'
        return GitSource(params['git_repo'], params['git_ref'], run_command, git=git)
    src = params['src']
    if src.startswith(('http://', 'https://')):
        return UrlSource(src, params['checksum'], url_fetcher(params['validate_certs'], params['timeout']))
    if src.startswith('file://'):
        src = src[len('file://'):]
    return PathSource(src, params['checksum'])


# --------------------------------------------------------------------------- the app_release state machine

class ReleaseManager(object):
    """app_release's states, one method each, filling the module result.

    ``params`` are app_release's options. The ReleaseTree guards every side effect with ``check_mode``; the
    manager predicts the state after the run (``after``, used for the result and the diff) from the state before
    and what each step reported, and outside check mode reads it back under the same hold of the module lock that
    switched, marked or pruned. ``run_command``/``find_git`` serve git sources, ``warn`` receives warnings.
    """

    STATES = ('present', 'active', 'failed', 'locked', 'unlocked')

    def __init__(self, params, check_mode=False, run_command=None, find_git=None, warn=None):
        for name in ('keep', 'keep_failed'):
            if params[name] < 0:
                raise ReleaseError('Could not use %s=%d: it must be 0 or more.' % (name, params[name]))
        if params['lock_ttl'] < 1:
            raise ReleaseError('Could not use lock_ttl=%d: it must be at least 1 second.' % params['lock_ttl'])
        if params['state'] not in self.STATES:
            raise ReleaseError('Could not use state=%r: pick one of %s.' % (params['state'], ', '.join(self.STATES)))
        self.p = params
        self.check_mode = check_mode
        self.run_command = run_command
        self.find_git = find_git
        self.warn = warn or (lambda msg: None)
        self.tree = ReleaseTree(params['app_root'], params['history_file'], check_mode, params['actor'],
                                params['reason'])
        self.before = None
        self.after = None

    def run(self, diff=False):
        """Apply ``params['state']``; returns the module result (with ``diff`` when asked)."""
        p, tree = self.p, self.tree
        self.before = tree.snapshot()
        self.before['lock_owner'] = (read_lock(tree.lock_file) or {}).get('owner')
        self.after = dict(self.before)
        result = {'changed': False, 'app_root': tree.app_root}
        if p['release_id'] is not None:
            validate_release_id(p['release_id'])
            result['release_id'] = p['release_id']
            result['release_path'] = tree.release_path(p['release_id'])
        getattr(self, p['state'])(result)
        after = self.after
        result['releases'] = after['releases']
        result['failed_releases'] = after['failed_releases']
        result['active_release'] = after['active_release']
        result['rollback_candidate'] = tree.rollback_candidate(after['active_release'], after['releases'],
                                                               after['failed_releases'])
        if 'lock' not in result:
            result['lock'] = read_lock(tree.lock_file)
        if diff:
            result['diff'] = {'before': self.before, 'after': after}
        return result

    # ----- one method per state
    def locked(self, result):
        p, tree = self.p, self.tree
        if not self.check_mode and not os.path.isdir(tree.app_root):
            os.makedirs(tree.app_root, mode=0o755)
        r = acquire_lock(tree.lock_file, p['lock_owner'], p['lock_ttl'], p['break_stale'], self.check_mode,
                         reason=p['reason'])
        result.update(changed=r['changed'], lock=r['lock'], broken_lock=r['broken_lock'])
        self.after['lock_owner'] = r['lock']['owner']

    def unlocked(self, result):
        p = self.p
        r = release_lock(self.tree.lock_file, p['lock_owner'], p['force'], self.check_mode)
        result.update(changed=r['changed'], lock=None)
        self.after['lock_owner'] = None

    def present(self, result):
        p, tree = self.p, self.tree
        # fetches and unpacks outside the module lock; installs under it
        r = tree.present(p['release_id'], make_source(p, self.run_command, self.find_git), p['shared_paths'],
                         p['owner'], p['group'], p['mode'], p['force'])
        result.update(changed=r['changed'], checksum=r['checksum'], revision=r['revision'])
        if p['release_id'] not in self.after['releases']:
            self.after['releases'] = sorted(self.after['releases'] + [p['release_id']])
        with tree.mutex():
            self._prune(result)
            self._read_back()

    def active(self, result):
        # switch and prune under one hold of the module lock: no other app_release run on this app_root can
        # switch current to a release between this run's cleanup plan and its deletes
        with self.tree.mutex():
            r = self.tree.activate(self.p['release_id'], self.p['force'])
            result.update(changed=r['changed'], previous_release=r['previous_release'])
            self.after['active_release'] = self.p['release_id']
            self._prune(result)
            self._read_back()

    def failed(self, result):
        rid = self.p['release_id']
        with self.tree.mutex():
            r = self.tree.mark_failed(rid, self.p['force'])
            result['changed'] = r['changed']
            if rid not in self.after['failed_releases']:
                self.after['failed_releases'] = sorted(self.after['failed_releases'] + [rid])
            self._read_back()

    # ----- shared steps (the caller holds the module lock)
    def _prune(self, result):
        """Keep-N cleanup. Check mode plans on the predicted state, as the real run would: the release being made
        counts among the releases, the one being activated is the active one, and what would be removed leaves
        the predicted lists."""
        p, after = self.p, self.after
        protect = [p['release_id'], after['active_release']]
        if self.check_mode:
            removed = plan_cleanup(after['releases'], after['active_release'], after['failed_releases'], p['keep'],
                                   p['keep_failed'], protect)
            after['releases'] = [r for r in after['releases'] if r not in removed]
            after['failed_releases'] = [r for r in after['failed_releases'] if r not in removed]
        else:
            removed = self.tree.cleanup(p['keep'], p['keep_failed'], protect=protect)
        result['removed_releases'] = removed
        if removed:
            result['changed'] = True
        for rid in self.tree.cleanup_skipped:
            self.warn('Kept release %s although keep=%d would remove it: current pointed to it when it was about '
                      'to be deleted (switched outside app_release).' % (rid, p['keep']))

    def _read_back(self):
        if not self.check_mode:
            self.after.update(self.tree.snapshot())  # what this run left, read under the same hold of the lock
