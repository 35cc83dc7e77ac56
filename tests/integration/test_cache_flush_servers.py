# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""runbook.ops.cache_flush against differently configured real servers: password, ACL user
without FLUSH permission, FLUSHDB renamed away, TLS with client certificates, Redis Cluster.
State is checked through redis-cli."""
from __future__ import annotations

import secrets

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.cache import CacheFlushError, cache_flush
from cache_fixtures import ClusterRedis, TlsRedis, cli_scan, module_params, seed


@pytest.fixture(scope='module')
def tls_redis():
    server = TlsRedis()
    yield server
    server.stop()


@pytest.fixture(scope='module')
def cluster():
    c = ClusterRedis()
    yield c
    c.stop()


def test_password_auth(run_module, redis_factory):
    password = 'pw-' + secrets.token_hex(12)
    wrong = 'wrong-' + secrets.token_hex(12)
    server = redis_factory(password=password)
    seed(server.params, ['cache:%d' % i for i in range(20)] + ['keep'])

    bad = run_module('cache_flush', dict(server.params, password=wrong, pattern='cache:*'))
    assert bad['failed'] is True
    assert bad['msg'].startswith('Could not connect to Redis on redis://127.0.0.1:%d/0: ' % server.port)
    assert bad['msg'].endswith('Check username and password (the password is not shown).')
    for text in (bad['_stdout'], bad['_stderr']):
        assert wrong not in text and password not in text

    missing = run_module('cache_flush', dict(server.params, password=None, pattern='cache:*'))
    assert missing['failed'] is True and 'Check username and password' in missing['msg']
    assert int(server.cli('DBSIZE')) == 21

    ok = run_module('cache_flush', dict(server.params, pattern='cache:*'))
    assert ok['changed'] is True and ok['deleted'] == 20
    assert password not in ok['_stdout'] and password not in ok['_stderr']
    assert cli_scan(server, '*') == ['keep']


def test_acl_user_without_flush_permission(run_module, redis_factory):
    server = redis_factory()
    user_pw = 'acl-' + secrets.token_hex(12)
    server.cli('ACL', 'SETUSER', 'cacheops', 'on', '>' + user_pw, '~*', '&*', '+@all', '-flushdb', '-flushall')
    seed(server.params, ['page:%d' % i for i in range(30)] + ['session:1'])
    user = dict(server.params, username='cacheops', password=user_pw)

    denied = run_module('cache_flush', dict(user, flush='db'))
    assert denied['failed'] is True
    assert denied['msg'].startswith('Could not flush db 0 on redis://cacheops@127.0.0.1:%d/0: FLUSHDB is disabled '
                                    'or renamed on this server (rename-command), or this user may not run it'
                                    % server.port)
    assert 'Use pattern: "*" instead' in denied['msg']
    assert user_pw not in denied['_stdout'] and user_pw not in denied['_stderr']
    assert int(server.cli('DBSIZE')) == 31

    ok = run_module('cache_flush', dict(user, pattern='page:*'))
    assert ok['changed'] is True and ok['deleted'] == 30
    assert ok['target'] == 'redis://cacheops@127.0.0.1:%d/0' % server.port
    assert cli_scan(server, '*') == ['session:1']


def test_acl_user_without_unlink_gets_a_clear_message(redis_factory):
    server = redis_factory()
    server.cli('ACL', 'SETUSER', 'reader', 'on', '>r-pw-123', '~*', '+@read', '+scan', '+info', '+ping')
    seed(server.params, ['page:1', 'page:2'])
    with pytest.raises(CacheFlushError) as err:
        cache_flush(module_params(server.params, username='reader', password='r-pw-123', pattern='page:*'))
    assert err.value.msg.startswith('Could not delete keys matching "page:*" on redis://reader@127.0.0.1:')
    assert 'unlink' in err.value.msg.lower() and 'This user may not run a command the flush needs' in err.value.msg
    assert int(server.cli('DBSIZE')) == 2


def test_flushdb_renamed_away_hints_pattern_star(run_module, redis_factory):
    server = redis_factory(extra_args=['--rename-command', 'FLUSHDB', '', '--rename-command', 'FLUSHALL', ''])
    seed(server.params, ['k:%d' % i for i in range(25)])
    assert 'unknown command' in server.cli('FLUSHDB')  # the server really has no FLUSHDB

    failed = run_module('cache_flush', dict(server.params, flush='db'))
    assert failed['failed'] is True
    assert "FLUSHDB is disabled or renamed on this server (rename-command)" in failed['msg']
    assert failed['msg'].endswith('Use pattern: "*" instead: it deletes every key of the db with SCAN + UNLINK, '
                                  'which needs no FLUSH command.')
    with pytest.raises(CacheFlushError) as err:
        cache_flush(module_params(server.params, flush='all'))
    assert 'FLUSHALL is disabled or renamed' in err.value.msg
    assert int(server.cli('DBSIZE')) == 25

    star = run_module('cache_flush', dict(server.params, pattern='*'))
    assert star['changed'] is True and star['deleted'] == 25
    assert int(server.cli('DBSIZE')) == 0


def test_tls_with_client_certificate(run_module, tls_redis):
    seed_tls = ['tls:%d' % i for i in range(40)] + ['plain']
    for key in seed_tls:
        tls_redis.cli('SET', key, 'v')
    result = run_module('cache_flush', dict(tls_redis.params, pattern='tls:*', batch_size=7))
    assert result.get('failed') is not True, result.get('msg')
    assert result['changed'] is True and result['deleted'] == 40
    assert result['target'] == 'rediss://127.0.0.1:%d/0' % tls_redis.port
    assert tls_redis.cli('DBSIZE') == '1' and tls_redis.cli('EXISTS', 'plain') == '1'

    # plain text against the TLS port fails quickly and clearly (no hang)
    with pytest.raises(CacheFlushError) as err:
        cache_flush(module_params({'host': '127.0.0.1', 'port': tls_redis.port, 'socket_timeout': 3.0}, pattern='x'))
    assert err.value.msg.startswith('Could not connect to Redis on redis://127.0.0.1:%d/0:' % tls_redis.port)
    # a CA that did not sign the server certificate is refused
    with pytest.raises(CacheFlushError) as err:
        cache_flush(module_params(dict(tls_redis.params, ca_cert=tls_redis.tls['other-ca.pem']), pattern='x'))
    assert 'certificate verify failed' in err.value.msg
    # no client certificate: the server (tls-auth-clients yes) hangs up
    no_client = dict(tls_redis.params, client_cert=None, client_key=None, socket_timeout=3.0)
    with pytest.raises(CacheFlushError):
        cache_flush(module_params(no_client, pattern='x'))
    assert tls_redis.cli('DBSIZE') == '1'


def test_cluster_scans_every_primary(run_module, cluster):
    import redis.cluster
    rc = redis.cluster.RedisCluster(host='127.0.0.1', port=cluster.ports[0])
    try:
        rc.mset_nonatomic({'cache:%d' % i: 'v' for i in range(2000)})
        rc.mset_nonatomic({'cache:{user1}:%d' % i: 'v' for i in range(50)})   # one slot, one multi-key UNLINK
        rc.mset_nonatomic({'other:%d' % i: 'v' for i in range(300)})
    finally:
        rc.close()
    per_node = [len(cluster.cli(p, '--scan', '--pattern', 'cache:*').splitlines()) for p in cluster.ports]
    assert all(n > 0 for n in per_node) and sum(per_node) == 2050

    check = run_module('cache_flush', {'port': cluster.ports[1], 'pattern': 'cache:*'}, check=True)
    assert check['cluster'] is True and len(check['nodes']) == 3
    assert check['matched'] == 2050 and check['deleted'] == 0
    assert cluster.scan_count('cache:*') == 2050

    result = run_module('cache_flush', {'port': cluster.ports[1], 'pattern': 'cache:*', 'batch_size': 300})
    assert result.get('failed') is not True, result.get('msg')
    assert result['changed'] is True and result['deleted'] == 2050
    assert cluster.scan_count('cache:*') == 0
    assert cluster.scan_count('other:*') == 300

    with pytest.raises(CacheFlushError) as err:
        cache_flush(module_params({'port': cluster.ports[0]}, db=1, pattern='x'))
    assert 'Redis Cluster only has db 0' in err.value.msg

    flushed = cache_flush(module_params({'port': cluster.ports[2]}, flush='db'))
    assert flushed['deleted'] == 300 and flushed['cluster'] is True
    assert cluster.scan_count('*') == 0
