# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for runbook.ops.cache_flush: module_utils/cache.py against a fake Redis client
that records every command, and the module's argument handling."""
from __future__ import annotations

import fnmatch
import json
import types

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import cache
from ansible_collections.runbook.ops.plugins.module_utils.cache import (
    CacheFlushError,
    CacheFlusher,
    escape_key,
    validate_params,
)
from redis.exceptions import AuthenticationError, ConnectionError as RedisConnectionError, NoPermissionError, ResponseError

SECRET = 'S3cr3t-pass-do-not-print'


class FakePipe(object):
    def __init__(self, client):
        self.client = client
        self.queued = []

    def execute_command(self, *args):
        self.queued.append(('cmd', args))

    def scan(self, cursor, match=None, count=None):
        self.queued.append(('scan', (cursor, match, count)))

    def execute(self):
        self.client.log.append(('PIPELINE', [q[1][0] if q[0] == 'cmd' else 'SCAN' for q in self.queued]))
        out = []
        for kind, args in self.queued:
            out.append(self.client.execute_command(*args) if kind == 'cmd' else self.client.scan(*args))
        return out


class FakeRedis(object):
    """Just enough of redis.Redis: a bytes keyspace, SCAN in pages of ``count`` keys."""

    def __init__(self, keys=(), cluster_enabled=0, fail=None, name='node'):
        self.keys = dict((k, b'v') for k in keys)
        self.order = list(self.keys)
        self.log = []
        self.cluster_enabled = cluster_enabled
        self.fail = fail or {}       # command -> exception to raise
        self.name = name
        self.used_memory = 1000 + 10 * len(self.keys)
        self.closed = False

    def _maybe_fail(self, command):
        exc = self.fail.get(command)
        if exc is not None:
            raise exc

    def ping(self):
        self._maybe_fail('PING')
        return True

    def info(self, section):
        self._maybe_fail('INFO')
        self.log.append(('INFO', section))
        if section == 'cluster':
            return {'cluster_enabled': self.cluster_enabled}
        if section == 'memory':
            return {'used_memory': 1000 + 10 * len(self.keys), 'lazyfree_pending_objects': 0}
        if section == 'keyspace':
            return {'db0': {'keys': len(self.keys), 'expires': 0, 'avg_ttl': 0}} if self.keys else {}
        raise AssertionError(section)

    def dbsize(self):
        self._maybe_fail('DBSIZE')
        return len(self.keys)

    def scan(self, cursor=0, match=None, count=None):
        self._maybe_fail('SCAN')
        self.log.append(('SCAN', int(cursor), match, count))
        page = self.order[int(cursor):int(cursor) + count]
        nxt = int(cursor) + count
        if nxt >= len(self.order):
            nxt = 0
        found = [k for k in page if k in self.keys and (match is None or fnmatch.fnmatchcase(k, match))]
        return nxt, found

    def pipeline(self, transaction=True):
        assert transaction is False
        return FakePipe(self)

    def execute_command(self, *args):
        command = args[0]
        self._maybe_fail(command)
        self.log.append(tuple(args))
        if command in ('UNLINK', 'DEL'):
            return sum(1 for k in args[1:] if self.keys.pop(k, None) is not None)
        if command in ('FLUSHDB', 'FLUSHALL'):
            self.keys.clear()
            return b'OK'
        raise AssertionError(args)

    def close(self):
        self.closed = True

    def commands(self, name):
        return [entry for entry in self.log if entry[0] == name]


def params(**kw):
    p = dict(host='127.0.0.1', port=6379, db=0, username=None, password=None, tls=False, validate_certs=True,
             ca_cert=None, client_cert=None, client_key=None, socket_timeout=10.0, pattern=None, flush=None,
             batch_size=1000, max_keys=0, throttle_ms=0, sample_size=10, cluster='auto')
    p['async'] = True
    p.update(kw)
    return p


