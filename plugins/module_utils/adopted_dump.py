# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dumps made without this collection (``db_restore`` with ``backup: s3://bucket/key`` or an absolute path).

The one owner, for both engines, of: what names such a dump (:func:`adopted_source`), how its compression is
recognised (:func:`detect_compression`, from its first bytes, never from its name) and the decompressor that reads
it from a file (:func:`decompressor_argv`).  ``mysql_restore`` and ``pg_restore`` use these.
"""

from __future__ import annotations

import os

from ansible_collections.runbook.ops.plugins.module_utils import dump_pipeline as dp

GZIP_MAGIC = b'\x1f\x8b'
ZSTD_MAGIC = b'\x28\xb5\x2f\xfd'
HEAD_BYTES = 4


class AdoptedSourceError(ValueError):
    """``backup`` looks like a dump location but does not name one."""


def detect_compression(head):
    """``gzip``, ``zstd`` or ``none`` from the first bytes of the stored object."""
    if head.startswith(GZIP_MAGIC):
        return 'gzip'
    if head.startswith(ZSTD_MAGIC):
        return 'zstd'
    return 'none'


def decompressor_argv(compression, path):
    """The argv that writes the decompressed ``path`` to stdout; None for ``none``."""
    if compression not in ('zstd', 'gzip'):
        return None
    return dp.decompressor_argv(compression) + ['--', path]


def adopted_source(selector):
    """``s3://bucket/key`` or an absolute path -> (store URL, key); None for a catalogue selector
    (``latest``, a backup id, ``before:...``).  Raises :class:`AdoptedSourceError` for ``s3://bucket``."""
    selector = (selector or '').strip()
    if selector.startswith('s3://'):
        rest = selector[len('s3://'):]
        head, _sep, key = rest.rpartition('/')
        if not head or not key:
            raise AdoptedSourceError('Could not read backup %s: give s3://bucket/key of the dump object.' % selector)
        return 's3://' + head, key
    if selector.startswith('/'):
        return os.path.dirname(selector) or '/', os.path.basename(selector)
    return None
