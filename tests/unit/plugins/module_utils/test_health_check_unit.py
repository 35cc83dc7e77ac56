# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for runbook.ops.health_check: grading, argument handling, aggregation, fail_on, concurrency."""

from __future__ import annotations

import datetime
import json
import os
import time

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.runbook.ops.plugins.module_utils import health
from ansible_collections.runbook.ops.plugins.module_utils import health_disk
from ansible_collections.runbook.ops.plugins.module_utils import health_http
from ansible_collections.runbook.ops.plugins.module_utils import health_load
from ansible_collections.runbook.ops.plugins.module_utils import health_memory
from ansible_collections.runbook.ops.plugins.module_utils import health_postgres
from ansible_collections.runbook.ops.plugins.module_utils import health_redis
from ansible_collections.runbook.ops.plugins.module_utils import health_tls
from ansible_collections.runbook.ops.plugins.modules import health_check


# --------------------------------------------------------------------------- helpers

def run_main(args, capsys, check_mode=False):
    """Run the module's main() in-process; return (failed, result)."""
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            health_check.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    return exc.value.code != 0 or bool(result.get('failed')), result


def fake_probe(metrics=None, findings=(), sleep=0.0, error=None):
    def probe(check):
        if sleep:
            time.sleep(sleep)
        if error is not None:
            raise error
        result = health.ProbeResult(dict(metrics or {}))
        for status, message in findings:
            result.add(status, message)
        return result
    return probe


def norm(*checks):
    return health.normalize_checks([dict(c) for c in checks])


# --------------------------------------------------------------------------- grading

@pytest.mark.parametrize('value,expected', [
    (79.99, 'ok'), (80, 'warning'), (80.0, 'warning'), (89.99, 'warning'), (90, 'critical'), (100, 'critical'),
    (0, 'ok'), (-1, 'ok'),
])
def test_grade_higher_is_worse_boundaries(value, expected):
    status, dummy, dummy2 = health.grade_value(value, {'warning': 80, 'critical': 90}, health.HIGHER)
    assert status == expected


@pytest.mark.parametrize('value,expected', [
    (95, 'ok'), (70.01, 'ok'), (70, 'warning'), (50.01, 'warning'), (50, 'critical'), (0, 'critical'),
])
def test_grade_lower_is_worse_boundaries(value, expected):
    status, dummy, dummy2 = health.grade_value(value, {'warning': 70, 'critical': 50}, health.LOWER)
    assert status == expected


def test_grade_returns_crossed_level_and_threshold():
    assert health.grade_value(91, {'warning': 80, 'critical': 90}) == ('critical', 'critical', 90)
    assert health.grade_value(85, {'warning': 80, 'critical': 90}) == ('warning', 'warning', 80)
    assert health.grade_value(5, {'warning': 30, 'critical': 7}, health.LOWER) == ('critical', 'critical', 7)


@pytest.mark.parametrize('levels,value,expected', [
    ({'warning': 80, 'critical': None}, 99, 'warning'),
    ({'warning': None, 'critical': 90}, 85, 'ok'),
    ({'warning': None, 'critical': 90}, 90, 'critical'),
    ({}, 1e9, 'ok'),
    (None, 1e9, 'ok'),
])
def test_grade_missing_levels(levels, value, expected):
    assert health.grade_value(value, levels)[0] == expected


def test_grade_skips_none_and_booleans():
    assert health.grade_value(None, {'warning': 1, 'critical': 2})[0] == 'ok'
    assert health.grade_value(True, {'warning': 0, 'critical': 1})[0] == 'ok'


def test_grade_metrics_messages_and_worst():
    thresholds = health.normalize_thresholds('disk', None)
    status, reasons = health.grade_metrics('disk', {'used_pct': 91.5, 'inodes_pct': 85}, thresholds)
    assert status == 'critical'
    assert reasons == ['inodes_pct 85 >= warning 80', 'used_pct 91.5 >= critical 90']


def test_grade_metrics_lower_is_worse_message():
    thresholds = health.normalize_thresholds('tls_cert', None)
    status, reasons = health.grade_metrics('tls_cert', {'days_remaining': 5.2}, thresholds)
    assert (status, reasons) == ('critical', ['days_remaining 5.2 <= critical 7'])
    status, reasons = health.grade_metrics('tls_cert', {'days_remaining': 29}, thresholds)
    assert (status, reasons) == ('warning', ['days_remaining 29 <= warning 30'])


