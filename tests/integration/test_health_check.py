# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""health_check against real servers on 127.0.0.1: HTTP, TLS, PostgreSQL (primary and replica), Redis,
closed ports, wrong passwords; and the module end to end through ansible (fail_on, check mode, secrets)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from urllib.parse import quote

import psycopg
from health_fixtures import AUTH_TOKEN, BASIC_PASSWORD, BASIC_USER, PgReplica, closed_port

from ansible_collections.runbook.ops.plugins.module_utils import health

LATENCY_OFF = {'latency_ms': {}}
LATENCY_TYPES = ('http', 'tcp', 'postgres', 'redis')


def no_latency(check):
    """The check without its default latency thresholds, unless it names its own: a test that is not about
    latency must not turn warning on a busy machine."""
    thresholds = dict(check.get('thresholds') or {})
    if check['type'] in LATENCY_TYPES and 'latency_ms' not in thresholds:
        thresholds.update(LATENCY_OFF)
        check = dict(check, thresholds=thresholds)
    return check


def run(*checks, max_workers=10):
    """Validate and run checks in-process through the same code the module uses (latency not graded unless
    the check names latency_ms thresholds)."""
    return health.run_checks(health.normalize_checks([no_latency(dict(c)) for c in checks]), max_workers=max_workers)


def one(check):
    report = run(check)
    return report['checks'][0]


# --------------------------------------------------------------------------- http

def test_http_ok_with_body(http_fixture):
    r = one({'name': 'api', 'type': 'http', 'url': http_fixture.url('/ok'), 'expect_body': 'healthy'})
    assert (r['status'], r['message']) == ('ok', 'ok')
    assert r['metrics']['status_code'] == 200 and r['metrics']['body_match'] is True
    assert r['metrics']['latency_ms'] > 0


def test_http_body_mismatch_is_critical(http_fixture):
    r = one({'name': 'api', 'type': 'http', 'url': http_fixture.url('/ok'), 'expect_body': 'READY'})
    assert r['status'] == 'critical' and r['message'] == "body does not contain 'READY'"


def test_http_failing_endpoint(http_fixture):
    r = one({'name': 'api', 'type': 'http', 'url': http_fixture.url('/fail')})
    assert (r['status'], r['message']) == ('critical', 'status 500 not in expected [200]')
    assert r['metrics']['status_code'] == 500
    r = one({'name': 'api', 'type': 'http', 'url': http_fixture.url('/fail'), 'expect_status': [500, 503]})
    assert r['status'] == 'ok'


def test_http_slow_endpoint_grades_latency(http_fixture):
    r = one({'name': 'slow', 'type': 'http', 'url': http_fixture.url('/slow?s=0.3'),
             'thresholds': {'latency_ms': {'warning': 200, 'critical': 60000}}})
    assert r['status'] == 'warning'
    assert 300 <= r['metrics']['latency_ms'] < 60000
    assert r['message'].startswith('latency_ms ') and r['message'].endswith('>= warning 200')


def test_http_timeout_is_critical(http_fixture):
    start = time.monotonic()
    r = one({'name': 'slow', 'type': 'http', 'url': http_fixture.url('/slow?s=3'), 'timeout': 0.5})
    assert r['status'] == 'critical'
    assert r['message'].startswith('Could not request GET %s: ' % http_fixture.url('/slow?s=3'))
    assert 'timed out' in r['message']
    assert time.monotonic() - start < 30        # bounded by its timeout, not by the server's 3 s


