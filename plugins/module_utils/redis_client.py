# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared Redis connection handling for runbook.ops modules (redis-py >= 4.3).

TLS is off by default: community.general's redis modules default it on and then
hang against a plain-text localhost server.
"""

from __future__ import annotations

import time

from ansible_collections.runbook.ops.plugins.module_utils import _lazy

# redis-py is imported on first use
HAS_REDIS, REDIS_IMP_ERR = _lazy.available('redis')
redis = _lazy.module('redis')

from ansible_collections.runbook.ops.plugins.module_utils import redaction


def redis_argument_spec():
    """Connection options shared by every Redis module (see the doc fragment)."""
    return dict(
        host=dict(type='str', default='127.0.0.1'),
        port=dict(type='int', default=6379),
        db=dict(type='int', default=0),
        username=dict(type='str'),
        password=dict(type='str', no_log=True),
        tls=dict(type='bool', default=False),
        validate_certs=dict(type='bool', default=True),
        ca_cert=dict(type='path'),
        client_cert=dict(type='path'),
        client_key=dict(type='path', no_log=False),
        socket_timeout=dict(type='float', default=10.0),
    )


REDIS_OPTION_NAMES = tuple(redis_argument_spec())


def client_kwargs(params):
    """Keyword arguments for ``redis.Redis`` from module params (defaults filled in)."""
    defaults = {k: v.get('default') for k, v in redis_argument_spec().items()}
    p = dict(defaults)
    p.update({k: v for k, v in params.items() if v is not None})
    kwargs = {
        'host': p['host'],
        'port': int(p['port']),
        'db': int(p['db']),
        'socket_timeout': float(p['socket_timeout']),
        'socket_connect_timeout': float(p['socket_timeout']),
    }
    if p.get('username'):
        kwargs['username'] = p['username']
    if p.get('password'):
        kwargs['password'] = p['password']
    if p.get('tls'):
        kwargs['ssl'] = True
        kwargs['ssl_cert_reqs'] = 'required' if p.get('validate_certs', True) else 'none'
        if p.get('ca_cert'):
            kwargs['ssl_ca_certs'] = p['ca_cert']
        if p.get('client_cert'):
            kwargs['ssl_certfile'] = p['client_cert']
        if p.get('client_key'):
            kwargs['ssl_keyfile'] = p['client_key']
    return kwargs


def make_client(params, **extra):
    """A ``redis.Redis`` client; nothing is sent until the first command."""
    kwargs = client_kwargs(params)
    kwargs.update(extra)
    return redis.Redis(**kwargs)


def describe_target(params):
    """``[user@]host:port/db`` for messages; never includes the password."""
    kw = client_kwargs(params)
    user = (kw.get('username') + '@') if kw.get('username') else ''
    scheme = 'rediss' if kw.get('ssl') else 'redis'
    return '%s://%s%s:%s/%s' % (scheme, user, kw['host'], kw['port'], kw['db'])


def redact(text, params):
    """Remove the password from an error text."""
    return redaction.mask(text, [params.get('password')] if params else ())


def server_health(params, clock=time.monotonic, **extra):
    """Time the connection (a first PING) and one round trip (a second PING), and read INFO.

    ``maxclients`` comes from INFO, or CONFIG GET when INFO lacks it (None when that is denied). Returns
    ``{connect_s, latency_s, redis_version, role, used_memory, maxmemory, keyspace_hits, keyspace_misses,
    evicted_keys, connected_clients, maxclients}``; raises ``redis.RedisError``. ``extra`` goes to the client
    (a probe passes ``retry``).
    """
    client = make_client(params, **extra)
    try:
        start = clock()
        client.ping()                       # connects (and authenticates)
        connected = clock()
        client.ping()
        latency = clock() - connected
        info = client.info()
        maxclients = info.get('maxclients')
        if maxclients is None:
            try:
                maxclients = int(client.config_get('maxclients').get('maxclients'))
            except (redis.RedisError, TypeError, ValueError):
                maxclients = None
    finally:
        try:
            client.close()
        except Exception:  # pylint: disable=broad-except
            pass
    return {
        'connect_s': connected - start,
        'latency_s': latency,
        'redis_version': info.get('redis_version'),
        'role': info.get('role'),
        'used_memory': int(info.get('used_memory', 0)),
        'maxmemory': int(info.get('maxmemory', 0) or 0),
        'keyspace_hits': int(info.get('keyspace_hits', 0)),
        'keyspace_misses': int(info.get('keyspace_misses', 0)),
        'evicted_keys': int(info.get('evicted_keys', 0)),
        'connected_clients': int(info.get('connected_clients', 0)),
        'maxclients': maxclients,
    }
