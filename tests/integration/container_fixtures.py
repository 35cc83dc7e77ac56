# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# A real podman for the deploy role's container adapter: tiny images built with `podman import` from a tar holding
# the static busybox and a www dir whose /health names the version (busybox httpd), one tag per release; v3 has no
# /health (404). Every image is localhost/h4-<random>:<tag> and every container h4-<random>-*, and the fixture
# removes them all at teardown, even when the test failed. CONTAINERS_CONF points at the repository's
# containers.conf (runc, ulimits for this sandbox).

import io
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest

from servers import free_port
from testkit import REPO, make_tarball

BUSYBOX = '/usr/bin/busybox'
CONTAINERS_CONF = os.path.join(REPO, 'containers.conf')
# busybox httpd runs as PID 1 and would ignore SIGTERM: a shell that exits on TERM keeps `stop` fast and graceful
CMD = '["/bin/busybox", "sh", "-c", "trap \\"exit 0\\" TERM; /bin/busybox httpd -f -p 8080 -h /www & wait"]'


class Podman:
    """The podman CLI with this repository's containers.conf; names all start with ``prefix``."""

    def __init__(self, prefix):
        self.prefix = prefix  # h4-<hex>
        self.repo = 'localhost/' + prefix
        self.env = dict(os.environ, CONTAINERS_CONF=CONTAINERS_CONF)

    def run(self, *args, check=True, timeout=120):
        r = subprocess.run(['podman'] + list(args), capture_output=True, text=True, env=self.env, timeout=timeout,
                           check=False)
        if check and r.returncode != 0:
            raise AssertionError('podman %s failed (rc %d): %s' % (' '.join(args), r.returncode, r.stderr))
        return r

    def build(self, tag, health):
        """Import an image repo:tag whose /www/health holds ``health`` (None: no /health)."""
        buf = io.BytesIO()
        members = [(d, 'dir', None) for d in ('bin', 'www', 'tmp')]
        members += [('bin/busybox', 'path', BUSYBOX), ('www/index.html', 'file', 'release %s\n' % tag)]
        if health is not None:
            members.append(('www/health', 'file', health))
        make_tarball(buf, members, compression='')
        r = subprocess.run(['podman', 'import', '--change', 'CMD ' + CMD, '-', '%s:%s' % (self.repo, tag)],
                           input=buf.getvalue(), capture_output=True, env=self.env, timeout=120, check=False)
        if r.returncode != 0:
            raise AssertionError('podman import failed: %s' % r.stderr.decode(errors='replace'))
        return '%s:%s' % (self.repo, tag)

    def state(self, name):
        """(status, image reference) of a container, or None when it does not exist."""
        r = self.run('container', 'inspect', '--format', '{{.State.Status}} {{.ImageName}}', name, check=False)
        if r.returncode != 0:
            return None
        status, image = r.stdout.split()
        return status, image

    def label(self, name, key):
        return self.run('container', 'inspect', '--format', '{{index .Config.Labels "%s"}}' % key, name).stdout.strip()

    def cleanup(self):
        """Remove every h4-<hex> container, then every localhost/h4-<hex> image (nothing else)."""
        names = self.run('ps', '--all', '--format', '{{.Names}}', check=False).stdout.split()
        mine = [n for n in names if n == self.prefix or n.startswith(self.prefix + '-')]
        if mine:
            self.run('rm', '--force', '--ignore', '--time', '0', *mine, check=False)
        images = self.run('images', '--format', '{{.Repository}}:{{.Tag}}', check=False).stdout.split()
        mine = [i for i in images if i.startswith(self.repo + ':')]
        if mine:
            self.run('rmi', '--force', *mine, check=False)


@pytest.fixture
def podman_images():
    """Images repo:v1, repo:v2 (healthy, /health says the version), repo:v3 (no /health); removed at teardown."""
    if not shutil.which('podman'):
        pytest.fail('podman is needed for the container adapter test: install it (bindep.txt).', pytrace=False)
    if not os.path.exists(BUSYBOX):
        pytest.fail('%s is needed to build the test images: apt-get install busybox-static (bindep.txt).' % BUSYBOX,
                    pytrace=False)
    engine = Podman('h4-' + uuid.uuid4().hex[:10])
    try:
        engine.images = {'v1': engine.build('v1', 'v1\n'), 'v2': engine.build('v2', 'v2\n'),
                         'v3': engine.build('v3', None)}
        engine.port = free_port()
        yield engine
    finally:
        engine.cleanup()


def http_text(url, timeout=2):
    """(status, body text) of a GET; (None, error) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # nosec - 127.0.0.1 only
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, repr(e)


def wait_text(url, want, deadline_s=20):
    """Poll url until it answers 200 with body ``want`` (bounded); returns the last answer."""
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        last = http_text(url)
        if last == (200, want):
            return last
        time.sleep(0.2)
    raise AssertionError('%s never answered %r: %r' % (url, want, last))
