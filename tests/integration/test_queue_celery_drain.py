# -*- coding: utf-8 -*-
"""queue_control action=pause with wait_active_s, engine celery: one real prefork `celery worker` on the session's
redis-server, running a task that ends only when the test creates a flag file (so nothing depends on timing).
The pause cancels the consumer, then waits while the task runs and returns once it ended; a pause whose wait is
over while the task still runs fails naming the queue and leaves it paused."""
from __future__ import annotations

import os
import threading
import uuid

from queue_fixtures import CELERY_TASKS, processed, wait_for

NODE = 'cd@rbo'
UNTIL_TASK = r'''

@app.task(name='rbo.until')
def until(tag, flag):
    """Runs until the file ``flag`` exists (at most 300 s)."""
    with open(os.environ['RBO_LOG'], 'a') as f:
        f.write('%s until\n' % tag)
    end = time.time() + 300
    while not os.path.exists(flag) and time.time() < end:
        time.sleep(0.1)
    return tag
'''


def started(cw, tag):
    return tag in [line[0] for line in processed(cw.log)]


def test_celery_pause_waits_for_the_running_task(run_module, celery_workers, redis_server, tmp_path):
    with open(os.path.join(celery_workers.dir, 'rbotasks.py'), 'w') as f:
        f.write(CELERY_TASKS + UNTIL_TASK)
    q = 'rbo-cd-' + uuid.uuid4().hex[:6]
    celery_workers.start('cd', [q], concurrency=2)  # prefork: the worker answers inspect while a task runs
    pause = dict(redis_server.params, db=3, engine='celery', queues=[q], action='pause', wait_active_s=300)
    flag1, flag2 = str(tmp_path / 'end-1'), str(tmp_path / 'end-2')

    celery_workers.app.send_task('rbo.until', args=['t1', flag1], queue=q)
    wait_for(lambda: started(celery_workers, 't1'), what='the first task to start')
    out = {}
    pausing = threading.Thread(target=lambda: out.update(run_module('queue_control', pause)))
    pausing.start()
    try:
        # the consumer is cancelled (Celery's own view) while the module still waits: the task is running
        wait_for(lambda: celery_workers.active_queues().get(NODE) == [], deadline_s=120, what='the consumer cancelled')
        assert pausing.is_alive() and not out
    finally:
        open(flag1, 'w').close()
        pausing.join(300)
    assert not out.get('failed'), out.get('msg')
    assert out['changed'] is True and out['queues'][0]['active_left'] == 0
    assert celery_workers.app.control.inspect(destination=[NODE], limit=1, timeout=10).active() == {NODE: []}

    assert run_module('queue_control', dict(pause, action='resume', wait_active_s=0))['changed'] is True
    celery_workers.app.send_task('rbo.until', args=['t2', flag2], queue=q)
    try:
        wait_for(lambda: started(celery_workers, 't2'), what='the second task to start')
        r = run_module('queue_control', dict(pause, wait_active_s=1))
        assert r.get('failed')
        assert r['msg'].startswith('Could not drain queue %s: 1 task(s) still active or reserved' % q), r['msg']
        assert redis_server.password not in r['_stdout']
        assert celery_workers.active_queues()[NODE] == []  # left paused
    finally:
        open(flag2, 'w').close()
