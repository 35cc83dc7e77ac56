# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# deploy.yml on localhost when the migration exits non-zero: the release never went live, so current is untouched,
# the new release is marked failed, work is resumed, the lock is released and the play is red naming 'migrate'.

import json
import os

import pytest

from release_fixtures import IDS, deploy_playbook, deploy_setup, history, release_setup
from testkit import REPO

R1, R2 = IDS[0], IDS[1]
DEPLOY = os.path.join(REPO, 'playbooks', 'deploy.yml')


@pytest.mark.slow
def test_failed_migration_never_goes_live(app_root, current_server, http_dir, tmp_path):
    common, v1, v2, v3, migrations, reports = deploy_setup(app_root, current_server, tmp_path)
    release_setup(app_root, R1, v1, active=True)
    www, base = http_dir
    (www / 'queue').mkdir()
    (www / 'queue' / 'pause-all').write_text('paused')
    (www / 'queue' / 'resume-all').write_text('resumed')
    extra = dict(common, deploy_src=v2, deploy_release_id=R2,
                 deploy_migrate_command=['/bin/sh', '-c', 'echo "relation exists" >&2; exit 3'],
                 # seed 002's pause/resume calls (GET here: the test server only serves files)
                 deploy_work_pause_requests=[{'url': base + '/queue/pause-all', 'method': 'GET',
                                              'status_code': [200]}],
                 deploy_work_resume_requests=[{'url': base + '/queue/resume-all', 'method': 'GET',
                                               'status_code': [200]}])
    rc, out = deploy_playbook(DEPLOY, extra, tmp_path)
    assert rc != 0
    assert "Deploy of release %s failed at step 'migrate'" % R2 in out, out
    assert 'The release never went live and is marked failed.' in out, out
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R1
    assert json.loads((app_root / 'releases' / (R2 + '.failed')).read_text())['reason'].startswith('migrate failed')
    assert not (app_root / 'deploy.lock').exists()
    assert [e['action'] for e in history(app_root)] == ['activate', 'failed']
    # work was paused, then resumed by the rescue
    assert 'Work | resume requests' in out and 'resume-all' in out
