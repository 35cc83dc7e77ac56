"""The lab's demo application: a tiny HTTP service with a /health endpoint.

GET /health  -> 200 {"status": "ok", "version": ...}   (503 when DEMO_APP_FAIL_HEALTH is set)
GET /        -> 200 greeting
"""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get('DEMO_APP_VERSION', 'lab')


class Handler(BaseHTTPRequestHandler):
    def _send(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 (http.server API)
        if self.path == '/health':
            if os.environ.get('DEMO_APP_FAIL_HEALTH'):
                self._send(503, {'status': 'failing', 'version': VERSION})
            else:
                self._send(200, {'status': 'ok', 'version': VERSION})
        elif self.path == '/':
            self._send(200, {'app': 'runbook.ops demo', 'version': VERSION})
        else:
            self._send(404, {'error': 'not found'})

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


if __name__ == '__main__':
    port = int(os.environ.get('DEMO_APP_PORT', '8000'))
    ThreadingHTTPServer(('127.0.0.1', port), Handler).serve_forever()
