# -*- coding: utf-8 -*-
"""queue_info / queue_control faults, each with a clear error and nothing changed: Redis unreachable, wrong
password, a queue that does not exist, a Bull 4 queue (the other key layout, made with Bull's own API)."""
from __future__ import annotations

import uuid

from servers import free_port


def test_unreachable_redis(run_module):
    r = run_module('queue_info', {'port': free_port(), 'engine': 'bullmq', 'queues': ['q'], 'socket_timeout': 3})
    assert r.get('failed')
    assert r['msg'].startswith('Could not read the queues: Redis at redis://127.0.0.1:') and 'unreachable' in r['msg']


def test_wrong_password_is_named_and_never_shown(run_module, redis_server):
    r = run_module('queue_control', dict(redis_server.params, password='not-the-password', engine='bullmq',
                                         queues=['q'], action='pause'))
    assert r.get('failed') and 'refused the credentials' in r['msg']
    assert 'not-the-password' not in r['_stdout'] + r['_stderr']


def test_queue_that_does_not_exist(run_module, redis_server):
    r = run_module('queue_control', dict(redis_server.params, engine='bullmq', queues=['nope-' + uuid.uuid4().hex[:4]],
                                         action='pause'))
    assert r.get('failed') and 'Could not find queue nope-' in r['msg']


def test_bull4_layout_is_refused_and_left_alone(run_module, node_bullmq, redis_server):
    q = 'old-' + uuid.uuid4().hex[:6]
    before = node_bullmq.bull4(q, n=2)
    r = run_module('queue_control', dict(redis_server.params, engine='bullmq', queues=[q], action='pause'))
    assert r.get('failed') and 'Bull 3/4 layout' in r['msg'] and q in r['msg']
    r = run_module('queue_info', dict(redis_server.params, engine='bull', queues=[q]))
    assert r.get('failed') and 'Bull 3/4 layout' in r['msg']
    # `*` skips it with the reason instead of failing
    every = run_module('queue_info', dict(redis_server.params, engine='bullmq', queues=['*']))
    assert q in [s['name'] for s in every['skipped_queues']]
    assert node_bullmq.bull4(q, n=0)['counts'] == before['counts']
