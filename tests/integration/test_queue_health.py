# -*- coding: utf-8 -*-
"""health_check type queue on a real BullMQ queue (jobs made by Node's bullmq): graded on waiting and failures."""
from __future__ import annotations

import uuid


def test_queue_check_grades_waiting_and_failed(run_module, node_bullmq, redis_server):
    q = 'rbo-h-' + uuid.uuid4().hex[:6]
    node_bullmq.add(q, ok=6)
    check = dict(redis_server.params, name='jobs', type='queue', engine='bullmq', queues=[q],
                 thresholds={'waiting': {'warning': 3, 'critical': 5}})
    r = run_module('health_check', {'checks': [check], 'fail_on': 'never'})
    assert not r.get('failed'), r.get('msg')
    res = r['checks'][0] if isinstance(r['checks'], list) else r['checks']['jobs']
    assert res['status'] == 'critical' and 'waiting 6' in res['message']
    assert res['metrics']['by_queue'][q]['waiting'] == 6
    assert redis_server.password not in r['_stdout']

    ok = dict(check, thresholds={'waiting': {'warning': 100, 'critical': 500}})
    r = run_module('health_check', {'checks': [ok], 'fail_on': 'never'})
    res = r['checks'][0] if isinstance(r['checks'], list) else r['checks']['jobs']
    assert res['status'] == 'ok'
