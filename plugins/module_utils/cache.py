# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Delete Redis keys without blocking the server: the logic of runbook.ops.cache_flush.

A pattern delete walks the keyspace with ``SCAN MATCH pattern COUNT batch_size`` and
removes what each call returned with a multi-key ``UNLINK``, sent in the same pipeline
as the next ``SCAN``: one round trip per batch, no command that runs for long on the
server (never ``KEYS``).  ``UNLINK`` frees large values in a background thread.

Whole databases are dropped with ``FLUSHDB``/``FLUSHALL`` (``ASYNC`` by default).

Redis Cluster: when the server reports ``cluster_enabled:1`` the primaries are found
with ``redis.cluster.RedisCluster`` and each one is scanned in turn; the keys of a batch
are grouped by hash slot, one ``UNLINK`` per slot, because a multi-key command may not
cross slots.

Key names are bytes (``decode_responses=False``): binary and non-UTF-8 names are deleted
like any other, and are returned escaped (``escape_key``) so results stay valid text.
"""

from __future__ import annotations

import time

from ansible_collections.runbook.ops.plugins.module_utils.redis_client import (
    client_kwargs,
    describe_target,
    make_client,
    redact,
)

try:
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.crc import key_slot
    from redis.retry import Retry
    from redis.exceptions import (
        AskError,
        AuthenticationError,
        ClusterError,
        ConnectionError as RedisConnectionError,
        NoPermissionError,
        RedisClusterException,
        RedisError,
        ResponseError,
        TimeoutError as RedisTimeoutError,
        TryAgainError,
    )
except ImportError:  # reported by the module through redis_client.HAS_REDIS
    redis = None

    class RedisError(Exception):
        """Stand-in so that ``except`` clauses stay valid without redis-py."""

    class RedisClusterException(Exception):
        """Stand-in (not a RedisError in redis-py either)."""

    AuthenticationError = RedisConnectionError = NoPermissionError = RedisError
    AskError = ClusterError = TryAgainError = RedisError
    ResponseError = RedisTimeoutError = RedisError

    def key_slot(key):
        raise NotImplementedError('redis-py is required')

    Retry = ExponentialBackoff = None


FLUSH_MODES = ('db', 'all')
CLUSTER_MODES = ('auto', 'always', 'never')
# How long to wait, after deleting, for the server's lazy-free thread to release memory
# before reading used_memory again (bounded; the numbers are informative only).
MEMORY_SETTLE_SECONDS = 5.0
MEMORY_SETTLE_STEP = 0.05


def cache_flush_argument_spec():
    """The options of runbook.ops.cache_flush beyond the shared connection options."""
    return dict(
        pattern=dict(type='str'),
        flush=dict(type='str', choices=list(FLUSH_MODES)),
        batch_size=dict(type='int', default=1000),
        max_keys=dict(type='int', default=0, no_log=False),
        throttle_ms=dict(type='int', default=0),
        sample_size=dict(type='int', default=10),
        cluster=dict(type='str', default='auto', choices=list(CLUSTER_MODES)),
        **{'async': dict(type='bool', default=True)}
    )


class CacheFlushError(Exception):
    """A failure with a message ready for ``fail_json`` (password already removed)."""

    def __init__(self, msg, **result):
        super().__init__(msg)
        self.msg = msg
        self.result = result


def escape_key(key, limit=200):
    """A key name (bytes) as printable text.

    Valid UTF-8 printable characters are kept, a backslash becomes ``\\\\``, any other
    byte becomes ``\\xNN``.  Names longer than ``limit`` bytes are cut and end with ``...``.
    """
    if isinstance(key, str):
        key = key.encode('utf-8', 'surrogateescape')
    cut = len(key) > limit
    text = key[:limit].decode('utf-8', 'surrogateescape')
    out = []
    for ch in text:
        code = ord(ch)
        if ch == '\\':
            out.append('\\\\')
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
            out.append('\\x%02x' % (code - 0xDC00))
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x100:
            out.append('\\x%02x' % code)
        else:
            out.append('\\u%04x' % code if code < 0x10000 else '\\U%08x' % code)
    return ''.join(out) + ('...' if cut else '')


def validate_params(params):
    """Checks the argspec cannot express; raises CacheFlushError."""
    pattern = params.get('pattern')
    if params.get('flush') is None and pattern is not None and pattern == '':
        raise CacheFlushError(
            'Could not flush cache: the pattern is empty. Give a glob such as "cache:*", '
            '"*" for every key of the db, or use flush=db / flush=all.')
    if params.get('flush') is None and pattern is None:
        raise CacheFlushError('Could not flush cache: neither pattern nor flush is set. Set one of them.')
    if params.get('db') is not None and params['db'] < 0:
        raise CacheFlushError(
            'Could not flush cache: invalid db index %d. Use a db index of 0 or more.' % params['db'])
    for name, low in (('batch_size', 1), ('max_keys', 0), ('throttle_ms', 0), ('sample_size', 0)):
        value = params.get(name)
        if value is not None and value < low:
            raise CacheFlushError('Could not flush cache: %s=%d is out of range. Use %d or more.'
                                  % (name, value, low))
    if params.get('batch_size') and params['batch_size'] > 100000:
        raise CacheFlushError('Could not flush cache: batch_size=%d is too large (it is also the size of one '
                              'UNLINK, which blocks the server while it runs). Use 100000 or less.'
                              % params['batch_size'])


def _is_unknown_command(exc):
    text = str(exc).lower()
    return 'unknown command' in text or 'unknown subcommand' in text


class CacheFlusher(object):
    """One cache_flush run: connect, count, refuse or delete, report.

    ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(self, params, check_mode=False, clock=time.monotonic, sleep=time.sleep, warn=None):
        self.params = params
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.warn = warn or (lambda msg: None)
        self.target = describe_target(params)
        self.db = int(params.get('db') or 0)
        self.batch_size = int(params.get('batch_size') or 1000)
        self.max_keys = int(params.get('max_keys') or 0)
        self.throttle = max(0, int(params.get('throttle_ms') or 0)) / 1000.0
        self.sample_size = int(params.get('sample_size') if params.get('sample_size') is not None else 10)
        self.flush = params.get('flush')
        self.pattern = params.get('pattern')
        self.use_async = params.get('async', True) is not False
        self.cluster = False
        self.nodes = []          # [(name, redis.Redis)], the primaries to work on
        self.unlink_cmd = 'UNLINK'
        self.memory_available = True
        self.deleted = 0
        self.matched = 0
        self.batches = 0
        self.sample = []

    # -- errors ---------------------------------------------------------------------------------

    def _fail(self, verb, exc, hint):
        cause = redact(exc, self.params).rstrip('. ') or type(exc).__name__
        extra = {}
        if self.deleted:
            hint = '%d keys were deleted before the error; run again to finish. %s' % (self.deleted, hint)
            extra = dict(deleted=self.deleted, changed=True)
        raise CacheFlushError('Could not %s on %s: %s. %s' % (verb, self.target, cause, hint), **extra)

    def _fail_redis(self, verb, exc, denied_hint):
        """Translate a redis-py exception into a CacheFlushError (raises)."""
        if isinstance(exc, AuthenticationError) or 'WRONGPASS' in str(exc) or 'NOAUTH' in str(exc):
            self._fail(verb, exc, 'Check username and password (the password is not shown).')
        if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
            self._fail(verb, exc, 'Check host, port and tls, and that redis-server is running and reachable.')
        if 'DB index is out of range' in str(exc) or 'SELECT is not allowed in cluster mode' in str(exc):
            self._fail('select db %d' % self.db, exc,
                       'Invalid db index %d: use a db index below the server\'s "databases" '
                       'setting (16 by default; Redis Cluster only has db 0).' % self.db)
        if isinstance(exc, NoPermissionError) or str(exc).startswith('NOPERM'):
            self._fail(verb, exc, denied_hint)
        if isinstance(exc, (AskError, ClusterError, TryAgainError)) or 'CROSSSLOT' in str(exc):
            self._fail(verb, exc, 'The cluster is resharding or down: run again once its slots are stable.')
        self._fail(verb, exc, 'Check the server log.')

    # -- connection -----------------------------------------------------------------------------

    def connect(self):
        mode = self.params.get('cluster') or 'auto'
        try:
            # two quick retries on a dropped connection, not redis-py's default of seconds of backoff
            client = make_client(self.params, decode_responses=False,
                                 retry=Retry(ExponentialBackoff(cap=1.0, base=0.1), 2))
            client.ping()
            enabled = False
            if mode == 'auto':
                try:
                    enabled = bool(int(client.info('cluster').get('cluster_enabled', 0)))
                except NoPermissionError:
                    enabled = False
            else:
                enabled = mode == 'always'
            if not enabled:
                self.nodes = [(self.target, client)]
                return
            client.close()
            if self.db != 0:
                raise CacheFlushError(
                    'Could not flush cache on %s: invalid db index %d, Redis Cluster only has db 0. '
                    'Set db to 0.' % (self.target, self.db))
            kwargs = client_kwargs(self.params)
            kwargs.pop('db', None)
            cluster = redis.cluster.RedisCluster(decode_responses=False, **kwargs)
            self.cluster = True
            self.nodes = [('%s:%s' % (node.host, node.port), cluster.get_redis_connection(node))
                          for node in cluster.get_primaries()]
        except CacheFlushError:
            raise
        except RedisClusterException as exc:
            self._fail('discover the Redis Cluster primaries', exc,
                       'Set cluster=never to work on this one server, or make every primary reachable from here.')
        except RedisError as exc:
            self._fail_redis('connect to Redis', exc,
                             'The user may not run PING or CLUSTER commands: grant them, or set cluster=never.')

    def close(self):
        for dummy, client in self.nodes:
            try:
                client.close()
            except Exception:  # pylint: disable=broad-except
                pass

    # -- measurements ---------------------------------------------------------------------------

    def used_memory(self):
        """Sum of used_memory over the nodes; None when INFO is not allowed."""
        if not self.memory_available:
            return None
        total = 0
        try:
            for dummy, client in self.nodes:
                total += int(client.info('memory').get('used_memory', 0))
        except NoPermissionError:
            self.memory_available = False
            self.warn('INFO is not allowed for this user: used_memory is not reported.')
            return None
        return total

    def settle_memory(self):
        """Wait (bounded) for the lazy-free thread to release what UNLINK/ASYNC handed it."""
        if not self.memory_available:
            return
        deadline = self.clock() + MEMORY_SETTLE_SECONDS
        while self.clock() < deadline:
            try:
                pending = sum(int(client.info('memory').get('lazyfree_pending_objects', 0))
                              for dummy, client in self.nodes)
            except RedisError:
                return
            if pending == 0:
                return
            self.sleep(MEMORY_SETTLE_STEP)

    def _take_sample(self, keys):
        room = self.sample_size - len(self.sample)
        if room > 0 and keys:
            self.sample.extend(escape_key(k) for k in keys[:room])

    # -- pattern --------------------------------------------------------------------------------

    def _match(self):
        return self.pattern.encode('utf-8', 'surrogateescape')

    def count_pattern(self, limit=0):
        """Count the matching keys with SCAN only; stop once more than ``limit`` (> 0) are seen."""
        match = self._match()
        count = 0
        for dummy, client in self.nodes:
            cursor = 0
            while True:
                cursor, keys = client.scan(cursor, match=match, count=self.batch_size)
                self.batches += 1
                count += len(keys)
                self._take_sample(keys)
                if limit and count > limit:
                    return count
                if int(cursor) == 0:
                    break
        return count

    def _queue_unlink(self, pipe, keys):
        """Queue the UNLINK commands for ``keys`` (grouped by slot on a cluster); return how many."""
        if self.cluster:
            by_slot = {}
            for key in keys:
                by_slot.setdefault(key_slot(key), []).append(key)
            groups = list(by_slot.values())
        else:
            groups = [keys[i:i + self.batch_size] for i in range(0, len(keys), self.batch_size)]
        for group in groups:
            pipe.execute_command(self.unlink_cmd, *group)
        return len(groups)

    def _unlink_round(self, client, pending, cursor):
        """One round trip: UNLINK ``pending`` and, unless ``cursor`` is None, SCAN from ``cursor``."""
        pipe = client.pipeline(transaction=False)
        queued = self._queue_unlink(pipe, pending) if pending else 0
        if cursor is not None:
            pipe.scan(cursor, match=self._match(), count=self.batch_size)
        replies = pipe.execute()
        self.deleted += sum(int(n) for n in replies[:queued])
        return replies[queued] if cursor is not None else None

    def delete_pattern(self):
        for dummy, client in self.nodes:
            cursor, pending = 0, []
            while True:
                cursor, keys = self._unlink_round(client, pending, cursor)
                self.batches += 1
                self.matched += len(keys)
                self._take_sample(keys)
                pending = keys
                if int(cursor) == 0:
                    break
                if self.throttle and pending:
                    self.sleep(self.throttle)
            if pending:
                self._unlink_round(client, pending, None)

    # -- whole databases ------------------------------------------------------------------------

    def count_dbs(self):
        """Keys in the db (flush=db) or in every db (flush=all), and a sample."""
        total = 0
        for dummy, client in self.nodes:
            if self.flush == 'db':
                total += int(client.dbsize())
                self._sample_db(client)
            else:
                keyspace = client.info('keyspace')
                for name, stats in sorted(keyspace.items()):
                    keys = int(stats.get('keys', 0)) if isinstance(stats, dict) else 0
                    total += keys
                    if keys and len(self.sample) < self.sample_size:
                        index = int(str(name).replace('db', ''))
                        if index == self.db or self.cluster:
                            self._sample_db(client)
                        else:
                            other = make_client(self.params, db=index, decode_responses=False)
                            try:
                                self._sample_db(other)
                            finally:
                                other.close()
        return total

    def _sample_db(self, client):
        if len(self.sample) >= self.sample_size:
            return
        cursor = 0
        for dummy in range(10):  # a few SCAN calls are enough for a sample
            cursor, keys = client.scan(cursor, count=max(self.sample_size, 10))
            self._take_sample(keys)
            if int(cursor) == 0 or len(self.sample) >= self.sample_size:
                return

    def flush_dbs(self):
        command = 'FLUSHDB' if self.flush == 'db' else 'FLUSHALL'
        args = [command] + (['ASYNC'] if self.use_async else [])
        for name, client in self.nodes:
            try:
                client.execute_command(*args)
            except ResponseError as exc:
                if _is_unknown_command(exc) or isinstance(exc, NoPermissionError) or 'NOPERM' in str(exc):
                    raise CacheFlushError(
                        'Could not flush %s on %s: %s is disabled or renamed on this server (rename-command), '
                        'or this user may not run it (%s). Use pattern: "*" instead: it deletes every key '
                        'of the db with SCAN + UNLINK, which needs no FLUSH command.'
                        % ('db %d' % self.db if self.flush == 'db' else 'all dbs', name, command,
                           redact(exc, self.params)))
                raise
        self.deleted = self.matched

    # -- the run --------------------------------------------------------------------------------

    def _refuse_over_cap(self, count, exact=True):
        if not self.max_keys or count <= self.max_keys:
            return
        if self.flush is None:
            what = 'keys match pattern "%s"' % escape_key(self.pattern)
        elif self.flush == 'db':
            what = 'keys are in db %d' % self.db
        else:
            what = 'keys are in all dbs'
        raise CacheFlushError(
            'Could not flush cache on %s: %s%d %s, more than max_keys=%d; nothing was deleted. '
            'Narrow the pattern or raise max_keys (0 = no cap).'
            % (self.target, '' if exact else 'at least ', count, what, self.max_keys),
            matched=count, deleted=0, changed=False)

    def run(self):
        validate_params(self.params)
        started = self.clock()
        self.connect()
        try:
            return self._run(started)
        finally:
            self.close()

    def _run(self, started):
        verb = 'delete keys matching "%s"' % escape_key(self.pattern or '') if self.flush is None else (
            'flush db %d' % self.db if self.flush == 'db' else 'flush all dbs')
        try:
            memory_before = self.used_memory()
            if self.flush is None:
                if self.check_mode:
                    self.matched = self.count_pattern(limit=0)
                    self._refuse_over_cap(self.matched)
                else:
                    if self.max_keys:
                        self._refuse_over_cap(self.count_pattern(limit=self.max_keys), exact=False)
                        self.sample = []
                    try:
                        self.delete_pattern()
                    except ResponseError as exc:
                        if self.unlink_cmd == 'UNLINK' and _is_unknown_command(exc) and 'unlink' in str(exc).lower():
                            self.unlink_cmd = 'DEL'  # Redis < 4.0
                            self.warn('UNLINK is not available on this server: keys are deleted with DEL.')
                            self.delete_pattern()
                        else:
                            raise
            else:
                self.matched = self.count_dbs()
                self._refuse_over_cap(self.matched)
                if not self.check_mode and self.matched:
                    self.flush_dbs()
            duration_ms = int(round((self.clock() - started) * 1000))
            if self.deleted and not self.check_mode:
                self.settle_memory()
            memory_after = self.used_memory()
        except CacheFlushError:
            raise
        except RedisError as exc:
            self._fail_redis(verb, exc, 'This user may not run a command the flush needs (SCAN, UNLINK, '
                                        'DBSIZE, INFO, FLUSHDB/FLUSHALL): grant it, or use pattern: "*" '
                                        'when only FLUSH commands are denied.')
        freed = None
        if memory_before is not None and memory_after is not None:
            freed = max(0, memory_before - memory_after)
        mode = 'pattern' if self.flush is None else self.flush
        result = dict(
            changed=(self.matched > 0) if self.check_mode else (self.deleted > 0),
            mode=mode,
            matched=self.matched,
            deleted=0 if self.check_mode else self.deleted,
            sample=self.sample,
            duration_ms=duration_ms,
            batches=self.batches,
            used_memory_before=memory_before,
            used_memory_after=memory_after,
            freed=freed,
            cluster=self.cluster,
            nodes=[name for name, dummy in self.nodes],
            target=self.target,
        )
        if mode == 'pattern':
            result['pattern'] = self.pattern
        else:
            result['async'] = self.use_async
        return result


def cache_flush(params, check_mode=False, warn=None):
    """Run one flush; returns the result dict or raises CacheFlushError."""
    return CacheFlusher(params, check_mode=check_mode, warn=warn).run()