@pytest.fixture
def fake(monkeypatch):
    """Patch make_client to return one FakeRedis; the test fills it."""
    holder = {}

    def make(prms, **extra):
        assert extra.get('decode_responses') is False
        return holder['client']

    monkeypatch.setattr(cache, 'make_client', make)

    def install(client):
        holder['client'] = client
        return client
    return install


def keyset(n, prefix=b'cache:'):
    return [prefix + str(i).encode() for i in range(n)]


# -- escape_key ---------------------------------------------------------------------------------

@pytest.mark.parametrize('raw, text', [
    (b'cache:1', 'cache:1'),
    (b'caf\xc3\xa9', u'caf\xe9'),
    (b'\xff\xfe', '\\xff\\xfe'),
    (b'a\x00b', 'a\\x00b'),
    (b'back\\slash', 'back\\\\slash'),
    (b'tab\there\n', 'tab\\x09here\\x0a'),
    (b'\xe2\x80\xae', '\\u202e'),      # right-to-left override: never printed raw
])
def test_escape_key(raw, text):
    assert escape_key(raw) == text
    json.dumps(escape_key(raw))  # always valid text for Ansible's JSON


def test_escape_key_cuts_long_names():
    assert escape_key(b'k' * 500, limit=10) == 'k' * 10 + '...'


# -- validation ---------------------------------------------------------------------------------

def test_empty_pattern_is_refused():
    with pytest.raises(CacheFlushError) as err:
        validate_params(params(pattern=''))
    assert err.value.msg.startswith('Could not flush cache: the pattern is empty.')
    assert '"*"' in err.value.msg


@pytest.mark.parametrize('kw, expected', [
    (dict(pattern='x', db=-1), 'invalid db index -1'),
    (dict(pattern='x', batch_size=0), 'batch_size=0 is out of range'),
    (dict(pattern='x', batch_size=200000), 'batch_size=200000 is too large'),
    (dict(pattern='x', max_keys=-5), 'max_keys=-5 is out of range'),
    (dict(pattern='x', throttle_ms=-1), 'throttle_ms=-1 is out of range'),
    (dict(), 'neither pattern nor flush is set'),
])
def test_validation_messages(kw, expected):
    with pytest.raises(CacheFlushError) as err:
        validate_params(params(**kw))
    assert expected in err.value.msg


# -- pattern deletes ----------------------------------------------------------------------------

def test_pattern_delete_pipelines_unlink_with_next_scan(fake):
    interleaved = [k for pair in zip(keyset(20), keyset(20, b'other:')) for k in pair]
    client = fake(FakeRedis(interleaved))
    result = CacheFlusher(params(pattern='cache:*', batch_size=10)).run()
    assert result['deleted'] == 20 and result['matched'] == 20 and result['changed'] is True
    assert sorted(client.keys) == sorted(keyset(20, b'other:'))
    scans = client.commands('SCAN')
    assert all(s[2] == b'cache:*' and s[3] == 10 for s in scans)
    assert len(scans) == 4 and result['batches'] == 4
    pipes = [entry[1] for entry in client.commands('PIPELINE')]
    # the first round trip only scans; then each UNLINK travels with the next SCAN; a last UNLINK alone
    assert pipes == [['SCAN'], ['UNLINK', 'SCAN'], ['UNLINK', 'SCAN'], ['UNLINK', 'SCAN'], ['UNLINK']]
    assert 'KEYS' not in [entry[0] for entry in client.log]
    unlinks = client.commands('UNLINK')
    assert unlinks[0] == ('UNLINK',) + tuple(keyset(5))
    assert client.closed


def test_pattern_delete_idempotent_second_run(fake):
    fake(FakeRedis(keyset(5)))
    CacheFlusher(params(pattern='cache:*')).run()
    again = CacheFlusher(params(pattern='cache:*')).run()
    assert again['changed'] is False and again['deleted'] == 0 and again['matched'] == 0


