# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""runbook.ops.cache_flush against a real redis-server on 127.0.0.1, run through ansible.

Every state check goes through redis-cli, not through the module's own code.
(Password, ACL, rename-command, TLS and Cluster: test_cache_flush_servers.py.)
"""
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.cache import CacheFlushError, cache_flush
from cache_fixtures import cli_scan, free_port, module_params, seed


@pytest.fixture
def server(redis_factory):
    """A fresh, empty redis-server for one test."""
    return redis_factory()


def dbsize(server, db=0):
    return int(server.cli('-n', db, 'DBSIZE'))


def test_pattern_delete_leaves_other_keys_then_check_then_idempotent(run_module, server):
    cache_keys = ['cache:%d' % i for i in range(1500)]
    other_keys = ['other:%d' % i for i in range(700)] + ['cache', 'xcache:1', 'Cache:1']
    seed(server.params, cache_keys + other_keys)
    args = dict(server.params, pattern='cache:*', batch_size=100)

    result = run_module('cache_flush', args)
    assert result.get('failed') is not True, result.get('msg')
    assert result['changed'] is True
    assert result['deleted'] == 1500 and result['matched'] == 1500
    assert result['mode'] == 'pattern' and result['pattern'] == 'cache:*'
    assert result['batches'] >= 15
    assert result['used_memory_before'] > result['used_memory_after'] > 0
    assert result['freed'] == result['used_memory_before'] - result['used_memory_after']
    assert len(result['sample']) == 10 and all(s.startswith('cache:') for s in result['sample'])
    # independent check: no cache:* left, every other key intact with its value
    assert cli_scan(server, 'cache:*') == []
    assert dbsize(server) == len(other_keys)
    assert server.cli('GET', 'other:699') == 'v' * 64
    assert sorted(cli_scan(server, '*')) == sorted(other_keys)

    check = run_module('cache_flush', args, check=True)
    assert check['changed'] is False and check['matched'] == 0 and check['deleted'] == 0

    again = run_module('cache_flush', args)
    assert again['changed'] is False and again['deleted'] == 0 and again['matched'] == 0
    assert dbsize(server) == len(other_keys)


def test_check_mode_counts_samples_and_deletes_nothing(run_module, server):
    seed(server.params, ['sess:%d' % i for i in range(250)] + ['keep:%d' % i for i in range(50)])
    result = run_module('cache_flush', dict(server.params, pattern='sess:*', sample_size=5), check=True)
    assert result['changed'] is True
    assert result['matched'] == 250 and result['deleted'] == 0
    assert len(result['sample']) == 5 and all(s.startswith('sess:') for s in result['sample'])
    assert dbsize(server) == 300
    assert len(cli_scan(server, 'sess:*')) == 250


def test_max_keys_refuses_and_deletes_nothing(run_module, server):
    seed(server.params, ['big:%d' % i for i in range(3000)] + ['small'])
    refused = run_module('cache_flush', dict(server.params, pattern='big:*', max_keys=1000, batch_size=200))
    assert refused['failed'] is True
    assert 'more than max_keys=1000; nothing was deleted' in refused['msg']
    assert refused['msg'].startswith('Could not flush cache on redis://127.0.0.1:%d/0: at least ' % server.port)
    assert refused['deleted'] == 0 and refused['changed'] is False
    assert dbsize(server) == 3001
    # at the cap exactly: allowed
    done = run_module('cache_flush', dict(server.params, pattern='big:*', max_keys=3000, batch_size=500))
    assert done['changed'] is True and done['deleted'] == 3000
    assert dbsize(server) == 1 and server.cli('EXISTS', 'small') == '1'


HOSTILE_KEYS = ['a[b', 'a\\b', '*', '[', '\\', 'x*y', 'a?b', 'plain', "db.\"name; --", 'é:1']


HOSTILE_PATTERNS = ['[', '\\', 'a\\[b', 'a\\\\b', '\\*', 'a[b', '[[]', '\\\\', '*\x00', "db.\"name; --", 'é:*']


def test_hostile_patterns_delete_exactly_what_redis_matches(server):
    """In-process (module_utils against the real server) for many patterns; the module run is below."""
    for pattern in HOSTILE_PATTERNS:
        server.cli('FLUSHALL')
        seed(server.params, HOSTILE_KEYS)
        expected = cli_scan(server, pattern) if '\x00' not in pattern else []
        result = cache_flush(module_params(server.params, pattern=pattern))
        assert result['deleted'] == len(expected), pattern
        assert result['changed'] is bool(expected), pattern
        assert sorted(cli_scan(server, '*')) == sorted(set(HOSTILE_KEYS) - set(expected)), pattern


def test_hostile_pattern_through_the_module(run_module, server):
    seed(server.params, HOSTILE_KEYS)
    assert cli_scan(server, 'a\\[b') == ['a[b']
    result = run_module('cache_flush', dict(server.params, pattern='a\\[b'))
    assert result.get('failed') is not True, result.get('msg')
    assert result['deleted'] == 1 and result['sample'] == ['a[b']
    assert sorted(cli_scan(server, '*')) == sorted(set(HOSTILE_KEYS) - {'a[b'})


def test_star_pattern_deletes_the_db_but_not_other_dbs(run_module, server):
    seed(server.params, HOSTILE_KEYS)
    seed(server.params, ['keep:1', 'keep:2'], db=5)
    result = run_module('cache_flush', dict(server.params, pattern='*'))
    assert result['deleted'] == len(HOSTILE_KEYS)
    assert dbsize(server) == 0 and dbsize(server, 5) == 2


def test_binary_key_names(run_module, server):
    binary = [b'bin:\xff\xfe', b'bin:\x00zero', b'bin:caf\xc3\xa9', b'bin:\r\n', b'bin:\\back']
    keep = [b'keep:\xff\x00', b'bi\xffn:1']
    seed(server.params, binary + keep)
    check = run_module('cache_flush', dict(server.params, pattern='bin:*', sample_size=10), check=True)
    assert check['matched'] == 5
    assert sorted(check['sample']) == sorted(['bin:\\xff\\xfe', 'bin:\\x00zero', 'bin:caf\u00e9', 'bin:\\x0d\\x0a',
                                              'bin:\\\\back'])
    result = run_module('cache_flush', dict(server.params, pattern='bin:*'))
    assert result['deleted'] == 5 and result['changed'] is True
    # independent: redis-cli --no-raw prints the left keys quoted
    left = sorted(server.cli('--no-raw', '--scan', '--pattern', '*').splitlines())
    assert left == ['"bi\\xffn:1"', '"keep:\\xff\\x00"']


def test_flush_db_only_touches_that_db(run_module, server):
    seed(server.params, ['a:%d' % i for i in range(40)], db=3)
    seed(server.params, ['b:%d' % i for i in range(7)], db=0)
    check = run_module('cache_flush', dict(server.params, db=3, flush='db'), check=True)
    assert check['changed'] is True and check['matched'] == 40 and dbsize(server, 3) == 40
    assert len(check['sample']) == 10 and all(s.startswith('a:') for s in check['sample'])
    result = run_module('cache_flush', dict(server.params, db=3, flush='db'))
    assert result['changed'] is True and result['deleted'] == 40 and result['async'] is True
    assert dbsize(server, 3) == 0 and dbsize(server, 0) == 7
    again = cache_flush(module_params(server.params, db=3, flush='db'))
    assert again['changed'] is False and again['deleted'] == 0


def test_flush_all_sync_and_max_keys(server):
    seed(server.params, ['a:%d' % i for i in range(10)], db=1)
    seed(server.params, ['b:%d' % i for i in range(10)], db=2)
    with pytest.raises(CacheFlushError) as err:
        cache_flush(module_params(server.params, flush='all', max_keys=15))
    assert '20 keys are in all dbs, more than max_keys=15; nothing was deleted' in err.value.msg
    assert dbsize(server, 1) == 10 and dbsize(server, 2) == 10
    result = cache_flush(module_params(server.params, flush='all', max_keys=20, **{'async': False}))
    assert result['changed'] is True and result['deleted'] == 20 and result['async'] is False
    assert dbsize(server, 1) == 0 and dbsize(server, 2) == 0


def test_unreachable_through_the_module(run_module):
    port = free_port()  # nothing listens there
    down = run_module('cache_flush', {'port': port, 'pattern': 'x', 'socket_timeout': 2})
    assert down['failed'] is True
    assert down['msg'].startswith('Could not connect to Redis on redis://127.0.0.1:%d/0: ' % port)
    assert down['msg'].endswith('Check host, port and tls, and that redis-server is running and reachable.')


def test_invalid_db_and_empty_pattern(server):
    with pytest.raises(CacheFlushError) as err:
        cache_flush(module_params(server.params, db=99, pattern='x'))
    assert err.value.msg.startswith('Could not select db 99 on redis://127.0.0.1:%d/99: DB index is out of range.'
                                    % server.port)
    with pytest.raises(CacheFlushError) as err:
        cache_flush(module_params(server.params, pattern=''))
    assert 'the pattern is empty' in err.value.msg
