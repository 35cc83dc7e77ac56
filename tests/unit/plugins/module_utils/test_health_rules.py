# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules of health_check pinned so that breaking one line fails a test (issue 17): grading order,
findings never lowering a grade, URL redaction, basic auth from the URL and the runner's deadline."""

from __future__ import annotations

import base64
import itertools
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import health
from ansible_collections.runbook.ops.plugins.module_utils import health_http


def norm(*checks):
    return health.normalize_checks([dict(c) for c in checks])


def fake_probe(metrics=None, findings=(), sleep=0.0, block=None):
    def probe(check):
        if block is not None:
            block.wait()
        if sleep:
            time.sleep(sleep)
        result = health.ProbeResult(dict(metrics or {}))
        for status, message in findings:
            result.add(status, message)
        return result
    return probe


# --------------------------------------------------------------------------- grading order

# postgres metrics graded higher_is_worse, in sorted (grading) order
PG = ('connections_pct', 'latency_ms', 'longest_query_s', 'ungranted_locks')
PG_THRESHOLDS = {m: {'warning': 10.0, 'critical': 20.0} for m in PG}
VALUE = {'ok': 1, 'warning': 15, 'critical': 25}


def _levels(*levels):
    return sorted(set(itertools.permutations(levels)))


@pytest.mark.parametrize('levels', _levels('critical', 'ok', 'ok', 'ok') + _levels('critical', 'warning', 'ok', 'ok')
                         + _levels('critical', 'critical', 'warning', 'ok'))
def test_critical_metric_never_hidden_by_a_metric_graded_after_it(levels):
    metrics = {m: VALUE[level] for m, level in zip(PG, levels)}
    for thresholds in (PG_THRESHOLDS, dict(reversed(list(PG_THRESHOLDS.items())))):
        status, reasons = health.grade_metrics('postgres', metrics, thresholds)
        assert status == 'critical', (levels, reasons)
        expected = ['%s %d >= %s 20' % (m, VALUE[lvl], lvl) if lvl == 'critical' else '%s %d >= %s 10' % (m, VALUE[lvl], lvl)
                    for m, lvl in zip(PG, levels) if lvl != 'ok']
        assert reasons == expected


@pytest.mark.parametrize('levels', _levels('warning', 'ok', 'ok', 'ok'))
def test_warning_metric_never_hidden_by_an_ok_metric(levels):
    metrics = {m: VALUE[level] for m, level in zip(PG, levels)}
    assert health.grade_metrics('postgres', metrics, PG_THRESHOLDS)[0] == 'warning'


@pytest.mark.parametrize('hit_rate,latency,expected', [
    (40, 1, 'critical'),      # lower_is_worse critical graded before an ok higher_is_worse metric
    (60, 1, 'warning'),
    (99, 2000, 'critical'),   # ok lower_is_worse metric graded before a critical one
    (40, 150, 'critical'),    # critical before warning
])
def test_mixed_directions_keep_the_worst(hit_rate, latency, expected):
    thresholds = health.normalize_thresholds('redis', {})
    status, dummy = health.grade_metrics('redis', {'hit_rate': hit_rate, 'latency_ms': latency}, thresholds)
    assert status == expected


def test_all_ok_metrics_are_ok():
    assert health.grade_metrics('postgres', {m: 1 for m in PG}, PG_THRESHOLDS) == ('ok', [])


# --------------------------------------------------------------------------- findings and thresholds

DISK = {'used_pct': {'warning': 80.0, 'critical': 90.0}}


@pytest.mark.parametrize('findings', [
    [], [('warning', 'w')], [('ok', 'fine')], [('warning', 'a'), ('ok', 'b')], [('ok', 'b'), ('warning', 'a')],
])
def test_a_finding_never_lowers_a_critical_threshold(findings):
    status, reasons = health.grade('disk', {'used_pct': 95}, DISK, findings)
    assert status == 'critical'
    assert reasons[-1] == 'used_pct 95 >= critical 90'
    assert reasons[:-1] == [message for dummy, message in findings]


@pytest.mark.parametrize('findings', [[('ok', 'fine')], [('ok', 'a'), ('ok', 'b')]])
def test_a_finding_never_lowers_a_warning_threshold(findings):
    assert health.grade('disk', {'used_pct': 85}, DISK, findings)[0] == 'warning'


