# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Celery queues on a Redis broker, for runbook.ops.queue_info and queue_control (engine: celery).

A bare ``Celery(broker=url)`` app is enough: no task code is imported.
* Ready length of a queue: kombu's Redis transport keeps one list per priority step (``<queue>`` for step 0,
  ``<queue>\\x06\\x16<step>`` for the others); their lengths are read with LLEN, the names built with kombu's own
  separator and steps. Prefetched (reserved) messages sit in the ``unacked`` hash until acknowledged.
* Workers: ``inspect active_queues / active / reserved`` (pidbox broadcast, replies within ``celery_timeout``).
* pause / resume: ``control cancel_consumer`` / ``add_consumer`` on every worker (or ``celery_workers``). A worker
  forgets this when it restarts (it consumes its ``-Q`` list again): the result says so.
* purge / drain: kombu's ``queue_purge`` on that one queue (all its priority lists), never ``celery purge``.
Celery keeps no completed, failed or delayed jobs in the broker: clean, retry, promote and remove_stalled are
refused with a message.
"""

from __future__ import annotations

import json

from ansible_collections.runbook.ops.plugins.module_utils import _lazy
from ansible_collections.runbook.ops.plugins.module_utils.queues import (
    CELERY_RESTART_NOTE,
    GUARDED_ACTIONS,
    QueueError,
    error_from_redis,
)
from ansible_collections.runbook.ops.plugins.module_utils.redis_client import (
    client_kwargs,
    describe_target,
    make_client,
    redact,
)

# celery and kombu are imported on first use (a health check without celery probes never pays for them)
HAS_CELERY, CELERY_IMP_ERR = _lazy.available('celery', 'kombu')
Celery = _lazy.attr('celery', 'Celery')
PRIORITY_STEPS = _lazy.attr('kombu.transport.redis', 'PRIORITY_STEPS')
redis_exceptions = _lazy.module('redis.exceptions')

# kombu's Redis transport: the separator of its binding entries and its unacked hash (kombu.transport.redis.
# Channel.sep and .unacked_key; a unit test checks they still are kombu's)
SEP = '\x06\x16'
UNACKED_KEY = 'unacked'
BINDING_PREFIX = '_kombu.binding.'
# per-queue unacked counts parse every entry of the unacked hash: only below this size
UNACKED_SCAN_MAX = 20000


def priority_lists(queue, steps=None):
    """The Redis lists holding a queue's ready messages, one per kombu priority step ([queue, queue\\x06\\x163, ...])."""
    out = []
    for step in (steps or PRIORITY_STEPS):
        out.append(queue if not step else '%s%s%s' % (queue, SEP, step))
    return out


def binding_queue(member):
    """The queue name of a ``_kombu.binding.<exchange>`` member (routing_key SEP pattern SEP queue)."""
    if isinstance(member, bytes):
        member = member.decode('utf-8', 'replace')
    parts = member.split(SEP)
    return parts[-1] if len(parts) >= 3 else None


def is_internal_queue(name):
    return name.endswith('.pidbox') or name.startswith('celeryev') or '.reply.' in name


def broker_url(params):
    """``redis[s]://[user:password@]host:port/db`` for kombu (only ever handed to kombu, never shown)."""
    try:
        from urllib.parse import quote
    except ImportError:  # pragma: no cover - Python 2 is not supported
        from urllib import quote
    kw = client_kwargs(params)
    auth = ''
    if kw.get('password'):
        auth = '%s:%s@' % (quote(kw.get('username') or '', safe=''), quote(kw['password'], safe=''))
    elif kw.get('username'):
        auth = '%s@' % quote(kw['username'], safe='')
    scheme = 'rediss' if kw.get('ssl') else 'redis'
    return '%s://%s%s:%s/%s' % (scheme, auth, kw['host'], kw['port'], kw['db'])


