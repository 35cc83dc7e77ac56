# -*- coding: utf-8 -*-
"""The pure rules of module_utils/queues.py, queues_celery.py and health_queue.py."""
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import health_queue
from ansible_collections.runbook.ops.plugins.module_utils import queues as Q
from ansible_collections.runbook.ops.plugins.module_utils import queues_celery as C

try:
    from redis.exceptions import AuthenticationError, ConnectionError as RedisConnectionError, NoPermissionError
except ImportError:  # pragma: no cover
    pytest.skip('redis-py missing', allow_module_level=True)


@pytest.mark.parametrize('names, want', [
    (['a', 'b', 'a'], ['a', 'b']),
    (['*'], ['*']),
    (['db."name; --'], ['db."name; --']),
])
def test_validate_names(names, want):
    assert Q.validate_names(names) == want


@pytest.mark.parametrize('names', [[], [''], ['a\x00b'], ['x\ny'], ['*', 'a']])
def test_validate_names_refuses(names):
    with pytest.raises(Q.QueueError):
        Q.validate_names(names)


def test_star_refused_where_not_allowed():
    with pytest.raises(Q.QueueError, match='not allowed'):
        Q.validate_names(['*'], allow_glob=False)


def test_confirm_guard():
    Q.check_confirm('purge', ['jobs'], 'jobs')
    Q.check_confirm('pause', ['*'], None)  # not guarded
    with pytest.raises(Q.QueueError, match='confirm must be the queue name'):
        Q.check_confirm('purge', ['jobs'], None)
    with pytest.raises(Q.QueueError, match='confirm must be the queue name'):
        Q.check_confirm('drain', ['jobs'], 'Jobs')
    with pytest.raises(Q.QueueError, match='exactly one named queue'):
        Q.check_confirm('purge', ['a', 'b'], 'a')
    with pytest.raises(Q.QueueError, match='exactly one named queue'):
        Q.check_confirm('purge', ['*'], '*')


@pytest.mark.parametrize('failed, completed, want', [(0, 0, 0.0), (2, 3, 40.0), (1, 2, 33.3), (5, 0, 100.0),
                                                     (None, None, 0.0)])
def test_failed_rate_pct(failed, completed, want):
    assert Q.failed_rate_pct(failed, completed) == want


@pytest.mark.parametrize('meta, existing, want', [
    ({'version': 'bullmq:6.7.6', 'opts.maxLenEvents': '10000'}, ['wait', 'id'], ('bullmq', '6.7.6')),
    ({'version': 'bullmq:5.1.0', 'paused': '1'}, [], ('bullmq', '5.1.0')),
    ({'opts.maxLenEvents': '10000'}, ['wait'], ('bullmq', None)),
    ({'paused': '1'}, ['id', 'paused', 'meta-paused'], ('bull', None)),   # Bull 4, paused
    ({}, ['id', 'wait'], ('bull', None)),                                   # Bull 4, running
    ({}, [], (None, None)),                                                 # nothing there
])
def test_classify_layout(meta, existing, want):
    assert Q.classify_layout(meta, existing) == want


def test_layout_error_names_the_layout():
    assert 'Bull 3/4 layout' in Q.layout_error('pause', 'mail', 'bull', 'bull', 'bullmq').msg
    assert 'engine: bullmq' in Q.layout_error('pause', 'mail', 'bull', '6.7.6', 'bull').msg


def test_glob_escape():
    assert Q.glob_escape('my*pre[fix]?\\') == 'my\\*pre\\[fix\\]\\?\\\\'


def test_redis_errors_become_clear_messages_without_the_password():
    params = {'host': 'h', 'port': 1, 'password': 's3cret'}
    e = Q.error_from_redis(AuthenticationError('invalid password s3cret'), params, 'read the queues')
    assert e.msg.startswith('Could not read the queues: Redis at redis://h:1/0 refused the credentials')
    assert 's3cret' not in e.msg
    e = Q.error_from_redis(RedisConnectionError('Connection refused'), params, 'pause the queues')
    assert 'unreachable' in e.msg and 'Check host, port' in e.msg
    e = Q.error_from_redis(NoPermissionError('NOPERM no permissions'), params, 'x')
    assert 'may not run a command' in e.msg


def test_control_refuses_bad_numbers_before_connecting():
    params = dict(engine='bullmq', queues=['q'], action='clean', limit=-1, grace_s=0, wait_active_s=0,
                  max_stalled_count=1, batch_size=10, confirm=None)
    with pytest.raises(Q.QueueError, match='limit must be 0 or more'):
        Q.queue_control(params)
    with pytest.raises(Q.QueueError, match='batch_size'):
        Q.queue_control(dict(params, limit=1, batch_size=0))


def test_celery_priority_lists_and_bindings():
    assert C.priority_lists('jobs') == ['jobs', 'jobs\x06\x163', 'jobs\x06\x166', 'jobs\x06\x169']
    assert C.binding_queue(b'celery\x06\x16\x06\x16celery') == 'celery'
    assert C.binding_queue('nope') is None
    assert C.is_internal_queue('abc.reply.celery.pidbox') and not C.is_internal_queue('fileforge-tasks')


def test_celery_broker_url_quotes_credentials():
    url = C.broker_url({'host': 'r', 'port': 6380, 'db': 2, 'username': 'u@x', 'password': 'p/w:@'})
    assert url == 'redis://u%40x:p%2Fw%3A%40@r:6380/2'
    assert C.broker_url({'host': 'r', 'tls': True}) == 'rediss://r:6379/0'


def test_celery_refuses_actions_without_broker_state():
    params = dict(engine='celery', queues=['q'], action='retry', limit=1, grace_s=0, wait_active_s=0,
                  max_stalled_count=1, batch_size=10, confirm=None)
    with pytest.raises(Q.QueueError, match='Celery keeps no completed'):
        Q.queue_control(params)


def test_health_queue_worst_of():
    recs = [{'waiting': 3, 'failed': None, 'oldest_wait_s': 1.5}, {'waiting': 7, 'failed': 2, 'oldest_wait_s': None}]
    w = health_queue.worst_of(recs)
    assert w['waiting'] == 7 and w['failed'] == 2 and w['oldest_wait_s'] == 1.5 and w['failed_rate_pct'] is None


def test_health_registry_knows_the_queue_type():
    from ansible_collections.runbook.ops.plugins.module_utils import health
    assert 'queue' in health.CHECK_TYPES
    assert health.METRICS['queue']['waiting'][1] == {'warning': 100, 'critical': 500}
