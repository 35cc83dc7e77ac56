# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by the unit and the integration tests (importable as ``testkit``: tests/conftest.py
puts tests/ on sys.path).

- ``REPO``: the repository root, which is also the collection root.
- ``make_tarball``: the one tarball builder of the test suite (release artifacts, hostile archives,
  container image layers).
"""
from __future__ import annotations

import io
import os
import tarfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(REPO, 'tests')

_TYPES = {'sym': tarfile.SYMTYPE, 'lnk': tarfile.LNKTYPE, 'fifo': tarfile.FIFOTYPE, 'dir': tarfile.DIRTYPE}


def make_tarball(dest, members, prefix='', compression='gz'):
    """Write a tar archive and return ``dest`` (as a str when it is a path).

    dest: a path, or a binary file object (then nothing is closed).
    members: a dict ``{name: text or bytes}`` of regular files (written in sorted order), or an iterable of
      ``(name, kind, data)`` with kind ``file`` (data: text or bytes), ``sym`` / ``lnk`` (data: the link
      target), ``fifo``, ``dir`` (data ignored) or ``path`` (data: a file on disk to add under ``name``).
    prefix: put before every name (``'./'`` gives the ``./name`` members that ``tar -C dir -czf x .`` writes).
    compression: ``gz`` or ``''`` (plain tar).

    Files are 0644 and directories 0755; link targets are written as given, so hostile archives
    (``../`` targets, absolute names) can be built too.
    """
    if isinstance(members, dict):
        members = [(name, 'file', members[name]) for name in sorted(members)]
    mode = 'w:' + compression if compression else 'w'
    if hasattr(dest, 'write'):
        opened = tarfile.open(fileobj=dest, mode=mode)
    else:
        opened = tarfile.open(str(dest), mode)
    with opened as tf:
        for name, kind, data in members:
            if kind == 'path':
                tf.add(data, prefix + name)
                continue
            info = tarfile.TarInfo(prefix + name)
            if kind == 'file':
                body = data.encode() if isinstance(data, str) else data
                info.size = len(body)
                info.mode = 0o644
                tf.addfile(info, io.BytesIO(body))
                continue
            if kind not in _TYPES:
                raise ValueError('unknown tar member kind %r' % kind)
            info.type = _TYPES[kind]
            if kind in ('sym', 'lnk'):
                info.linkname = data
            if kind == 'dir':
                info.mode = 0o755
            tf.addfile(info)
    return dest if hasattr(dest, 'write') else str(dest)