def test_grade_metrics_without_value_is_not_graded():
    thresholds = health.normalize_thresholds('redis', None)
    status, reasons = health.grade_metrics('redis', {'used_memory': 10 ** 9, 'memory_pct': None,
                                                     'hit_rate': None}, thresholds)
    assert (status, reasons) == ('ok', [])


def test_default_thresholds_from_the_seeds():
    assert health.normalize_thresholds('disk', None)['used_pct'] == {'warning': 80, 'critical': 90}
    assert health.normalize_thresholds('memory', None)['used_pct'] == {'warning': 80, 'critical': 95}
    assert health.normalize_thresholds('http', None)['latency_ms'] == {'warning': 100, 'critical': 1000}
    assert health.normalize_thresholds('postgres', None)['connections_pct'] == {'warning': 70, 'critical': 90}
    assert health.normalize_thresholds('redis', None)['memory_pct'] == {'warning': 80, 'critical': 95}
    assert health.normalize_thresholds('redis', None)['hit_rate'] == {'warning': 70, 'critical': 50}
    assert health.normalize_thresholds('tls_cert', None)['days_remaining'] == {'warning': 30, 'critical': 7}
    assert health.normalize_thresholds('load', None)['load5_per_core'] == {'warning': 1.0, 'critical': 2.0}
    # metrics without defaults are measured but not graded
    assert 'evicted_keys' not in health.normalize_thresholds('redis', None)


def test_user_thresholds_replace_the_default_of_that_metric_only():
    t = health.normalize_thresholds('disk', {'used_pct': {'critical': 95}})
    assert t['used_pct'] == {'warning': None, 'critical': 95.0}
    assert t['inodes_pct'] == {'warning': 80, 'critical': 90}


def test_empty_thresholds_turn_grading_off():
    t = health.normalize_thresholds('disk', {'used_pct': {}, 'inodes_pct': None})
    assert 'used_pct' not in t and 'inodes_pct' not in t


def test_thresholds_on_metric_without_default():
    t = health.normalize_thresholds('redis', {'evicted_keys': {'warning': 1, 'critical': '100'}})
    assert t['evicted_keys'] == {'warning': 1.0, 'critical': 100.0}


def test_unknown_metric_is_a_clear_error():
    with pytest.raises(health.HealthConfigError) as exc:
        health.normalize_thresholds('disk', {'used_percent': {'warning': 1}}, 'root')
    msg = str(exc.value)
    assert "check 'root' (type disk) has a threshold for unknown metric 'used_percent'" in msg
    assert 'used_pct' in msg and 'inodes_pct' in msg


@pytest.mark.parametrize('thresholds,fragment', [
    ({'used_pct': {'warning': 'eighty'}}, "thresholds.used_pct.warning must be a number, got 'eighty'"),
    ({'used_pct': {'warning': True}}, 'thresholds.used_pct.warning must be a number, got True'),
    ({'used_pct': {'warning': float('nan')}}, 'must be a finite number'),
    ({'used_pct': {'warn': 80}}, 'thresholds.used_pct takes only warning and critical, not warn'),
    ({'used_pct': 80}, 'thresholds.used_pct must be a mapping'),
    ({'used_pct': {'warning': 95, 'critical': 90}}, 'warning (95) must not be above critical (90)'),
])
def test_bad_thresholds(thresholds, fragment):
    with pytest.raises(health.HealthConfigError) as exc:
        health.normalize_thresholds('disk', thresholds, 'root')
    assert fragment in str(exc.value)


def test_lower_is_worse_order_is_checked():
    with pytest.raises(health.HealthConfigError) as exc:
        health.normalize_thresholds('tls_cert', {'days_remaining': {'warning': 7, 'critical': 30}}, 'c')
    assert 'warning (7) must not be below critical (30), lower values are worse' in str(exc.value)


def test_thresholds_must_be_a_mapping():
    with pytest.raises(health.HealthConfigError, match='thresholds must be a mapping'):
        health.normalize_thresholds('disk', ['used_pct'], 'root')


# --------------------------------------------------------------------------- normalize_checks

def test_duplicate_names_rejected():
    with pytest.raises(health.HealthConfigError) as exc:
        norm({'name': 'a', 'type': 'load'}, {'name': 'a', 'type': 'memory'}, {'name': 'b', 'type': 'load'})
    assert str(exc.value) == "check names must be unique, duplicated: 'a'"


