# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cache role through playbooks/cache_flush.yml on local "hosts" (connection local) against a
real redis-server and real directories: flush + file cache + warm-up + report, and the refusals
(a symlinked cache dir, a path that escapes the allowed roots through a symlink, "/", max_keys)."""
from __future__ import annotations

import http.server
import json
import os
import threading

import pytest

from cache_fixtures import cli_scan, seed
from playbooks import run_playbook
from testkit import REPO


@pytest.fixture(scope='module')
def warm_server():
    """A local HTTP endpoint standing in for the app's POST /api/cache/warm; records the calls."""
    calls = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            calls.append(self.path)
            self.send_response(202 if self.path == '/api/cache/warm' else 500)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % httpd.server_address[1], calls
    httpd.shutdown()
    httpd.server_close()


def playbook(tmp_path, hosts, extra, check=False):
    """Run runbook.ops.cache_flush on ``hosts`` (name -> host vars, all local) in the group cache; return the
    result and the JSON report (None when there is none)."""
    r = run_playbook('cache_flush', extra, tmp_path, groups=('cache',), hosts=hosts, check=check, timeout=300,
                     env={'ANSIBLE_FORKS': '10', 'ANSIBLE_CONFIG': os.path.join(REPO, 'ansible.cfg')})
    report = tmp_path / 'reports' / 'cache_flush.json'
    data = json.loads(report.read_text()) if report.exists() else None
    return r, data


def make_tree(tmp_path):
    allowed = tmp_path / 'srv'
    outside = tmp_path / 'outside'
    cache = allowed / 'app' / '.cache'
    (cache / 'sub').mkdir(parents=True)
    outside.mkdir()
    (outside / 'precious').write_text('keep me')
    (cache / 'a').write_text('x')
    (cache / '.hidden').write_text('x')
    (cache / 'sub' / 'b').write_text('x')
    (cache / 'to-outside').symlink_to(outside)           # a link inside: removed, target untouched
    (allowed / 'linked-cache').symlink_to(outside)        # the cache dir itself is a symlink
    (allowed / 'hop').symlink_to(outside)                 # a parent component escapes
    (outside / 'sub').mkdir()
    (outside / 'sub' / 'precious2').write_text('keep me too')
    return allowed, outside, cache


def test_role_flush_clear_warmup_report(tmp_path, redis_factory, warm_server):
    url, calls = warm_server
    server = redis_factory()
    seed(server.params, ['gemini:%d' % i for i in range(300)] + ['project:%d' % i for i in range(20)])
    allowed, outside, cache = make_tree(tmp_path)
    hosts = {'cache1': {'cache_redis_port': server.port, 'cache_dir_path': str(cache)}}
    extra = {'cache_pattern': 'gemini:*', 'cache_batch_size': 50, 'cache_dir_allowed_roots': [str(allowed)],
             'cache_warmup_requests': [{'url': url + '/api/cache/warm', 'method': 'POST', 'status': [200, 202]}],
             'cache_report_dir': str(tmp_path / 'reports')}

    r, report = playbook(tmp_path, hosts, extra, check=True)
    assert r.returncode == 0, r.stdout[-3000:]
    assert report['check_mode'] is True
    assert report['hosts']['cache1']['redis']['matched'] == 300 and report['hosts']['cache1']['redis']['deleted'] == 0
    assert int(server.cli('DBSIZE')) == 320 and (cache / 'a').exists() and calls == []

    r, report = playbook(tmp_path, hosts, extra)
    assert r.returncode == 0, r.stdout[-3000:]
    host = report['hosts']['cache1']
    assert host['status'] == 'ok' and host['redis']['deleted'] == 300 and host['redis']['mode'] == 'pattern'
    assert host['dir']['entries'] == 4 and host['dir']['cleared'] is True
    assert host['warmup'] == [[url + '/api/cache/warm', 202]]
    assert calls == ['/api/cache/warm']
    # independent checks
    assert cli_scan(server, 'gemini:*') == [] and int(server.cli('DBSIZE')) == 20
    assert cache.is_dir() and os.listdir(cache) == []
    assert (outside / 'precious').read_text() == 'keep me' and (outside / 'sub' / 'precious2').exists()
    md = (tmp_path / 'reports' / 'cache_flush.md').read_text()
    assert '| cache1 | ok | pattern `gemini:*` | 300 | 300 |' in md


def test_role_refusals_keep_everything_and_the_play_red(tmp_path, redis_factory):
    server = redis_factory()
    seed(server.params, ['big:%d' % i for i in range(100)])
    allowed, outside, cache = make_tree(tmp_path)
    off = {'cache_redis_enabled': False}
    hosts = {
        'symlinked': dict(off, cache_dir_path=str(allowed / 'linked-cache')),
        'escape': dict(off, cache_dir_path=str(allowed / 'hop' / 'sub')),
        'root': dict(off, cache_dir_path='/'),
        'dotdot': dict(off, cache_dir_path=str(allowed / '..' / 'outside')),
        'capped': {'cache_redis_port': server.port, 'cache_pattern': 'big:*', 'cache_max_keys': 10},
        'neither': {'cache_redis_port': server.port},
    }
    extra = {'cache_dir_allowed_roots': [str(allowed), '/'], 'cache_report_dir': str(tmp_path / 'reports')}
    r, report = playbook(tmp_path, hosts, extra)
    assert r.returncode != 0
    statuses = {h: v['status'] for h, v in report['hosts'].items()}
    assert statuses == {h: 'failed' for h in hosts}, statuses
    errors = {h: v['error'] for h, v in report['hosts'].items()}
    assert 'it is a symlink' in errors['symlinked']
    assert 'which is "/" or not inside any of the allowed roots (%s)' % allowed in errors['escape']
    assert str(outside / 'sub') in errors['escape']
    assert 'must be an absolute path other than "/"' in errors['root']
    assert 'not inside any of the allowed roots' in errors['dotdot']
    assert 'more than max_keys=10; nothing was deleted' in errors['capped']
    assert 'set exactly one of cache_pattern' in errors['neither']
    # nothing was touched
    assert (outside / 'precious').exists() and (outside / 'sub' / 'precious2').exists()
    assert sorted(os.listdir(cache)) == ['.hidden', 'a', 'sub', 'to-outside']
    assert int(server.cli('DBSIZE')) == 100
