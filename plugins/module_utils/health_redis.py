# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``redis`` check type of health_check: latency, memory, clients, hit rate and evictions, read by
``redis_client.server_health``."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils import probe
from ansible_collections.runbook.ops.plugins.module_utils import redis_client as redis_utils


def _redis_params(check):
    params = {k: check.get(k) for k in redis_utils.REDIS_OPTION_NAMES}
    if params.get('socket_timeout') is None:
        params['socket_timeout'] = check['timeout']
    return params


def _no_retry():
    """redis-py >= 6 retries failed connections with back-off (seconds per probe); a health probe must not."""
    try:
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        return {}
    return {'retry': Retry(NoBackoff(), 0)}


def run(check):
    params = _redis_params(check)
    try:
        facts = redis_utils.server_health(params, **_no_retry())
    except redis_utils.redis.RedisError as exc:
        raise probe.ProbeError('Could not query redis %s: %s' % (
            redis_utils.describe_target(params), probe.one_line(redis_utils.redact(probe.redact(exc, check), params))))
    hits, misses, maxclients = facts['keyspace_hits'], facts['keyspace_misses'], facts['maxclients']
    return probe.ProbeResult({
        'reachable': True,
        'connect_ms': probe.ms(facts['connect_s']),
        'latency_ms': probe.ms(facts['latency_s']),
        'redis_version': facts['redis_version'],
        'role': facts['role'],
        'used_memory': facts['used_memory'],
        'maxmemory': facts['maxmemory'],
        'memory_pct': probe.pct(facts['used_memory'], facts['maxmemory']),
        'keyspace_hits': hits,
        'keyspace_misses': misses,
        'hit_rate': probe.pct(hits, hits + misses),
        'evicted_keys': facts['evicted_keys'],
        'connected_clients': facts['connected_clients'],
        'maxclients': maxclients,
        'clients_pct': probe.pct(facts['connected_clients'], maxclients) if maxclients else None,
    })


PROBE_TYPE = probe.ProbeType(
    name='redis', run=run,
    metrics={
        'connect_ms': (probe.HIGHER, None),
        'latency_ms': (probe.HIGHER, probe.levels(100, 1000)),
        'used_memory': (probe.HIGHER, None),
        'memory_pct': (probe.HIGHER, probe.levels(80, 95)),
        'connected_clients': (probe.HIGHER, None),
        'clients_pct': (probe.HIGHER, probe.levels(80, 95)),
        'hit_rate': (probe.LOWER, probe.levels(70, 50)),
        'evicted_keys': (probe.HIGHER, None),
    },
    options=redis_utils.REDIS_OPTION_NAMES,
    # the shared connection options (their defaults apply in redis_client.client_kwargs, not in the check)
    suboptions=redis_utils.redis_argument_spec(),
    requirement=lambda checks: None if redis_utils.HAS_REDIS else ('redis', redis_utils.REDIS_IMP_ERR),
)