def test_option_of_another_type_rejected():
    with pytest.raises(health.HealthConfigError) as exc:
        norm({'name': 'p', 'type': 'tcp', 'host': 'h', 'port': 1, 'url': 'http://x'})
    assert "check 'p' (type tcp) does not take option(s) url; options for tcp: host, port" in str(exc.value)


def test_normalized_check_keeps_only_its_options_and_thresholds():
    (c,) = norm({'name': 'r', 'type': 'disk', 'path': '/', 'url': None, 'timeout': 3,
                 'thresholds': {'used_pct': {'warning': 1, 'critical': 2}}})
    assert c['timeout'] == 3.0 and c['path'] == '/' and 'url' not in c
    assert c['_thresholds']['used_pct'] == {'warning': 1.0, 'critical': 2.0}


@pytest.mark.parametrize('check,fragment', [
    ({'name': 'x', 'type': 'load', 'timeout': 0}, 'timeout must be above 0'),
    ({'name': 'x', 'type': 'tcp', 'host': 'h', 'port': 70000}, 'port must be between 1 and 65535'),
    ({'name': 'x', 'type': 'http', 'url': 'http://h/', 'expect_json': 5}, 'expect_json must be a JSON path'),
    ({'name': ' ', 'type': 'load'}, 'non-empty name'),
    ({'name': 'x', 'type': 'http', 'url': 'file:///etc/shadow'}, "url must start with http:// or https://"),
    ({'name': 'x', 'type': 'http', 'url': 'http://[::1'}, 'url is not valid'),
])
def test_check_level_errors(check, fragment):
    with pytest.raises(health.HealthConfigError) as exc:
        norm(check)
    assert fragment in str(exc.value)


# --------------------------------------------------------------------------- aggregation, fail_on

RESULTS = [
    {'name': 'a', 'status': 'ok'},
    {'name': 'b', 'status': 'warning'},
    {'name': 'c', 'status': 'critical'},
    {'name': 'd', 'status': 'critical'},
]


def test_worst_and_summary():
    assert health.worst('ok', 'warning', 'ok') == 'warning'
    assert health.worst('warning', 'critical') == 'critical'
    assert health.worst() == 'ok'
    assert health.summarize(RESULTS) == {'ok': 1, 'warning': 1, 'critical': 2}


def test_failing_checks_by_fail_on():
    assert health.failing_checks(RESULTS, 'critical') == ['c', 'd']
    assert health.failing_checks(RESULTS, 'warning') == ['c', 'd', 'b']
    assert health.failing_checks(RESULTS, 'never') == []
    assert health.failing_checks(RESULTS[:2], 'critical') == []


def test_failure_message_is_one_line_naming_checks():
    msg = health.failure_message(RESULTS, 'warning')
    assert msg == ('Health check failed (fail_on=warning): critical: c, d; warning: b. '
                   'See checks[] in the result for each message.')
    assert health.failure_message(RESULTS, 'never') is None
    hostile = [{'name': 'db."name; --\nDROP', 'status': 'critical'}]
    msg = health.failure_message(hostile, 'critical')
    assert '\n' not in msg and 'db."name; -- DROP' in msg


# --------------------------------------------------------------------------- runner

def test_run_one_grades_findings_and_metrics():
    (c,) = norm({'name': 'r', 'type': 'disk', 'path': '/'})
    probes = {'disk': fake_probe({'used_pct': 85, 'inodes_pct': 1},
                                 findings=[('critical', 'status 500 not in expected [200]')])}
    r = health.run_one(c, probes)
    assert r['status'] == 'critical'
    assert r['message'] == 'status 500 not in expected [200]; used_pct 85 >= warning 80'
    assert set(r) == {'name', 'type', 'status', 'metrics', 'message', 'thresholds', 'duration_ms'}


def test_probe_error_and_unexpected_exception_are_critical_not_raised():
    checks = norm({'name': 'a', 'type': 'load'}, {'name': 'b', 'type': 'memory'})
    probes = {'load': fake_probe(error=health.ProbeError('Could not read the load average: nope')),
              'memory': fake_probe(error=ZeroDivisionError('boom'))}
    report = health.run_checks(checks, probes=probes)
    a, b = report['checks']
    assert (a['status'], a['message']) == ('critical', 'Could not read the load average: nope')
    assert (b['status'], b['message']) == ('critical', 'Could not run memory probe: ZeroDivisionError: boom')
    assert report['status'] == 'critical' and report['summary'] == {'ok': 0, 'warning': 0, 'critical': 2}