def test_http_json_expectations(http_fixture):
    url = http_fixture.url('/json')
    r = one({'name': 'j', 'type': 'http', 'url': url,
             'expect_json': {'status': 'ok', 'db.ok': True, '$.queues[0].name': 'mail'}})
    assert (r['status'], r['metrics']['json_match']) == ('ok', True)
    r = one({'name': 'j', 'type': 'http', 'url': url, 'expect_json': 'db.latency_ms'})
    assert r['status'] == 'ok'
    r = one({'name': 'j', 'type': 'http', 'url': url, 'expect_json': {'status': 'degraded', 'missing.path': 1}})
    assert r['status'] == 'critical' and r['metrics']['json_match'] is False
    assert r['message'] == 'JSON path status is "ok", expected "degraded"; JSON path missing.path not found'
    r = one({'name': 'j', 'type': 'http', 'url': http_fixture.url('/notjson'), 'expect_json': 'status'})
    assert (r['status'], r['message']) == ('critical', 'body is not JSON')


def test_http_headers_and_head(http_fixture):
    r = one({'name': 'a', 'type': 'http', 'url': http_fixture.url('/auth'), 'headers': {'Authorization': AUTH_TOKEN}})
    assert r['status'] == 'ok'
    r = one({'name': 'a', 'type': 'http', 'url': http_fixture.url('/auth'), 'method': 'HEAD'})
    assert r['status'] == 'critical' and r['metrics']['status_code'] == 401


def test_http_closed_port_is_critical():
    url = 'http://127.0.0.1:%d/health' % closed_port()
    r = one({'name': 'api', 'type': 'http', 'url': url})
    assert r['status'] == 'critical' and r['metrics'] == {}
    assert r['message'] == 'Could not request GET %s: [Errno 111] Connection refused' % url


def test_http_basic_auth_from_the_url(http_fixture):
    """user:pass@ in the URL is sent as HTTP basic auth (issue 17, defect 12), never shown."""
    url = 'http://%s:%s@127.0.0.1:%d/basic' % (BASIC_USER, quote(BASIC_PASSWORD, safe=''), http_fixture.port)
    r = one({'name': 'basic', 'type': 'http', 'url': url, 'expect_body': 'basic ok'})
    assert (r['status'], r['message']) == ('ok', 'ok')
    assert r['metrics']['status_code'] == 200
    r = one({'name': 'no auth', 'type': 'http', 'url': http_fixture.url('/basic')})
    assert (r['status'], r['message']) == ('critical', 'status 401 not in expected [200]')
    wrong = 'http://%s:wrong-pw-0c3d@127.0.0.1:%d/basic' % (BASIC_USER, http_fixture.port)
    r = one({'name': 'wrong', 'type': 'http', 'url': wrong})
    assert (r['status'], r['message']) == ('critical', 'status 401 not in expected [200]')
    port = closed_port()
    r = one({'name': 'down', 'type': 'http', 'url': 'http://probe:wrong-pw-0c3d@127.0.0.1:%d/x' % port})
    assert r['message'] == ('Could not request GET http://probe:********@127.0.0.1:%d/x: [Errno 111] Connection '
                            'refused' % port)


def test_https_against_self_made_ca(tls_fixture):
    url = tls_fixture.url('/ok')
    r = one({'name': 's', 'type': 'http', 'url': url})
    assert r['status'] == 'critical' and 'CERTIFICATE_VERIFY_FAILED' in r['message']
    r = one({'name': 's', 'type': 'http', 'url': url, 'ca_cert': tls_fixture.files['ca']})
    assert r['status'] == 'ok'
    r = one({'name': 's', 'type': 'http', 'url': url, 'validate_certs': False})
    assert r['status'] == 'ok'


# --------------------------------------------------------------------------- tcp

def test_tcp_open_and_closed(postgres_server):
    r = one({'name': 'pg port', 'type': 'tcp', 'host': '127.0.0.1', 'port': postgres_server.port})
    assert r['status'] == 'ok' and r['metrics']['reachable'] is True and r['metrics']['latency_ms'] >= 0
    port = closed_port()
    r = one({'name': 'nothing', 'type': 'tcp', 'host': '127.0.0.1', 'port': port})
    assert (r['status'], r['message']) == ('critical', 'Could not connect to 127.0.0.1:%d: [Errno 111] '
                                           'Connection refused' % port)


