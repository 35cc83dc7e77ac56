# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe pruning of a directory under allowed roots (the logic of the file_prune module).

Two modes:
- files (default): regular files matching ``patterns`` go when older than ``max_age_days``; then, while
  the matching files left take more than ``max_total_mb``, the oldest go first (:func:`plan_files`).
- contents: every entry directly inside the directory (files, directories with what they hold, links)
  matching ``patterns`` goes; the directory itself stays.

Safety: the directory must resolve inside one of ``allowed_roots`` ("/" is never a root nor a target);
the directory itself must not be a symlink; it is opened component by component with O_NOFOLLOW and
everything below is reached through directory file descriptors (``dir_fd``), never by path, so a link
is never followed and a directory swapped for a link between the plan and the delete is not entered.
Another filesystem below the directory is never crossed (find -xdev). Names are never parsed as text.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import time

MB = 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0)


class PruneError(Exception):
    """A refusal or a failure, with the partial result (what was already removed)."""

    def __init__(self, msg, result=None):
        super().__init__(msg)
        self.msg = msg
        self.result = result or {}


def argument_spec():
    return dict(
        path=dict(type='path', required=True),
        allowed_roots=dict(type='list', elements='path', required=True),
        contents=dict(type='bool', default=False),
        patterns=dict(type='list', elements='str', default=['*']),
        exclude=dict(type='list', elements='str', default=[]),
        hidden=dict(type='bool', default=True),
        recurse=dict(type='bool', default=False),
        max_age_days=dict(type='float'),
        max_total_mb=dict(type='float'),
        batch_size=dict(type='int', default=200),
        report_limit=dict(type='int', default=1000),
    )


# contents=true clears everything: age and size rules make no sense there; files mode needs a rule.
MUTUALLY_EXCLUSIVE = [('contents', 'max_age_days'), ('contents', 'max_total_mb')]
REQUIRED_IF = [('contents', False, ('max_age_days', 'max_total_mb'), True)]


def display(path):
    """A path as text for results and messages (undecodable bytes escaped, newlines kept)."""
    return os.fsencode(path).decode('utf-8', 'backslashreplace')


def plan_files(files, max_age_days=None, max_total_mb=None, now=None):
    """Which of ``files`` ({path, size, mtime}) to delete.

    Files older than ``max_age_days`` (None or 0 = no age rule) go; then, while the rest take more than
    ``max_total_mb`` (None or 0 = no cap), the oldest (by mtime, then path) go first.
    """
    now = time.time() if now is None else float(now)
    max_age_days = float(max_age_days or 0)
    cap = int(float(max_total_mb or 0) * MB)
    ordered = sorted(files, key=lambda f: (float(f['mtime']), f['path']))
    delete, keep = [], []
    for f in ordered:
        entry = dict(f, size=int(f['size']), mtime=float(f['mtime']))
        if max_age_days > 0 and entry['mtime'] < now - max_age_days * 86400:
            entry['reason'] = 'older than %g days' % max_age_days
            delete.append(entry)
        else:
            keep.append(entry)
    total = sum(e['size'] for e in keep)
    if cap > 0:
        while keep and total > cap:
            entry = keep.pop(0)
            entry['reason'] = 'over the %g MB cap' % float(max_total_mb)
            total -= entry['size']
            delete.append(entry)
    deleted_bytes = sum(e['size'] for e in delete)
    return {'delete': delete, 'keep': keep, 'matched_count': len(ordered), 'bytes_before': deleted_bytes + total,
            'deleted_count': len(delete), 'deleted_bytes': deleted_bytes, 'kept_count': len(keep), 'bytes_after': total}


def name_matches(name, patterns, exclude=(), hidden=True):
    """fnmatch on the name alone (case-sensitive); a path separator in a pattern never matches."""
    if not hidden and name.startswith('.'):
        return False
    if any(fnmatch.fnmatchcase(name, p) for p in exclude):
        return False
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def inside(real, root):
    return real == root or real.startswith(root.rstrip('/') + '/')