@pytest.mark.parametrize('used,findings,expected', [
    (1, [('critical', 'status 500')], 'critical'),
    (85, [('critical', 'status 500')], 'critical'),
    (1, [('warning', 'slow')], 'warning'),
    (1, [('critical', 'x'), ('warning', 'y')], 'critical'),
    (1, [('warning', 'y'), ('critical', 'x'), ('ok', 'z')], 'critical'),
])
def test_a_finding_raises_the_grade(used, findings, expected):
    assert health.grade('disk', {'used_pct': used}, DISK, findings)[0] == expected


def test_run_one_keeps_critical_threshold_with_a_warning_finding():
    (c,) = norm({'name': 'r', 'type': 'disk', 'path': '/'})
    r = health.run_one(c, {'disk': fake_probe({'used_pct': 95, 'inodes_pct': 1}, findings=[('warning', 'w')])})
    assert (r['status'], r['message']) == ('critical', 'w; used_pct 95 >= critical 90')


# --------------------------------------------------------------------------- worst / summarize

STATUSES = ('ok', 'warning', 'critical')


@pytest.mark.parametrize('statuses', [p for n in (1, 2, 3) for p in itertools.product(STATUSES, repeat=n)])
def test_worst_is_the_most_severe_in_any_order(statuses):
    expected = 'critical' if 'critical' in statuses else 'warning' if 'warning' in statuses else 'ok'
    assert health.worst(*statuses) == expected


def test_worst_of_nothing_is_ok():
    assert health.worst() == 'ok'


def test_summarize_counts_every_status():
    results = [{'status': s} for s in ('critical', 'ok', 'warning', 'critical', 'ok', 'ok')]
    assert health.summarize(results) == {'ok': 3, 'warning': 1, 'critical': 2}
    assert health.summarize([]) == {'ok': 0, 'warning': 0, 'critical': 0}


# --------------------------------------------------------------------------- URL redaction

@pytest.mark.parametrize('url,shown', [
    ('http://user:s3cret@host:9000/b', 'http://user:********@host:9000/b'),
    ('https://h/p?s=3', 'https://h/p?s=3'),
    ('https://h/hook?token=abc123&s=3', 'https://h/hook?token=********&s=3'),
    ('https://h/o?X-Amz-Credential=AKIA1&X-Amz-Signature=f00d&X-Amz-Expires=60',
     'https://h/o?X-Amz-Credential=********&X-Amz-Signature=********&X-Amz-Expires=60'),
    ('https://ghp_tok3n@github.com/x.git', 'https://********@github.com/x.git'),
    ('https://u:p%40ss@h/?api_key=k', 'https://u:********@h/?api_key=********'),
])
def test_safe_url_hides_userinfo_and_query_tokens(url, shown):
    assert health.safe_url(url) == shown


def test_redact_urls_inside_any_text():
    text = ('Could not connect to the endpoint URL: "http://ak:sec%40ret@127.0.0.1:1/bkt?list-type=2&token=t0k3n" '
            'and s3://bucket/pg (endpoint https://u:pw9@h:9000)')
    out = health.redact_urls(text)
    for secret in ('sec%40ret', 't0k3n', 'pw9'):
        assert secret not in out
    assert 'http://ak:********@127.0.0.1:1/bkt?list-type=2&token=********' in out
    assert 's3://bucket/pg' in out and 'https://u:********@h:9000' in out


def test_secrets_of_include_endpoint_and_url_passwords_and_tokens():
    (c,) = norm({'name': 'b', 'type': 'backup_age', 'store': 's3://b/p',
                 's3_endpoint_url': 'http://minio:ep%2Fpw@h:9000?token=qtok'})
    found = health.secrets_of(c)
    assert {'ep%2Fpw', 'ep/pw', 'qtok'} <= set(found)
    (c,) = norm({'name': 'h', 'type': 'http', 'url': 'http://u:p%3Ass@h/'})
    basic = base64.b64encode(b'u:p:ss').decode()
    assert {'p%3Ass', 'p:ss', basic} <= set(health.secrets_of(c))


def _fake_backup_age(store, error=None):
    def backup_age(params, database=None, now=None):
        if error is not None:
            raise error
        return {'found': False, 'id': None, 'created_at': None, 'age_s': None, 'valid_count': 0,
                'invalid_count': 0, 'store': store}
    return backup_age