def test_unlink_is_split_at_batch_size_when_scan_returns_more(fake, monkeypatch):
    client = fake(FakeRedis(keyset(7)))
    real_scan = client.scan

    def scan(cursor=0, match=None, count=None):
        return real_scan(cursor, match, 100)  # SCAN's COUNT is only a hint
    client.scan = scan
    result = CacheFlusher(params(pattern='cache:*', batch_size=3)).run()
    assert result['deleted'] == 7
    assert [len(u) - 1 for u in client.commands('UNLINK')] == [3, 3, 1]


def test_check_mode_counts_and_samples_but_deletes_nothing(fake):
    client = fake(FakeRedis(keyset(30) + [b'other']))
    result = CacheFlusher(params(pattern='cache:*', batch_size=7, sample_size=4), check_mode=True).run()
    assert result['changed'] is True and result['matched'] == 30 and result['deleted'] == 0
    assert result['sample'] == ['cache:0', 'cache:1', 'cache:2', 'cache:3']
    assert len(client.keys) == 31
    assert not client.commands('UNLINK') and not client.commands('PIPELINE')


def test_check_mode_with_nothing_to_delete_is_not_changed(fake):
    fake(FakeRedis([b'other']))
    result = CacheFlusher(params(pattern='cache:*'), check_mode=True).run()
    assert result['changed'] is False and result['matched'] == 0


def test_max_keys_refuses_before_deleting_anything(fake):
    client = fake(FakeRedis(keyset(50)))
    with pytest.raises(CacheFlushError) as err:
        CacheFlusher(params(pattern='cache:*', max_keys=20, batch_size=10)).run()
    assert err.value.msg == (
        'Could not flush cache on redis://127.0.0.1:6379/0: at least 30 keys match pattern "cache:*", '
        'more than max_keys=20; nothing was deleted. Narrow the pattern or raise max_keys (0 = no cap).')
    assert err.value.result == {'matched': 30, 'deleted': 0, 'changed': False}
    assert len(client.keys) == 50
    assert not client.commands('UNLINK')
    # counting stopped at the cap: 3 SCANs of 10, not the whole keyspace
    assert len(client.commands('SCAN')) == 3


def test_max_keys_at_the_cap_deletes(fake):
    client = fake(FakeRedis(keyset(20)))
    result = CacheFlusher(params(pattern='cache:*', max_keys=20, batch_size=10)).run()
    assert result['deleted'] == 20 and not client.keys


def test_max_keys_in_check_mode_reports_exact_count(fake):
    fake(FakeRedis(keyset(50)))
    with pytest.raises(CacheFlushError) as err:
        CacheFlusher(params(pattern='cache:*', max_keys=20), check_mode=True).run()
    assert ': 50 keys match pattern' in err.value.msg


def test_throttle_sleeps_only_after_batches_that_deleted(fake):
    fake(FakeRedis(keyset(20) + keyset(40, b'zz:')))
    slept = []
    flusher = CacheFlusher(params(pattern='cache:*', batch_size=10, throttle_ms=25), sleep=slept.append)
    result = flusher.run()
    assert result['deleted'] == 20
    # 6 SCANs: two return keys, the empty pages of zz:* keys are not followed by a sleep
    assert slept == [0.025, 0.025]


def test_falls_back_to_del_without_unlink(fake):
    client = fake(FakeRedis(keyset(5), fail={'UNLINK': ResponseError("unknown command 'UNLINK', with args")}))
    warnings = []
    result = CacheFlusher(params(pattern='cache:*'), warn=warnings.append).run()
    assert result['deleted'] == 5 and client.commands('DEL')
    assert warnings == ['UNLINK is not available on this server: keys are deleted with DEL.']