def check_target(path, allowed_roots):
    """Refuse "/", a symlinked directory and a path resolving outside the roots.

    Returns (exists, real path, roots used).
    """
    if not os.path.isabs(path):
        raise PruneError('Could not prune %s: the path is not absolute. Give the absolute path of the directory.'
                         % display(path))
    stripped = path.rstrip('/')
    real = os.path.realpath(path)
    if not stripped or real == '/':
        raise PruneError('Could not prune %s: it resolves to "/", which is never pruned. Give the directory to prune.'
                         % display(path))
    roots = [os.path.realpath(r) for r in allowed_roots if os.path.isabs(r)]
    roots = [r for r in roots if r != '/']
    if not roots:
        raise PruneError('Could not prune %s: no usable allowed root ("/" and relative roots are ignored). '
                         'List the directories it may live under in allowed_roots.' % display(path))
    try:
        st = os.lstat(stripped)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise PruneError('Could not prune %s: %s. Check the path and the permissions.' % (display(path), e.strerror))
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise PruneError('Could not prune %s: it is a symlink (to %s); point path at the real directory.'
                         % (display(path), display(os.readlink(stripped))))
    if not any(inside(real, r) for r in roots):
        raise PruneError('Could not prune %s: it resolves to "%s", which is "/" or not inside any of the allowed roots '
                         '(%s). Fix the path, or add its real parent to the allowed roots.'
                         % (display(path), display(real), ', '.join(display(r) for r in roots)))
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise PruneError('Could not prune %s: it is not a directory. Give the directory whose files are pruned.'
                         % display(path))
    return st is not None, real, roots


def open_dir_nofollow(real):
    """Open ``real`` walking from "/" one component at a time, refusing any symlink on the way."""
    fd = os.open('/', _DIR_FLAGS)
    try:
        for part in [p for p in real.split('/') if p]:
            nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_child(parent_fd, name, dev):
    """Open the subdirectory ``name`` without following a link; None when it is on another filesystem."""
    fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    if os.fstat(fd).st_dev != dev:
        os.close(fd)
        return None
    return fd


