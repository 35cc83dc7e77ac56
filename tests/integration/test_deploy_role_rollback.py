# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# The deploy lock and rollback.yml for real on localhost (local connection, service adapter "none"), with a real
# HTTP health endpoint served from <app_root>/current: a concurrent deploy is refused by the lock, naming its owner
# and expiry; rollback.yml goes back to the newest good release (skipping the failed one) and records it.

import json
import os

import pytest

from release_fixtures import IDS, deploy_playbook, deploy_setup, history, release_setup, run_inproc
from testkit import REPO

R1, R2, R3, R4 = IDS[0], IDS[1], IDS[2], IDS[3]
DEPLOY = os.path.join(REPO, 'playbooks', 'deploy.yml')
ROLLBACK = os.path.join(REPO, 'playbooks', 'rollback.yml')


@pytest.mark.slow
def test_concurrent_deploy_refused_then_rollback_playbook(app_root, current_server, tmp_path):
    common, v1, v2, v3, migrations, reports = deploy_setup(app_root, current_server, tmp_path)
    release_setup(app_root, R1, v1)
    release_setup(app_root, R2, v2, active=True)
    release_setup(app_root, R3, v3)
    assert run_inproc(dict(app_root=str(app_root), release_id=R3, state='failed'))['changed']
    # a concurrent deploy is refused by the lock, naming the owner; nothing else happens
    (app_root / 'deploy.lock').write_text(json.dumps({
        'owner': 'deploy other by alice', 'host': 'h', 'pid': 1, 'created': '2026-11-23T15:00:00Z',
        'expires': '2099-01-01T00:00:00Z'}))
    rc, out = deploy_playbook(DEPLOY, dict(common, deploy_src=v2, deploy_release_id=R4), tmp_path)
    assert rc != 0
    assert "failed at step 'lock'" in out and "'deploy other by alice'" in out and '2099-01-01T00:00:00Z' in out
    assert json.loads((app_root / 'deploy.lock').read_text())['owner'] == 'deploy other by alice'
    assert not (app_root / 'releases' / R4).exists()
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R2
    (app_root / 'deploy.lock').unlink()

    # rollback.yml: to the previous good release (v1: v3 is failed), health-checked, recorded in history
    rb = {
        'rollback_hosts': 'app',
        'rollback_app_root': str(app_root),
        'rollback_service_adapter': 'none',
        'rollback_health_checks': common['deploy_health_checks'],
        'rollback_health_window': 2,
        'rollback_health_delay': 1,
        'rollback_reason': 'operator rollback',
        'rollback_actor': 'pytest',
        'rollback_report_dir': str(reports),
    }
    rc, out = deploy_playbook(ROLLBACK, rb, tmp_path)
    assert rc == 0, out
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R1
    assert history(app_root)[-1]['reason'] == 'operator rollback'
    assert history(app_root)[-1]['previous'] == R2
    assert history(app_root)[-1]['release_id'] == R1
    assert not (app_root / 'deploy.lock').exists()
