# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# deploy.yml for real on localhost (local connection, service adapter "none"), with a real HTTP health endpoint
# served from <app_root>/current: v2 deploys green over v1 (build, migration, hook, report); v3 fails its health
# gate and is rolled back automatically, marked failed, and the play is red naming the step.

import json
import os

import pytest

from release_fixtures import IDS, deploy_playbook, deploy_setup, history, release_setup
from testkit import REPO

R1, R2, R3 = IDS[0], IDS[1], IDS[2]
DEPLOY = os.path.join(REPO, 'playbooks', 'deploy.yml')


@pytest.mark.slow
def test_deploy_green_then_health_gate_rollback(app_root, current_server, tmp_path):
    common, v1, v2, v3, migrations, reports = deploy_setup(app_root, current_server, tmp_path)
    release_setup(app_root, R1, v1, active=True)
    # v2: green
    for rid, art in ((R2, v2),):
        rc, out = deploy_playbook(DEPLOY, dict(common, deploy_src=art, deploy_release_id=rid), tmp_path)
        assert rc == 0, out
        assert os.readlink(str(app_root / 'current')) == 'releases/' + rid
        assert (app_root / 'releases' / rid / 'BUILT').exists()
        assert not (app_root / 'deploy.lock').exists()
        assert os.listdir(str(app_root / 'artifacts')) == []  # the copied artifact is not kept
    assert migrations.read_text() == 'v2\n'
    assert (tmp_path / 'hooks.log').read_text() == 'after_switch %s\n' % R2
    report = json.loads((reports / ('deploy-app-%s.json' % R2)).read_text())
    assert report['release_id'] == R2 and report['hosts'][0]['previous_release'] == R1
    assert report['hosts'][0]['health'] == 'ok'

    # v3: the health gate fails after the switch -> automatic rollback to v2, play red naming the step
    rc, out = deploy_playbook(DEPLOY, dict(common, deploy_src=v3, deploy_release_id=R3), tmp_path)
    assert rc != 0
    assert "Deploy of release %s failed at step 'health'" % R3 in out, out
    assert 'Rolled back to release %s (health: ok)' % R2 in out, out
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R2
    assert (app_root / 'current' / 'health').read_text() == 'ok v2\n'
    mark = json.loads((app_root / 'releases' / (R3 + '.failed')).read_text())
    assert 'health failed' in mark['reason']
    assert not (app_root / 'deploy.lock').exists()
    h = history(app_root)
    assert [(e['action'], e['release_id']) for e in h[-3:]] == [('activate', R3), ('activate', R2), ('failed', R3)]
    assert h[-2]['reason'] == 'rollback: health failed for %s' % R3
    # keep-N kept v1 and v2 (the failed v3 never counted, and cleanup never ran for it)
    assert sorted(n for n in os.listdir(str(app_root / 'releases'))) == [R1, R2, R3, R3 + '.failed']
    report = json.loads((reports / ('deploy-app-%s.json' % R3)).read_text())
    assert report['hosts'][0]['failed_step'] == 'health' and report['hosts'][0]['rolled_back_to'] == R2