def test_hostile_pattern_goes_to_scan_verbatim_as_bytes(fake):
    client = fake(FakeRedis([b'a[b', b'a\\b', b'*', b'plain']))
    for pattern in ('[', '\\', 'a\\[b', '*\x00'):
        CacheFlusher(params(pattern=pattern), check_mode=True).run()
    assert [s[2] for s in client.commands('SCAN')] == [b'[', b'\\', b'a\\[b', b'*\x00']


def test_binary_keys_are_deleted_and_sampled_escaped(fake):
    client = fake(FakeRedis([b'bin:\xff\xfe', b'bin:\x00z', b'keep:\xff']))
    result = CacheFlusher(params(pattern='bin:*')).run()
    assert result['deleted'] == 2
    assert result['sample'] == ['bin:\\xff\\xfe', 'bin:\\x00z']
    assert list(client.keys) == [b'keep:\xff']


# -- whole dbs ----------------------------------------------------------------------------------

@pytest.mark.parametrize('flush, use_async, expected', [
    ('db', True, ('FLUSHDB', 'ASYNC')),
    ('db', False, ('FLUSHDB',)),
    ('all', True, ('FLUSHALL', 'ASYNC')),
])
def test_flush_commands(fake, flush, use_async, expected):
    client = fake(FakeRedis(keyset(12)))
    p = params(flush=flush)
    p['async'] = use_async
    result = CacheFlusher(p).run()
    assert client.commands(expected[0]) == [expected]
    assert result['deleted'] == 12 and result['matched'] == 12 and result['changed'] is True
    assert result['mode'] == flush and result['async'] is use_async


def test_flush_empty_db_sends_no_flush(fake):
    client = fake(FakeRedis())
    result = CacheFlusher(params(flush='db')).run()
    assert result['changed'] is False and not client.commands('FLUSHDB')


def test_flush_check_mode(fake):
    client = fake(FakeRedis(keyset(3)))
    result = CacheFlusher(params(flush='db'), check_mode=True).run()
    assert result['changed'] is True and result['matched'] == 3 and result['deleted'] == 0
    assert not client.commands('FLUSHDB') and len(client.keys) == 3
    assert sorted(result['sample']) == ['cache:0', 'cache:1', 'cache:2']


def test_flush_respects_max_keys(fake):
    client = fake(FakeRedis(keyset(3)))
    with pytest.raises(CacheFlushError) as err:
        CacheFlusher(params(flush='db', max_keys=2)).run()
    assert '3 keys are in db 0, more than max_keys=2; nothing was deleted' in err.value.msg
    assert not client.commands('FLUSHDB')


@pytest.mark.parametrize('exc', [
    ResponseError("unknown command 'FLUSHDB', with args beginning with: 'ASYNC'"),
    NoPermissionError("this user has no permissions to run the 'flushdb' command"),
])
def test_flush_disabled_or_denied_hints_pattern_star(fake, exc):
    fake(FakeRedis(keyset(3), fail={'FLUSHDB': exc}))
    with pytest.raises(CacheFlushError) as err:
        CacheFlusher(params(flush='db')).run()
    assert err.value.msg.startswith('Could not flush db 0 on redis://127.0.0.1:6379/0: FLUSHDB is disabled or '
                                    'renamed on this server (rename-command), or this user may not run it')
    assert err.value.msg.endswith('Use pattern: "*" instead: it deletes every key of the db with SCAN + UNLINK, '
                                  'which needs no FLUSH command.')


# -- errors -------------------------------------------------------------------------------------

def test_unreachable(monkeypatch):
    def make(prms, **extra):
        client = FakeRedis(fail={'PING': RedisConnectionError('Error 111 connecting to 127.0.0.1:1. Connection refused.')})
        return client
    monkeypatch.setattr(cache, 'make_client', make)
    with pytest.raises(CacheFlushError) as err:
        CacheFlusher(params(pattern='x', port=1)).run()
    assert err.value.msg == ('Could not connect to Redis on redis://127.0.0.1:1/0: Error 111 connecting to '
                             '127.0.0.1:1. Connection refused. Check host, port and tls, and that redis-server '
                             'is running and reachable.')


