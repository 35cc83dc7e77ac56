# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# The Docker Engine API for the service role's container adapter with service_container_engine: docker, two ways,
# both behind a private unix socket that the `docker` CLI reaches through DOCKER_HOST:
#   - `dockerd`: a REAL Docker engine, Debian's docker.io (bindep.txt), started for the test module with its own
#     data root, exec root, pid file and socket under /tmp (short paths: containerd's socket must fit 108 bytes),
#     --iptables=false --bridge=none (no host network changes: the test containers run with --network none);
#   - `podman-service`: `podman system service`, podman's Docker-compatible API, on a socket of its own.
# Images are imported from a tar holding the static busybox (no registry can be reached); every image is
# dk-<hex>:<tag> and every container dk-<hex>-*; teardown removes them, then stops the daemon it started (by pid).

import io
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from testkit import REPO, make_tarball

BUSYBOX = '/usr/bin/busybox'
CONTAINERS_CONF = os.path.join(REPO, 'containers.conf')
# a shell that exits on TERM (busybox as PID 1 would ignore it) and prints a line at every start
CMD = '["/bin/busybox", "sh", "-c", "trap \\"exit 0\\" TERM; echo started; while :; do sleep 1; done"]'
BACKENDS = ('dockerd', 'podman-service')


class DockerAPI(object):
    """The ``docker`` CLI against one Docker API socket; names start with ``prefix``."""

    def __init__(self, backend, workdir):
        self.backend = backend
        self.workdir = workdir
        self.socket = os.path.join(workdir, 'api.sock')
        self.host = 'unix://' + self.socket
        self.prefix = 'dk-' + uuid.uuid4().hex[:10]
        self.env = dict(os.environ, DOCKER_HOST=self.host, CONTAINERS_CONF=CONTAINERS_CONF,
                        DOCKER_CONFIG=os.path.join(workdir, 'cli'))
        self.daemon = None
        self.log = os.path.join(workdir, 'daemon.log')

    def run(self, *args, check=True, timeout=120):
        r = subprocess.run(['docker'] + list(args), capture_output=True, text=True, env=self.env, timeout=timeout,
                           check=False)
        if check and r.returncode != 0:
            raise AssertionError('docker %s failed (rc %d): %s' % (' '.join(args), r.returncode, r.stderr))
        return r

    def start(self):
        if self.backend == 'dockerd':
            argv = ['dockerd', '--host', self.host, '--data-root', os.path.join(self.workdir, 'root'),
                    '--exec-root', os.path.join(self.workdir, 'exec'), '--pidfile', os.path.join(self.workdir, 'pid'),
                    '--iptables=false', '--ip-masq=false', '--bridge=none', '--log-level=warn']
        else:
            argv = ['podman', 'system', 'service', '--time=0', self.host]
        with open(self.log, 'wb') as log:
            self.daemon = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                           start_new_session=True)
        end = time.monotonic() + 90
        while time.monotonic() < end:
            if self.daemon.poll() is not None:
                break
            if os.path.exists(self.socket) and self.run('version', check=False, timeout=30).returncode == 0:
                return self
            time.sleep(0.3)
        with open(self.log, errors='replace') as log:
            tail = log.read()[-2000:]
        raise AssertionError('Could not start %s on %s: %s' % (self.backend, self.socket, tail))

    def build(self, tag):
        """Import an image prefix:tag (busybox, CMD prints 'started' and waits)."""
        buf = io.BytesIO()
        members = [(d, 'dir', None) for d in ('bin', 'tmp')] + [('bin/busybox', 'path', BUSYBOX)]
        make_tarball(buf, members, compression='')
        ref = '%s:%s' % (self.prefix, tag)
        r = subprocess.run(['docker', 'import', '--change', 'CMD ' + CMD, '-', ref], input=buf.getvalue(),
                           capture_output=True, env=self.env, timeout=120, check=False)
        if r.returncode != 0:
            raise AssertionError('docker import failed: %s' % r.stderr.decode(errors='replace'))
        return ref

    def inspect(self, name, fmt):
        r = self.run('container', 'inspect', '--format', fmt, name, check=False)
        return r.stdout.strip() if r.returncode == 0 else None

    def cleanup(self):
        if self.daemon is None or self.daemon.poll() is not None:
            return
        names = self.run('ps', '--all', '--format', '{{.Names}}', check=False).stdout.split()
        mine = [n for n in names if n.startswith(self.prefix + '-')]
        if mine:
            self.run('rm', '--force', *mine, check=False)
        images = self.run('images', '--format', '{{.Repository}}:{{.Tag}}', check=False).stdout.split()
        mine = [i for i in images if i.split('/')[-1].startswith(self.prefix + ':')]
        if mine:
            self.run('rmi', '--force', *mine, check=False)

    def stop(self):
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(60)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait(30)
        # dockerd unmounts its layers on a clean stop; a network namespace mount may stay behind
        for line in open('/proc/self/mounts').read().splitlines():
            point = line.split()[1]
            if point.startswith(self.workdir + '/'):
                subprocess.run(['umount', '-l', point], capture_output=True, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope='module', params=BACKENDS)
def docker_api(request):
    """A Docker API socket (a real dockerd, then podman's compatible service) with a busybox image ``v1``."""
    needs = {'dockerd': ('dockerd', 'docker.io'), 'podman-service': ('podman', 'podman')}[request.param]
    for tool, package in (needs, ('docker', 'docker.io')):
        if not shutil.which(tool):
            pytest.fail('%s is needed for the Docker API tests: apt-get install %s (bindep.txt).' % (tool, package),
                        pytrace=False)
    if not os.path.exists(BUSYBOX):
        pytest.fail('%s is needed to build the test image: apt-get install busybox-static (bindep.txt).' % BUSYBOX,
                    pytrace=False)
    api = DockerAPI(request.param, tempfile.mkdtemp(prefix='dk-', dir='/tmp'))
    try:
        api.start()
        api.images = {'v1': api.build('v1')}
        yield api
    finally:
        try:
            api.cleanup()
        finally:
            api.stop()
