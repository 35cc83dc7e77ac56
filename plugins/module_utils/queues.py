# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Job queues on Redis: the logic of runbook.ops.queue_info and runbook.ops.queue_control.

Engines:
  bullmq  the PyPI ``bullmq`` package (the BullMQ team's asyncio port) runs the same Lua scripts as the
          Node library: counts, pause/resume, clean, retry, promote, drain, stalled-job recovery. No key of a
          queue is ever written here except by those scripts; this module only reads (counts, ZCOUNT of the
          finished sets, the lock keys of active jobs).
  bull    Bull 3/4 queues use another key layout (``wait`` renamed to ``paused``, no ``meta`` hash with a
          BullMQ version). They are detected and refused with a message naming the layout.
  celery  see queues_celery.py.

The layout of a BullMQ queue is read from ``<prefix>:<queue>:meta`` (field ``version``, e.g.
``bullmq:6.7.6``) before anything else, so a Bull queue is never driven by BullMQ's scripts.
"""

from __future__ import annotations

import time

from ansible_collections.runbook.ops.plugins.module_utils import _lazy
from ansible_collections.runbook.ops.plugins.module_utils.redis_client import (
    HAS_REDIS,
    REDIS_IMP_ERR,
    client_kwargs,
    describe_target,
    make_client,
    redact,
)

# asyncio is imported on first use too: health_check imports this file (its queue probe) on every run
asyncio = _lazy.module('asyncio')
# bullmq and redis-py are imported on first use (a health check without queue probes never pays for them);
# ``except`` clauses name redis_exceptions.<Error>, resolved when an exception is being matched
HAS_BULLMQ, BULLMQ_IMP_ERR = _lazy.available('bullmq', 'redis')
redis_asyncio = _lazy.module('redis.asyncio')
BullQueue = _lazy.attr('bullmq', 'Queue')
redis_exceptions = _lazy.module('redis.exceptions')


ENGINES = ('bullmq', 'bull', 'celery')
# The job states BullMQ counts (getJobCounts); BullMQ 6 keeps paused jobs in `wait` and flags meta.paused.
BULLMQ_STATES = ('wait', 'active', 'delayed', 'prioritized', 'completed', 'failed', 'paused', 'waiting-children')
ACTIONS = ('pause', 'resume', 'clean', 'retry', 'promote', 'remove_stalled', 'purge', 'drain')
GUARDED_ACTIONS = ('purge', 'drain')
CELERY_RESTART_NOTE = ('Celery forgets a cancelled consumer when the worker restarts: a restarted worker consumes '
                       'the queues of its -Q list again.')


class QueueError(Exception):
    """A failure with an operator-facing message (no secret in it) and a partial result."""

    def __init__(self, msg, **result):
        super(QueueError, self).__init__(msg)
        self.msg = msg
        self.result = result


def queue_common_argument_spec():
    return dict(
        engine=dict(type='str', required=True, choices=list(ENGINES)),
        queues=dict(type='list', elements='str', required=True),
        prefix=dict(type='str', default='bull'),
        celery_timeout=dict(type='float', default=2.0),
    )


def missing_library(engine):
    """``(library, import_error)`` for the first client library ``engine`` needs that is not installed (redis-py,
    then bullmq or celery), else None.  Nothing is imported."""
    if not HAS_REDIS:
        return 'redis', REDIS_IMP_ERR
    if engine == 'celery':
        from ansible_collections.runbook.ops.plugins.module_utils.queues_celery import CELERY_IMP_ERR, HAS_CELERY
        return None if HAS_CELERY else ('celery', CELERY_IMP_ERR)
    return None if HAS_BULLMQ else ('bullmq', BULLMQ_IMP_ERR)


def queue_info_argument_spec():
    spec = queue_common_argument_spec()
    spec.update(failed_window_min=dict(type='int', default=60))
    return spec


def queue_control_argument_spec():
    spec = queue_common_argument_spec()
    spec.update(
        action=dict(type='str', required=True, choices=list(ACTIONS)),
        state=dict(type='str', default='completed', choices=['completed', 'failed']),
        grace_s=dict(type='int', default=3600),
        limit=dict(type='int', default=10000),
        batch_size=dict(type='int', default=1000),
        include_delayed=dict(type='bool', default=False),
        confirm=dict(type='str'),
        wait_active_s=dict(type='int', default=0),
        max_stalled_count=dict(type='int', default=1),
        celery_workers=dict(type='list', elements='str'),
    )
    return spec


# ------------------------------------------------------------------------------------------ pure rules

def validate_names(queues, allow_glob=True):
    """The queue names asked for; ``*`` alone means every queue. Raises QueueError on a bad name."""
    if not queues:
        raise QueueError('Could not read the queue list: it is empty. Name the queues, or `*` for all of them.')
    names = []
    for name in queues:
        if name == '*':
            if not allow_glob:
                raise QueueError('Could not select the queues: `*` is not allowed for this action. '
                                 'Name the queue explicitly.')
            if len(queues) > 1:
                raise QueueError('Could not select the queues: `*` must be the only entry of queues.')
            return ['*']
        if not name or any(c in name for c in ('\x00', '\n', '\r')):
            raise QueueError('Could not use the queue name %r: it is empty or holds a control character. '
                             'Check the queues list.' % name)
        if name not in names:
            names.append(name)
    return names


def check_confirm(action, names, confirm):
    """purge/drain need ``confirm`` equal to the single queue name; raises QueueError otherwise."""
    if action not in GUARDED_ACTIONS:
        return
    if names == ['*'] or len(names) != 1:
        raise QueueError('Could not %s: it takes exactly one named queue (not `*`, not a list), '
                         'and confirm set to that name.' % action)
    if confirm != names[0]:
        raise QueueError('Could not %s queue %s: confirm must be the queue name (%s) to delete its waiting jobs; '
                         'nothing was deleted.' % (action, names[0], names[0]))


def failed_rate_pct(failed, completed):
    """Failed share of the jobs finished in the window, in percent with one decimal (0.0 when none finished)."""
    done = (failed or 0) + (completed or 0)
    if done <= 0:
        return 0.0
    return round(100.0 * failed / done, 1)


def classify_layout(meta, existing_suffixes):
    """('bullmq', version) | ('bull', None) | (None, None) from the meta hash and which keys exist.

    ``meta``: the fields of ``<prefix>:<q>:meta`` (empty when the key is missing).
    ``existing_suffixes``: the suffixes among wait/paused/active/id/meta-paused/completed/failed/delayed that exist.
    """
    meta = meta or {}
    version = meta.get('version')
    if version and str(version).startswith('bullmq:'):
        return 'bullmq', str(version)[len('bullmq:'):]
    if 'opts.maxLenEvents' in meta:
        # BullMQ before 2.x wrote no version, but always its events option
        return 'bullmq', None
    if meta or existing_suffixes:
        # Bull 3/4: no meta hash, or one holding only `paused`; jobs in wait/paused lists, an id counter
        return 'bull', None
    return None, None


def layout_error(verb, name, prefix, layout, engine):
    if layout == 'bull':
        return QueueError(
            'Could not %s queue %s: its keys (%s:%s:*) use the Bull 3/4 layout (no `meta` hash with a BullMQ '
            'version; paused jobs in a `paused` list). runbook.ops drives queues only through the BullMQ scripts, '
            'which would corrupt a Bull 3/4 queue. Use Bull\'s own Queue API from the application, or migrate the '
            'queue to BullMQ.' % (verb, name, prefix, name))
    if engine == 'bull':
        return QueueError(
            'Could not %s queue %s: its keys use the BullMQ layout (version %s), not Bull 3/4. Set engine: bullmq.'
            % (verb, name, layout))
    return QueueError('Could not %s queue %s: unknown key layout.' % (verb, name))


def glob_escape(text):
    """Escape Redis glob characters of a literal key part."""
    out = []
    for ch in text:
        if ch in '*?[]\\':
            out.append('\\')
        out.append(ch)
    return ''.join(out)


def now_ms():
    return int(time.time() * 1000)


def error_from_redis(exc, params, verb):
    """A QueueError with an operator message for a redis-py exception (password masked)."""
    target = describe_target(params)
    text = redact(str(exc), params)
    if isinstance(exc, redis_exceptions.AuthenticationError) or 'WRONGPASS' in text or 'NOAUTH' in text or 'invalid password' in text:
        return QueueError('Could not %s: Redis at %s refused the credentials (%s). Check username and password.'
                          % (verb, target, text), target=target)
    if isinstance(exc, redis_exceptions.NoPermissionError) or 'NOPERM' in text:
        return QueueError('Could not %s: the Redis user may not run a command it needs (%s). Grant the user '
                          '+@read +@write +@scripting +client|list on the queue keys.' % (verb, text), target=target)
    if isinstance(exc, (redis_exceptions.ConnectionError, redis_exceptions.TimeoutError, OSError)):
        return QueueError('Could not %s: Redis at %s is unreachable (%s). Check host, port, tls and that the '
                          'server runs.' % (verb, target, text), target=target)
    return QueueError('Could not %s: Redis at %s answered with an error (%s).' % (verb, target, text),
                      target=target)


# ------------------------------------------------------------------------------------------ entry points

def queue_info(params, warn=None):
    warn = warn or (lambda m: None)
    names = validate_names(params['queues'])
    if params['engine'] == 'celery':
        from ansible_collections.runbook.ops.plugins.module_utils import queues_celery
        return queues_celery.celery_info(params, names, warn)
    return _run_bullmq(_bullmq_info(params, names, warn), params, 'read the queues')


def queue_control(params, check_mode=False, warn=None):
    warn = warn or (lambda m: None)
    action = params['action']
    names = validate_names(params['queues'], allow_glob=action not in GUARDED_ACTIONS)
    check_confirm(action, names, params.get('confirm'))
    for opt in ('limit', 'grace_s', 'wait_active_s', 'max_stalled_count'):
        if (params.get(opt) or 0) < 0:
            raise QueueError('Could not %s: %s must be 0 or more.' % (action, opt))
    if not 1 <= params.get('batch_size', 1000) <= 100000:
        raise QueueError('Could not %s: batch_size must be between 1 and 100000.' % action)
    if params['engine'] == 'celery':
        from ansible_collections.runbook.ops.plugins.module_utils import queues_celery
        return queues_celery.celery_control(params, names, check_mode, warn)
    return _run_bullmq(_bullmq_control(params, names, check_mode, warn), params, '%s the queues' % action)


# ------------------------------------------------------------------------------------------ BullMQ

def _run_bullmq(coro, params, verb):
    try:
        return asyncio.run(coro)
    except QueueError:
        raise
    except (redis_exceptions.RedisError, OSError) as exc:
        raise error_from_redis(exc, params, verb)


class _Session(object):
    """One asyncio Redis connection shared by the bullmq Queue objects of a run."""

    def __init__(self, params):
        self.params = params
        kwargs = client_kwargs(params)
        kwargs['decode_responses'] = True
        self.conn = redis_asyncio.Redis(**kwargs)
        self.prefix = params.get('prefix') or 'bull'
        self.queues = {}

    def queue(self, name):
        if name not in self.queues:
            # the connection is ours: bullmq's Queue.close() would close it, so it is never called
            self.queues[name] = BullQueue(name, {'connection': self.conn, 'prefix': self.prefix})
        return self.queues[name]

    def key(self, name, suffix):
        return '%s:%s:%s' % (self.prefix, name, suffix)

    async def close(self):
        try:
            await self.conn.aclose()
        except (redis_exceptions.RedisError, OSError):
            pass


LAYOUT_SUFFIXES = ('wait', 'paused', 'active', 'id', 'meta-paused', 'completed', 'failed', 'delayed')


async def _layout(s, name):
    meta = await s.conn.hgetall(s.key(name, 'meta'))
    pipe = s.conn.pipeline(transaction=False)
    for suffix in LAYOUT_SUFFIXES:
        pipe.exists(s.key(name, suffix))
    found = await pipe.execute()
    existing = [suf for suf, n in zip(LAYOUT_SUFFIXES, found) if n]
    return classify_layout(meta, existing)


async def _discover(s):
    """Queue names under the prefix: BullMQ ones (a meta hash) and Bull 3/4 ones (an id counter, no meta)."""
    found = set()
    for suffix in ('meta', 'id'):
        pattern = '%s:*:%s' % (glob_escape(s.prefix), suffix)
        async for key in s.conn.scan_iter(match=pattern, count=1000):
            middle = key[len(s.prefix) + 1:-(len(suffix) + 1)]
            if middle and ':' not in middle:
                found.add(middle)
    return sorted(found)


async def _resolve(s, names, engine, verb, warn):
    """[(name, version)] of the BullMQ queues to work on; raises for a missing or Bull-layout named queue."""
    discovering = names == ['*']
    if discovering:
        names = await _discover(s)
    chosen = []
    skipped = []
    for name in names:
        layout, version = await _layout(s, name)
        if layout is None:
            raise QueueError('Could not find queue %s: no key %s:%s:* exists on %s. Check the queue name and the '
                             'prefix option (default bull).' % (name, s.prefix, name, describe_target(s.params)))
        if layout != 'bullmq' or engine != 'bullmq':
            err = layout_error(verb, name, s.prefix, layout if layout == 'bull' else version, engine)
            if discovering:
                skipped.append({'name': name, 'reason': err.msg})
                warn(err.msg)
                continue
            raise err
        chosen.append((name, version))
    return chosen, skipped


async def _counts(q):
    counts = await q.getJobCounts(*BULLMQ_STATES)
    return dict((state, int(counts.get(state) or 0)) for state in BULLMQ_STATES)


async def _oldest_wait_s(q, now):
    jobs = await q.getJobs(['wait'], 0, 0, True)
    ages = []
    for job in jobs:
        ts = getattr(job, 'timestamp', None)
        if ts is None:
            continue
        delay = (getattr(job, 'opts', None) or {}).get('delay') or 0
        ages.append(max(0.0, (now - (int(ts) + int(delay))) / 1000.0))
    return round(max(ages), 3) if ages else None


async def _workers(q, warn):
    try:
        workers = await q.get_workers()
    except (redis_exceptions.ResponseError, redis_exceptions.NoPermissionError) as exc:
        warn('Could not list the workers of queue %s (CLIENT LIST refused: %s); workers is null.' % (q.name, exc))
        return None
    out = []
    for w in workers:
        if 'addr' not in w:
            continue
        out.append({'addr': w.get('addr'), 'age_s': int(w.get('age') or 0), 'idle_s': int(w.get('idle') or 0)})
    return out


async def _queue_record(s, name, version, window_min, warn):
    q = s.queue(name)
    now = now_ms()
    counts = await _counts(q)
    since = now - window_min * 60000
    failed_recent = await s.conn.zcount(s.key(name, 'failed'), since, '+inf')
    completed_recent = await s.conn.zcount(s.key(name, 'completed'), since, '+inf')
    workers = await _workers(q, warn)
    waiting = counts.get('wait', 0) + counts.get('prioritized', 0) + counts.get('paused', 0)
    return {
        'name': name,
        'engine': 'bullmq',
        'layout_version': version,
        'counts': counts,
        'waiting': waiting,
        'paused': bool(await q.isPaused()),
        'oldest_wait_s': await _oldest_wait_s(q, now),
        'failed_recent': failed_recent,
        'completed_recent': completed_recent,
        'failed_rate_pct': failed_rate_pct(failed_recent, completed_recent),
        'workers': None if workers is None else len(workers),
        'worker_list': workers,
    }


async def _bullmq_info(params, names, warn):
    s = _Session(params)
    try:
        await s.conn.ping()
        chosen, skipped = await _resolve(s, names, params['engine'], 'read', warn)
        records = [await _queue_record(s, n, v, params.get('failed_window_min') or 60, warn) for n, v in chosen]
    finally:
        await s.close()
    return {'changed': False, 'engine': params['engine'], 'queues': records, 'skipped_queues': skipped,
            'target': describe_target(params), 'failed_window_min': params.get('failed_window_min') or 60}


async def _wait_active(s, q, seconds):
    """Wait (bounded) until the queue has no active job; returns the active count left."""
    deadline = time.monotonic() + seconds
    while True:
        active = (await q.getJobCounts('active')).get('active', 0)
        if active == 0 or time.monotonic() >= deadline:
            return active
        await asyncio.sleep(0.25)


async def _stalled_candidates(s, name):
    """Ids of active jobs whose lock key is gone (no worker holds them)."""
    ids = await s.conn.lrange(s.key(name, 'active'), 0, -1)
    if not ids:
        return []
    pipe = s.conn.pipeline(transaction=False)
    for jid in ids:
        pipe.exists(s.key(name, '%s:lock' % jid))
    locks = await pipe.execute()
    return [jid for jid, has in zip(ids, locks) if not has]


async def _remove_stalled(s, q, name, max_stalled_count):
    """Run BullMQ's own stalled-job check twice: the first marks the active jobs, the second moves the ones
    still without a lock back to wait. A check that a worker ran less than its interval ago blocks ours
    (the script returns nothing while its `stalled-check` key lives), so wait that key out (bounded)."""
    moved = []
    check_key = s.key(name, 'stalled-check')
    for _round in range(2):
        deadline = time.monotonic() + 60
        while await s.conn.exists(check_key):
            if time.monotonic() >= deadline:
                raise QueueError('Could not remove the stalled jobs of queue %s: a worker ran its own stalled check '
                                 'and keeps it locked for over 60 s; live workers recover stalled jobs themselves.'
                                 % name)
            pttl = await s.conn.pttl(check_key)
            await asyncio.sleep(min(max(pttl, 10), 1000) / 1000.0)
        moved.extend(await q.backend.moveStalledJobsToWait(max_stalled_count, 1) or [])
        await asyncio.sleep(0.01)
    return sorted(set(moved), key=lambda x: (len(x), x))


async def _move_in_batches(call, limit, batch):
    """Call a BullMQ move script (retryJobs/promoteJobs) in batches until done or limit reached."""
    moved_calls = 0
    remaining = limit if limit else None
    while True:
        count = batch if remaining is None else min(batch, remaining)
        if count <= 0:
            break
        more = await call(count)
        moved_calls += 1
        if remaining is not None:
            remaining -= count
        if not more or more in (0, '0'):
            break
    return moved_calls


# BullMQ clean script calls kept in flight at once: while Redis runs one call, the reply of the other is read and
# the next call is already queued, so Redis is never idle between calls (a round trip, the reply's parsing and the
# event loop's turn no longer add to every batch). Each call is still the library's one atomic script over at most
# batch_size jobs; another client waits at most for the call running and the one queued behind it.
CLEAN_IN_FLIGHT = 2


async def _clean_in_batches(call, limit, batch, in_flight=None):
    """Run ``call(n)`` (one BullMQ clean script over up to n jobs, returning the removed ids) until a call removes
    fewer than it was asked (nothing left) or ``limit`` jobs (0: no limit) were asked for, with up to ``in_flight``
    calls outstanding on their own connections. Returns how many jobs were removed.

    Calls are atomic and each takes the oldest jobs still there, so concurrent calls never remove a job twice; the
    jobs asked for never exceed ``limit``. On an error the outstanding calls are awaited and the error raised."""
    in_flight = in_flight or CLEAN_IN_FLIGHT
    removed, asked, done = 0, 0, False
    pending = set()
    try:
        while True:
            while not done and len(pending) < in_flight and (not limit or asked < limit):
                n = batch if not limit else min(batch, limit - asked)
                asked += n
                pending.add(asyncio.ensure_future(_sized(call, n)))
            if not pending:
                return removed
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                ids, n = task.result()
                removed += len(ids)
                if len(ids) < n:
                    done = True
    finally:
        if pending:
            await asyncio.wait(pending)
            for task in pending:
                task.exception()  # retrieved: the first error is the one raised


async def _sized(call, n):
    return (await call(n)) or [], n


async def _bullmq_action(s, params, name, check_mode, warn):
    action = params['action']
    q = s.queue(name)
    before = await _counts(q)
    rec = {'name': name, 'action': action, 'changed': False, 'affected': 0, 'counts_before': before}
    limit, batch = params.get('limit') or 0, params.get('batch_size') or 1000
    if action in ('pause', 'resume'):
        paused = bool(await q.isPaused())
        want = action == 'pause'
        rec['paused_before'] = paused
        if paused != want:
            rec['changed'] = True
            rec['affected'] = before.get('wait', 0) + before.get('prioritized', 0) + before.get('paused', 0)
            if not check_mode:
                await (q.pause() if want else q.resume())
        if want and params.get('wait_active_s') and not check_mode:
            left = await _wait_active(s, q, params['wait_active_s'])
            rec['active_left'] = left
            if left:
                raise QueueError('Could not drain queue %s: %d job(s) still active after %d s; the queue stays '
                                 'paused. Resume it (action: resume) or wait longer (wait_active_s).'
                                 % (name, left, params['wait_active_s']), queues=[rec])
        rec['paused'] = want if (rec['changed'] and not check_mode) else paused
    elif action == 'clean':
        state, grace_ms = params['state'], (params.get('grace_s') or 0) * 1000
        older = await s.conn.zcount(s.key(name, state), '-inf', now_ms() - grace_ms)
        rec['affected'] = min(older, limit) if limit else older
        rec['changed'] = rec['affected'] > 0
        if rec['changed'] and not check_mode:
            removed = await _clean_in_batches(lambda n: q.clean(grace_ms, n, state), limit, batch)
            rec['affected'] = removed
            rec['changed'] = removed > 0
    elif action == 'retry':
        failed = before.get('failed', 0)
        rec['affected'] = min(failed, limit) if limit else failed
        rec['changed'] = rec['affected'] > 0
        if rec['changed'] and not check_mode:
            ts = now_ms()
            await _move_in_batches(lambda n: q.backend.retryJobs('failed', n, ts), limit, batch)
            after = await _counts(q)
            rec['affected'] = max(0, failed - after.get('failed', 0))
    elif action == 'promote':
        delayed = before.get('delayed', 0)
        rec['affected'] = min(delayed, limit) if limit else delayed
        rec['changed'] = rec['affected'] > 0
        if rec['changed'] and not check_mode:
            await _move_in_batches(q.backend.promoteJobs, limit, batch)
            after = await _counts(q)
            rec['affected'] = max(0, delayed - after.get('delayed', 0))
    elif action == 'remove_stalled':
        candidates = await _stalled_candidates(s, name)
        rec['affected'] = len(candidates)
        rec['changed'] = bool(candidates)
        rec['job_ids'] = candidates
        if candidates and not check_mode:
            moved = await _remove_stalled(s, q, name, params.get('max_stalled_count', 1))
            rec['job_ids'] = moved
            rec['affected'] = len(moved)
            rec['changed'] = bool(moved)
    elif action in GUARDED_ACTIONS:
        delayed = params.get('include_delayed')
        rec['affected'] = (before.get('wait', 0) + before.get('prioritized', 0) + before.get('paused', 0)
                           + (before.get('delayed', 0) if delayed else 0))
        rec['changed'] = rec['affected'] > 0
        if rec['changed'] and not check_mode:
            await q.drain(bool(delayed))
    rec['counts_after'] = before if check_mode else await _counts(q)
    return rec


async def _bullmq_control(params, names, check_mode, warn):
    s = _Session(params)
    records = []
    try:
        await s.conn.ping()
        chosen, skipped = await _resolve(s, names, params['engine'], params['action'], warn)
        for name, _version in chosen:
            try:
                records.append(await _bullmq_action(s, params, name, check_mode, warn))
            except QueueError as exc:
                exc.result['queues'] = records + exc.result.get('queues', [])
                raise
    finally:
        await s.close()
    return {'changed': any(r['changed'] for r in records), 'engine': params['engine'], 'action': params['action'],
            'queues': records, 'skipped_queues': skipped, 'affected': sum(r['affected'] for r in records),
            'target': describe_target(params), 'note': None}


def sync_client(params):
    """A redis-py client for the Celery side and for pre-flight checks."""
    return make_client(params)
