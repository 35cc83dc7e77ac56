# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``queue`` check type of health_check: BullMQ or Celery queue length, failures and wait on Redis.

Seed 002's "Queue Length > 100 / > 500" and seed 004's ``LLEN fileforge-tasks`` as inventory data. The numbers
come from ``queues.queue_info`` (the same reading as runbook.ops.queue_info); with several queues each metric is
the worst queue's, and ``by_queue`` holds every queue's figures (one check per queue grades them one by one).
"""

from __future__ import annotations

import time

from ansible_collections.runbook.ops.plugins.module_utils import probe
from ansible_collections.runbook.ops.plugins.module_utils import queues as queue_utils
from ansible_collections.runbook.ops.plugins.module_utils.redis_client import REDIS_OPTION_NAMES

DEFAULT_WINDOW_MINUTES = 60
METRIC_KEYS = ('waiting', 'failed', 'oldest_wait_s', 'failed_rate_pct', 'failed_recent', 'active', 'delayed')


def _figures(rec):
    counts = rec.get('counts') or {}
    return {
        'waiting': rec.get('waiting'),
        'failed': counts.get('failed') if counts else None,
        'oldest_wait_s': rec.get('oldest_wait_s'),
        'failed_rate_pct': rec.get('failed_rate_pct'),
        'failed_recent': rec.get('failed_recent'),
        'active': counts.get('active') if counts else rec.get('active'),
        'delayed': counts.get('delayed') if counts else None,
        'paused': rec.get('paused'),
        'workers': rec.get('workers'),
    }


def worst_of(records):
    """The highest value of each metric over the queues (None when no queue has it)."""
    out = {}
    for key in METRIC_KEYS:
        values = [r[key] for r in records if r.get(key) is not None]
        out[key] = max(values) if values else None
    return out


def params_of(check, deadline):
    params = dict((k, check.get(k)) for k in REDIS_OPTION_NAMES if check.get(k) is not None)
    left = probe.time_left(deadline)
    params['socket_timeout'] = min(float(check.get('socket_timeout') or left), left)
    params.update(engine=check['engine'], queues=check['queues'], prefix=check.get('prefix') or 'bull',
                  failed_window_min=int(round(float(check.get('window_minutes') or DEFAULT_WINDOW_MINUTES))),
                  celery_timeout=min(2.0, max(0.2, left / 4.0)))
    return params


def run(check):
    deadline = time.monotonic() + check['timeout']
    params = params_of(check, deadline)
    start = time.monotonic()
    try:
        info = queue_utils.queue_info(params)
    except queue_utils.QueueError as exc:
        raise probe.ProbeError(exc.msg)
    by_queue = dict((rec['name'], _figures(rec)) for rec in info['queues'])
    metrics = worst_of(list(by_queue.values()))
    metrics.update(latency_ms=probe.ms(time.monotonic() - start), queues=len(by_queue), by_queue=by_queue)
    result = probe.ProbeResult(metrics)
    if not by_queue:
        result.add(probe.WARNING, 'no %s queue found on %s' % (check['engine'], info['target']))
    for name, fig in sorted(by_queue.items()):
        if fig['paused'] and check['engine'] != 'celery':
            result.add(probe.WARNING, 'queue %s is paused' % name)
        elif check['engine'] == 'celery' and not fig['workers']:
            result.add(probe.WARNING, 'no Celery worker consumes queue %s' % name)
    return result


def requirement(checks):
    for engine in ('bullmq', 'bull', 'celery'):
        missing = queue_utils.missing_library(engine) if any(c.get('engine') == engine for c in checks) else None
        if missing:
            return missing
    return None


def validate(check):
    try:
        queue_utils.validate_names(check.get('queues') or [])
    except queue_utils.QueueError as exc:
        raise probe.HealthConfigError('check %s: %s' % (check.get('name'), exc.msg))


PROBE_TYPE = probe.ProbeType(
    name='queue', run=run,
    metrics={
        'waiting': (probe.HIGHER, probe.levels(100, 500)),
        'failed': (probe.HIGHER, None),
        'oldest_wait_s': (probe.HIGHER, None),
        'failed_rate_pct': (probe.HIGHER, None),
        'failed_recent': (probe.HIGHER, None),
        'active': (probe.HIGHER, None),
        'delayed': (probe.HIGHER, None),
        'latency_ms': (probe.HIGHER, None),
    },
    options=('engine', 'queues', 'prefix', 'window_minutes') + tuple(REDIS_OPTION_NAMES),
    suboptions={
        'engine': dict(type='str', choices=list(queue_utils.ENGINES)),
        'queues': dict(type='list', elements='str'),
        'prefix': dict(type='str'),
        'window_minutes': dict(type='float'),
    },
    required=('engine', 'queues'),
    requirement=requirement,
    validate=validate,
    secrets=('password',),
)
