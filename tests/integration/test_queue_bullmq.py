# -*- coding: utf-8 -*-
"""queue_info / queue_control on real BullMQ queues: a real redis-server, jobs made and processed by the npm
bullmq's own Queue and Worker in Node, every result checked against Node's getJobCounts / isPaused."""
from __future__ import annotations

import subprocess
import time
import uuid

from queue_fixtures import processed, wait_for


def qname(tag):
    return 'rbo-%s-%s' % (tag, uuid.uuid4().hex[:6])


def conn(redis_server, **extra):
    args = dict(redis_server.params)
    args.update(extra)
    return args


def seed(nb, queue, tmp_path, ok=3, fail=2):
    """completed and failed jobs made by a real worker, then waiting, delayed and prioritized ones."""
    nb.add(queue, ok=ok, fail=fail)
    worker = nb.start_worker(queue, tmp_path / ('%s.log' % queue))
    nb.wait_counts(queue, lambda c: c['completed'] == ok and c['failed'] == fail)
    nb.stop_worker(worker)


def test_queue_info_matches_node_counts(run_module, node_bullmq, redis_server, tmp_path):
    q = qname('info')
    seed(node_bullmq, q, tmp_path)
    node_bullmq.add(q, ok=4, delayed=2, prioritized=1)
    view = node_bullmq.counts(q)

    r = run_module('queue_info', conn(redis_server, engine='bullmq', queues=[q]))
    assert not r.get('failed'), r.get('msg')
    assert r['changed'] is False
    rec = r['queues'][0]
    for state in ('wait', 'active', 'delayed', 'prioritized', 'completed', 'failed'):
        assert rec['counts'][state] == view['counts'][state], state
    assert rec['paused'] is False and view['paused'] is False
    assert rec['waiting'] == 5
    assert rec['failed_recent'] == 2 and rec['completed_recent'] == 3
    assert rec['failed_rate_pct'] == 40.0
    assert rec['oldest_wait_s'] is not None and rec['oldest_wait_s'] >= 0
    assert rec['workers'] == 0
    assert rec['layout_version'] == '6.7.6'
    assert redis_server.password not in r['_stdout']

    every = run_module('queue_info', conn(redis_server, engine='bullmq', queues=['*']))
    assert q in [x['name'] for x in every['queues']]


def test_pause_stops_a_node_worker_and_resume_restarts_it(run_module, node_bullmq, redis_server, tmp_path):
    q = qname('pause')
    node_bullmq.add(q, ok=1)
    log = tmp_path / 'worker.log'
    node_bullmq.start_worker(q, log)
    node_bullmq.wait_counts(q, lambda c: c['completed'] == 1)
    args = conn(redis_server, engine='bullmq', queues=[q], action='pause')

    check = run_module('queue_control', args, check=True)
    assert check['changed'] is True and not check.get('failed')
    assert node_bullmq.counts(q)['paused'] is False

    r = run_module('queue_control', args)
    assert r['changed'] is True and r['queues'][0]['paused'] is True
    assert node_bullmq.counts(q)['paused'] is True
    again = run_module('queue_control', args)
    assert again['changed'] is False

    node_bullmq.add(q, ok=3)
    time.sleep(3)  # a running worker would have taken them by now; the library must still see them waiting
    view = node_bullmq.counts(q)
    assert view['counts']['wait'] == 3 and view['counts']['completed'] == 1
    assert len(processed(log)) == 1

    resumed = run_module('queue_control', dict(args, action='resume'))
    assert resumed['changed'] is True
    node_bullmq.wait_counts(q, lambda c: c['completed'] == 4 and c['wait'] == 0)
    assert len(processed(log)) == 4
    assert run_module('queue_control', dict(args, action='resume'))['changed'] is False


def test_clean_retry_promote_in_check_mode_then_for_real(run_module, node_bullmq, redis_server, tmp_path):
    q = qname('act')
    seed(node_bullmq, q, tmp_path, ok=3, fail=2)
    node_bullmq.add(q, delayed=2)
    base = conn(redis_server, engine='bullmq', queues=[q])

    clean = dict(base, action='clean', state='completed', grace_s=0, limit=2, batch_size=1)
    c = run_module('queue_control', clean, check=True)
    assert c['changed'] is True and c['affected'] == 2
    assert node_bullmq.counts(q)['counts']['completed'] == 3
    r = run_module('queue_control', clean)
    assert r['affected'] == 2
    assert node_bullmq.counts(q)['counts']['completed'] == 1
    # a grace period the jobs are inside of: nothing to do
    assert run_module('queue_control', dict(clean, grace_s=3600))['changed'] is False

    retry = dict(base, action='retry')
    assert run_module('queue_control', retry, check=True)['affected'] == 2
    r = run_module('queue_control', retry)
    assert r['affected'] == 2
    view = node_bullmq.counts(q)['counts']
    assert view['failed'] == 0 and view['wait'] == 2
    assert run_module('queue_control', retry)['changed'] is False

    promote = dict(base, action='promote')
    r = run_module('queue_control', promote)
    assert r['affected'] == 2
    view = node_bullmq.counts(q)['counts']
    assert view['delayed'] == 0 and view['wait'] == 4
    assert run_module('queue_control', promote)['changed'] is False


