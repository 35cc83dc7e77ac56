# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mysql_restore's phase timings: the PostgreSQL path's key names, and phases that add up to the total."""
from __future__ import annotations

import itertools

from ansible_collections.runbook.ops.plugins.module_utils import mysql_restore as mr

PHASES = ('preflight_s', 'download_s', 'restore_s', 'verify_s', 'switch_s')


def test_each_phase_ends_where_the_next_begins():
    ticks = itertools.count(0.0, 0.25)          # a clock that moves at every reading, gaps included
    timings = {}
    laps = mr.Laps(timings, t0=next(ticks), clock=lambda: next(ticks))
    for i, name in enumerate(PHASES):
        for _work in range(i):                  # work in the phase reads the clock too (as other code may)
            next(ticks)
        laps.lap(name)
    laps.total('total_s')
    assert list(timings) == list(PHASES) + ['total_s']
    assert [timings[p] for p in PHASES] == [0.25, 0.5, 0.75, 1.0, 1.25]
    assert sum(timings[p] for p in PHASES) == timings['total_s'] == 3.75


def test_the_total_is_the_last_boundary_not_a_new_reading():
    clock = iter([10.0, 11.5, 99.0])
    timings = {}
    laps = mr.Laps(timings, t0=10.0, clock=lambda: next(clock))
    laps.lap('preflight_s')
    laps.lap('switch_s')
    laps.total('total_s')
    assert timings == {'preflight_s': 0.0, 'switch_s': 1.5, 'total_s': 1.5}


class _Cursor(object):
    def __init__(self, log, fail):
        self.log, self.fail = log, fail

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, statement, args=None):
        if self.fail:
            raise RuntimeError('server gone')
        self.log.append((statement, args))


class _Guard(object):
    def __init__(self, fail=False):
        self.log, self.fail = [], fail

    def cursor(self):
        return _Cursor(self.log, self.fail)


def test_drop_scratch_drops_and_releases_the_lock_or_says_it_could_not():
    guard = _Guard()
    assert mr._drop_scratch(guard, 'rbo_restore_0123456789ab') is True
    assert guard.log == [('DROP DATABASE IF EXISTS `rbo_restore_0123456789ab`', None),
                         ('SELECT RELEASE_LOCK(%s)', ('rbo_restore_0123456789ab',))]
    assert mr._drop_scratch(_Guard(fail=True), 'rbo_restore_0123456789ab') is False
