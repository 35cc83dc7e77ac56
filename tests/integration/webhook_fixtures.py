# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real local webhook receiver standing in for Slack, answering with a chosen HTTP status.

``with webhook_receiver(500) as hook:`` starts an HTTP server on 127.0.0.1 whose URL carries a unique token in
its path (like a Slack incoming webhook, the URL is the credential); ``hook.received`` holds the JSON bodies it
got, ``hook.token`` the secret to look for in the output. ``webhook_receiver(None)`` gives the URL of a port that
was bound and closed again (connection refused: an unreachable webhook).

``status`` may also be a list: the answers to the successive POSTs (the last one repeats), e.g. ``[500, 200]``
answers 500 once and then accepts. ``webhook_receiver(hang=True)`` reads the request and never answers (until
the receiver is closed): a webhook that hangs. ``hook.requests`` keeps every request (path, headers, raw body,
time received) to check HMAC signatures and retry spacing.
"""
from __future__ import annotations

import contextlib
import json
import secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer


class Receiver(object):
    def __init__(self, url, token):
        self.url = url
        self.token = token
        self.received = []
        self.requests = []
        self.closing = threading.Event()


def _handler(receiver, status, hang):
    answers = list(status) if isinstance(status, (list, tuple)) else [status]

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802  pylint: disable=invalid-name
            body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
            receiver.requests.append({'path': self.path, 'headers': dict(self.headers.items()), 'body': body,
                                      'at': time.monotonic()})
            receiver.received.append(json.loads(body))
            if hang:
                receiver.closing.wait(120)
                return
            code = answers[min(len(receiver.received), len(answers)) - 1]
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b'ok' if code < 300 else b'internal error')

        def log_message(self, *args):  # pylint: disable=arguments-differ
            pass
    return Hook


@contextlib.contextmanager
def webhook_receiver(status=200, hang=False):
    """Yield a Receiver; ``status`` is the HTTP status every POST gets (or a list: one per POST, the last one
    repeating), None for a closed port; ``hang=True`` never answers."""
    token = 'rbotok' + secrets.token_hex(12)
    if status is None:
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
        sock.close()
        yield Receiver('http://127.0.0.1:%d/services/T0/B0/%s' % (port, token), token)
        return
    receiver = Receiver(None, token)
    server = (ThreadingHTTPServer if hang else HTTPServer)(('127.0.0.1', 0), _handler(receiver, status, hang))
    server.daemon_threads = True
    receiver.url = 'http://127.0.0.1:%d/services/T0/B0/%s' % (server.server_port, token)
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.1}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.closing.set()
        server.shutdown()
        server.server_close()


def last_fatal(stdout):
    """The last task failure ("fatal: [host]: FAILED! => ..." up to the next blank line) of a default-callback run."""
    start = stdout.rfind('fatal: [')
    if start < 0:
        return ''
    end = stdout.find('\n\n', start)
    return stdout[start:] if end < 0 else stdout[start:end]