def test_secrets_redacted_from_probe_messages():
    (c,) = norm({'name': 'pg', 'type': 'postgres', 'login_password': 's3cr3t-pw'})
    r = health.run_one(c, {'postgres': fake_probe(error=RuntimeError('auth s3cr3t-pw failed'))})
    assert 's3cr3t-pw' not in r['message'] and '********' in r['message']
    (c,) = norm({'name': 'h', 'type': 'http', 'url': 'http://u:urlpw@h/', 'headers': {'Authorization': 'Bearer tok'}})
    r = health.run_one(c, {'http': fake_probe(error=RuntimeError('x urlpw Bearer tok'))})
    assert 'urlpw' not in r['message'] and 'Bearer tok' not in r['message']
    assert health.safe_url('https://u:urlpw@h:8443/p?q=1') == 'https://u:********@h:8443/p?q=1'


def test_report_keeps_order_and_aggregates():
    checks = norm({'name': 'slow', 'type': 'load'}, {'name': 'fast', 'type': 'memory'})
    probes = {'load': fake_probe({'load5_per_core': 1.5}, sleep=0.2), 'memory': fake_probe({'used_pct': 10})}
    report = health.run_checks(checks, probes=probes)
    assert [c['name'] for c in report['checks']] == ['slow', 'fast']
    assert report['status'] == 'warning'
    assert report['summary'] == {'ok': 1, 'warning': 1, 'critical': 0}
    assert report['checks'][0]['duration_ms'] >= 200


def test_empty_report_is_ok():
    report = health.run_checks([])
    assert report['duration_ms'] >= 0
    assert dict(report, duration_ms=0) == {'status': 'ok', 'summary': {'ok': 0, 'warning': 0, 'critical': 0},
                                           'checks': [], 'duration_ms': 0}


# concurrency and the deadline: see test_health_rules.py (barrier-based, not timed)


# --------------------------------------------------------------------------- probes with fakes

def test_json_path():
    doc = {'status': 'ok', 'db': {'ok': True}, 'items': [{'id': 7}]}
    assert health_http.json_path(doc, 'status') == (True, 'ok')
    assert health_http.json_path(doc, '$.db.ok') == (True, True)
    assert health_http.json_path(doc, 'items[0].id') == (True, 7)
    assert health_http.json_path(doc, 'items.0.id') == (True, 7)
    assert health_http.json_path(doc, 'items[5].id') == (False, None)
    assert health_http.json_path(doc, 'nope.x') == (False, None)


class FakeStatvfs(object):
    f_frsize = 4096
    f_blocks = 1000
    f_bfree = 150     # 850 used
    f_bavail = 100    # 50 reserved for root
    f_files = 200
    f_ffree = 20


def test_disk_probe_matches_df(monkeypatch):
    monkeypatch.setattr(health_disk.os, 'statvfs', lambda path: FakeStatvfs())
    m = health_disk.run({'path': '/'}).metrics
    assert m['used_pct'] == round(100.0 * 850 / 950, 2)
    assert m['inodes_pct'] == 90.0 and m['free_bytes'] == 409600


def test_http_probe_hostile_url_is_critical():
    (c,) = norm({'name': 'h', 'type': 'http', 'url': 'http://127.0.0.1:1/a b\x00c', 'timeout': 1})
    r = health.run_one(c)
    assert r['status'] == 'critical'
    assert r['message'].startswith("Could not request GET http://127.0.0.1:1/a b\x00c: URL can't contain control")


def test_disk_probe_hostile_path_is_critical():
    (c,) = norm({'name': 'd', 'type': 'disk', 'path': '/tmp/\x00; rm -rf /'})
    r = health.run_one(c)
    assert r['status'] == 'critical' and r['message'].startswith('Could not stat file system of')
    (c,) = norm({'name': 'd', 'type': 'disk', 'path': '/nonexistent/dir/here'})
    r = health.run_one(c)
    assert r['status'] == 'critical' and 'No such file or directory' in r['message']


