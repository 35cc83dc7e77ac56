# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# The rollback role's "frontend" entry point (playbooks/rollback_frontend.yml) for real: static builds kept as
# app_release releases, the webroot <app_root>/current served over HTTP (standing in for nginx), and an S3 bucket on
# the moto server. Rolling back switches the webroot to the previous good build and mirrors that build into
# s3://bucket/site/ (every file re-uploaded with its Content-Type, even one whose bytes already matched but whose
# Content-Type was wrong; extraneous keys deleted; sibling prefixes untouched), checked independently with boto3;
# then to a named build with the checksum strategy, then again (nothing uploaded or deleted); a hostile prefix is
# refused before anything changes.

import hashlib
import json
import os
import urllib.request

import boto3
import pytest

from release_fixtures import IDS, deploy_playbook, history, http_gate, run_inproc
from testkit import REPO, make_tarball

R1, R2, R3 = IDS[0], IDS[1], IDS[2]
PLAYBOOK = os.path.join(REPO, 'playbooks', 'rollback_frontend.yml')
BUCKET = 'h4-frontend'
CHECK_PLAY = """
- name: Front-end rollback in check mode
  hosts: app
  gather_facts: false
  tasks:
    - name: Roll back the static build (check mode)
      ansible.builtin.include_role:
        name: runbook.ops.rollback
        tasks_from: frontend
        apply:
          check_mode: true
"""

# index.html has the same size in v1 and v2 (and v1's files are older): only a checksum comparison uploads it
BUILDS = {
    'v1': {'index.html': '<html>v1</html>\n', 'assets/app.1111.js': 'console.log(1)\n',
           'assets/site.css': 'body{color:red}\n', 'logo.svg': '<svg>1</svg>\n', 'health': 'ok v1\n'},
    'v2': {'index.html': '<html>v2</html>\n', 'assets/app.2222.js': 'console.log(2)\n',
           'assets/site.css': 'body{color:blue}\n', 'logo.svg': '<svg>1</svg>\n', 'health': 'ok v2\n',
           'assets/new.json': '{}\n'},
    'v3': {'index.html': '<html>broken</html>\n'},
}
TYPES = {'index.html': 'text/html', '.js': ('application/javascript', 'text/javascript'), '.css': 'text/css',
         '.svg': 'image/svg+xml', '.json': 'application/json'}


def build_artifact(path, files):
    return make_tarball(path, files, prefix='./')


def bucket_state(s3, prefix=''):
    """key -> (md5 of the body, Content-Type), read back with boto3."""
    out = {}
    for page in s3.get_paginator('list_objects_v2').paginate(Bucket=BUCKET, Prefix=prefix):
        for obj in page.get('Contents', []):
            got = s3.get_object(Bucket=BUCKET, Key=obj['Key'])
            out[obj['Key']] = (hashlib.md5(got['Body'].read()).hexdigest(), got['ContentType'])  # nosec - comparison
    return out


def expected(version, prefix='site/'):
    return {prefix + k: hashlib.md5(v.encode()).hexdigest() for k, v in BUILDS[version].items()}  # nosec


