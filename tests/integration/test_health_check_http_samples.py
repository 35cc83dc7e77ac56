"""health_check http ``samples``: latency percentiles and the error rate over N requests, against a real
HTTP server whose slow and failing answers are controlled (request k of each 20 is slow or fails), so the
asserted percentiles are lower bounds set by the server, never upper bounds on this machine's speed."""
import itertools
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SLOW_S = 0.6


class _Mixed(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    counter = itertools.count(1)
    lock = threading.Lock()

    def log_message(self, format, *args):  # noqa: A002  pylint: disable=redefined-builtin
        pass

    def do_GET(self):  # noqa: N802
        with self.lock:
            k = next(self.counter)
        code, body = 200, b'{"status": "ok"}'
        if self.path.startswith('/mixed'):
            if k % 20 in (7, 13):          # 2 of every 20: slow
                time.sleep(SLOW_S)
            if k % 20 == 3:                # 1 of every 20: fails
                code, body = 500, b'oops'
        elif self.path.startswith('/down'):
            code, body = 503, b'maintenance'
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def mixed_server():
    _Mixed.counter = itertools.count(1)
    server = ThreadingHTTPServer(('127.0.0.1', 0), _Mixed)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_samples_give_percentiles_and_the_error_rate(run_module, mixed_server):
    result = run_module('health_check', {'fail_on': 'never', 'checks': [
        {'name': 'api', 'type': 'http', 'url': mixed_server + '/mixed', 'samples': 20, 'concurrency': 4,
         'timeout': 60, 'expect_json': {'status': 'ok'}}]})
    check = result['checks'][0]
    metrics = check['metrics']
    assert metrics['requests'] == 20
    assert metrics['errors'] == 1
    assert metrics['error_rate_pct'] == 5.0
    assert metrics['status_codes'] == {'200': 19, '500': 1}
    # 2 of the 19 answered requests took at least SLOW_S: the nearest-rank p95 (18th of 19) is one of them
    assert metrics['p95_ms'] >= SLOW_S * 1000
    assert metrics['p99_ms'] >= SLOW_S * 1000
    assert metrics['p50_ms'] <= metrics['p95_ms']
    assert metrics['latency_ms'] == metrics['p50_ms']
    assert check['status'] == 'critical'       # seed 000: an error rate of 5 % is critical
    assert 'error_rate_pct 5 >= critical 5' in check['message']
    assert 'json_match' in metrics and metrics['json_match'] is True


def test_samples_thresholds_are_the_users(run_module, mixed_server):
    result = run_module('health_check', {'fail_on': 'never', 'checks': [
        {'name': 'api', 'type': 'http', 'url': mixed_server + '/mixed', 'samples': 20, 'timeout': 60,
         'thresholds': {'error_rate_pct': {'warning': 10, 'critical': 50},
                        'p95_ms': {'warning': SLOW_S * 1000 / 2}, 'latency_ms': {}}}]})
    check = result['checks'][0]
    assert check['status'] == 'warning'
    assert 'p95_ms' in check['message'] and 'error_rate_pct' not in check['message']


def test_samples_all_answered_with_a_bad_status_is_critical(run_module, mixed_server):
    result = run_module('health_check', {'fail_on': 'never', 'checks': [
        {'name': 'down', 'type': 'http', 'url': mixed_server + '/down', 'samples': 5, 'timeout': 30}]})
    check = result['checks'][0]
    assert check['status'] == 'critical'
    assert 'no request got an expected status' in check['message']
    assert check['metrics']['error_rate_pct'] == 100.0


def test_samples_with_no_answer_at_all_name_the_failure(run_module):
    import socket
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    result = run_module('health_check', {'fail_on': 'never', 'checks': [
        {'name': 'gone', 'type': 'http', 'url': 'http://127.0.0.1:%d/' % port, 'samples': 3, 'timeout': 20}]})
    check = result['checks'][0]
    assert check['status'] == 'critical'
    assert 'all 3 requests failed' in check['message']


def test_samples_out_of_range_are_refused(run_module):
    result = run_module('health_check', {'checks': [
        {'name': 'x', 'type': 'http', 'url': 'http://127.0.0.1:1/', 'samples': 0}]})
    assert result.get('failed') and 'samples must be between 1 and 10000' in result['msg']