class Pruner(object):
    def __init__(self, params, now=None):
        self.p = params
        self.now = time.time() if now is None else float(now)
        self.errors = []
        self.vanished = 0

    # --- scanning -------------------------------------------------------------------------------
    def _error(self, rel, exc):
        self.errors.append({'path': display(os.path.join(self.real, rel)), 'error': exc.strerror or str(exc)})

    def scan_files(self, fd, dev, rel=''):
        """Regular files whose name matches, as {path, rel, size, mtime, ino}; links are never listed."""
        out = []
        try:
            entries = list(os.scandir(fd))
        except OSError as e:
            self._error(rel, e)
            return out
        for e in sorted(entries, key=lambda x: x.name):
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            child = os.path.join(rel, e.name)
            if stat.S_ISREG(st.st_mode):
                if name_matches(e.name, self.p['patterns'], self.p['exclude'], self.p['hidden']):
                    out.append({'path': os.path.join(self.real, child), 'rel': child, 'size': st.st_size,
                                'mtime': st.st_mtime, 'ino': st.st_ino})
            elif stat.S_ISDIR(st.st_mode) and self.p['recurse'] and st.st_dev == dev:
                if not self.p['hidden'] and e.name.startswith('.'):
                    continue
                try:
                    cfd = _open_child(fd, e.name, dev)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    self._error(child, exc)
                    continue
                if cfd is not None:
                    try:
                        out.extend(self.scan_files(cfd, dev, child))
                    finally:
                        os.close(cfd)
        return out

    def _tree_bytes(self, fd, dev, rel):
        """Bytes of the regular files below a directory (same filesystem); other filesystems are errors."""
        total = 0
        for e in os.scandir(fd):
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
            elif stat.S_ISDIR(st.st_mode):
                child = os.path.join(rel, e.name)
                if st.st_dev != dev:
                    self.errors.append({'path': display(os.path.join(self.real, child)),
                                        'error': 'on another filesystem (a mount point); not crossed'})
                    continue
                try:
                    cfd = _open_child(fd, e.name, dev)
                except FileNotFoundError:
                    continue
                if cfd is None:
                    continue
                try:
                    total += self._tree_bytes(cfd, dev, child)
                finally:
                    os.close(cfd)
        return total

    def scan_contents(self, fd, dev):
        """Every entry directly inside, as {path, rel, size (bytes below), mtime, kind}."""
        out = []
        for e in sorted(os.scandir(fd), key=lambda x: x.name):
            if not name_matches(e.name, self.p['patterns'], self.p['exclude'], self.p['hidden']):
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            entry = {'path': os.path.join(self.real, e.name), 'rel': e.name, 'mtime': st.st_mtime, 'size': 0,
                     'kind': 'dir' if stat.S_ISDIR(st.st_mode) else 'link' if stat.S_ISLNK(st.st_mode) else 'file'}
            if stat.S_ISREG(st.st_mode):
                entry['size'] = st.st_size
            elif entry['kind'] == 'dir':
                if st.st_dev != dev:
                    self.errors.append({'path': display(entry['path']),
                                        'error': 'on another filesystem (a mount point); not crossed'})
                    continue
                try:
                    cfd = _open_child(fd, e.name, dev)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    self._error(e.name, exc)
                    continue
                try:
                    entry['size'] = self._tree_bytes(cfd, dev, e.name)
                finally:
                    os.close(cfd)
            out.append(entry)
        return out

    # --- deleting -------------------------------------------------------------------------------
    def _rmtree_at(self, parent_fd, name, dev, rel):
        """Remove the directory ``name`` of ``parent_fd`` and what it holds, links unfollowed, -xdev."""
        try:
            fd = _open_child(parent_fd, name, dev)
        except FileNotFoundError:
            return True
        if fd is None:
            self.errors.append({'path': display(os.path.join(self.real, rel)),
                                'error': 'on another filesystem (a mount point); not crossed'})
            return False
        ok = True
        try:
            for e in list(os.scandir(fd)):
                try:
                    st = e.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                child = os.path.join(rel, e.name)
                if stat.S_ISDIR(st.st_mode):
                    ok = self._rmtree_at(fd, e.name, dev, child) and ok
                else:
                    ok = self._unlink_at(fd, e.name, child) and ok
        finally:
            os.close(fd)
        if ok:
            try:
                os.rmdir(name, dir_fd=parent_fd)
            except FileNotFoundError:
                pass
            except OSError as e:
                self._error(rel, e)
                ok = False
        return ok

    def _unlink_at(self, dir_fd, name, rel):
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            self.vanished += 1
            return True
        except OSError as e:
            self._error(rel, e)
            return False
        return True

    def _parent_fd(self, root_fd, dev, rel, cache):
        parent = os.path.dirname(rel)
        if parent not in cache:
            fd, opened = root_fd, []
            try:
                for part in [x for x in parent.split('/') if x]:
                    fd = _open_child(fd, part, dev)
                    if fd is None:
                        break
                    opened.append(fd)
            finally:
                for extra in opened if fd is None or fd == root_fd else opened[:-1]:
                    os.close(extra)
            cache[parent] = fd
        return cache[parent]

    def delete(self, root_fd, dev, planned):
        """Delete the planned entries in batches of ``batch_size``; returns (removed entries, batches)."""
        removed, batches = [], 0
        size = max(1, int(self.p['batch_size']))
        for start in range(0, len(planned), size):
            batches += 1
            cache = {'': root_fd}
            try:
                for entry in planned[start:start + size]:
                    if self._delete_one(root_fd, dev, entry, cache):
                        removed.append(entry)
            finally:
                for key, fd in cache.items():
                    if key and fd is not None:
                        os.close(fd)
        return removed, batches

    def _delete_one(self, root_fd, dev, entry, cache):
        rel, name = entry['rel'], os.path.basename(entry['rel'])
        try:
            pfd = self._parent_fd(root_fd, dev, rel, cache)
        except FileNotFoundError:
            self.vanished += 1
            return False
        except OSError as e:
            self._error(rel, e)
            return False
        if pfd is None:
            return False
        try:
            st = os.lstat(name, dir_fd=pfd)
        except FileNotFoundError:
            self.vanished += 1
            return False
        if self.p['contents']:
            if stat.S_ISDIR(st.st_mode):
                return self._rmtree_at(pfd, name, dev, rel)
            before = self.vanished
            return self._unlink_at(pfd, name, rel) and self.vanished == before
        if not stat.S_ISREG(st.st_mode) or st.st_ino != entry['ino']:
            return False    # replaced since the plan (by a link, a directory or another file): left alone
        before = self.vanished
        return self._unlink_at(pfd, name, rel) and self.vanished == before

    # --- the run --------------------------------------------------------------------------------
    def run(self, check_mode=False, diff=False):
        p = self.p
        exists, self.real, roots = check_target(p['path'], p['allowed_roots'])
        result = {'changed': False, 'path': display(p['path']), 'real_path': display(self.real), 'exists': exists,
                  'contents': bool(p['contents']), 'check_mode': bool(check_mode)}
        planned, kept, matched = [], [], {'count': 0, 'bytes': 0}
        removed, batches = [], 0
        if exists:
            try:
                root_fd = open_dir_nofollow(self.real)
            except OSError as e:
                raise PruneError('Could not prune %s: opening %s failed (%s); a component may have been replaced by a '
                                 'symlink. Check the path and run again.'
                                 % (display(p['path']), display(self.real), e.strerror), result)
            try:
                dev = os.fstat(root_fd).st_dev
                if p['contents']:
                    planned = self.scan_contents(root_fd, dev)
                    kept = []
                else:
                    plan = plan_files(self.scan_files(root_fd, dev), p['max_age_days'], p['max_total_mb'], self.now)
                    planned, kept = plan['delete'], plan['keep']
                matched = {'count': len(planned) + len(kept), 'bytes': sum(e['size'] for e in planned + kept)}
                if self.errors:
                    first = self.errors[0]
                    result.update(errors=self.errors, removed={'count': 0, 'bytes': 0, 'paths': [],
                                                               'paths_truncated': False})
                    raise PruneError('Could not prune %s: %s: %s; nothing was removed. Unmount it, exclude it or fix '
                                     'its permissions, then run again.'
                                     % (display(p['path']), first['path'], first['error']), result)
                if planned and not check_mode:
                    removed, batches = self.delete(root_fd, dev, planned)
            finally:
                os.close(root_fd)
        done = planned if check_mode else removed
        limit = max(0, int(p['report_limit']))
        result.update(
            changed=bool(done),
            matched=matched,
            removed={'count': len(done), 'bytes': sum(e['size'] for e in done),
                     'paths': [display(e['path']) for e in done[:limit]], 'paths_truncated': len(done) > limit},
            kept={'count': matched['count'] - len(done), 'bytes': matched['bytes'] - sum(e['size'] for e in done)},
            planned=[{'path': display(e['path']), 'size': e['size'], 'mtime': e['mtime'],
                      'reason': e.get('reason', 'contents')} for e in planned[:limit]],
            batches=batches, vanished=self.vanished, errors=self.errors)
        if diff:
            lines = ''.join(display(e['path']).replace('\n', '\\n') + '\n' for e in planned[:limit])
            result['diff'] = {'before_header': '%s (entries to remove)' % display(self.real), 'before': lines,
                              'after_header': '%s (after)' % display(self.real), 'after': ''}
        if self.errors:
            first = self.errors[0]
            raise PruneError('Could not prune %s: %d entr%s could not be removed (first: %s: %s). Check the permissions '
                             'and mounts under it, then run again.'
                             % (display(p['path']), len(self.errors), 'y' if len(self.errors) == 1 else 'ies',
                                first['path'], first['error']), result)
        return result


def prune(params, check_mode=False, diff=False, now=None):
    return Pruner(params, now=now).run(check_mode=check_mode, diff=diff)
