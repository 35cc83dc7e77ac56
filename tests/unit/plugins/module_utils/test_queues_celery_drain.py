# -*- coding: utf-8 -*-
"""queues_celery: which Celery tasks belong to a paused queue, and the bounded wait until the workers hold none
(action pause with wait_active_s), with a fake broker standing in for the pidbox replies."""
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import queues_celery as C
from ansible_collections.runbook.ops.plugins.module_utils.queues import QueueError


def task(routing_key, exchange=''):
    return {'id': 'x', 'name': 'rbo.record', 'delivery_info': {'exchange': exchange, 'routing_key': routing_key}}


def test_busy_by_routing_key_and_bindings():
    replies = {'w1@h': [task('mail'), task('video'), task('mail')],
               'w2@h': [task('rk.render', exchange='media'), task('other'), {'id': 'no-info'}],
               'w3@h': None}
    routes = {('media', 'rk.render'): {'video'}}
    assert C.busy_by_queue(replies, ['mail', 'video', 'idle'], routes) == {'mail': 2, 'video': 2, 'idle': 0}
    assert C.busy_by_queue({}, ['mail'], {}) == {'mail': 0}
    # a queue name that is hostile text is only ever compared, never interpolated
    assert C.busy_by_queue({'w@h': [task('db."name; --')]}, ['db."name; --'], {}) == {'db."name; --': 1}


class FakeBroker(object):
    """inspect active/reserved replies, one dict per poll, the last one repeated."""

    def __init__(self, polls, routes=None):
        self.polls = list(polls)
        self.calls = []
        self._routes = routes or {}

    def routes(self):
        return self._routes

    def _inspect(self, method, limit=None, destination=None):
        self.calls.append((method, limit, tuple(destination)))
        poll = self.polls[0] if len(self.polls) == 1 else self.polls.pop(0)
        return poll[method]


@pytest.fixture
def no_sleep(monkeypatch):
    import time
    monkeypatch.setattr(time, 'sleep', lambda s: None)


def test_wait_returns_once_the_workers_hold_no_task_of_the_queue(no_sleep):
    busy = {'active': {'w1@h': [task('q')]}, 'reserved': {'w1@h': [task('q')]}}
    other_only = {'active': {'w1@h': [task('other')]}, 'reserved': {'w1@h': []}}
    broker = FakeBroker([busy, other_only])
    records = [{'name': 'q'}]
    C._wait_idle(broker, ['q'], ['w1@h'], 60, records)  # pylint: disable=protected-access
    assert records[0]['active_left'] == 0
    assert broker.calls[0] == ('active', 1, ('w1@h',)) and broker.calls[1] == ('reserved', 1, ('w1@h',))


def test_wait_fails_naming_the_queue_and_count_when_time_is_over(monkeypatch):
    import time
    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr(time, 'monotonic', lambda: next(clock))
    monkeypatch.setattr(time, 'sleep', lambda s: None)
    broker = FakeBroker([{'active': {'w1@h': [task('q')]}, 'reserved': {'w1@h': [task('q')]}}])
    records = [{'name': 'q'}]
    with pytest.raises(QueueError) as err:
        C._wait_idle(broker, ['q'], ['w1@h'], 5, records)  # pylint: disable=protected-access
    assert err.value.msg.startswith('Could not drain queue q: 2 task(s) still active or reserved')
    assert 'stays paused' in err.value.msg and err.value.result['queues'] == records
    assert records[0]['active_left'] == 2


def test_a_worker_that_does_not_answer_is_waited_for_then_named(monkeypatch):
    import time
    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr(time, 'monotonic', lambda: next(clock))
    monkeypatch.setattr(time, 'sleep', lambda s: None)
    broker = FakeBroker([{'active': {}, 'reserved': {}}])
    with pytest.raises(QueueError) as err:
        C._wait_idle(broker, ['q'], ['solo@h'], 5, [{'name': 'q'}])  # pylint: disable=protected-access
    assert 'worker(s) solo@h did not answer' in err.value.msg