def test_memory_probe(tmp_path, monkeypatch):
    meminfo = tmp_path / 'meminfo'
    meminfo.write_text('MemTotal:       1000000 kB\nMemFree:          10000 kB\nMemAvailable:     150000 kB\n'
                       'SwapTotal:       100 kB\nSwapFree:        25 kB\nHugePages_Total:       0\n')
    monkeypatch.setattr(health_memory, 'PROC_MEMINFO', str(meminfo))
    (c,) = norm({'name': 'm', 'type': 'memory'})
    r = health.run_one(c)
    assert r['metrics']['used_pct'] == 85.0 and r['metrics']['swap_used_pct'] == 75.0
    assert (r['status'], r['message']) == ('warning', 'used_pct 85 >= warning 80')


def test_memory_probe_missing_file(tmp_path, monkeypatch):
    monkeypatch.setattr(health_memory, 'PROC_MEMINFO', str(tmp_path / 'none'))
    (c,) = norm({'name': 'm', 'type': 'memory'})
    r = health.run_one(c)
    assert r['status'] == 'critical' and r['message'].startswith('Could not read ')


def test_load_probe_per_core(monkeypatch):
    monkeypatch.setattr(health_load.os, 'getloadavg', lambda: (9.0, 4.4, 1.0))
    monkeypatch.setattr(health_load.os, 'cpu_count', lambda: 2)
    (c,) = norm({'name': 'l', 'type': 'load'})
    r = health.run_one(c)
    assert r['metrics']['load5_per_core'] == 2.2 and r['metrics']['load1_per_core'] == 4.5
    assert (r['status'], r['message']) == ('critical', 'load5_per_core 2.2 >= critical 2')


class FakeRedis(object):
    def __init__(self, info, maxclients_config=None):
        self._info = info
        self._maxclients = maxclients_config
        self.closed = False

    def ping(self):
        return True

    def info(self):
        return dict(self._info)

    def config_get(self, name):
        return {'maxclients': self._maxclients}

    def close(self):
        self.closed = True


def test_redis_probe_metrics(monkeypatch):
    fake = FakeRedis({'used_memory': 900, 'maxmemory': 1000, 'keyspace_hits': 60, 'keyspace_misses': 40,
                      'connected_clients': 5, 'evicted_keys': 3}, maxclients_config='10')
    monkeypatch.setattr(health_redis.redis_utils, 'make_client', lambda params, **extra: fake)
    (c,) = norm({'name': 'r', 'type': 'redis', 'password': 'pw'})
    r = health.run_one(c)
    m = r['metrics']
    assert (m['memory_pct'], m['hit_rate'], m['clients_pct'], m['evicted_keys']) == (90.0, 60.0, 50.0, 3)
    assert r['status'] == 'warning'
    assert 'hit_rate 60 <= warning 70' in r['message'] and 'memory_pct 90 >= warning 80' in r['message']
    assert fake.closed


def test_redis_probe_without_maxmemory_reports_used_memory_only(monkeypatch):
    fake = FakeRedis({'used_memory': 123456, 'maxmemory': 0, 'keyspace_hits': 0, 'keyspace_misses': 0,
                      'connected_clients': 1, 'maxclients': 10000, 'evicted_keys': 0})
    monkeypatch.setattr(health_redis.redis_utils, 'make_client', lambda params, **extra: fake)
    (c,) = norm({'name': 'r', 'type': 'redis'})
    r = health.run_one(c)
    assert r['metrics']['used_memory'] == 123456
    assert r['metrics']['memory_pct'] is None and r['metrics']['hit_rate'] is None
    assert (r['status'], r['message']) == ('ok', 'ok')


def test_redis_params_default_timeout_from_check():
    (c,) = norm({'name': 'r', 'type': 'redis', 'timeout': 2.5})
    params = health_redis._redis_params(c)
    assert params['socket_timeout'] == 2.5 and params['host'] is None
    assert health_redis.redis_utils.client_kwargs(params)['host'] == '127.0.0.1'


def test_pg_params_default_connect_timeout():
    (c,) = norm({'name': 'p', 'type': 'postgres', 'timeout': 2.2, 'login_db': 'app'})
    params = health_postgres._pg_params(c)
    kw = health_postgres.pg_utils.connect_kwargs(params, dbname=params['login_db'])
    assert kw['connect_timeout'] == 3 and kw['dbname'] == 'app' and kw['host'] == 'localhost'


