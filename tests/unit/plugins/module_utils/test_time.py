# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one private time helper (module_utils/_time.py): every module_utils that needs "now" uses it."""

from __future__ import annotations

import datetime

from ansible_collections.runbook.ops.plugins.module_utils import _time
from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import certs
from ansible_collections.runbook.ops.plugins.module_utils import release


def test_utcnow_is_aware_utc():
    now = _time.utcnow()
    assert now.tzinfo is not None and now.utcoffset() == datetime.timedelta(0)
    assert abs((now - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) < 3600


def test_one_helper_under_the_old_names():
    assert bs.utcnow is _time.utcnow
    assert certs.utcnow is _time.utcnow
    assert release.utcnow is _time.utcnow
