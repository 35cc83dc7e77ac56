# -*- coding: utf-8 -*-
"""queue_info / queue_control with engine celery: real `celery worker` processes on a real Redis broker; every
result checked against Celery's own inspect and the broker lists (redis-cli)."""
from __future__ import annotations

import time
import uuid

from queue_fixtures import processed, wait_for


def test_celery_info_pause_resume_purge(run_module, celery_workers, redis_server):
    a, c = 'rbo-a-' + uuid.uuid4().hex[:6], 'rbo-c-' + uuid.uuid4().hex[:6]
    celery_workers.start('w1', [a])
    for i in range(3):
        celery_workers.send(c, 'c%d' % i, priority=6)
    celery_workers.send(c, 'c-low')
    base = dict(redis_server.params, db=3, engine='celery')

    info = run_module('queue_info', dict(base, queues=[a, c]))
    assert not info.get('failed'), info.get('msg')
    by = dict((q['name'], q) for q in info['queues'])
    assert by[c]['ready'] == 4 and by[c]['ready_by_priority']['6'] == 3 and by[c]['ready_by_priority']['0'] == 1
    assert by[c]['consumers'] == [] and by[c]['paused'] is True
    assert by[a]['consumers'] == ['w1@rbo'] and by[a]['paused'] is False
    assert info['workers']['w1@rbo']['queues'] == [a]
    assert redis_server.password not in info['_stdout']

    pause = dict(base, queues=[a], action='pause')
    assert run_module('queue_control', pause, check=True)['changed'] is True
    assert celery_workers.active_queues()['w1@rbo'] == [a]
    r = run_module('queue_control', pause)
    assert r['changed'] is True and 'restart' in r['note']
    assert celery_workers.active_queues()['w1@rbo'] == []
    assert run_module('queue_control', pause)['changed'] is False

    celery_workers.send(a, 'while-paused')
    time.sleep(3)
    assert processed(celery_workers.log) == []
    resumed = run_module('queue_control', dict(pause, action='resume'))
    assert resumed['changed'] is True
    wait_for(lambda: ['while-paused', 'record'] in processed(celery_workers.log), what='the task to run after resume')
    assert run_module('queue_control', dict(pause, action='resume'))['changed'] is False

    purge = dict(base, queues=[c], action='purge')
    assert run_module('queue_control', purge).get('failed')
    assert run_module('queue_control', dict(purge, confirm=c), check=True)['affected'] == 4
    r = run_module('queue_control', dict(purge, confirm=c))
    assert r['affected'] == 4
    for name in (c, c + '\x06\x166'):
        assert redis_server.cli('-n', '3', 'LLEN', name) == '0'
    assert run_module('queue_control', dict(purge, confirm=c))['changed'] is False


def test_celery_refuses_actions_it_has_no_state_for(run_module, celery_workers, redis_server):
    q = 'rbo-x-' + uuid.uuid4().hex[:6]
    celery_workers.start('w2', [q])
    r = run_module('queue_control', dict(redis_server.params, db=3, engine='celery', queues=[q], action='retry'))
    assert r.get('failed') and 'Celery keeps no completed, failed' in r['msg']
    missing = run_module('queue_info', dict(redis_server.params, db=3, engine='celery', queues=['no-such-queue']))
    assert missing.get('failed') and 'Could not find Celery queue no-such-queue' in missing['msg']