def test_postgres_probe_connect_error_redacted(monkeypatch):
    def boom(*args, **kwargs):
        raise health_postgres.pg_utils.psycopg.OperationalError('connection failed: password=hunter2-xx is wrong\nDETAIL')
    monkeypatch.setattr(health_postgres.pg_utils, 'connect', boom)
    (c,) = norm({'name': 'p', 'type': 'postgres', 'login_password': 'hunter2-xx', 'login_port': 1})
    r = health.run_one(c)
    assert r['status'] == 'critical'
    assert r['message'].startswith('Could not connect to postgres postgres@localhost:1/postgres: connection failed')
    assert 'hunter2-xx' not in r['message'] and '\n' not in r['message']


def _write_cert(path, not_before, not_after, names=('localhost',)):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert


@pytest.mark.parametrize('days_left,status,fragment', [
    (90, 'ok', 'ok'),
    (20, 'warning', '<= warning 30'),
    (5, 'critical', '<= critical 7'),
    (-1, 'critical', 'expired on'),
])
def test_tls_cert_file(tmp_path, days_left, status, fragment):
    now = datetime.datetime.now(datetime.timezone.utc)
    _write_cert(tmp_path / 'c.pem', now - datetime.timedelta(days=10), now + datetime.timedelta(days=days_left))
    (c,) = norm({'name': 'c', 'type': 'tls_cert', 'path': str(tmp_path / 'c.pem')})
    r = health.run_one(c)
    assert r['status'] == status
    assert fragment in r['message']
    assert r['metrics']['expired'] is (days_left < 0)
    assert r['metrics']['chain_valid'] is None


def test_tls_cert_not_yet_valid(tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc)
    _write_cert(tmp_path / 'c.pem', now + datetime.timedelta(days=2), now + datetime.timedelta(days=200))
    (c,) = norm({'name': 'c', 'type': 'tls_cert', 'path': str(tmp_path / 'c.pem')})
    r = health.run_one(c)
    assert r['status'] == 'critical' and 'is not valid before' in r['message']
    assert r['metrics']['not_yet_valid'] is True


def test_tls_cert_garbage_file_is_critical(tmp_path):
    (tmp_path / 'c.pem').write_bytes(b'-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n')
    (c,) = norm({'name': 'c', 'type': 'tls_cert', 'path': str(tmp_path / 'c.pem')})
    r = health.run_one(c)
    assert r['status'] == 'critical' and r['message'].startswith('Could not read certificate')


