# -*- coding: utf-8 -*-
"""queue_info / queue_control over TLS with client certificates (a TLS-only redis-server): a BullMQ queue made
with the bullmq library's own Queue.add, and a Celery queue sent to by a bare Celery app over rediss://."""
from __future__ import annotations

import asyncio
import ssl
import uuid

import pytest

from cache_fixtures import TlsRedis


@pytest.fixture(scope='module')
def tls_redis():
    server = TlsRedis()
    yield server
    server.stop()


def _add_jobs(server, queue, n):
    import redis.asyncio as redis_asyncio
    from bullmq import Queue

    async def main():
        conn = redis_asyncio.Redis(host='127.0.0.1', port=server.port, ssl=True, ssl_ca_certs=server.tls['ca.pem'],
                                   ssl_certfile=server.tls['client.pem'], ssl_keyfile=server.tls['client.key'],
                                   decode_responses=True)
        q = Queue(queue, {'connection': conn})
        for i in range(n):
            await q.add('job', {'i': i})
        await conn.aclose()
    asyncio.run(main())


def test_bullmq_over_tls(run_module, tls_redis):
    q = 'rbo-tls-' + uuid.uuid4().hex[:6]
    _add_jobs(tls_redis, q, 3)
    r = run_module('queue_info', dict(tls_redis.params, engine='bullmq', queues=[q]))
    assert not r.get('failed'), r.get('msg')
    assert r['queues'][0]['counts']['wait'] == 3 and r['target'].startswith('rediss://')
    p = run_module('queue_control', dict(tls_redis.params, engine='bullmq', queues=[q], action='pause'))
    assert p['changed'] is True
    assert tls_redis.cli('HGET', 'bull:%s:meta' % q, 'paused') == '1'
    bad = run_module('queue_info', dict(tls_redis.params, engine='bullmq', queues=[q],
                                        ca_cert=tls_redis.tls['other-ca.pem']))
    assert bad.get('failed') and bad['msg'].startswith('Could not read the queues')


def test_celery_over_tls(run_module, tls_redis):
    from celery import Celery
    q = 'rbo-ctls-' + uuid.uuid4().hex[:6]
    app = Celery(broker='rediss://127.0.0.1:%d/0' % tls_redis.port)
    app.conf.broker_use_ssl = {'ssl_cert_reqs': ssl.CERT_REQUIRED, 'ssl_ca_certs': tls_redis.tls['ca.pem'],
                               'ssl_certfile': tls_redis.tls['client.pem'], 'ssl_keyfile': tls_redis.tls['client.key']}
    app.send_task('rbo.record', args=['x'], queue=q)
    app.close()
    r = run_module('queue_info', dict(tls_redis.params, engine='celery', queues=[q], celery_timeout=1.0))
    assert not r.get('failed'), r.get('msg')
    assert r['queues'][0]['ready'] == 1 and r['queues'][0]['consumers'] == []
