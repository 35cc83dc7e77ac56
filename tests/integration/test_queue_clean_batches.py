# -*- coding: utf-8 -*-
"""queue_control action=clean in many batches with two BullMQ clean calls in flight, against the real script on the
session's redis-server: the jobs the npm bullmq's own worker completed are removed exactly once, a limit is kept
exactly, and Node's getJobCounts agrees. The module_utils entry point is called in-process (what the module runs;
the module itself is covered by test_queue_bullmq.py)."""
from __future__ import annotations

import uuid

from ansible_collections.runbook.ops.plugins.module_utils.queues import queue_control


def test_clean_in_overlapping_batches_removes_each_job_once(node_bullmq, redis_server):
    q = 'rbo-cb-' + uuid.uuid4().hex[:6]
    loaded = node_bullmq._run('load', q, {'n': 25, 'concurrency': 5})  # pylint: disable=protected-access
    assert loaded['completed'] == 25
    params = dict(redis_server.params, engine='bullmq', queues=[q], prefix='bull', action='clean', state='completed',
                  grace_s=0, limit=10, batch_size=4, include_delayed=False, confirm=None, wait_active_s=0,
                  max_stalled_count=1, celery_timeout=2.0, celery_workers=None)

    r = queue_control(params)
    assert r['affected'] == 10 and r['queues'][0]['counts_after']['completed'] == 15
    assert node_bullmq.counts(q)['counts']['completed'] == 15

    r = queue_control(dict(params, limit=0))
    assert r['affected'] == 15 and r['changed'] is True
    assert node_bullmq.counts(q)['counts']['completed'] == 0
    assert redis_server.cli('EXISTS', 'bull:%s:1' % q) == '0'
    assert queue_control(dict(params, limit=0))['changed'] is False
