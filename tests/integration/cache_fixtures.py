# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real Redis servers for the cache_flush tests that the shared conftest does not start:
a TLS-only server (``--port 0 --tls-port``, CA/server/client certificates made here with
``cryptography``) and a three-primary Redis Cluster.  Independent checks go through redis-cli.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import subprocess
import tempfile
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from servers import free_port, wait_port

REDIS_SERVER = shutil.which('redis-server') or '/usr/bin/redis-server'


def _write_key(path, key):
    with open(path, 'wb') as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(path, 0o600)


def _write_cert(path, cert):
    with open(path, 'wb') as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def _cert(subject_cn, key, issuer_name, issuer_key, ca=False, server=False, client=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
               .issuer_name(issuer_name)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName('localhost'), x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]), critical=False)
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_tls_material(directory):
    """A private CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    paths = {name: os.path.join(directory, name) for name in
             ('ca.pem', 'ca.key', 'server.pem', 'server.key', 'client.pem', 'client.key', 'other-ca.pem')}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'runbook.ops test CA')])
    ca_cert = _cert('runbook.ops test CA', ca_key, ca_name, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    _write_key(paths['ca.key'], ca_key)
    _write_cert(paths['ca.pem'], ca_cert)
    _write_key(paths['server.key'], server_key)
    _write_cert(paths['server.pem'], _cert('localhost', server_key, ca_name, ca_key, server=True))
    _write_key(paths['client.key'], client_key)
    _write_cert(paths['client.pem'], _cert('cache-client', client_key, ca_name, ca_key, client=True))
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'someone else')])
    _write_cert(paths['other-ca.pem'], _cert('someone else', other_key, other_name, other_key, ca=True))
    return paths


class _Server(object):
    def __init__(self, argv, port, directory):
        self.port = port
        self.dir = directory
        log = open(os.path.join(directory, 'redis-%d.log' % port), 'wb')
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_port(port, proc=self.proc)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class TlsRedis(object):
    """redis-server listening on a TLS port only (``--port 0``), client certificates required."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='rbo-redis-tls-')
        self.tls = make_tls_material(self.dir)
        self.port = free_port()
        argv = [REDIS_SERVER, '--port', '0', '--tls-port', str(self.port), '--bind', '127.0.0.1',
                '--tls-cert-file', self.tls['server.pem'], '--tls-key-file', self.tls['server.key'],
                '--tls-ca-cert-file', self.tls['ca.pem'], '--tls-auth-clients', 'yes',
                '--save', '', '--appendonly', 'no', '--dir', self.dir, '--daemonize', 'no',
                '--protected-mode', 'no']
        self.server = _Server(argv, self.port, self.dir)

    @property
    def params(self):
        return {'host': '127.0.0.1', 'port': self.port, 'tls': True, 'ca_cert': self.tls['ca.pem'],
                'client_cert': self.tls['client.pem'], 'client_key': self.tls['client.key']}

    def cli(self, *args):
        """Independent check through redis-cli over TLS."""
        argv = ['redis-cli', '-h', '127.0.0.1', '-p', str(self.port), '--tls', '--cacert', self.tls['ca.pem'],
                '--cert', self.tls['client.pem'], '--key', self.tls['client.key']]
        r = subprocess.run(argv + [str(a) for a in args], capture_output=True, text=True, check=True, timeout=30)
        return r.stdout.strip()

    def stop(self):
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class ClusterRedis(object):
    """Three redis-server primaries joined into a Redis Cluster with ``redis-cli --cluster create``."""

    def __init__(self, nodes=3):
        self.dir = tempfile.mkdtemp(prefix='rbo-redis-cluster-')
        self.ports = []
        self.servers = []
        try:
            for index in range(nodes):
                port, bus = free_port(), free_port()
                node_dir = os.path.join(self.dir, 'n%d' % index)
                os.mkdir(node_dir)
                argv = [REDIS_SERVER, '--port', str(port), '--cluster-enabled', 'yes', '--cluster-port', str(bus),
                        '--cluster-node-timeout', '5000', '--bind', '127.0.0.1', '--save', '',
                        '--appendonly', 'no', '--dir', node_dir, '--daemonize', 'no', '--protected-mode', 'no']
                self.servers.append(_Server(argv, port, node_dir))
                self.ports.append(port)
            subprocess.run(['redis-cli', '--cluster', 'create'] + ['127.0.0.1:%d' % p for p in self.ports]
                           + ['--cluster-replicas', '0', '--cluster-yes'],
                           capture_output=True, check=True, timeout=60)
            deadline = time.monotonic() + 30
            while not all('cluster_state:ok' in self.cli(p, 'CLUSTER', 'INFO') for p in self.ports):
                if time.monotonic() > deadline:
                    raise RuntimeError('the test cluster did not reach cluster_state:ok')
                time.sleep(0.1)
        except Exception:
            self.stop()
            raise

    def cli(self, port, *args):
        """Independent check through redis-cli on one node."""
        r = subprocess.run(['redis-cli', '-h', '127.0.0.1', '-p', str(port)] + [str(a) for a in args],
                           capture_output=True, text=True, check=True, timeout=30)
        return r.stdout.strip()

    def scan_count(self, pattern):
        """Keys matching ``pattern`` over every node, counted by redis-cli --scan."""
        total = 0
        for port in self.ports:
            out = self.cli(port, '--scan', '--pattern', pattern)
            total += len([line for line in out.splitlines() if line])
        return total

    def stop(self):
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def seed(params, keys, value=b'v' * 64, db=None):
    """Write ``keys`` (bytes or str) with redis-py, pipelined (seeding only; checks use redis-cli)."""
    import redis
    kwargs = dict(host=params['host'], port=params['port'], password=params.get('password'),
                  db=params.get('db', 0) if db is None else db)
    client = redis.Redis(**kwargs)
    try:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.set(key, value)
        pipe.execute()
    finally:
        client.close()


def cli_scan(server, pattern, db=0):
    """Key names matching ``pattern`` as redis-cli --scan prints them (independent of our code)."""
    out = server.cli('-n', db, '--scan', '--pattern', pattern) if db else server.cli('--scan', '--pattern', pattern)
    return sorted(line for line in out.splitlines() if line)


def module_params(connection, **options):
    """Full module params (argspec defaults filled in) for calling module_utils.cache in-process."""
    from ansible_collections.runbook.ops.plugins.module_utils.cache import cache_flush_argument_spec
    from ansible_collections.runbook.ops.plugins.module_utils.redis_client import redis_argument_spec
    spec = redis_argument_spec()
    spec.update(cache_flush_argument_spec())
    params = {name: opt.get('default') for name, opt in spec.items()}
    params.update(connection)
    params.update(options)
    return params