# --------------------------------------------------------------------------- tls_cert

def test_tls_cert_live_expiring_in_five_days(tls_fixture):
    r = one({'name': 'cert', 'type': 'tls_cert', 'host': '127.0.0.1', 'port': tls_fixture.port,
             'server_name': 'localhost'})
    m = r['metrics']
    assert r['status'] == 'critical'
    assert 4.9 < m['days_remaining'] <= 5.0
    assert r['message'] == 'days_remaining %s <= critical 7' % health._fmt(m['days_remaining'])
    assert m['not_after'] == tls_fixture.files['not_after'].strftime('%Y-%m-%dT%H:%M:%SZ')
    assert m['expired'] is False and m['not_yet_valid'] is False
    assert m['chain_valid'] is False and 'unable to get local issuer certificate' in m['verify_error']
    assert m['hostname_valid'] is True
    assert 'localhost' in tls_fixture.sni_names      # SNI was sent


def test_tls_cert_verification_reported(tls_fixture):
    base = {'type': 'tls_cert', 'host': '127.0.0.1', 'port': tls_fixture.port, 'ca_cert': tls_fixture.files['ca'],
            'thresholds': {'days_remaining': {'warning': 1, 'critical': 0.5}}}
    r = one(dict(base, name='good'))
    assert r['status'] == 'ok'
    assert (r['metrics']['chain_valid'], r['metrics']['hostname_valid']) == (True, True)   # IP SAN 127.0.0.1
    r = one(dict(base, name='wrong name', server_name='www.example.org'))
    assert r['status'] == 'ok'                       # reported only, validate_certs is off by default
    assert (r['metrics']['chain_valid'], r['metrics']['hostname_valid']) == (True, False)
    assert 'www.example.org' in tls_fixture.sni_names
    r = one(dict(base, name='strict', server_name='www.example.org', validate_certs=True))
    assert (r['status'], r['message']) == ('critical', 'certificate does not match host name www.example.org')


def test_tls_cert_file_and_closed_port(tls_fixture):
    r = one({'name': 'file', 'type': 'tls_cert', 'path': tls_fixture.files['cert']})
    assert r['status'] == 'critical' and 4.9 < r['metrics']['days_remaining'] <= 5.0
    assert r['metrics']['subject'] == 'CN=localhost' and r['metrics']['issuer'] == 'CN=runbook.ops test CA'
    port = closed_port()
    r = one({'name': 'gone', 'type': 'tls_cert', 'host': '127.0.0.1', 'port': port})
    assert r['status'] == 'critical'
    assert r['message'] == ('Could not complete a TLS handshake with 127.0.0.1:%d: [Errno 111] Connection refused'
                            % port)


def test_tls_cert_plain_http_port_is_critical(http_fixture):
    r = one({'name': 'plain', 'type': 'tls_cert', 'host': '127.0.0.1', 'port': http_fixture.port, 'timeout': 3})
    assert r['status'] == 'critical' and r['message'].startswith('Could not complete a TLS handshake')


# --------------------------------------------------------------------------- postgres

def test_postgres_metrics_match_server(postgres_server):
    r = one(dict(postgres_server.params, name='pg', type='postgres'))
    m = r['metrics']
    assert (r['status'], r['message']) == ('ok', 'ok')
    assert m['reachable'] is True and m['role'] == 'primary'
    assert m['max_connections'] == int(postgres_server.psql('SHOW max_connections')) == 50
    assert m['connections'] >= 1 and m['connections_pct'] == round(100.0 * m['connections'] / 50, 2)
    assert m['server_version'] == postgres_server.psql('SHOW server_version')
    assert m['ungranted_locks'] == 0 and m['replication_lag_bytes'] is None


