# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# Helpers for the app_release integration tests: real artifacts, an HTTP server, a git repo.

import functools
import hashlib
import http.server
import io
import os
import subprocess
import threading

import pytest

from playbooks import run_playbook
from testkit import make_tarball

IDS = ('20261101T080000Z', '20261110T120000Z', '20261120T101500Z', '20261122T090000Z', '20261123T150405Z')

# The health gates of tests that are not about latency: on a busy machine a request to 127.0.0.1 can take more than
# the default 100 ms warning threshold, which graded the gate `warning` and failed asserts on `health: ok`. These
# thresholds sit above the probe timeout, so only the status code (and body) decide the grade; the timeout is
# generous for the same reason (a 404 still answers at once, so failing gates are not slower).
NOT_ABOUT_LATENCY = {'latency_ms': {'warning': 60000, 'critical': 120000}}
PROBE_TIMEOUT = 15


def http_gate(name, url):
    """One http health check that passes on 200 whatever the latency."""
    return {'name': name, 'type': 'http', 'url': url, 'expect_status': [200], 'timeout': PROBE_TIMEOUT,
            'thresholds': dict(NOT_ABOUT_LATENCY)}


def make_artifact(path, version, extra=None):
    """A gzipped tarball of a tiny app: VERSION, app.py, a placeholder .env and bin/ link."""
    files = {'VERSION': version + '\n', 'app.py': 'print(%r)\n' % version, '.env': 'placeholder\n',
             'storage/uploads/README': 'replaced by shared\n'}
    files.update(extra or {})
    members = [(name, 'file', files[name]) for name in sorted(files)] + [('run.py', 'sym', 'app.py')]
    return make_tarball(path, members, prefix='./')


def sha256(path):
    with open(path, 'rb') as f:
        return 'sha256:' + hashlib.sha256(f.read()).hexdigest()


