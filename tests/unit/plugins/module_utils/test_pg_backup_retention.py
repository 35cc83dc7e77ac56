# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_backup (issue 17): the deadline. The retention rules moved to backup_retention (test_backup_retention.py)."""
from __future__ import annotations

import time

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import pg_backup as pb


# --------------------------------------------------------------------------- #10 the overall deadline

def test_deadline_interrupts_a_blocked_call():
    t0 = time.monotonic()
    with pytest.raises(pb.DeadlineExceeded) as e:
        with pb.deadline(1):
            time.sleep(60)
    assert 'timeout' in str(e.value) and '1 s' in str(e.value)
    assert time.monotonic() - t0 < 50  # not the 60 s sleep
    # disarmed on exit: nothing fires later
    with pb.deadline(1):
        pass
    time.sleep(1.5)
    with pb.deadline(0):  # 0 turns the deadline off
        time.sleep(0.01)


def test_deadline_is_an_interruption():
    assert issubclass(pb.DeadlineExceeded, pb.Interrupted)
