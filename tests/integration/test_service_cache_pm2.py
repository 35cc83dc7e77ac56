# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# The cache role's file cache clear restarts a pm2 app (seed 000: `rm -rf .cache/*` + `pm2 restart`) through the
# service role, against a REAL pm2 (pm2_fixtures.py): the restart counter moves and the pid changes.

import os
import subprocess

import pytest

from playbooks import run_playbook
from servers import free_port
from testkit import REPO

SERVER = "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT, '127.0.0.1');\n"


@pytest.mark.slow
def test_cache_clear_restarts_a_pm2_app(pm2, tmp_path):
    (tmp_path / 'server.js').write_text(SERVER)
    subprocess.run(['pm2', 'start', str(tmp_path / 'server.js'), '--name', 'cache-app'],
                   env=dict(pm2.env, PORT=str(free_port())), check=True, capture_output=True, timeout=120)
    before = pm2.jlist()['cache-app']
    cache = tmp_path / 'srv' / 'app' / '.cache'
    cache.mkdir(parents=True)
    (cache / 'stale').write_text('x')
    extra = {'cache_redis_enabled': False, 'cache_dir_path': str(cache), 'cache_dir_allowed_roots': [str(tmp_path / 'srv')],
             'cache_dir_service': 'cache-app', 'cache_dir_service_manager': 'pm2',
             'cache_report_dir': str(tmp_path / 'reports')}
    r = run_playbook('cache_flush', extra, tmp_path, groups=('cache',), hosts={'cache1': {}}, timeout=300,
                     env={'ANSIBLE_CONFIG': os.path.join(REPO, 'ansible.cfg'), 'PATH': pm2.env['PATH'],
                          'PM2_HOME': pm2.home, 'PM2_DISABLE_VERSION_CHECK': '1'})
    assert r.returncode == 0, r.stdout[-3000:]
    assert os.listdir(str(cache)) == []
    after = pm2.jlist()['cache-app']
    assert after['status'] == 'online' and after['restarts'] == before['restarts'] + 1 and after['pid'] != before['pid']
