"""The lab's demo application: a tiny HTTP service with health and data endpoints.

GET /health     -> 200 {"status": "ok", "version": ...}   (503 when DEMO_APP_FAIL_HEALTH is set)
GET /health/db  -> 200 {"db": "ok", "items": N}            (503 when the database cannot answer)
GET /data       -> 200 {"items": N, "max_id": M, "checksum": md5, "uploads": [...]}: what the app serves,
                   compared before and after a disaster recovery
GET /           -> 200 greeting

Configuration comes from the environment (systemd EnvironmentFile /etc/demo-app/env):
DEMO_APP_DSN (libpq conninfo of the application database), DEMO_APP_UPLOADS (the uploads directory),
DEMO_APP_PORT, DEMO_APP_VERSION. psycopg is imported only when a DSN is set, so the app also runs on a
plain python3.
"""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get('DEMO_APP_VERSION', 'lab')
DSN = os.environ.get('DEMO_APP_DSN', '')
UPLOADS = os.environ.get('DEMO_APP_UPLOADS', '')


def _query_items():
    import psycopg  # pylint: disable=import-outside-toplevel
    with psycopg.connect(DSN, connect_timeout=3) as conn:
        row = conn.execute(
            "SELECT count(*), coalesce(max(id), 0), "
            "md5(coalesce(string_agg(id::text || ':' || name, ',' ORDER BY id), '')) FROM items").fetchone()
    return {'items': row[0], 'max_id': row[1], 'checksum': row[2]}


def _uploads():
    if not UPLOADS or not os.path.isdir(UPLOADS):
        return []
    return sorted(name for name in os.listdir(UPLOADS) if os.path.isfile(os.path.join(UPLOADS, name)))


class Handler(BaseHTTPRequestHandler):
    def _send(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _db(self, full):
        if not DSN:
            self._send(503, {'db': 'not configured', 'version': VERSION})
            return
        try:
            data = _query_items()
        except Exception as exc:  # pylint: disable=broad-except
            self._send(503, {'db': 'error', 'error': str(exc).splitlines()[0][:200], 'version': VERSION})
            return
        if full:
            uploads = _uploads()
            self._send(200, dict(data, uploads=uploads, upload_count=len(uploads), version=VERSION))
        else:
            self._send(200, {'db': 'ok', 'items': data['items'], 'version': VERSION})

    def do_GET(self):  # noqa: N802 (http.server API)
        if self.path == '/health':
            if os.environ.get('DEMO_APP_FAIL_HEALTH'):
                self._send(503, {'status': 'failing', 'version': VERSION})
            else:
                self._send(200, {'status': 'ok', 'version': VERSION})
        elif self.path == '/health/db':
            self._db(full=False)
        elif self.path == '/data':
            self._db(full=True)
        elif self.path == '/':
            self._send(200, {'app': 'runbook.ops demo', 'version': VERSION})
        else:
            self._send(404, {'error': 'not found'})

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


if __name__ == '__main__':
    port = int(os.environ.get('DEMO_APP_PORT', '8000'))
    host = os.environ.get('DEMO_APP_BIND', '127.0.0.1')
    ThreadingHTTPServer((host, port), Handler).serve_forever()
