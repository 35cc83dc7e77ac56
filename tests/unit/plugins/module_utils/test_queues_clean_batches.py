# -*- coding: utf-8 -*-
"""queues._clean_in_batches: the clean loop of queue_control (calls kept in flight, limit, end, errors) against a
fake of BullMQ's clean script that behaves like the atomic script: each call takes the oldest jobs still there."""
from __future__ import annotations

import asyncio

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import queues as Q


class FakeSet(object):
    """A finished-jobs set; ``clean(n)`` removes up to n of the oldest jobs atomically, after a yield to the loop
    (so calls really overlap), and records how many calls were outstanding at once."""

    def __init__(self, jobs, fail_on_call=None):
        self.jobs = list(range(jobs))
        self.calls = []
        self.outstanding = 0
        self.max_outstanding = 0
        self.fail_on_call = fail_on_call

    async def clean(self, n):
        self.calls.append(n)
        number = len(self.calls)
        self.outstanding += 1
        self.max_outstanding = max(self.max_outstanding, self.outstanding)
        try:
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            if number == self.fail_on_call:
                raise ConnectionError('connection lost')
            taken, self.jobs = self.jobs[:n], self.jobs[n:]
            return [str(j) for j in taken]
        finally:
            self.outstanding -= 1


def run(fake, limit, batch, in_flight=Q.CLEAN_IN_FLIGHT):
    return asyncio.run(Q._clean_in_batches(fake.clean, limit, batch, in_flight))  # pylint: disable=protected-access


@pytest.mark.parametrize('jobs, batch', [(0, 10), (5, 10), (10, 10), (25, 10), (1000, 7), (3, 1)])
def test_removes_every_job_once_without_limit(jobs, batch):
    fake = FakeSet(jobs)
    assert run(fake, 0, batch) == jobs
    assert fake.jobs == []
    assert all(n == batch for n in fake.calls)
    # at most one batch beyond the last full one is asked (the call that finds the set short or empty), plus the
    # one in flight beside it
    assert len(fake.calls) <= jobs // batch + Q.CLEAN_IN_FLIGHT


def test_keeps_two_calls_in_flight_and_never_more():
    fake = FakeSet(100)
    assert run(fake, 0, 10) == 100
    assert fake.max_outstanding == 2 == Q.CLEAN_IN_FLIGHT


def test_one_in_flight_is_the_plain_loop():
    fake = FakeSet(25)
    assert run(fake, 0, 10, in_flight=1) == 25
    assert fake.max_outstanding == 1 and fake.calls == [10, 10, 10]


@pytest.mark.parametrize('jobs, limit, batch, want', [
    (100, 25, 10, 25), (100, 30, 10, 30), (100, 5, 10, 5), (20, 35, 10, 20), (100, 1, 1000, 1),
])
def test_limit_is_never_exceeded(jobs, limit, batch, want):
    fake = FakeSet(jobs)
    assert run(fake, limit, batch) == want
    assert sum(fake.calls) <= limit
    assert len(fake.jobs) == jobs - want


def test_an_error_is_raised_after_the_other_call_finished():
    fake = FakeSet(100, fail_on_call=3)
    with pytest.raises(ConnectionError):
        run(fake, 0, 10)
    assert fake.outstanding == 0  # nothing left running on the loop
    assert len(fake.calls) == 4  # no call was started after the error