def test_postgres_thresholds_and_long_query(postgres_server):
    conn = psycopg.connect(host='127.0.0.1', port=postgres_server.port, user='postgres',
                           password=postgres_server.password, dbname='postgres', autocommit=True)
    sleeper = threading.Thread(target=lambda: conn.execute('SELECT pg_sleep(3)'), daemon=True)
    sleeper.start()
    try:
        time.sleep(1.2)
        r = one(dict(postgres_server.params, name='pg', type='postgres',
                     thresholds={'longest_query_s': {'warning': 1, 'critical': 60},
                                 'connections_pct': {'warning': 0.1, 'critical': 99}}))
    finally:
        sleeper.join(10)
        conn.close()
    assert r['status'] == 'warning'
    assert r['metrics']['longest_query_s'] >= 1.0
    assert 'longest_query_s' in r['message'] and '>= warning 1' in r['message']
    assert 'connections_pct' in r['message']


def test_postgres_ungranted_locks(postgres_server):
    postgres_server.psql('CREATE TABLE IF NOT EXISTS health_lock_t (id int)')
    kw = dict(host='127.0.0.1', port=postgres_server.port, user='postgres', password=postgres_server.password,
              dbname='postgres')
    holder = psycopg.connect(**kw)
    waiter = psycopg.connect(**kw, autocommit=True)
    holder.execute('LOCK TABLE health_lock_t IN ACCESS EXCLUSIVE MODE')
    blocked = threading.Thread(target=lambda: waiter.execute('SELECT count(*) FROM health_lock_t'), daemon=True)
    blocked.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and postgres_server.psql(
                'SELECT count(*) FROM pg_locks WHERE NOT granted') == '0':
            time.sleep(0.05)
        r = one(dict(postgres_server.params, name='pg', type='postgres',
                     thresholds={'ungranted_locks': {'warning': 1, 'critical': 10}}))
    finally:
        holder.rollback()
        blocked.join(10)
        holder.close()
        waiter.close()
    assert r['metrics']['ungranted_locks'] >= 1
    assert r['status'] == 'warning' and 'ungranted_locks' in r['message']


def test_postgres_replication_primary_and_replica(postgres_factory):
    primary = postgres_factory()
    replica = PgReplica(primary).start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and primary.psql('SELECT count(*) FROM pg_stat_replication') != '1':
            time.sleep(0.1)
        primary.psql('CREATE TABLE repl_t AS SELECT generate_series(1, 1000) AS id')
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:      # wait until the replica has replayed everything
            report = run(dict(primary.params, name='primary', type='postgres'),
                         dict(replica.params, name='replica', type='postgres',
                              thresholds={'replication_lag_s': {'warning': 3600, 'critical': 7200}}))
            p, r = report['checks']
            if r['metrics'].get('replication_lag_bytes') == 0:
                break
            time.sleep(0.1)
        assert p['metrics']['role'] == 'primary' and p['metrics']['replicas'] == 1
        assert p['metrics']['replication_lag_bytes'] is not None and p['metrics']['replication_lag_bytes'] >= 0
        assert p['metrics']['replication_lag_s'] is not None
        assert r['metrics']['role'] == 'replica', r
        assert (r['metrics']['replication_lag_bytes'], r['metrics']['replication_lag_s']) == (0, 0)
        assert r['metrics']['replicas'] is None
        assert replica.params['login_port'] != primary.port
        assert r['status'] == 'ok', r['message']
        # the replica stops replaying: its lag in bytes grows and is graded
        subprocess.run(['psql', '-h', '127.0.0.1', '-p', str(replica.port), '-U', 'postgres', '-X', '-c',
                        'SELECT pg_wal_replay_pause()'], env=dict(os.environ, PGPASSWORD=primary.password),
                       check=True, capture_output=True)
        primary.psql('INSERT INTO repl_t SELECT generate_series(1, 20000)')
        deadline = time.monotonic() + 20
        lagging = None
        while time.monotonic() < deadline:
            lagging = one(dict(replica.params, name='replica', type='postgres',
                               thresholds={'replication_lag_bytes': {'warning': 1, 'critical': 10 ** 12}}))
            if (lagging['metrics'].get('replication_lag_bytes') or 0) > 0:
                break
            time.sleep(0.2)
        assert lagging['metrics']['replication_lag_bytes'] > 0
        assert lagging['status'] == 'warning' and 'replication_lag_bytes' in lagging['message']
    finally:
        replica.stop()