def test_backup_age_endpoint_password_never_reported(monkeypatch):
    endpoint = 'http://minio:ep-pw-77c1@127.0.0.1:9000'
    check = {'name': 'b', 'type': 'backup_age', 'store': 's3://bkt/pg', 's3_endpoint_url': endpoint,
             'aws_access_key': 'AKIAXX', 'aws_secret_key': 'aws-sec-1f'}
    # backup_store describes the store with its endpoint as given
    monkeypatch.setattr(bs, 'backup_age', _fake_backup_age('s3://bkt/pg (endpoint %s)' % endpoint))
    r = health.run_checks(norm(check))['checks'][0]
    assert r['status'] == 'critical'
    assert r['message'] == 'no valid backup in s3://bkt/pg (endpoint http://minio:********@127.0.0.1:9000)'
    assert r['metrics']['store'] == 's3://bkt/pg (endpoint http://minio:********@127.0.0.1:9000)'
    assert 'ep-pw-77c1' not in repr(r)
    error = bs.StoreError('cannot list: Could not connect to the endpoint URL: "%s/bkt?list-type=2"' % endpoint)
    monkeypatch.setattr(bs, 'backup_age', _fake_backup_age(None, error=error))
    r = health.run_checks(norm(check))['checks'][0]
    assert r['status'] == 'critical' and 'ep-pw-77c1' not in repr(r)
    assert 'http://minio:********@127.0.0.1:9000/bkt?list-type=2' in r['message']


def test_backup_age_passes_its_time_budget_to_the_s3_client(monkeypatch):
    calls = []

    def backup_age(params, database=None, now=None):
        calls.append(dict(params))
        return {'found': False, 'store': 's3://b', 'valid_count': 0, 'invalid_count': 0}
    monkeypatch.setattr(bs, 'backup_age', backup_age)
    health.run_checks(norm({'name': 'b', 'type': 'backup_age', 'store': 's3://b', 'timeout': 2}))
    health.run_checks(norm({'name': 'b', 'type': 'backup_age', 'store': 's3://b', 'timeout': 300}))
    assert [(c['s3_connect_timeout'], c['s3_read_timeout'], c['s3_max_attempts']) for c in calls] == [
        (2, 2, 1), (10, 60, 1)]


# --------------------------------------------------------------------------- basic auth from the URL

def test_url_credentials_become_a_basic_auth_header():
    url, header = health_http.url_credentials('http://us%40r:p%3Ass%2Fw@127.0.0.1:8080/health?x=1')
    assert url == 'http://127.0.0.1:8080/health?x=1'
    assert header == 'Basic ' + base64.b64encode(b'us@r:p:ss/w').decode()
    assert health_http.url_credentials('https://h:1/p') == ('https://h:1/p', None)
    url, header = health_http.url_credentials('https://tok3n@h/p')
    assert (url, header) == ('https://h/p', 'Basic ' + base64.b64encode(b'tok3n:').decode())


class _FakeResponse(object):
    def __init__(self, body=b'ok'):
        self.body = body

    def getcode(self):
        return 200

    def read1(self, n):
        body, self.body = self.body[:n], self.body[n:]
        return body

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _capture_opener(monkeypatch, sent):
    class Opener(object):
        def open(self, request, timeout=None):
            sent.append(request)
            return _FakeResponse()
    monkeypatch.setattr(health_http, '_http_opener', lambda check: Opener())


def test_http_probe_sends_url_credentials_as_basic_auth(monkeypatch):
    sent = []
    _capture_opener(monkeypatch, sent)
    (c,) = norm({'name': 'h', 'type': 'http', 'url': 'http://probe:pw%40x@127.0.0.1:1/basic'})
    r = health.run_one(c)
    assert r['status'] == 'ok', r['message']
    (request,) = sent
    assert request.full_url == 'http://127.0.0.1:1/basic'
    assert request.get_header('Authorization') == 'Basic ' + base64.b64encode(b'probe:pw@x').decode()


def test_http_probe_explicit_authorization_header_wins(monkeypatch):
    sent = []
    _capture_opener(monkeypatch, sent)
    (c,) = norm({'name': 'h', 'type': 'http', 'url': 'http://probe:pw@127.0.0.1:1/',
                 'headers': {'authorization': 'Bearer mine'}})
    health.run_one(c)
    headers = {k.lower(): v for k, v in sent[0].header_items()}
    assert headers['authorization'] == 'Bearer mine'


def test_http_probe_url_password_redacted_in_failures():
    (c,) = norm({'name': 'h', 'type': 'http', 'url': 'http://probe:url-pw-3c9a@127.0.0.1:1/x', 'timeout': 5})
    r = health.run_one(c)
    assert r['status'] == 'critical'
    assert r['message'].startswith('Could not request GET http://probe:********@127.0.0.1:1/x: ')
    assert 'Name or service not known' not in r['message'] and 'url-pw-3c9a' not in repr(r)