def test_auth_failure_never_echoes_the_password(fake):
    fake(FakeRedis(fail={'PING': AuthenticationError('invalid password %s' % SECRET)}))
    with pytest.raises(CacheFlushError) as err:
        CacheFlusher(params(pattern='x', password=SECRET, username='ops')).run()
    assert SECRET not in err.value.msg
    assert 'redis://ops@127.0.0.1:6379/0' in err.value.msg
    assert err.value.msg.endswith('Check username and password (the password is not shown).')


def test_invalid_db_index(fake):
    fake(FakeRedis(fail={'PING': ResponseError('DB index is out of range')}))
    with pytest.raises(CacheFlushError) as err:
        CacheFlusher(params(pattern='x', db=99)).run()
    assert err.value.msg.startswith('Could not select db 99 on redis://127.0.0.1:6379/99: DB index is out of range.')
    assert 'Invalid db index 99: use a db index below the server\'s "databases" setting' in err.value.msg


def test_error_midway_reports_what_was_deleted(fake):
    client = fake(FakeRedis(keyset(30)))
    real = client.execute_command
    calls = []

    def flaky(*args):
        calls.append(args[0])
        if len(calls) == 2:
            raise RedisConnectionError('Connection reset by peer')
        return real(*args)
    client.execute_command = flaky
    with pytest.raises(CacheFlushError) as err:
        CacheFlusher(params(pattern='cache:*', batch_size=10)).run()
    assert '10 keys were deleted before the error; run again to finish.' in err.value.msg
    assert err.value.result == {'deleted': 10, 'changed': True}


def test_info_denied_gives_null_memory_and_a_warning(fake):
    fake(FakeRedis(keyset(3), fail={'INFO': NoPermissionError("no permissions to run the 'info' command")}))
    warnings = []
    result = CacheFlusher(params(pattern='cache:*'), warn=warnings.append).run()
    assert result['deleted'] == 3
    assert result['used_memory_before'] is None and result['freed'] is None
    assert warnings == ['INFO is not allowed for this user: used_memory is not reported.']


def test_memory_before_after_and_freed(fake):
    fake(FakeRedis(keyset(40)))
    result = CacheFlusher(params(pattern='cache:*')).run()
    assert result['used_memory_before'] == 1400 and result['used_memory_after'] == 1000
    assert result['freed'] == 400


# -- cluster ------------------------------------------------------------------------------------

class FakeNode(object):
    def __init__(self, host, port):
        self.host, self.port = host, port


def test_cluster_scans_every_primary_and_unlinks_per_slot(monkeypatch):
    seed = FakeRedis(cluster_enabled=1)
    keys_a = [b'cache:{a}1', b'cache:{a}2', b'cache:x', b'other:1']
    keys_b = [b'cache:y', b'cache:{b}1', b'cache:{b}2']
    node_a, node_b = FakeRedis(keys_a), FakeRedis(keys_b)
    monkeypatch.setattr(cache, 'make_client', lambda prms, **extra: seed)
    created = {}

    class FakeCluster(object):
        def __init__(self, **kwargs):
            created.update(kwargs)

        def get_primaries(self):
            return [FakeNode('10.0.0.1', 7000), FakeNode('10.0.0.2', 7001)]

        def get_redis_connection(self, node):
            return node_a if node.port == 7000 else node_b
    monkeypatch.setattr(cache, 'redis', types.SimpleNamespace(cluster=types.SimpleNamespace(RedisCluster=FakeCluster)))
    result = CacheFlusher(params(pattern='cache:*', password=SECRET)).run()
    assert result['cluster'] is True and result['nodes'] == ['10.0.0.1:7000', '10.0.0.2:7001']
    assert result['deleted'] == 6
    assert list(node_a.keys) == [b'other:1'] and not node_b.keys
    assert 'db' not in created and created['password'] == SECRET and created['decode_responses'] is False
    # one UNLINK per hash slot: {a}1 and {a}2 share a slot
    assert sorted(node_a.commands('UNLINK')) == sorted([('UNLINK', b'cache:{a}1', b'cache:{a}2'),
                                                        ('UNLINK', b'cache:x')])
    assert len(node_b.commands('UNLINK')) == 2


