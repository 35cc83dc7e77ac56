# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Servers for the health_check integration tests (and bench/health).

``HttpFixture``: a threaded HTTP server on 127.0.0.1 with /ok, /slow?s=N (sleeps, at most 10 s),
/fail (500), /json, /notjson, /auth (200 only with the right Authorization header; the header
value is never echoed) and /basic (200 only with HTTP basic auth BASIC_USER / BASIC_PASSWORD).
``TrickleServer``: answers every request with headers, then a body at 1 byte/s that never ends.
``SilentServer``: accepts connections, reads, and never answers (a frozen S3 endpoint).
``TlsFixture``: a TLS server whose leaf certificate (for localhost and 127.0.0.1, signed by a CA made
here) expires in ``days`` days; it records the SNI names clients sent.
``PgReplica``: a streaming replica of a ``PostgresServer`` made with pg_basebackup.
Everything binds to 127.0.0.1 on a free port and is stopped by the fixtures.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from servers import free_port, stop_process
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

AUTH_TOKEN = 'Bearer hdr-secret-7f3a'
BASIC_USER = 'probe'
BASIC_PASSWORD = 'b@sic:pw/5e1d'      # needs percent-encoding in a URL


def closed_port():
    """A port nothing listens on (bound then released)."""
    return free_port()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):  # noqa: A002  pylint: disable=redefined-builtin
        pass

    def _send(self, code, body, ctype='text/plain'):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)

    def do_HEAD(self):  # noqa: N802
        self.do_GET()

    def do_GET(self):  # noqa: N802
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == '/ok':
            self._send(200, 'service healthy\n')
        elif url.path == '/slow':
            time.sleep(min(float(query.get('s', ['1'])[0]), 10.0))
            self._send(200, 'slow but fine\n')
        elif url.path == '/fail':
            self._send(500, 'internal error\n')
        elif url.path == '/json':
            self._send(200, json.dumps({'status': 'ok', 'db': {'ok': True, 'latency_ms': 3},
                                        'queues': [{'name': 'mail', 'waiting': 2}]}), 'application/json')
        elif url.path == '/notjson':
            self._send(200, '<html>not json</html>', 'text/html')
        elif url.path == '/auth':
            if self.headers.get('Authorization') == AUTH_TOKEN:
                self._send(200, 'authorized\n')
            else:
                self._send(401, 'unauthorized\n')
        elif url.path == '/basic':
            expected = 'Basic ' + base64.b64encode(('%s:%s' % (BASIC_USER, BASIC_PASSWORD)).encode()).decode()
            if self.headers.get('Authorization') == expected:
                self._send(200, 'basic ok\n')
            else:
                self._send(401, 'unauthorized\n')
        else:
            self._send(404, 'not found\n')


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass   # clients that reject our test certificate abort the handshake: expected


class HttpFixture(object):
    def __init__(self, ssl_context=None):
        self.server = _QuietServer(('127.0.0.1', 0), _Handler)
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.scheme = 'https' if ssl_context is not None else 'http'
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.1}, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def url(self, path):
        return '%s://127.0.0.1:%d%s' % (self.scheme, self.port, path)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class _RawServer(object):
    """A TCP server on 127.0.0.1 that hands each connection to ``serve(conn)`` in a daemon thread."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def url(self, path='/'):
        return 'http://127.0.0.1:%d%s' % (self.port, path)

    def _accept(self):
        while not self.stopped.is_set():
            try:
                conn, dummy = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(1.0)
            self.serve(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def _read_request(self, conn):
        data = b''
        while b'\r\n\r\n' not in data and not self.stopped.is_set():
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                return None
            data += chunk
        return data

    def stop(self):
        self.stopped.set()
        for conn in list(self.conns):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sock.close()


class TrickleServer(_RawServer):
    """HTTP 200 with a Content-Length of 1 MB, then the body at 1 byte per second (until stopped)."""

    def serve(self, conn):
        if self._read_request(conn) is None:
            return
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1048576\r\n\r\n')
        while not self.stopped.wait(1.0):
            conn.sendall(b'x')


class SilentServer(_RawServer):
    """Accepts, reads the request, never answers (until stopped): an endpoint that is up but frozen."""

    def serve(self, conn):
        while not self.stopped.is_set():
            try:
                if not conn.recv(65536):
                    return
            except socket.timeout:
                continue


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca_and_leaf(directory, days, names=('localhost',), ips=('127.0.0.1',)):
    """A CA (10 years) and a leaf signed by it that expires in ``days`` days; returns file paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name('runbook.ops test CA')).issuer_name(_name('runbook.ops test CA'))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    leaf = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {'ca': os.path.join(directory, 'ca.pem'), 'cert': os.path.join(directory, 'leaf.pem'),
             'key': os.path.join(directory, 'leaf.key')}
    with open(paths['ca'], 'wb') as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths['cert'], 'wb') as f:
        f.write(leaf.public_bytes(serialization.Encoding.PEM))
    with open(paths['key'], 'wb') as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    paths['not_after'] = leaf.not_valid_after_utc
    return paths


