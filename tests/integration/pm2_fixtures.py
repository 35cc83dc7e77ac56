# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# A real pm2 for the deploy role's pm2 adapter tests: installed from the npm registry at a pinned version into
# <repo>/.build/pm2 (once; kept between runs), run with the machine's node, with PM2_HOME in a temp dir per test
# and `pm2 kill` at teardown. Plus a tiny Node HTTP app with /health packed as release artifacts.

import fcntl
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest


from testkit import REPO, make_tarball

PM2_VERSION = '7.0.4'
PM2_PREFIX = os.path.join(REPO, '.build', 'pm2')
PM2_BIN_DIR = os.path.join(PM2_PREFIX, 'node_modules', '.bin')
NODE_MIN_MAJOR = 18  # pm2 7 declares engines.node >= 18

BOOTSTRAP_HINT = ('run `make bootstrap` (it installs Debian\'s nodejs and npm packages) or install Node.js >= %d '
                  'with npm' % NODE_MIN_MAJOR)

SERVER_JS = r"""'use strict';
// Tiny release of a Node API: / and /health answer JSON naming the version and the release directory the code
// was loaded from; a release shipping FAIL_HEALTH answers 503 on /health.
const fs = require('fs');
const http = require('http');
const path = require('path');
const version = fs.readFileSync(path.join(__dirname, 'VERSION'), 'utf8').trim();
const failing = fs.existsSync(path.join(__dirname, 'FAIL_HEALTH'));
http.createServer((req, res) => {
  let status = 404;
  if (req.url === '/health') status = failing ? 503 : 200;
  else if (req.url === '/') status = 200;
  const body = JSON.stringify({status: status === 200 ? 'ok' : 'failing', version: version, release: __dirname,
                               cwd: process.cwd()});
  res.writeHead(status, {'Content-Type': 'application/json'});
  res.end(body);
}).listen(Number(process.env.PORT), '127.0.0.1');
"""

# pm2 keeps a process's script path and cwd across reloads: they go through <app_root>/current.
ECOSYSTEM_CURRENT = """module.exports = {apps: [{name: %(name)s, script: %(script)s, cwd: %(cwd)s,
  env: {PORT: %(port)s}}]};
"""
# The pitfall: __dirname is the release directory (node resolves the current link), so a reload keeps the old one.
ECOSYSTEM_DIRNAME = """module.exports = {apps: [{name: %(name)s, script: 'server.js', cwd: __dirname,
  env: {PORT: %(port)s}}]};
"""


def _node_problem():
    node, npm = shutil.which('node'), shutil.which('npm')
    if not node or not npm:
        return 'node and npm are needed for the pm2 tests (%s not on PATH)' % ' and '.join(
            n for n, p in (('node', node), ('npm', npm)) if not p)
    out = subprocess.run([node, '--version'], capture_output=True, text=True, timeout=30, check=False).stdout
    try:
        major = int(out.strip().lstrip('v').split('.')[0])
    except ValueError:
        return 'could not read the version of %s: %r' % (node, out)
    if major < NODE_MIN_MAJOR:
        return 'pm2 %s needs Node.js >= %d, %s is %s' % (PM2_VERSION, NODE_MIN_MAJOR, node, out.strip())
    return None


def _installed_version():
    try:
        with open(os.path.join(PM2_PREFIX, 'node_modules', 'pm2', 'package.json')) as f:
            return json.load(f).get('version')
    except (OSError, ValueError):
        return None


@pytest.fixture(scope='session')
def pm2_bin_dir():
    """The bin directory holding the pinned pm2; installs it with npm when missing (kept between runs)."""
    problem = _node_problem()
    if problem:
        pytest.fail('%s: %s.' % (problem, BOOTSTRAP_HINT), pytrace=False)
    os.makedirs(PM2_PREFIX, exist_ok=True)
    with open(PM2_PREFIX + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run may install at the same time
        if _installed_version() != PM2_VERSION or not os.path.exists(os.path.join(PM2_BIN_DIR, 'pm2')):
            r = subprocess.run(['npm', 'install', '--prefix', PM2_PREFIX, '--no-audit', '--no-fund',
                                '--no-update-notifier', 'pm2@' + PM2_VERSION],
                               capture_output=True, text=True, timeout=600, check=False)
            if r.returncode != 0 or _installed_version() != PM2_VERSION:
                pytest.fail('Could not install pm2@%s with npm into %s (rc %d): %s' % (
                    PM2_VERSION, PM2_PREFIX, r.returncode, (r.stdout + r.stderr)[-2000:]), pytrace=False)
    return PM2_BIN_DIR


class Pm2:
    """One pm2 daemon with its own PM2_HOME; every call goes through the real pm2 CLI."""

    def __init__(self, bin_dir, home):
        self.home = str(home)
        self.env = dict(os.environ, PM2_HOME=self.home, PM2_DISABLE_VERSION_CHECK='1',
                        PATH='%s:%s' % (bin_dir, os.environ.get('PATH', '')))

    def run(self, *args, check=True):
        r = subprocess.run(['pm2'] + list(args), capture_output=True, text=True, env=self.env, timeout=120,
                           check=False)
        if check and r.returncode != 0:
            raise AssertionError('pm2 %s failed (rc %d): %s' % (' '.join(args), r.returncode, r.stdout + r.stderr))
        return r

    def jlist(self):
        """Name -> {status, pid, exec_path, cwd, restarts} from `pm2 jlist`."""
        out = self.run('jlist').stdout
        procs = json.loads(out[out.index('['):])
        return {p['name']: {'status': p['pm2_env']['status'], 'pid': p['pid'],
                            'exec_path': p['pm2_env']['pm_exec_path'], 'cwd': p['pm2_env']['pm_cwd'],
                            'restarts': p['pm2_env']['restart_time']} for p in procs}


@pytest.fixture
def pm2(pm2_bin_dir, tmp_path):
    home = tmp_path / 'pm2'
    home.mkdir()
    daemon = Pm2(pm2_bin_dir, home)
    yield daemon
    daemon.run('kill', check=False)


def node_artifact(path, version, ecosystem, fail_health=False):
    """A gzipped tarball of the Node app release: server.js, VERSION, ecosystem.config.js (+ FAIL_HEALTH)."""
    files = {'server.js': SERVER_JS, 'VERSION': version + '\n', 'ecosystem.config.js': ecosystem}
    if fail_health:
        files['FAIL_HEALTH'] = 'this release answers 503 on /health\n'
    return make_tarball(path, files, prefix='./')


def http_json(url, timeout=2):
    """(status, JSON body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # nosec - 127.0.0.1 only
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_http(url, want_version, deadline_s=30):
    """Poll url until it answers 200 with want_version (bounded); returns the last body."""
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        try:
            status, body = http_json(url)
            last = (status, body)
            if status == 200 and body.get('version') == want_version:
                return body
        except (OSError, ValueError) as e:
            last = repr(e)
        time.sleep(0.2)
    raise AssertionError('%s never answered version %s: %r' % (url, want_version, last))