def test_cluster_refuses_nonzero_db(fake):
    fake(FakeRedis(cluster_enabled=1))
    with pytest.raises(CacheFlushError) as err:
        CacheFlusher(params(pattern='x', db=3)).run()
    assert 'invalid db index 3, Redis Cluster only has db 0' in err.value.msg


def test_cluster_never_skips_detection(fake):
    client = fake(FakeRedis(keyset(2), cluster_enabled=1))
    result = CacheFlusher(params(pattern='cache:*', cluster='never')).run()
    assert result['cluster'] is False and ('INFO', 'cluster') not in client.log


# -- the module ---------------------------------------------------------------------------------

def run_main(monkeypatch, capsys, args, check=False):
    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes
    from ansible_collections.runbook.ops.plugins.modules import cache_flush as module
    args = dict(args, _ansible_check_mode=check)
    monkeypatch.setattr(basic, '_ANSIBLE_ARGS', to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args})))
    monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy', raising=False)
    with pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def test_module_pattern_and_flush_are_mutually_exclusive(monkeypatch, capsys):
    out = run_main(monkeypatch, capsys, {'pattern': 'x', 'flush': 'db'})
    assert out['failed'] and 'mutually exclusive: pattern|flush' in out['msg']


def test_module_needs_pattern_or_flush(monkeypatch, capsys):
    out = run_main(monkeypatch, capsys, {})
    assert out['failed'] and 'one of the following is required: pattern, flush' in out['msg']


def test_module_passes_check_mode_and_hides_password(monkeypatch, capsys):
    seen = {}

    def fake_flush(prms, check_mode=False, warn=None):
        seen.update(prms=prms, check_mode=check_mode)
        raise CacheFlushError('Could not flush cache: boom', matched=3)
    from ansible_collections.runbook.ops.plugins.modules import cache_flush as module
    monkeypatch.setattr(module, 'cache_flush', fake_flush)
    out = run_main(monkeypatch, capsys, {'pattern': 'x', 'password': SECRET}, check=True)
    assert seen['check_mode'] is True and seen['prms']['async'] is True and seen['prms']['batch_size'] == 1000
    assert out['failed'] and out['msg'] == 'Could not flush cache: boom' and out['matched'] == 3
    assert SECRET not in json.dumps(out)


def test_cluster_discovery_failure_is_clear(monkeypatch):
    from redis.exceptions import RedisClusterException
    monkeypatch.setattr(cache, 'make_client', lambda prms, **extra: FakeRedis())

    class BrokenCluster(object):
        def __init__(self, **kwargs):
            raise RedisClusterException('Cluster mode is not enabled on this node')
    monkeypatch.setattr(cache, 'redis', types.SimpleNamespace(cluster=types.SimpleNamespace(RedisCluster=BrokenCluster)))
    with pytest.raises(CacheFlushError) as err:
        CacheFlusher(params(pattern='x', cluster='always')).run()
    assert err.value.msg == ('Could not discover the Redis Cluster primaries on redis://127.0.0.1:6379/0: Cluster mode '
                             'is not enabled on this node. Set cluster=never to work on this one server, or make every '
                             'primary reachable from here.')


def test_moved_during_delete_says_resharding(fake):
    from redis.exceptions import MovedError
    fake(FakeRedis(keyset(3), fail={'UNLINK': MovedError('3999 127.0.0.1:6381')}))
    with pytest.raises(CacheFlushError) as err:
        CacheFlusher(params(pattern='cache:*')).run()
    assert err.value.msg.endswith('The cluster is resharding or down: run again once its slots are stable.')
