# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one private time helper of module_utils: "now", timezone-aware in UTC.

Every module_utils that needs the current time imports :func:`utcnow` from here (``backup_store.utcnow``,
``certs.utcnow`` and ``release.utcnow`` are this function under their old names).
"""

from __future__ import annotations

import datetime


def utcnow():
    """The current time as an aware ``datetime`` in UTC."""
    return datetime.datetime.now(datetime.timezone.utc)
