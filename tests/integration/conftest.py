"""Real servers for integration tests, started on 127.0.0.1 by the test session.

Fixtures:
  postgres_server  session-scoped PostgreSQL (initdb in a temp dir, scram auth);
                   yields the module connection options (login_host, login_port, ...)
  redis_factory    starts extra redis-server processes with custom settings
  redis_server     session-scoped Redis with a password
  moto_server      session-scoped S3 endpoint (moto server); yields its URL
  run_module       runs a runbook.ops module the way ansible does (ad-hoc, json callback)
Nothing is mocked here: the processes are the Debian server packages.
"""
import glob
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from servers import free_port, stop_process, wait_port
from testkit import REPO

# Fixture modules of tests/integration: their fixtures are available to every integration test by name (no
# import). Add a new <topic>_fixtures.py here, one entry per line. Helpers that are not fixtures (constants,
# functions, classes) are still imported from the module by the tests that use them.
pytest_plugins = [
    'backup_fixtures',
    'cache_fixtures',
    'certs_fixtures',
    'container_fixtures',
    'docker_api_fixtures',
    'dr_fixtures',
    'files_restore_fixtures',
    'health_fixtures',
    'k8s_contract_fixtures',
    'maintenance_fixtures',
    'maintenance_role_fixtures',
    'mysql_fixtures',
    'pitr_fixtures',
    'pm2_fixtures',
    'queue_fixtures',
    'release_fixtures',
    'webhook_fixtures',
]
VENV_BIN = os.path.dirname(sys.executable)


def pg_bindir():
    dirs = sorted(glob.glob('/usr/lib/postgresql/*/bin'), key=lambda d: int(d.split('/')[-2]))
    if not dirs:
        raise RuntimeError('PostgreSQL server binaries not found: run `make bootstrap` (apt postgresql)')
    return dirs[-1]


def _as_postgres(argv):
    """PostgreSQL refuses to run as root: drop to the postgres user when we are root."""
    if os.geteuid() == 0:
        return ['runuser', '-u', 'postgres', '--'] + argv
    return argv