def test_remove_stalled_moves_a_dead_workers_job_back(run_module, node_bullmq, redis_server, tmp_path):
    q = qname('stall')
    node_bullmq.add(q, slow=1, slow_ms=120000)
    worker = node_bullmq.start_worker(q, tmp_path / 'w.log', lock_ms=1500, stalled_interval=1000)
    node_bullmq.wait_counts(q, lambda c: c['active'] == 1)
    node_bullmq.stop_worker(worker, hard=True)  # SIGKILL: the job stays active, its lock expires
    wait_for(lambda: redis_server.cli('EXISTS', 'bull:%s:1:lock' % q) == '0', what='the lock to expire')
    args = conn(redis_server, engine='bullmq', queues=[q], action='remove_stalled')

    c = run_module('queue_control', args, check=True)
    assert c['changed'] is True and c['queues'][0]['job_ids'] == ['1']
    assert node_bullmq.counts(q)['counts']['active'] == 1
    r = run_module('queue_control', args)
    assert not r.get('failed'), r.get('msg')
    assert r['queues'][0]['job_ids'] == ['1']
    view = node_bullmq.counts(q)['counts']
    assert view['active'] == 0 and view['wait'] == 1
    assert run_module('queue_control', args)['changed'] is False


def test_purge_needs_confirm_and_loses_nothing_without_it(run_module, node_bullmq, redis_server):
    q = qname('purge')
    node_bullmq.add(q, ok=5, delayed=1)
    args = conn(redis_server, engine='bullmq', queues=[q], action='purge')

    missing = run_module('queue_control', args)
    assert missing.get('failed') and 'confirm' in missing['msg']
    wrong = run_module('queue_control', dict(args, confirm='other'))
    assert wrong.get('failed') and 'confirm must be the queue name' in wrong['msg']
    star = run_module('queue_control', dict(args, queues=['*'], confirm='*'))
    assert star.get('failed')
    assert node_bullmq.counts(q)['counts']['wait'] == 5

    c = run_module('queue_control', dict(args, confirm=q), check=True)
    assert c['affected'] == 5 and node_bullmq.counts(q)['counts']['wait'] == 5
    r = run_module('queue_control', dict(args, confirm=q))
    assert r['changed'] is True and r['affected'] == 5
    view = node_bullmq.counts(q)['counts']
    assert view['wait'] == 0 and view['delayed'] == 1
    assert run_module('queue_control', dict(args, confirm=q))['changed'] is False


def test_pause_waits_for_active_jobs_and_fails_naming_the_queue(run_module, node_bullmq, redis_server, tmp_path):
    q = qname('drain')
    node_bullmq.add(q, slow=1, slow_ms=60000)
    node_bullmq.start_worker(q, tmp_path / 'w.log')
    node_bullmq.wait_counts(q, lambda c: c['active'] == 1)
    r = run_module('queue_control', conn(redis_server, engine='bullmq', queues=[q], action='pause', wait_active_s=2))
    assert r.get('failed')
    assert q in r['msg'] and 'still active' in r['msg'] and 'stays paused' in r['msg']
    assert node_bullmq.counts(q)['paused'] is True


def test_acl_user_reads_and_pauses(run_module, node_bullmq, redis_server):
    q = qname('acl')
    node_bullmq.add(q, ok=1)
    user, pw = 'qops' + uuid.uuid4().hex[:4], 'acl-' + uuid.uuid4().hex
    redis_server.cli('ACL', 'SETUSER', user, 'on', '>' + pw, '~bull:*', '+@all', '-@dangerous', '+client|list',
                     '+info')
    try:
        args = dict(host='127.0.0.1', port=redis_server.port, username=user, password=pw, engine='bullmq',
                    queues=[q])
        r = run_module('queue_info', args)
        assert not r.get('failed'), r.get('msg')
        assert r['queues'][0]['counts']['wait'] == 1
        assert r['target'].startswith('redis://%s@' % user)
        p = run_module('queue_control', dict(args, action='pause'))
        assert p['changed'] is True and node_bullmq.counts(q)['paused'] is True
        assert pw not in p['_stdout'] + p['_stderr']
    finally:
        subprocess.run(['redis-cli', '-p', str(redis_server.port), 'ACL', 'DELUSER', user],
                       env={'REDISCLI_AUTH': redis_server.password}, capture_output=True, check=False)