# --------------------------------------------------------------------------- deadlines

class _Trickle(object):
    """A response body that arrives one byte every ``nap`` seconds, forever."""

    def __init__(self, nap):
        self.nap = nap

    def read1(self, n):
        time.sleep(self.nap)
        return b'x'


def test_read_body_stops_at_the_deadline():
    start = time.monotonic()
    with pytest.raises(health.ProbeTimeout):
        health_http.read_body(_Trickle(0.05), time.monotonic() + 0.5)
    assert time.monotonic() - start < 10


def test_read_body_reads_up_to_the_limit():
    assert health_http.read_body(_FakeResponse(b'a' * 100), time.monotonic() + 60, limit=30) == b'a' * 30
    assert health_http.read_body(_FakeResponse(b'abc'), time.monotonic() + 60) == b'abc'


def test_overrunning_probe_is_critical_and_abandoned(monkeypatch):
    monkeypatch.setattr(health, 'DEADLINE_GRACE', 0.2)
    never = threading.Event()
    checks = norm({'name': 'hang', 'type': 'load', 'timeout': 0.3}, {'name': 'fine', 'type': 'memory'})
    start = time.monotonic()
    report = health.run_checks(checks, max_workers=1,
                               probes={'load': fake_probe(block=never), 'memory': fake_probe({'used_pct': 1})})
    try:
        assert time.monotonic() - start < 20
        hang, fine = report['checks']
        assert (hang['status'], hang['message']) == ('critical', 'Could not finish the load probe: timed out after '
                                                                 '0.3 s')
        assert hang['metrics'] == {} and hang['duration_ms'] >= 300
        # the only worker slot was freed: the next check still ran
        assert (fine['status'], fine['message']) == ('ok', 'ok')
        assert report['status'] == 'critical' and report['summary'] == {'ok': 1, 'warning': 0, 'critical': 1}
        # the abandoned probe's thread never keeps the process alive
        assert all(t.daemon for t in threading.enumerate() if t.is_alive() and t is not threading.main_thread()
                   and t.name.startswith('health-probe'))
    finally:
        never.set()


def test_process_exits_while_a_probe_still_hangs(tmp_path):
    """The module process must end even when a probe never returns (non-daemon workers are joined at exit)."""
    script = tmp_path / 'hang.py'
    script.write_text(textwrap.dedent('''
        import threading, time
        from ansible_collections.runbook.ops.plugins.module_utils import health
        health.DEADLINE_GRACE = 0.2
        never = threading.Event()
        def probe(check):
            never.wait()
        checks = health.normalize_checks([{'name': 'hang', 'type': 'load', 'timeout': 0.3}])
        report = health.run_checks(checks, probes={'load': probe})
        print(report['checks'][0]['status'], report['checks'][0]['message'])
    '''))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    start = time.monotonic()
    try:
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60,
                             check=False)
    except subprocess.TimeoutExpired:
        pytest.fail('the process was still alive 60 s after a probe with timeout 0.3 s hung')
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'critical Could not finish the load probe: timed out after 0.3 s'
    assert time.monotonic() - start < 60


def test_probes_overlap_without_depending_on_latency():
    """Every probe waits at a barrier that only opens when all of them run at once."""
    n = 6
    barrier = threading.Barrier(n, timeout=30)

    def probe(check):
        barrier.wait()
        return health.ProbeResult({'load5_per_core': 0.1})
    checks = norm(*[{'name': 'p%d' % i, 'type': 'load', 'timeout': 60} for i in range(n)])
    report = health.run_checks(checks, max_workers=n, probes={'load': probe})
    assert report['summary'] == {'ok': n, 'warning': 0, 'critical': 0}, report


def test_max_workers_bounds_concurrency():
    lock = threading.Lock()
    state = {'now': 0, 'max': 0}

    def probe(check):
        with lock:
            state['now'] += 1
            state['max'] = max(state['max'], state['now'])
        time.sleep(0.05)
        with lock:
            state['now'] -= 1
        return health.ProbeResult({})
    checks = norm(*[{'name': 'p%d' % i, 'type': 'load', 'timeout': 60} for i in range(6)])
    report = health.run_checks(checks, max_workers=2, probes={'load': probe})
    assert report['summary']['ok'] == 6 and 1 <= state['max'] <= 2