def make_app(params):
    import ssl
    kw = client_kwargs(params)
    app = Celery('runbook_ops_queues', broker=broker_url(params), set_as_current=False)
    conf = {
        'broker_connection_retry': False,
        'broker_connection_retry_on_startup': False,
        'broker_connection_max_retries': 0,
        'broker_connection_timeout': kw['socket_connect_timeout'],
        'broker_transport_options': {'socket_timeout': kw['socket_timeout'],
                                     'socket_connect_timeout': kw['socket_connect_timeout'],
                                     'max_retries': 0},
    }
    if kw.get('ssl'):
        tls = {'ssl_cert_reqs': ssl.CERT_REQUIRED if kw['ssl_cert_reqs'] == 'required' else ssl.CERT_NONE}
        for ours, theirs in (('ssl_ca_certs', 'ssl_ca_certs'), ('ssl_certfile', 'ssl_certfile'),
                             ('ssl_keyfile', 'ssl_keyfile')):
            if kw.get(ours):
                tls[theirs] = kw[ours]
        conf['broker_use_ssl'] = tls
    app.conf.update(conf)
    return app


class CeleryBroker(object):
    def __init__(self, params, warn):
        self.params = params
        self.warn = warn
        self.client = make_client(params)
        self.app = None
        self.timeout = float(params.get('celery_timeout') or 2.0)

    def connect(self, verb):
        try:
            self.client.ping()
        except (redis_exceptions.RedisError, OSError) as exc:
            raise error_from_redis(exc, self.params, verb)
        self.app = make_app(self.params)

    def close(self):
        if self.app is not None:
            self.app.close()
        self.client.close()

    # ---- broker state (read-only)
    def ready(self, queue):
        pipe = self.client.pipeline(transaction=False)
        names = priority_lists(queue)
        for name in names:
            pipe.llen(name)
        lengths = pipe.execute()
        by_priority = dict((str(step), int(n)) for step, n in zip(PRIORITY_STEPS, lengths))
        return sum(by_priority.values()), by_priority

    def bindings(self):
        queues = set()
        for key in self.client.scan_iter(match=BINDING_PREFIX + '*', count=1000):
            k = key.decode('utf-8', 'replace') if isinstance(key, bytes) else key
            if k.endswith('.pidbox') or k == BINDING_PREFIX + 'celeryev':
                continue
            for member in self.client.sscan_iter(key, count=1000):
                name = binding_queue(member)
                if name and not is_internal_queue(name):
                    queues.add(name)
        return queues

    def routes(self):
        """{(exchange, routing_key): {queue, ...}} from the kombu bindings (``_kombu.binding.<exchange>``)."""
        out = {}
        for key in self.client.scan_iter(match=BINDING_PREFIX + '*', count=1000):
            k = key.decode('utf-8', 'replace') if isinstance(key, bytes) else key
            exchange = k[len(BINDING_PREFIX):]
            for member in self.client.sscan_iter(key, count=1000):
                member = member.decode('utf-8', 'replace') if isinstance(member, bytes) else member
                parts = member.split(SEP)
                if len(parts) >= 3 and not is_internal_queue(parts[-1]):
                    out.setdefault((exchange, parts[0]), set()).add(parts[-1])
        return out

    def unacked(self):
        """(total, {queue: n} or None)."""
        total = int(self.client.hlen(UNACKED_KEY))
        if total > UNACKED_SCAN_MAX:
            return total, None
        per = {}
        for _field, value in self.client.hscan_iter(UNACKED_KEY, count=1000):
            try:
                _payload, exchange, routing_key = json.loads(value)[:3]
            except (ValueError, TypeError):
                continue
            per[routing_key or exchange] = per.get(routing_key or exchange, 0) + 1
        return total, per

    # ---- workers (pidbox)
    def _inspect(self, method, limit=None, destination=None):
        try:
            insp = self.app.control.inspect(timeout=self.timeout, limit=limit, destination=destination)
            return getattr(insp, method)() or {}
        except (redis_exceptions.RedisError, OSError) as exc:
            raise error_from_redis(exc, self.params, 'ask the Celery workers (%s)' % method)

    def workers(self, detail=True):
        """{worker: {'queues': [...], 'active': n, 'reserved': n}}."""
        aq = self._inspect('active_queues')
        out = dict((w, {'queues': sorted(q.get('name') for q in (qs or [])), 'active': None, 'reserved': None})
                   for w, qs in aq.items())
        if detail and out:
            for method in ('active', 'reserved'):
                replies = self._inspect(method, limit=len(out))
                for w, tasks in replies.items():
                    if w in out:
                        out[w][method] = len(tasks or [])
        return out