def test_postgres_wrong_password_and_closed_port(postgres_server):
    r = one(dict(postgres_server.params, name='pg', type='postgres', login_password='wrong-pw-9c1e'))
    assert r['status'] == 'critical'
    assert r['message'].startswith('Could not connect to postgres postgres@127.0.0.1:%d/postgres: '
                                   % postgres_server.port)
    assert 'password authentication failed' in r['message'] and 'wrong-pw-9c1e' not in r['message']
    port = closed_port()
    r = one(dict(postgres_server.params, name='pg', type='postgres', login_port=port, timeout=2))
    assert r['status'] == 'critical' and 'Connection refused' in r['message']


def test_postgres_hostile_database_name(postgres_server):
    r = one(dict(postgres_server.params, name='db."name; --', type='postgres', login_db='db."name; --'))
    assert r['status'] == 'critical'
    assert 'database "db."name; --" does not exist' in r['message']
    assert postgres_server.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'db.%'") == '0'


# --------------------------------------------------------------------------- redis

def test_redis_metrics_match_server(redis_server):
    redis_server.cli('SET', 'health:k', 'v')
    redis_server.cli('GET', 'health:k')
    redis_server.cli('GET', 'health:missing')
    r = one(dict(redis_server.params, name='redis', type='redis'))
    m = r['metrics']
    info = dict(line.split(':', 1) for line in redis_server.cli('INFO').splitlines() if ':' in line)
    assert m['maxmemory'] == int(info['maxmemory']) == 0
    assert m['memory_pct'] is None and m['used_memory'] > 0            # no maxmemory: reported, not graded
    assert m['maxclients'] == int(info['maxclients']) and m['clients_pct'] is not None
    assert m['keyspace_hits'] >= 1 and m['keyspace_misses'] >= 1 and 0 < m['hit_rate'] < 100
    assert m['redis_version'] == info['redis_version'].strip()


def test_redis_memory_pct_graded_with_maxmemory(redis_factory):
    server = redis_factory(extra_args=['--maxmemory', '2mb', '--maxmemory-policy', 'allkeys-lru'])
    r = one(dict(server.params, name='redis', type='redis',
                 thresholds={'memory_pct': {'warning': 1, 'critical': 99.9}, 'hit_rate': {}}))
    assert r['metrics']['maxmemory'] == 2 * 1024 * 1024 == int(server.cli('CONFIG', 'GET', 'maxmemory').split()[-1])
    assert r['metrics']['memory_pct'] == round(100.0 * r['metrics']['used_memory'] / (2 * 1024 * 1024), 2)
    assert r['status'] == 'warning' and r['message'].startswith('memory_pct ')


def test_redis_evictions_graded(redis_factory):
    server = redis_factory(extra_args=['--maxmemory', '2mb', '--maxmemory-policy', 'allkeys-lru'])
    server.cli('EVAL', "for i=1,3000 do redis.call('SET', 'k'..i, string.rep('x', 1024)) end", '0')
    r = one(dict(server.params, name='redis', type='redis', thresholds={'evicted_keys': {'warning': 1}}))
    assert r['metrics']['evicted_keys'] > 0
    assert r['status'] in ('warning', 'critical') and 'evicted_keys' in r['message']