def test_hostname_matching(tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = _write_cert(tmp_path / 'c.pem', now, now + datetime.timedelta(days=1), names=('*.example.com', 'a.b'))
    assert health_tls.hostname_matches(cert, 'www.example.com')
    assert health_tls.hostname_matches(cert, 'A.B.')
    assert not health_tls.hostname_matches(cert, 'x.www.example.com')
    assert not health_tls.hostname_matches(cert, 'example.com')
    assert not health_tls.hostname_matches(cert, '127.0.0.1')


def test_hostname_matching_is_the_one_rfc6125_rule_of_certs(tmp_path):
    from ansible_collections.runbook.ops.plugins.module_utils import certs
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = _write_cert(tmp_path / 'c.pem', now, now + datetime.timedelta(days=1), names=('*.example.com',))
    assert not health_tls.hostname_matches(cert, '.example.com')          # an empty label is no label
    cert = _write_cert(tmp_path / 'd.pem', now, now + datetime.timedelta(days=1), names=('*.*.example.com',))
    assert not health_tls.hostname_matches(cert, 'a.*.example.com')       # one wildcard, left-most only
    assert health_tls.hostname_matches is certs.hostname_matches


class _FakeFetch(object):
    """Stands in for certs.fetch_endpoint_chain: records the calls, fails the verified one if told to."""

    def __init__(self, cert, verify_error=None, error=None):
        self.cert, self.verify_error, self.error, self.calls = cert, verify_error, error, []

    def __call__(self, host, port, server_name=None, starttls=None, timeout=10.0, verify=False, cafile=None):
        from ansible_collections.runbook.ops.plugins.module_utils import certs
        self.calls.append(dict(host=host, port=port, server_name=server_name, starttls=starttls, verify=verify,
                               cafile=cafile, timeout=timeout))
        if self.error is not None:
            raise self.error
        if verify and self.verify_error is not None:
            raise certs.CertError('Could not complete a TLS handshake', cause=self.verify_error)
        return [self.cert]


def test_tls_cert_probe_fetches_through_certs_with_starttls(tmp_path, monkeypatch):
    import ssl
    from ansible_collections.runbook.ops.plugins.module_utils import certs
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = _write_cert(tmp_path / 'c.pem', now - datetime.timedelta(days=1), now + datetime.timedelta(days=90),
                       names=('db.example.com',))
    error = ssl.SSLCertVerificationError(1, 'certificate verify failed')
    error.verify_message = 'self-signed certificate'
    fake = _FakeFetch(cert, verify_error=error)
    monkeypatch.setattr(certs, 'fetch_endpoint_chain', fake)
    (c,) = norm({'name': 'db', 'type': 'tls_cert', 'host': '127.0.0.1', 'port': 5432, 'starttls': 'postgres',
                 'server_name': 'db.example.com', 'ca_cert': '/ca.pem', 'timeout': 5})
    r = health.run_one(c)
    assert r['status'] == 'ok', r['message']
    assert [(k['verify'], k['starttls'], k['server_name'], k['cafile']) for k in fake.calls] == [
        (True, 'postgres', 'db.example.com', '/ca.pem'), (False, 'postgres', 'db.example.com', '/ca.pem')]
    assert all(0 < k['timeout'] <= 5 for k in fake.calls)
    m = r['metrics']
    assert (m['chain_valid'], m['verify_error'], m['hostname_valid']) == (False, 'self-signed certificate', True)


def test_tls_cert_probe_starttls_refused_message(tmp_path, monkeypatch):
    from ansible_collections.runbook.ops.plugins.module_utils import certs
    msg = ('Could not start TLS with PostgreSQL at 127.0.0.1:5432: the server answered the SSLRequest with N '
           '(ssl = off). Enable ssl in postgresql.conf or drop starttls.')
    monkeypatch.setattr(certs, 'fetch_endpoint_chain', _FakeFetch(None, error=certs.CertError(msg)))
    (c,) = norm({'name': 'db', 'type': 'tls_cert', 'host': '127.0.0.1', 'port': 5432, 'starttls': 'postgres'})
    r = health.run_one(c)
    assert (r['status'], r['message']) == ('critical', msg)


def test_tls_cert_starttls_needs_a_host(capsys):
    failed, result = run_main({'checks': [{'name': 'c', 'type': 'tls_cert', 'path': '/p', 'starttls': 'postgres'}]},
                              capsys)
    assert failed and 'starttls' in result['msg'] and 'host' in result['msg']
    failed, result = run_main({'checks': [{'name': 'c', 'type': 'tls_cert', 'host': 'h', 'starttls': 'smtp'}]},
                              capsys)
    assert failed and 'starttls' in result['msg'] and 'postgres' in result['msg']
    failed, result = run_main({'checks': [{'name': 'c', 'type': 'tcp', 'host': 'h', 'port': 1,
                                           'starttls': 'postgres'}]}, capsys)
    assert failed and 'does not take option(s) starttls' in result['msg']


# --------------------------------------------------------------------------- the module's argument handling

def test_module_rejects_typo_in_check_options(capsys):
    failed, result = run_main({'checks': [{'name': 'root', 'type': 'disk', 'path': '/', 'treshold': {}}]}, capsys)
    assert failed
    assert 'treshold' in result['msg'] and 'Unsupported parameters' in result['msg']


def test_module_required_if_per_type(capsys):
    failed, result = run_main({'checks': [{'name': 'api', 'type': 'http'}]}, capsys)
    assert failed and 'type is http' in result['msg'] and 'url' in result['msg']
    failed, result = run_main({'checks': [{'name': 'c', 'type': 'tls_cert'}]}, capsys)
    assert failed and 'host, path' in result['msg']
    failed, result = run_main({'checks': [{'name': 'c', 'type': 'tls_cert', 'host': 'h', 'path': '/p'}]}, capsys)
    assert failed and 'mutually exclusive' in result['msg']


def test_module_rejects_unknown_type_and_fail_on(capsys):
    failed, result = run_main({'checks': [{'name': 'x', 'type': 'ftp'}]}, capsys)
    assert failed and 'ftp' in result['msg']
    failed, result = run_main({'checks': [{'name': 'x', 'type': 'load'}], 'fail_on': 'sometimes'}, capsys)
    assert failed and 'fail_on' in result['msg']


def test_module_duplicate_names_message(capsys):
    failed, result = run_main({'checks': [{'name': 'x', 'type': 'load'}, {'name': 'x', 'type': 'memory'}]}, capsys)
    assert failed
    assert result['msg'] == ("Could not validate checks: check names must be unique, duplicated: 'x'. "
                             "Fix the checks option.")
    assert 'checks' not in result or not isinstance(result.get('checks'), list)


def test_module_unknown_metric_message(capsys):
    failed, result = run_main({'checks': [{'name': 'l', 'type': 'load', 'thresholds': {'cpu': {'warning': 1}}}]},
                              capsys)
    assert failed and "unknown metric 'cpu'" in result['msg'] and 'load5_per_core' in result['msg']


def test_module_max_workers_positive(capsys):
    failed, result = run_main({'checks': [{'name': 'l', 'type': 'load'}], 'max_workers': 0}, capsys)
    assert failed and 'max_workers must be at least 1' in result['msg']


@pytest.mark.parametrize('fail_on,failed_expected', [('critical', True), ('warning', True), ('never', False)])
def test_module_fail_on_keeps_report(capsys, monkeypatch, fail_on, failed_expected):
    monkeypatch.setitem(health.PROBES, 'load', fake_probe({'load5_per_core': 3.0}))
    monkeypatch.setitem(health.PROBES, 'memory', fake_probe({'used_pct': 85.0}))
    args = {'fail_on': fail_on, 'checks': [{'name': 'l', 'type': 'load'}, {'name': 'm', 'type': 'memory'}]}
    failed, result = run_main(args, capsys)
    assert failed is failed_expected
    assert result['changed'] is False
    assert result['status'] == 'critical' and result['summary'] == {'ok': 0, 'warning': 1, 'critical': 1}
    assert [c['status'] for c in result['checks']] == ['critical', 'warning']
    if fail_on == 'critical':
        assert result['msg'].startswith('Health check failed (fail_on=critical): critical: l. ')
    elif fail_on == 'warning':
        assert 'critical: l; warning: m.' in result['msg']


def test_module_warning_does_not_fail_with_fail_on_critical(capsys, monkeypatch):
    monkeypatch.setitem(health.PROBES, 'memory', fake_probe({'used_pct': 85.0}))
    failed, result = run_main({'checks': [{'name': 'm', 'type': 'memory'}]}, capsys)
    assert not failed and result['status'] == 'warning'


def test_module_check_mode_runs_probes_and_never_changes(capsys, monkeypatch):
    calls = []
    monkeypatch.setitem(health.PROBES, 'load', lambda check: calls.append(check['name']) or health.ProbeResult({}))
    failed, result = run_main({'checks': [{'name': 'l', 'type': 'load'}]}, capsys, check_mode=True)
    assert not failed and result['changed'] is False and calls == ['l']


def test_module_secrets_are_no_log(capsys, monkeypatch):
    monkeypatch.setitem(health.PROBES, 'postgres', fake_probe(error=health.ProbeError('denied for pg-secret-1')))
    monkeypatch.setitem(health.PROBES, 'redis', fake_probe(error=health.ProbeError('denied for rd-secret-2')))
    args = {'checks': [{'name': 'pg', 'type': 'postgres', 'login_password': 'pg-secret-1'},
                       {'name': 'rd', 'type': 'redis', 'password': 'rd-secret-2'}]}
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            health_check.main()
    out = capsys.readouterr().out
    assert 'pg-secret-1' not in out and 'rd-secret-2' not in out
    spec = health.argument_spec()['checks']['options']
    assert spec['login_password']['no_log'] and spec['password']['no_log'] and spec['headers']['no_log']


def test_argspec_has_no_defaults_that_leak_across_types():
    spec = health.argument_spec()['checks']['options']
    for name in ('host', 'port', 'login_host', 'validate_certs', 'ssl_mode', 'tls'):
        assert 'default' not in spec[name], name


def test_documentation_lists_every_suboption():
    import yaml
    doc = yaml.safe_load(health_check.DOCUMENTATION)
    documented = set(doc['options']['checks']['suboptions'])
    assert documented == set(health.check_suboptions())
    assert set(doc['options']) == set(health.argument_spec())


def test_all_types_have_probes_and_option_lists():
    assert set(health.PROBES) == set(health.CHECK_TYPES) == set(health.TYPE_OPTIONS) == set(health.METRICS)
    union = set(health.COMMON_OPTIONS)
    for opts in health.TYPE_OPTIONS.values():
        union |= set(opts)
    assert union == set(health.check_suboptions())
    assert os.path.basename(health_memory.PROC_MEMINFO) == 'meminfo'
