# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real TLS/ACME servers for the certificate tests, all on 127.0.0.1 with free ports.

  * ``TestCA`` / ``make_cert``: certificates with any validity window, names and key type
    (cryptography), for files and live endpoints.
  * ``PebbleServer``: Debian's ``pebble`` ACME server with its own CA-signed TLS cert and
    ``pebble-challtestsrv`` as its DNS server (every name resolves to 127.0.0.1), so HTTP-01
    validation is REAL: pebble fetches http://<domain>:<http_port>/.well-known/acme-challenge/<token>.
    ``always_valid=True`` (PEBBLE_VA_ALWAYS_VALID) is only for tests that are not about validation.
  * ``NginxServer``: the Debian nginx binary with a private config (pid, logs, temp paths in a temp
    dir), an HTTP server block serving a webroot (the HTTP-01 path in production) and a TLS server
    block serving a certificate, reloadable with ``nginx -s reload``.
  * ``TLSEndpoint``: ``openssl s_server`` serving one certificate (expired, wrong-host, ...).
Import in a test module: ``from certs_fixtures import ...``.
"""
from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request

import pytest

from servers import free_port, stop_process, wait_port

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


UTC = datetime.timezone.utc


def now():
    return datetime.datetime.now(UTC)


def _key(key_type='ec256'):
    if key_type == 'ec256':
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


class TestCA:
    __test__ = False  # not a pytest class

    def __init__(self, name='runbook.ops test CA'):
        self.key = _key('ec256')
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now() - datetime.timedelta(days=1))
                     .not_valid_after(now() + datetime.timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))

    def issue(self, names, days_before=1, days_after=90, key_type='ec256', cn=None):
        """(key, cert) for ``names`` valid from now-days_before to now+days_after (negative allowed)."""
        return make_cert(names, days_before, days_after, key_type, issuer=(self.cert, self.key), cn=cn)


def make_cert(names, days_before=1, days_after=90, key_type='ec256', issuer=None, cn=None):
    key = _key(key_type)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn or names[0])])
    sans = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer_cert.subject if issuer_cert else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now() - datetime.timedelta(days=days_before))
               .not_valid_after(now() + datetime.timedelta(days=days_after))
               .add_extension(x509.SubjectAlternativeName(sans), critical=False))
    return key, builder.sign(issuer_key, hashes.SHA256())


def write_pair(directory, stem, key, certs):
    """Write <stem>.key (0600) and <stem>.pem (certs concatenated); return their paths."""
    kp = os.path.join(directory, stem + '.key')
    cp = os.path.join(directory, stem + '.pem')
    with open(kp, 'wb') as f:
        f.write(key_pem(key))
    os.chmod(kp, 0o600)
    with open(cp, 'wb') as f:
        f.write(b''.join(cert_pem(c) for c in certs))
    return kp, cp


def openssl_x509(path, *fields):
    """Independent read through the openssl CLI: {'serial': hex, 'enddate': ...}."""
    r = subprocess.run(['openssl', 'x509', '-in', path, '-noout'] + ['-' + f for f in fields],
                       capture_output=True, text=True, check=True)
    out = {}
    for line in r.stdout.splitlines():
        k, dummy, v = line.partition('=')
        out[k.strip().lower()] = v.strip()
    return out


def served_serial(port, server_name, host='127.0.0.1'):
    """Serial (lowercase hex) the endpoint serves, read with `openssl s_client` (not our code)."""
    r = subprocess.run(['openssl', 's_client', '-connect', '%s:%d' % (host, port), '-servername', server_name],
                       input='', capture_output=True, text=True, timeout=20, check=False)
    x = subprocess.run(['openssl', 'x509', '-noout', '-serial'], input=r.stdout, capture_output=True, text=True,
                       check=True)
    return format(int(x.stdout.strip().split('=', 1)[1], 16), 'x')


_stop = stop_process


class PebbleServer:
    """pebble + pebble-challtestsrv (DNS: everything -> 127.0.0.1), fresh state per start."""

    def __init__(self, http_port, always_valid=False, alternate_roots=0):
        self.dir = tempfile.mkdtemp(prefix='rbo-pebble-')
        self.http_port = http_port
        self.always_valid = always_valid
        self.alternate_roots = alternate_roots
        self.port = free_port()
        self.mgmt_port = free_port()
        self.dns_port = free_port()
        self.dns_mgmt_port = free_port()
        self.procs = []
        self.ca = TestCA('runbook.ops pebble TLS CA')
        self.ca_bundle = os.path.join(self.dir, 'ca.pem')

    @property
    def directory(self):
        return 'https://127.0.0.1:%d/dir' % self.port

    def start(self):
        with open(self.ca_bundle, 'wb') as f:
            f.write(cert_pem(self.ca.cert))
        key, cert = self.ca.issue(['127.0.0.1', 'localhost', 'pebble'])
        kp, cp = write_pair(self.dir, 'server', key, [cert])
        config = {'pebble': {
            'listenAddress': '127.0.0.1:%d' % self.port,
            'managementListenAddress': '127.0.0.1:%d' % self.mgmt_port,
            'certificate': cp, 'privateKey': kp,
            'httpPort': self.http_port, 'tlsPort': free_port(),
            'ocspResponderURL': '', 'externalAccountBindingRequired': False}}
        conf = os.path.join(self.dir, 'pebble-config.json')
        with open(conf, 'w') as f:
            json.dump(config, f)
        dns_log = open(os.path.join(self.dir, 'challtestsrv.log'), 'wb')
        dns = subprocess.Popen(['pebble-challtestsrv', '-dns01', '127.0.0.1:%d' % self.dns_port, '-http01', '',
                                '-https01', '', '-tlsalpn01', '',
                                '-management', '127.0.0.1:%d' % self.dns_mgmt_port,
                                '-defaultIPv4', '127.0.0.1', '-defaultIPv6', ''],
                               stdout=dns_log, stderr=subprocess.STDOUT)
        self.procs.append(dns)
        wait_port(self.dns_mgmt_port, proc=dns)
        env = dict(os.environ, PEBBLE_VA_NOSLEEP='1', PEBBLE_WFE_NONCEREJECT='0', PEBBLE_AUTHZREUSE='0')
        if self.always_valid:
            env['PEBBLE_VA_ALWAYS_VALID'] = '1'
        if self.alternate_roots:
            env['PEBBLE_ALTERNATE_ROOTS'] = str(self.alternate_roots)
        log = open(os.path.join(self.dir, 'pebble.log'), 'wb')
        proc = subprocess.Popen(['pebble', '-config', conf, '-dnsserver', '127.0.0.1:%d' % self.dns_port,
                                 '-strict=false'], stdout=log, stderr=subprocess.STDOUT, env=env)
        self.procs.append(proc)
        wait_port(self.port, proc=proc)
        wait_port(self.mgmt_port, proc=proc)
        return self

    def management(self, path):
        ctx = ssl.create_default_context(cafile=self.ca_bundle)
        with urllib.request.urlopen('https://127.0.0.1:%d%s' % (self.mgmt_port, path), context=ctx,
                                    timeout=30) as r:
            return r.read().decode()

    def root_pem(self, index=0):
        return self.management('/roots/%d' % index)

    def cert_status(self, serial_hex):
        return json.loads(self.management('/cert-status-by-serial/%s' % serial_hex))

    def log(self):
        with open(os.path.join(self.dir, 'pebble.log'), 'rb') as f:
            return f.read().decode(errors='replace')

    def stop(self):
        for p in reversed(self.procs):
            _stop(p)
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)


NGINX_CONF = '''
user root;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/tmp_body;
    proxy_temp_path {dir}/tmp_proxy;
    fastcgi_temp_path {dir}/tmp_fastcgi;
    uwsgi_temp_path {dir}/tmp_uwsgi;
    scgi_temp_path {dir}/tmp_scgi;
    default_type text/plain;
    server {{
        listen 127.0.0.1:{http_port};
        server_name _;
        location ^~ /.well-known/acme-challenge/ {{
            root {webroot};
            try_files $uri =404;
        }}
        location / {{ return 200 "ok\\n"; }}
    }}
    server {{
        listen 127.0.0.1:{tls_port} ssl;
        server_name _;
        ssl_certificate {fullchain};
        ssl_certificate_key {key};
        location / {{ return 200 "tls ok\\n"; }}
    }}
    {extra}
}}
'''


class NginxServer:
    """nginx -c <private conf> -g 'daemon off;' with an ACME webroot and a TLS server block."""

    def __init__(self, fullchain, key, http_port=None, tls_port=None, extra=''):
        self.dir = tempfile.mkdtemp(prefix='rbo-nginx-')
        self.webroot = os.path.join(self.dir, 'webroot')
        os.makedirs(self.webroot)
        self.http_port = http_port or free_port()
        self.tls_port = tls_port or free_port()
        self.fullchain = fullchain
        self.key = key
        self.conf = os.path.join(self.dir, 'nginx.conf')
        self.extra = extra
        self.proc = None
        self.write_conf()

    def write_conf(self, extra=None):
        if extra is not None:
            self.extra = extra
        with open(self.conf, 'w') as f:
            f.write(NGINX_CONF.format(dir=self.dir, http_port=self.http_port, tls_port=self.tls_port,
                                      webroot=self.webroot, fullchain=self.fullchain, key=self.key,
                                      extra=self.extra))

    def argv(self, *extra):
        return [shutil.which('nginx') or '/usr/sbin/nginx', '-c', self.conf, '-p', self.dir] + list(extra)

    def start(self):
        log = open(os.path.join(self.dir, 'stderr.log'), 'wb')
        self.proc = subprocess.Popen(self.argv('-g', 'daemon off;'), stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.http_port, proc=self.proc)
        wait_port(self.tls_port, proc=self.proc)
        return self

    def test_config(self):
        return subprocess.run(self.argv('-t'), capture_output=True, text=True, check=False)

    def reload(self):
        """``nginx -s reload`` then wait until the new workers serve (bounded)."""
        old = self.workers()
        subprocess.run(self.argv('-s', 'reload'), check=True, capture_output=True)
        deadline = time.monotonic() + 60  # a bound, not an expectation: a busy machine turns workers over slowly
        while time.monotonic() < deadline:
            cur = self.workers()
            if cur and not cur & old:
                return
            time.sleep(0.1)

    def workers(self):
        if self.proc is None:
            return set()
        r = subprocess.run(['pgrep', '-P', str(self.proc.pid)], capture_output=True, text=True, check=False)
        return set(r.stdout.split())

    def stop(self):
        _stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class TLSEndpoint:
    """`openssl s_server` serving one certificate chain on a free port (SNI ignored)."""

    def __init__(self, cert_file, key_file, chain_file=None):
        self.port = free_port()
        argv = ['openssl', 's_server', '-accept', '127.0.0.1:%d' % self.port, '-cert', cert_file, '-key', key_file,
                '-quiet', '-naccept', '1000']
        if chain_file:
            argv += ['-cert_chain', chain_file]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc)

    def stop(self):
        _stop(self.proc)


@pytest.fixture(scope='module')
def certs_tmp():
    d = tempfile.mkdtemp(prefix='rbo-certs-')
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope='module')
def test_ca():
    return TestCA()


@pytest.fixture(scope='module')
def tls_endpoints():
    """``start(cert_file, key_file, chain_file=None)`` -> TLSEndpoint; all stopped at module end."""
    started = []

    def start(cert_file, key_file, chain_file=None):
        e = TLSEndpoint(cert_file, key_file, chain_file)
        started.append(e)
        return e
    yield start
    for e in started:
        e.stop()


@pytest.fixture(scope='module')
def nginx_with_pebble(certs_tmp, test_ca):
    """A live nginx (webroot + TLS block serving an about-to-expire cert) and a pebble validating through it.

    Yields ``(nginx, pebble, site)`` where ``site`` holds the live cert/key/fullchain paths.
    """
    site = os.path.join(certs_tmp, 'site')
    os.makedirs(site)
    key, cert = test_ca.issue(['app1.rbo.test'], days_before=85, days_after=5)
    kp, cp = write_pair(site, 'privkey', key, [cert])
    fullchain = os.path.join(site, 'fullchain.pem')
    shutil.copy(cp, fullchain)
    nginx = NginxServer(fullchain, kp).start()
    pebble = PebbleServer(http_port=nginx.http_port).start()
    yield nginx, pebble, {'dir': site, 'key': kp, 'cert': cp, 'fullchain': fullchain}
    pebble.stop()
    nginx.stop()