def test_redis_wrong_password_and_closed_port(redis_server):
    r = one(dict(redis_server.params, name='redis', type='redis', password='wrong-rpw-51aa'))
    assert r['status'] == 'critical'
    assert r['message'].startswith('Could not query redis redis://127.0.0.1:%d/0: ' % redis_server.port)
    assert 'wrong-rpw-51aa' not in r['message']
    port = closed_port()
    start = time.monotonic()
    r = one({'name': 'redis', 'type': 'redis', 'host': '127.0.0.1', 'port': port, 'timeout': 2})
    assert r['status'] == 'critical' and 'Connection refused' in r['message']
    assert time.monotonic() - start < 3              # no retries with back-off (they take seconds)


# --------------------------------------------------------------------------- disk, memory, load

def test_disk_matches_df(tmp_path):
    r = one({'name': 'tmp', 'type': 'disk', 'path': str(tmp_path),
             'thresholds': {'used_pct': {}, 'inodes_pct': {}}})
    out = subprocess.run(['df', '--output=pcent,ipcent', str(tmp_path)], capture_output=True, text=True,
                         check=True).stdout.splitlines()[-1].split()
    assert abs(r['metrics']['used_pct'] - float(out[0].rstrip('%'))) <= 1.0
    if out[1] != '-':
        assert abs(r['metrics']['inodes_pct'] - float(out[1].rstrip('%'))) <= 1.0
    assert r['status'] == 'ok'
    r = one({'name': 'tmp', 'type': 'disk', 'path': str(tmp_path), 'thresholds': {'used_pct': {'critical': 0}}})
    assert r['status'] == 'critical' and r['message'].endswith('>= critical 0')


def test_memory_and_load_match_the_system():
    report = run({'name': 'mem', 'type': 'memory', 'thresholds': {'used_pct': {'warning': 0}}},
                 {'name': 'load', 'type': 'load'})
    mem, load = report['checks']
    with open('/proc/meminfo') as f:
        info = dict((line.split(':')[0], int(line.split()[1]) * 1024) for line in f if line.split()[-1] == 'kB')
    assert mem['metrics']['total_bytes'] == info['MemTotal']
    expected = 100.0 * (info['MemTotal'] - info['MemAvailable']) / info['MemTotal']
    assert abs(mem['metrics']['used_pct'] - expected) < 5
    assert mem['status'] == 'warning'
    assert load['metrics']['cpus'] == os.cpu_count()
    assert abs(load['metrics']['load1'] - os.getloadavg()[0]) < 2


# --------------------------------------------------------------------------- the module through ansible

