# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""health_check's wait_timeout/delay through ansible (issue 11), against an HTTP server on 127.0.0.1 that answers
503 to its first N requests and 200 after: the server counts requests, so nothing here depends on timing. The
bounds are generous (a busy machine is fine)."""

from __future__ import annotations

import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

LATENCY_OFF = {'latency_ms': {}}     # these tests are not about latency


class CountingServer(object):
    """503 to the first ``unhealthy`` requests, then 200; ``unhealthy=None`` never becomes healthy."""

    def __init__(self, unhealthy):
        self.unhealthy = unhealthy
        self.requests = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, format, *args):  # noqa: A002  pylint: disable=redefined-builtin
                pass

            def do_GET(self):  # noqa: N802
                with outer.lock:
                    outer.requests += 1
                    healthy = outer.unhealthy is not None and outer.requests > outer.unhealthy
                body = b'ready\n' if healthy else b'starting\n'
                self.send_response(200 if healthy else 503)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.1}, daemon=True)
        self.thread.start()

    def url(self):
        return 'http://127.0.0.1:%d/health' % self.server.server_address[1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def counting_server():
    servers = []

    def make(unhealthy):
        servers.append(CountingServer(unhealthy))
        return servers[-1]
    yield make
    for server in servers:
        server.stop()


def _check(server):
    return {'name': 'api', 'type': 'http', 'url': server.url(), 'timeout': 5, 'thresholds': LATENCY_OFF}


def test_module_waits_until_the_app_answers(run_module, counting_server):
    server = counting_server(3)
    result = run_module('health_check', {'checks': [_check(server)], 'wait_timeout': 120, 'delay': 1}, timeout=300)
    assert result.get('failed') is not True, result.get('msg')
    assert result['status'] == 'ok'
    assert result['attempts'] == 4 and server.requests == 4       # 3 answers 503, the 4th 200, then it stops
    assert result['checks'][0]['metrics']['status_code'] == 200
    assert result['waited_s'] >= 3                                 # three delays of 1 s between the passes


def test_module_without_wait_is_one_pass(run_module, counting_server):
    server = counting_server(3)
    result = run_module('health_check', {'checks': [_check(server)]}, timeout=300)
    assert result.get('failed') is True
    assert result['attempts'] == 1 and server.requests == 1
    assert result['msg'].startswith('Health check failed (fail_on=critical): critical: api.')


def test_module_gives_up_after_wait_timeout(run_module, counting_server):
    server = counting_server(None)
    start = time.monotonic()
    try:
        result = run_module('health_check', {'checks': [_check(server)], 'wait_timeout': 3, 'delay': 1},
                            timeout=150)
    except subprocess.TimeoutExpired:
        raise AssertionError('health_check with wait_timeout=3 was still running after 150 s')
    assert time.monotonic() - start < 150
    assert result.get('failed') is True
    assert result['status'] == 'critical' and result['checks'][0]['message'] == 'status 503 not in expected [200]'
    assert result['msg'].startswith('Health check failed (fail_on=critical): critical: api.')
    assert 2 <= result['attempts'] == server.requests <= 4       # passes start at most 3 s after the first
    assert result['waited_s'] >= 3