def busy_by_queue(replies, names, routes):
    """{queue: tasks} of ``names`` among ``inspect active/reserved`` replies ({worker: [task info]}).

    A task belongs to queue Q when its delivery routing key is Q (the default exchange), or when ``routes`` (from
    the kombu bindings: {(exchange, routing_key): {queues}}) binds its exchange and routing key to Q."""
    busy = dict((name, 0) for name in names)
    for tasks in (replies or {}).values():
        for task in tasks or []:
            info = (task or {}).get('delivery_info') or {}
            key = info.get('routing_key')
            queues = set(routes.get((info.get('exchange') or '', key), ()))
            if key in busy:
                queues.add(key)
            for name in queues & set(busy):
                busy[name] += 1
    return busy


def _wait_idle(broker, names, targets, seconds, records):
    """Wait (bounded) until no worker of ``targets`` runs or holds prefetched a task of ``names``; raise a
    QueueError naming the first busy queue when ``seconds`` are over (the queues stay paused)."""
    import time
    routes = broker.routes()
    deadline = time.monotonic() + seconds
    while True:
        busy = dict((name, 0) for name in names)
        silent = set()
        for method in ('active', 'reserved'):
            replies = broker._inspect(method, limit=len(targets), destination=targets)
            silent.update(set(targets) - set(replies))  # a solo-pool worker answers only between tasks
            for name, n in busy_by_queue(replies, names, routes).items():
                busy[name] += n
        for rec in records:
            rec['active_left'] = busy.get(rec['name'], 0)
        left = [(name, n) for name, n in busy.items() if n]
        if not left and not silent:
            return
        if time.monotonic() >= deadline:
            if left:
                name, n = left[0]
                raise QueueError('Could not drain queue %s: %d task(s) still active or reserved on the Celery '
                                 'workers after %d s; the queue stays paused. Resume it (action: resume) or wait '
                                 'longer (wait_active_s).' % (name, n, seconds), queues=records)
            raise QueueError('Could not drain queue %s: worker(s) %s did not answer within %d s (busy in a solo '
                             'pool?); the queue stays paused. Resume it (action: resume) or wait longer '
                             '(wait_active_s).' % (', '.join(names), ', '.join(sorted(silent)), seconds),
                             queues=records)
        time.sleep(0.5)


def _records(broker, names, workers):
    total_unacked, per_unacked = broker.unacked()
    records = []
    for name in names:
        ready, by_priority = broker.ready(name)
        consumers = sorted(w for w, rec in workers.items() if name in rec['queues'])
        records.append({
            'name': name,
            'engine': 'celery',
            'ready': ready,
            'ready_by_priority': by_priority,
            'waiting': ready,
            'unacked': None if per_unacked is None else per_unacked.get(name, 0),
            'consumers': consumers,
            'workers': len(consumers),
            'paused': not consumers,
            'active': sum(workers[w]['active'] or 0 for w in consumers),
            'reserved': sum(workers[w]['reserved'] or 0 for w in consumers),
            'oldest_wait_s': None,
            'failed_recent': None,
            'failed_rate_pct': None,
        })
    return records, total_unacked


def _resolve(broker, names, workers):
    known = broker.bindings()
    for rec in workers.values():
        known.update(q for q in rec['queues'] if not is_internal_queue(q))
    if names == ['*']:
        return sorted(known)
    for name in names:
        if name not in known and broker.ready(name)[0] == 0:
            raise QueueError('Could not find Celery queue %s on %s: no binding, no consumer and no message. Check the '
                             'queue name (the task_routes / -Q name, e.g. celery).' % (name, describe_target(broker.params)))
    return names


def celery_info(params, names, warn):
    broker = CeleryBroker(params, warn)
    try:
        broker.connect('read the Celery queues')
        workers = broker.workers()
        names = _resolve(broker, names, workers)
        records, total_unacked = _records(broker, names, workers)
    except (redis_exceptions.RedisError, OSError) as exc:
        raise error_from_redis(exc, params, 'read the Celery queues')
    finally:
        broker.close()
    return {'changed': False, 'engine': 'celery', 'queues': records, 'skipped_queues': [], 'unacked_total': total_unacked,
            'workers': workers, 'target': describe_target(params)}