@pytest.mark.slow
def test_frontend_rollback_webroot_and_s3(app_root, current_server, moto_server, tmp_path):
    s3 = boto3.client('s3', endpoint_url=moto_server, region_name='us-east-1')
    s3.create_bucket(Bucket=BUCKET)
    dist = tmp_path / 'dist'
    dist.mkdir()
    for rid, version in ((R1, 'v1'), (R2, 'v2'), (R3, 'v3')):
        art = build_artifact(dist / (version + '.tgz'), BUILDS[version])
        assert run_inproc(dict(app_root=str(app_root), release_id=rid, src=art))['changed']
    assert run_inproc(dict(app_root=str(app_root), release_id=R2, state='active', reason='deploy v2'))['changed']
    assert run_inproc(dict(app_root=str(app_root), release_id=R3, state='failed'))['changed']
    # the bucket holds the live v2 build, a stray key, and siblings that must survive
    for key, body in BUILDS['v2'].items():
        s3.put_object(Bucket=BUCKET, Key='site/' + key, Body=body.encode())
    s3.put_object(Bucket=BUCKET, Key='site/stray.txt', Body=b'left over')
    s3.put_object(Bucket=BUCKET, Key='site-old/keep.txt', Body=b'sibling prefix')
    s3.put_object(Bucket=BUCKET, Key='other/keep.txt', Body=b'other prefix')
    siblings = bucket_state(s3, 'site-old/')
    siblings.update(bucket_state(s3, 'other/'))

    reports = tmp_path / 'reports'
    rb = {'rollback_hosts': 'app', 'rollback_app_root': str(app_root), 'rollback_app_name': 'web',
          'rollback_frontend_s3_bucket': BUCKET, 'rollback_frontend_s3_prefix': '/site',
          'rollback_frontend_s3_endpoint_url': moto_server, 'rollback_frontend_s3_region': 'us-east-1',
          'rollback_health_checks': [http_gate('site', current_server + '/health')],
          'rollback_health_window': 2, 'rollback_health_delay': 1, 'rollback_actor': 'pytest',
          'rollback_report_dir': str(reports)}

    # hostile prefix: refused before the lock, nothing switched, bucket untouched
    rc, out = deploy_playbook(PLAYBOOK, dict(rb, rollback_frontend_s3_prefix='site/../other'), tmp_path)
    assert rc != 0
    assert "failed at step 'check'" in out and "has '.', '..' or empty segments" in out, out
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R2
    assert not (app_root / 'deploy.lock').exists()

    # check mode: nothing switched, bucket untouched, no lock left (the S3 sync is skipped: s3_sync has no check mode)
    before = bucket_state(s3)
    check_play = tmp_path / 'check.yml'
    check_play.write_text(CHECK_PLAY)
    rc, out = deploy_playbook(str(check_play), rb, tmp_path)
    assert rc == 0, out
    switch = out[out.index('Switch | point current at the target release'):]
    assert switch.split('\n', 2)[1].startswith('changed: [localhost]'), out  # the switch is previewed as a change
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R2
    assert bucket_state(s3) == before
    assert not (app_root / 'deploy.lock').exists()

    # previous good build (v1: v3 is failed): webroot switched, bucket mirrors v1 exactly
    rc, out = deploy_playbook(PLAYBOOK, rb, tmp_path)
    assert rc == 0, out
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R1
    with urllib.request.urlopen(current_server + '/index.html', timeout=5) as r:  # nosec - 127.0.0.1
        assert r.read() == b'<html>v1</html>\n'
    state = bucket_state(s3, 'site/')
    assert {k: v[0] for k, v in state.items()} == expected('v1')  # no REVISION, .release.json nor stray.txt
    for key, (_md5, ctype) in state.items():
        want = [v for suffix, v in TYPES.items() if key.endswith(suffix)]
        if want:
            assert ctype in (want[0] if isinstance(want[0], tuple) else (want[0],)), (key, ctype)
    assert bucket_state(s3, 'site-old/') == {k: v for k, v in siblings.items() if k.startswith('site-old/')}
    assert bucket_state(s3, 'other/') == {k: v for k, v in siblings.items() if k.startswith('other/')}
    report = json.loads((reports / ('rollback-web-%s-localhost.json' % R1)).read_text())
    assert sorted(report['s3_removed']) == ['site/assets/app.2222.js', 'site/assets/new.json', 'site/stray.txt']
    # force: every file re-uploaded, logo.svg too (same bytes in v2, but put without a Content-Type)
    assert sorted(report['s3_uploaded']) == sorted(expected('v1'))
    assert history(app_root)[-1]['release_id'] == R1 and history(app_root)[-1]['previous'] == R2

    # a named build (v2), then the same again: nothing uploaded or deleted the second time
    for attempt in (1, 2):
        rc, out = deploy_playbook(PLAYBOOK, dict(rb, rollback_release_id=R2, rollback_frontend_s3_strategy='checksum'),
                                  tmp_path)
        assert rc == 0, out
        assert os.readlink(str(app_root / 'current')) == 'releases/' + R2
        assert {k: v[0] for k, v in bucket_state(s3, 'site/').items()} == expected('v2')
        report = json.loads((reports / ('rollback-web-%s-localhost.json' % R2)).read_text())
        if attempt == 2:
            assert report['s3_uploaded'] == [] and report['s3_removed'] == [], report
        else:  # checksum: only changed bytes (index.html has the same size as in v1: compared by content)
            assert sorted(report['s3_removed']) == ['site/assets/app.1111.js']
            assert sorted(report['s3_uploaded']) == ['site/assets/app.2222.js', 'site/assets/new.json',
                                                     'site/assets/site.css', 'site/health', 'site/index.html']
    assert not (app_root / 'deploy.lock').exists()