class TlsFixture(HttpFixture):
    """HTTPS server with a leaf cert expiring in ``days`` days; ``sni_names`` lists received SNI names."""

    def __init__(self, days=5):
        self.dir = tempfile.mkdtemp(prefix='rbo-health-tls-')
        self.files = make_ca_and_leaf(self.dir, days)
        self.sni_names = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.files['cert'], self.files['key'])
        ctx.sni_callback = self._sni
        super().__init__(ssl_context=ctx)
        # handshakes happen in the serving threads, not in accept()
        self.server.socket.do_handshake_on_connect = False

    def _sni(self, sock, server_name, ctx):
        self.sni_names.append(server_name)

    def stop(self):
        super().stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _as_postgres(argv):
    if os.geteuid() == 0:
        return ['runuser', '-u', 'postgres', '--'] + argv
    return argv


class PgReplica(object):
    """A hot standby of ``primary`` (a conftest ``PostgresServer``), streaming from it."""

    def __init__(self, primary):
        self.primary = primary
        self.port = free_port()
        self.base = tempfile.mkdtemp(prefix='rbo-health-replica-')
        self.datadir = os.path.join(self.base, 'data')
        self.proc = None

    def start(self):
        if os.geteuid() == 0:
            shutil.chown(self.base, 'postgres', 'postgres')
        env = dict(os.environ, PGPASSWORD=self.primary.password)
        subprocess.run(_as_postgres([os.path.join(self.primary.bindir, 'pg_basebackup'), '-h', '127.0.0.1',
                                     '-p', str(self.primary.port), '-U', 'postgres', '-D', self.datadir,
                                     '-R', '-X', 'stream', '--no-sync', '-c', 'fast']),
                       check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
        with open(os.path.join(self.datadir, 'postgresql.auto.conf'), 'a') as f:
            f.write("port = %d\nunix_socket_directories = '%s'\nhot_standby = on\n" % (self.port, self.base))
        log = open(os.path.join(self.base, 'server.log'), 'wb')
        self.proc = subprocess.Popen(_as_postgres([os.path.join(self.primary.bindir, 'postgres'), '-D', self.datadir]),
                                     stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('replica exited with %s' % self.proc.returncode)
            r = subprocess.run([os.path.join(self.primary.bindir, 'pg_isready'), '-h', '127.0.0.1', '-p',
                                str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            if r.returncode == 0:
                break
            time.sleep(0.1)
        return self

    @property
    def params(self):
        return dict(self.primary.params, login_port=self.port)

    def stop(self):
        stop_process(self.proc, 20)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope='module')
def http_fixture():
    server = HttpFixture().start()
    yield server
    server.stop()


@pytest.fixture(scope='module')
def trickle_server():
    server = TrickleServer().start()
    yield server
    server.stop()


@pytest.fixture(scope='module')
def silent_server():
    server = SilentServer().start()
    yield server
    server.stop()


@pytest.fixture(scope='module')
def tls_fixture():
    server = TlsFixture(days=5).start()
    yield server
    server.stop()