class PostgresServer:
    def __init__(self, extra_conf=None):
        self.port = free_port()
        self.password = 'pw-' + secrets.token_hex(8)
        self.base = tempfile.mkdtemp(prefix='rbo-pg-')
        self.datadir = os.path.join(self.base, 'data')
        self.bindir = pg_bindir()
        self.extra_conf = extra_conf or []
        self.proc = None

    def start(self):
        pwfile = os.path.join(self.base, 'pw')
        with open(pwfile, 'w') as f:
            f.write(self.password)
        if os.geteuid() == 0:
            shutil.chown(self.base, 'postgres', 'postgres')
            shutil.chown(pwfile, 'postgres', 'postgres')
        subprocess.run(_as_postgres([os.path.join(self.bindir, 'initdb'), '-D', self.datadir, '-U', 'postgres',
                                     '--auth=scram-sha-256', '--pwfile', pwfile, '-E', 'UTF8',
                                     '--locale=C.UTF-8', '--no-sync']),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.unlink(pwfile)
        conf = ["listen_addresses = '127.0.0.1'", 'port = %d' % self.port,
                "unix_socket_directories = '%s'" % self.base, 'fsync = off',
                'synchronous_commit = off', 'full_page_writes = off', 'max_connections = 50',
                'shared_buffers = 128MB'] + list(self.extra_conf)
        with open(os.path.join(self.datadir, 'postgresql.auto.conf'), 'a') as f:
            f.write('\n'.join(conf) + '\n')
        log = open(os.path.join(self.base, 'server.log'), 'wb')
        self.proc = subprocess.Popen(_as_postgres([os.path.join(self.bindir, 'postgres'), '-D', self.datadir]),
                                     stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port, proc=self.proc)
        # accept connections only once recovery is over
        deadline = time.monotonic() + 30
        while True:
            r = subprocess.run([os.path.join(self.bindir, 'pg_isready'), '-h', '127.0.0.1', '-p', str(self.port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        return self

    @property
    def params(self):
        return {'login_host': '127.0.0.1', 'login_port': self.port, 'login_user': 'postgres',
                'login_password': self.password, 'ssl_mode': 'disable'}

    def psql(self, sql, db='postgres', check=True):
        """Independent check through the psql client (not through our code)."""
        env = dict(os.environ, PGPASSWORD=self.password)
        r = subprocess.run(['psql', '-h', '127.0.0.1', '-p', str(self.port), '-U', 'postgres', '-d', db,
                            '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql],
                           env=env, capture_output=True, text=True, check=False)
        if check and r.returncode != 0:
            raise RuntimeError('psql failed: %s' % r.stderr)
        return r.stdout.strip()

    def stop(self):
        stop_process(self.proc, 20)
        shutil.rmtree(self.base, ignore_errors=True)


class RedisServer:
    def __init__(self, password=None, extra_args=None, port=None):
        self.port = port or free_port()
        self.password = password
        self.extra_args = list(extra_args or [])
        self.dir = tempfile.mkdtemp(prefix='rbo-redis-')
        self.proc = None

    def start(self):
        argv = [shutil.which('redis-server') or '/usr/bin/redis-server', '--port', str(self.port),
                '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', self.dir,
                '--daemonize', 'no', '--protected-mode', 'no']
        if self.password:
            argv += ['--requirepass', self.password]
        argv += self.extra_args
        log = open(os.path.join(self.dir, 'redis.log'), 'wb')
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port, proc=self.proc)
        return self

    @property
    def params(self):
        p = {'host': '127.0.0.1', 'port': self.port}
        if self.password:
            p['password'] = self.password
        return p

    def cli(self, *args):
        """Independent check through redis-cli (not through our code)."""
        argv = ['redis-cli', '-h', '127.0.0.1', '-p', str(self.port)]
        env = dict(os.environ)
        if self.password:
            env['REDISCLI_AUTH'] = self.password
        r = subprocess.run(argv + [str(a) for a in args], capture_output=True, text=True, env=env, check=True)
        return r.stdout.strip()

    def stop(self):
        stop_process(self.proc, 10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope='session')
def postgres_server():
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope='session')
def postgres_factory():
    started = []

    def make(extra_conf=None):
        s = PostgresServer(extra_conf=extra_conf).start()
        started.append(s)
        return s
    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope='session')
def redis_factory():
    started = []

    def make(password=None, extra_args=None):
        s = RedisServer(password=password, extra_args=extra_args).start()
        started.append(s)
        return s
    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope='session')
def redis_server(redis_factory):
    return redis_factory(password='rpw-' + secrets.token_hex(8))


@pytest.fixture(scope='session')
def moto_server():
    port = free_port()
    exe = os.path.join(VENV_BIN, 'moto_server')
    if not os.path.exists(exe):
        exe = shutil.which('moto_server')
    log = tempfile.NamedTemporaryFile(prefix='rbo-moto-', suffix='.log', delete=False)
    proc = subprocess.Popen([exe, '-H', '127.0.0.1', '-p', str(port)], stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, proc=proc)
    os.environ.setdefault('AWS_ACCESS_KEY_ID', 'testing')
    os.environ.setdefault('AWS_SECRET_ACCESS_KEY', 'testing')
    os.environ.setdefault('AWS_DEFAULT_REGION', 'us-east-1')
    yield 'http://127.0.0.1:%d' % port
    stop_process(proc)


def _run_ansible_module(module, args, check=False, diff=False, env=None, timeout=300):
    """Run ``runbook.ops.<module>`` on localhost through ansible itself; return the task result."""
    fqcn = module if '.' in module else 'runbook.ops.' + module
    argv = [os.path.join(VENV_BIN, 'ansible'), 'localhost', '-i', 'localhost,', '-c', 'local',
            '-m', fqcn, '-a', json.dumps(args)]
    if check:
        argv.append('--check')
    if diff:
        argv.append('--diff')
    e = dict(os.environ)
    e.update({
        'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1',
        'ANSIBLE_STDOUT_CALLBACK': 'ansible.posix.json',
        'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
        'ANSIBLE_COLLECTIONS_PATH': os.path.join(REPO, '.build', 'collections'),
        'ANSIBLE_HOST_KEY_CHECKING': 'False',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_DEPRECATION_WARNINGS': 'False',
    })
    if env:
        e.update(env)
    r = subprocess.run(argv, capture_output=True, text=True, env=e, timeout=timeout, cwd=REPO, check=False)
    try:
        out = json.loads(r.stdout)
    except ValueError:
        raise AssertionError('ansible printed no JSON (rc=%s):\nstdout: %s\nstderr: %s'
                             % (r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    result = out['plays'][0]['tasks'][0]['hosts']['localhost']
    result['_stdout'] = r.stdout
    result['_stderr'] = r.stderr
    return result


@pytest.fixture(scope='session')
def run_module():
    """``run_module('health_check', {...}, check=False, diff=False)`` -> result dict.

    ``_stdout``/``_stderr`` hold the raw ansible output, so tests can assert that
    secrets appear nowhere in what an operator would see.
    """
    return _run_ansible_module