def test_module_all_types_fail_on_critical(run_module, http_fixture, tls_fixture, postgres_server, redis_server,
                                           tmp_path):
    closed = closed_port()
    basic = 'http://%s:%s@127.0.0.1:%d/basic' % (BASIC_USER, quote(BASIC_PASSWORD, safe=''), http_fixture.port)
    # latency is not graded here (LATENCY_OFF): this test is about the types and fail_on, not about speed
    args = {'checks': [
        {'name': 'api', 'type': 'http', 'url': http_fixture.url('/ok'), 'expect_status': [200],
         'thresholds': LATENCY_OFF},
        {'name': 'broken api', 'type': 'http', 'url': http_fixture.url('/fail')},
        {'name': 'auth', 'type': 'http', 'url': http_fixture.url('/auth'), 'headers': {'Authorization': AUTH_TOKEN},
         'thresholds': LATENCY_OFF},
        {'name': 'basic', 'type': 'http', 'url': basic, 'thresholds': LATENCY_OFF},
        {'name': 'pg', 'type': 'postgres', 'login_host': '127.0.0.1', 'login_port': postgres_server.port,
         'login_password': postgres_server.password, 'ssl_mode': 'disable', 'thresholds': LATENCY_OFF},
        {'name': 'redis', 'type': 'redis', 'host': '127.0.0.1', 'port': redis_server.port,
         'password': redis_server.password, 'thresholds': {'hit_rate': {}, 'latency_ms': {}}},
        {'name': 'root', 'type': 'disk', 'path': str(tmp_path), 'thresholds': {'used_pct': {}, 'inodes_pct': {}}},
        {'name': 'mem', 'type': 'memory', 'thresholds': {'used_pct': {}}},
        {'name': 'load', 'type': 'load', 'thresholds': {'load5_per_core': {}}},
        {'name': 'closed', 'type': 'tcp', 'host': '127.0.0.1', 'port': closed},
        {'name': 'site cert', 'type': 'tls_cert', 'host': '127.0.0.1', 'port': tls_fixture.port},
        {'name': 'pg wrong pw', 'type': 'postgres', 'login_host': '127.0.0.1', 'login_port': postgres_server.port,
         'login_password': 'pg-wrong-0d7e41', 'ssl_mode': 'disable'},
        {'name': 'redis wrong pw', 'type': 'redis', 'host': '127.0.0.1', 'port': redis_server.port,
         'password': 'redis-wrong-88b2f0'},
    ]}
    result = run_module('health_check', args)
    assert result.get('failed') is True and result['changed'] is False
    assert result['msg'] == ('Health check failed (fail_on=critical): critical: broken api, closed, site cert, '
                             'pg wrong pw, redis wrong pw. See checks[] in the result for each message.')
    by_name = {c['name']: c for c in result['checks']}
    assert [c['name'] for c in result['checks']] == [c['name'] for c in args['checks']]
    assert {n: c['status'] for n, c in by_name.items()} == {
        'api': 'ok', 'broken api': 'critical', 'auth': 'ok', 'basic': 'ok', 'pg': 'ok', 'redis': 'ok', 'root': 'ok',
        'mem': 'ok', 'load': 'ok', 'closed': 'critical', 'site cert': 'critical', 'pg wrong pw': 'critical',
        'redis wrong pw': 'critical'}
    assert result['status'] == 'critical' and result['summary'] == {'ok': 8, 'warning': 0, 'critical': 5}
    assert 'password authentication failed' in by_name['pg wrong pw']['message']
    assert by_name['redis wrong pw']['message'].startswith('Could not query redis')
    assert by_name['pg']['metrics']['max_connections'] == 50 and by_name['redis']['metrics']['reachable'] is True
    for secret in (postgres_server.password, redis_server.password, AUTH_TOKEN, 'pg-wrong-0d7e41',
                   'redis-wrong-88b2f0', BASIC_PASSWORD, quote(BASIC_PASSWORD, safe='')):
        assert secret not in result['_stdout'] and secret not in result['_stderr']


def test_module_check_mode_fail_on_never_runs_probes_concurrently(run_module, http_fixture):
    checks = [{'name': 'slow %d' % i, 'type': 'http', 'url': http_fixture.url('/slow?s=1'),
               'thresholds': {'latency_ms': {}}} for i in range(6)]
    checks.append({'name': 'broken api', 'type': 'http', 'url': http_fixture.url('/fail')})
    result = run_module('health_check', {'checks': checks, 'max_workers': 7, 'fail_on': 'never'}, check=True)
    assert not result.get('failed') and result['changed'] is False
    assert result['status'] == 'critical' and result['summary'] == {'ok': 6, 'warning': 0, 'critical': 1}
    assert result['checks'][-1]['metrics']['status_code'] == 500
    assert all(c['duration_ms'] >= 1000 for c in result['checks'][:6])
    assert result['duration_ms'] < 5500, result['duration_ms']     # 6 x 1 s probes overlapped (serial: >= 6 s)


def test_module_rejects_unknown_metric(run_module):
    checks = [{'name': 'd', 'type': 'disk', 'path': '/', 'thresholds': {'used': {'warning': 1}}}]
    result = run_module('health_check', {'checks': checks})
    assert result.get('failed') is True and 'checks' not in result
    assert result['msg'].startswith("Could not validate checks: check 'd' (type disk) has a threshold for unknown "
                                    "metric 'used'")