def _broadcast(broker, command, queue, destination):
    try:
        method = getattr(broker.app.control, command)
        replies = method(queue, destination=destination, reply=True, timeout=broker.timeout) or []
    except (redis_exceptions.RedisError, OSError) as exc:
        raise error_from_redis(exc, broker.params, '%s on the Celery workers' % command)
    answered = {}
    for reply in replies:
        for worker, body in reply.items():
            answered[worker] = body
    missing = sorted(set(destination) - set(answered))
    errors = sorted('%s: %s' % (w, b.get('error')) for w, b in answered.items() if isinstance(b, dict) and b.get('error'))
    if missing or errors:
        raise QueueError('Could not %s queue %s on every worker: %s. Check the workers (celery inspect ping) and run '
                         'again.' % (command, queue, '; '.join(
                             (['no reply from ' + ', '.join(missing)] if missing else []) + errors)))
    return sorted(answered)


def celery_control(params, names, check_mode, warn):
    action = params['action']
    if action not in ('pause', 'resume') + GUARDED_ACTIONS:
        raise QueueError('Could not %s Celery queues: Celery keeps no completed, failed, delayed or stalled jobs in '
                         'the broker (results live in the result backend, ETA tasks in the workers). Only pause, '
                         'resume, purge and drain apply to engine celery.' % action)
    broker = CeleryBroker(params, warn)
    records = []
    note = None
    try:
        broker.connect('%s the Celery queues' % action)
        workers = broker.workers(detail=False)
        names = _resolve(broker, names, workers)
        only = params.get('celery_workers')
        if only:
            unknown = sorted(set(only) - set(workers))
            if unknown:
                raise QueueError('Could not %s: worker(s) %s did not answer (alive: %s). Check celery_workers.'
                                 % (action, ', '.join(unknown), ', '.join(sorted(workers)) or 'none'))
        targets = sorted(only or workers)
        for name in names:
            ready = broker.ready(name)[0]
            rec = {'name': name, 'action': action, 'changed': False, 'affected': 0, 'ready_before': ready,
                   'workers': []}
            if action in ('pause', 'resume'):
                note = CELERY_RESTART_NOTE
                consuming = [w for w in targets if name in workers[w]['queues']]
                todo = consuming if action == 'pause' else [w for w in targets if w not in consuming]
                if not targets:
                    warn('No Celery worker answered within %.1f s: nothing to %s for queue %s.'
                         % (broker.timeout, action, name))
                rec['workers'] = todo
                rec['changed'] = bool(todo)
                rec['affected'] = len(todo)
                if todo and not check_mode:
                    _broadcast(broker, 'cancel_consumer' if action == 'pause' else 'add_consumer', name, todo)
                rec['paused_before'] = not consuming
                rec['paused'] = rec['paused_before'] if (check_mode or not targets) else action == 'pause'
            else:
                rec['affected'] = ready
                rec['changed'] = ready > 0
                if ready and not check_mode:
                    with broker.app.connection_for_write() as conn:
                        conn.default_channel.queue_purge(name)
            rec['ready_after'] = ready if check_mode else broker.ready(name)[0]
            records.append(rec)
        if action == 'pause' and params.get('wait_active_s') and targets and not check_mode:
            _wait_idle(broker, names, targets, params['wait_active_s'], records)
    except (redis_exceptions.RedisError, OSError) as exc:
        raise error_from_redis(exc, params, '%s the Celery queues' % action)
    except QueueError as exc:
        exc.result.setdefault('queues', records)
        raise
    except Exception as exc:  # kombu wraps transport errors in its own classes
        raise QueueError('Could not %s the Celery queues on %s: %s' % (
            action, describe_target(params), redact(str(exc), params)), queues=records)
    finally:
        broker.close()
    return {'changed': any(r['changed'] for r in records), 'engine': 'celery', 'action': action, 'queues': records,
            'skipped_queues': [], 'affected': sum(r['affected'] for r in records), 'target': describe_target(params),
            'note': note}