def tree_state(root):
    """Every path under root with type and content/link target: compares trees exactly."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                out[rel] = ('link', os.readlink(full))
            elif os.path.isdir(full):
                out[rel] = ('dir',)
            else:
                with open(full, 'rb') as f:
                    out[rel] = ('file', f.read())
    return out


@pytest.fixture
def app_root(tmp_path):
    root = tmp_path / 'app'
    (root / 'shared' / 'storage' / 'uploads').mkdir(parents=True)
    (root / 'shared' / '.env').write_text('SECRET_FROM_SHARED=1\n')
    return root


@pytest.fixture
def artifacts(tmp_path):
    d = tmp_path / 'artifacts'
    d.mkdir()
    return {v: make_artifact(str(d / ('app-%s.tar.gz' % v)), v) for v in ('v1', 'v2', 'v3')}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_dir(tmp_path):
    """Serve a directory on 127.0.0.1 (ephemeral port); yields (dir, base_url)."""
    d = tmp_path / 'www'
    d.mkdir()
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_QuietHandler, directory=str(d)))
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.1}, daemon=True)
    thread.start()
    yield d, 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(10)


def git(repo, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME='t', GIT_AUTHOR_EMAIL='t@localhost', GIT_COMMITTER_NAME='t',
               GIT_COMMITTER_EMAIL='t@localhost', GIT_CONFIG_GLOBAL='/dev/null', GIT_CONFIG_NOSYSTEM='1')
    return subprocess.run(['git', '-C', str(repo)] + list(args), check=True, capture_output=True, text=True,
                          env=env, timeout=60).stdout.strip()


@pytest.fixture
def git_repo(tmp_path):
    repo = tmp_path / 'repo'
    repo.mkdir()
    git(repo, 'init', '-q', '-b', 'main')
    (repo / 'VERSION').write_text('v1\n')
    git(repo, 'add', '-A')
    git(repo, 'commit', '-qm', 'v1')
    git(repo, 'tag', '-a', 'v1', '-m', 'v1')
    c1 = git(repo, 'rev-parse', 'HEAD')
    (repo / 'VERSION').write_text('v2\n')
    git(repo, 'commit', '-qam', 'v2')
    c2 = git(repo, 'rev-parse', 'HEAD')
    return repo, c1, c2


def run_inproc(args, check=False, diff=False, module='app_release'):
    """Run app_release's main() in this process (same code path as ansible, no interpreter start-up).

    The end-to-end tests through ansible itself (``run_module``) live in test_app_release.py; this keeps the
    many state-machine cases fast.
    """
    import contextlib
    import json

    import importlib

    from ansible.module_utils.testing import patch_module_args
    mod = importlib.import_module('ansible_collections.runbook.ops.plugins.modules.' + module)

    a = dict(args)
    a['_ansible_check_mode'] = check
    a['_ansible_diff'] = diff
    out = io.StringIO()
    with patch_module_args(a), contextlib.redirect_stdout(out):
        try:
            mod.main()
        except SystemExit:
            pass
    return json.loads(out.getvalue())


@pytest.fixture
def run_release():
    """Same call shape as ``run_module`` but in-process (see run_inproc)."""
    def run(name, args, check=False, diff=False):
        assert name in ('app_release', 'app_release_info')
        return run_inproc(args, check=check, diff=diff, module=name)
    return run


# what the deploy tests need from ansible: task failures in YAML (their asserts read the default callback's text)
DEPLOY_ENV = {'ANSIBLE_CALLBACK_RESULT_FORMAT': 'yaml', 'ANSIBLE_RETRY_FILES_ENABLED': 'False',
              'ANSIBLE_LOCALHOST_WARNING': 'False'}


def deploy_playbook(playbook, extra_vars, tmp_path, timeout=300, env_extra=None):
    """playbooks.run_playbook for the deploy/rollback tests: localhost in group app, YAML results, ``env_extra``
    added to the environment; returns (rc, stdout + stderr)."""
    r = run_playbook(str(playbook), extra_vars, tmp_path, groups=('app',), timeout=timeout,
                     env=dict(DEPLOY_ENV, **(env_extra or {})))
    return r.returncode, r.stdout + r.stderr


@pytest.fixture
def current_server(app_root):
    """HTTP on 127.0.0.1 serving <app_root>/current, so /health answers from the active release."""
    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(_QuietHandler, directory=str(app_root / 'current')))
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.1}, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(10)


def history(root):
    with open(os.path.join(str(root), 'history.jsonl')) as f:
        return [__import__('json').loads(line) for line in f if line.strip()]


def deploy_setup(app_root, current_server, tmp_path):
    arts = tmp_path / 'dist'
    arts.mkdir()
    v1 = make_artifact(str(arts / 'v1.tgz'), 'v1', {'health': 'ok v1\n'})
    v2 = make_artifact(str(arts / 'v2.tgz'), 'v2', {'health': 'ok v2\n'})
    v3 = make_artifact(str(arts / 'v3.tgz'), 'v3')  # no /health: 404 -> critical
    hooks = tmp_path / 'hooks'
    hooks.mkdir()
    (hooks / 'after_switch.yml').write_text(
        '- name: Hook after switch\n'
        '  ansible.builtin.lineinfile:\n'
        '    path: "%s"\n'
        '    line: "after_switch {{ _deploy_release_id }}"\n'
        '    create: true\n'
        '    mode: "0644"\n' % (tmp_path / 'hooks.log'))
    migrations = tmp_path / 'migrations.log'
    reports = tmp_path / 'reports'
    common = {
        'deploy_hosts': 'app',
        'deploy_app_root': str(app_root),
        'deploy_service_adapter': 'none',
        'deploy_shared_paths': ['.env'],
        'deploy_keep_releases': 2,
        'deploy_health_checks': [http_gate('app', current_server + '/health')],
        'deploy_health_window': 2,
        'deploy_health_delay': 1,
        'deploy_build_commands': [{'name': 'mark built', 'argv': ['touch', 'BUILT']}],
        'deploy_migrate_command': ['/bin/sh', '-c', 'echo "$(cat VERSION)" >> "$MIGRATIONS_LOG"'],
        'deploy_migrate_environment': {'MIGRATIONS_LOG': str(migrations)},
        'deploy_hooks_dir': str(hooks),
        'deploy_report_dir': str(reports),
        'deploy_actor': 'pytest',
    }

    return common, v1, v2, v3, migrations, reports


def release_setup(root, rid, art, active=False):
    """Set up a release in-process (fast), as an earlier deploy would have."""
    assert run_inproc(dict(app_root=str(root), release_id=rid, src=art, shared_paths=['.env']))['changed']
    if active:
        assert run_inproc(dict(app_root=str(root), release_id=rid, state='active', reason='setup'))['changed']


def host_failure(out, name):
    """The text of the host's last failure (the rescue's), YAML quoting undone and lines joined."""
    assert 'fatal: [%s]: FAILED!' % name in out, out
    text = out.split('fatal: [%s]: FAILED!' % name)[-1]
    for end in ('[ERROR]', 'fatal: ['):  # the next host's failure starts there
        text = text.split(end)[0]
    return ' '.join(text.split()).replace("''", "'")
