# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# The deploy role's pm2 adapter against a REAL pm2 (pinned, from the npm registry) running a tiny Node HTTP app
# (seeds 000/002): deploy.yml on localhost reloads it through `pm2 startOrReload <current>/ecosystem.config.js`;
# checked independently with `pm2 jlist`, /proc and HTTP. A release whose /health fails is rolled back to the
# previous one under pm2; an app started from a release directory (the __dirname pitfall: pm2 keeps the old
# script path across reloads) fails the deploy at 'restart' instead of passing with the old code still served.

import json
import os

import pytest

from pm2_fixtures import ECOSYSTEM_CURRENT, ECOSYSTEM_DIRNAME, http_json, node_artifact, wait_http
from servers import free_port
from release_fixtures import IDS, deploy_playbook, history, http_gate, release_setup
from testkit import REPO

R1, R2, R3 = IDS[0], IDS[1], IDS[2]
DEPLOY = os.path.join(REPO, 'playbooks', 'deploy.yml')
APP = 'shop-api'


def _setup(app_root, tmp_path, ecosystem_template):
    """Artifacts v1..v3 (v3 fails /health), v1 active and started under pm2 by the operator; deploy vars."""
    port = free_port()
    root = str(app_root)
    ecosystem = ecosystem_template % {
        'name': json.dumps(APP), 'script': json.dumps(root + '/current/server.js'),
        'cwd': json.dumps(root + '/current'), 'port': json.dumps(str(port))}
    dist = tmp_path / 'dist'
    dist.mkdir()
    arts = {v: node_artifact(dist / ('%s.tgz' % v), v, ecosystem, fail_health=(v == 'v3')) for v in ('v1', 'v2', 'v3')}
    release_setup(app_root, R1, arts['v1'], active=True)
    base = 'http://127.0.0.1:%d' % port
    common = {
        'deploy_hosts': 'app',
        'deploy_app_name': APP,
        'deploy_app_root': root,
        'deploy_shared_paths': ['.env'],
        'deploy_service_adapter': 'pm2',
        'deploy_pm2_app': APP,
        'deploy_pm2_ecosystem': 'ecosystem.config.js',
        'deploy_health_checks': [http_gate('api', base + '/health')],
        'deploy_health_window': 4,
        'deploy_health_delay': 1,
        'deploy_report_dir': str(tmp_path / 'reports'),
        'deploy_actor': 'pytest',
    }
    return arts, base, common


def _deploy(pm2, tmp_path, common, art, rid):
    return deploy_playbook(DEPLOY, dict(common, deploy_src=art, deploy_release_id=rid), tmp_path,
                           env_extra={'PATH': pm2.env['PATH'], 'PM2_HOME': pm2.home, 'PM2_DISABLE_VERSION_CHECK': '1'})


def _release_dir(app_root, rid):
    return os.path.realpath(str(app_root / 'releases' / rid))


def _proc_cwd(pid):
    return os.path.realpath('/proc/%d/cwd' % pid)


@pytest.mark.slow
def test_pm2_deploy_then_failed_health_rolls_back(app_root, pm2, tmp_path):
    arts, base, common = _setup(app_root, tmp_path, ECOSYSTEM_CURRENT)
    pm2.run('start', str(app_root / 'current' / 'ecosystem.config.js'))
    assert wait_http(base + '/', 'v1')['release'] == _release_dir(app_root, R1)
    before = pm2.jlist()[APP]

    # v2: pm2 reloads the app from the new release; the health gate passes
    rc, out = _deploy(pm2, tmp_path, common, arts['v2'], R2)
    assert rc == 0, out
    after = pm2.jlist()[APP]
    assert after['status'] == 'online'
    assert after['exec_path'] == str(app_root / 'current' / 'server.js')
    assert after['pid'] != before['pid'] and after['restarts'] == before['restarts'] + 1
    assert _proc_cwd(after['pid']) == _release_dir(app_root, R2)
    status, body = http_json(base + '/')
    assert (status, body['version'], body['release']) == (200, 'v2', _release_dir(app_root, R2))

    # v3 answers 503 on /health: rolled back to v2 under pm2, play red naming the step
    rc, out = _deploy(pm2, tmp_path, common, arts['v3'], R3)
    assert rc != 0
    assert "Deploy of release %s failed at step 'health'" % R3 in out, out
    assert 'Rolled back to release %s (health: ok)' % R2 in out, out
    rolled = pm2.jlist()[APP]
    assert rolled['status'] == 'online'
    assert rolled['restarts'] == after['restarts'] + 2  # reloaded onto v3, then back onto v2
    assert _proc_cwd(rolled['pid']) == _release_dir(app_root, R2)
    status, body = http_json(base + '/health')
    assert (status, body['version']) == (200, 'v2')
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R2
    assert (app_root / 'releases' / (R3 + '.failed')).exists()
    assert [(e['action'], e['release_id']) for e in history(app_root)[-3:]] == [
        ('activate', R3), ('activate', R2), ('failed', R3)]
    assert not (app_root / 'deploy.lock').exists()


@pytest.mark.slow
def test_pm2_app_started_from_a_release_dir_fails_the_deploy(app_root, pm2, tmp_path):
    # hostile set-up: the ecosystem uses __dirname, so pm2 runs releases/<R1>/server.js and keeps it on reload
    arts, base, common = _setup(app_root, tmp_path, ECOSYSTEM_DIRNAME)
    pm2.run('start', str(app_root / 'current' / 'ecosystem.config.js'))
    wait_http(base + '/', 'v1')
    assert pm2.jlist()[APP]['exec_path'] == os.path.join(_release_dir(app_root, R1), 'server.js')

    rc, out = _deploy(pm2, tmp_path, common, arts['v2'], R2)
    assert rc != 0
    assert "Deploy of release %s failed at step 'restart'" % R2 in out, out
    assert 'pm2 still runs %s/server.js' % _release_dir(app_root, R1) in out, out
    assert 'Rolled back to release %s (health: ok)' % R1 in out, out
    # what is served never changed, current is back on v1 and v2 is marked failed
    status, body = http_json(base + '/')
    assert (status, body['version']) == (200, 'v1')
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R1
    assert json.loads((app_root / 'releases' / (R2 + '.failed')).read_text())['reason'].startswith('restart failed')
    assert not (app_root / 'deploy.lock').exists()
