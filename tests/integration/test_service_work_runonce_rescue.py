# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# The service role's work_pause/work_resume send their HTTP requests with run_once. deploy.yml on TWO hosts
# (local-connection aliases app1/app2, each with its own app root) with the playbook's max_fail_percentage: 0:
# when such a request failed, the other host used to fail outside the block's normal path, the play printed "NO
# MORE HOSTS LEFT" and stopped before the deploy's rescue ran on every host (lock left, no failed mark, no switch
# back). Now every host's rescue runs, with the method, URL and status in its message. Real server: a small HTTP
# app on 127.0.0.1 whose pause/resume endpoints answer what each test scripts (and count the calls).
# The same rule for the front-end rollback's run_once S3 mirror (rollback_frontend.yml on two hosts, a bucket
# missing on the session's moto S3 server): every host's rescue runs, naming the bucket and the cause.

import http.server
import json
import os
import threading

import pytest

from playbooks import run_playbook
from release_fixtures import DEPLOY_ENV, IDS, deploy_setup, history, host_failure, http_gate, release_setup, run_inproc
from testkit import make_tarball
from testkit import REPO

R1, R2 = IDS[0], IDS[1]
DEPLOY = os.path.join(REPO, 'playbooks', 'deploy.yml')
FRONTEND = os.path.join(REPO, 'playbooks', 'rollback_frontend.yml')
HOSTS = ('app1', 'app2')


class _WorkApp(http.server.BaseHTTPRequestHandler):
    """POST <path>: the next scripted status of that path (the last one repeats; 200 when none), each call recorded."""

    def do_POST(self):
        app = self.server.app
        with app['lock']:
            app['calls'].append(self.path)
            script = app['script'].get(self.path.split('?')[0], [200])
            status = script.pop(0) if len(script) > 1 else script[0]
        self.send_response(status)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def work_app():
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _WorkApp)
    server.app = {'lock': threading.Lock(), 'calls': [], 'script': {}}
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.1}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(10)


def _fleet(app_root, current_server, tmp_path, work_app, script):
    """Two hosts with R1 live, the health gate answering 200 (from app_root's R1), the work endpoints scripted."""
    common, v1, v2, dummy, migrations, reports = deploy_setup(app_root, current_server, tmp_path)
    release_setup(app_root, R1, v1, active=True)      # what the health gate (current_server) serves
    del common['deploy_app_root']                     # per host below (extra vars would override host vars)
    roots = {}
    for name in HOSTS:
        root = tmp_path / ('root-' + name)
        (root / 'shared').mkdir(parents=True)
        (root / 'shared' / '.env').write_text('SECRET_FROM_SHARED=1\n')
        release_setup(root, R1, v1, active=True)
        roots[name] = root
    work_app.app['calls'][:] = []
    work_app.app['script'] = script
    base = 'http://127.0.0.1:%d' % work_app.server_address[1]
    extra = dict(common, deploy_src=v2, deploy_release_id=R2,
                 deploy_work_pause_requests=[{'url': base + '/api/queue/pause-all'},
                                             {'url': 'http://ops:s3cr3t-pw@127.0.0.1:%d/api/cron/pause'
                                                     % work_app.server_address[1]}],
                 deploy_work_resume_requests=[{'url': base + '/api/queue/resume-all'}])
    hosts = {name: {'deploy_app_root': str(roots[name])} for name in HOSTS}
    r = run_playbook(DEPLOY, extra, tmp_path, groups=('app',), timeout=600, env=DEPLOY_ENV, hosts=hosts)
    out = r.stdout + r.stderr
    (tmp_path / 'deploy-out.txt').write_text(out)
    assert r.returncode != 0, out[-3000:]
    assert 'NO MORE HOSTS LEFT' not in out, out
    return out, roots, migrations


@pytest.mark.slow
def test_failed_pause_request_rescues_every_host(app_root, current_server, tmp_path, work_app):
    out, roots, migrations = _fleet(app_root, current_server, tmp_path, work_app, {'/api/cron/pause': [500]})
    # the requests went out once for the batch, the failing one named with its status, without its credentials;
    # the first pause had gone through, so the rescue resumes (once): a half-paused app is not left paused
    assert work_app.app['calls'] == ['/api/queue/pause-all', '/api/cron/pause', '/api/queue/resume-all'], \
        work_app.app['calls']
    assert not migrations.exists()
    for name in HOSTS:
        said = host_failure(out, name)
        assert "Deploy of release %s failed at step 'pause'" % R2 in said, said
        assert 'Could not pause work: POST http://127.0.0.1:%d/api/cron/pause answered status 500' \
            % work_app.server_address[1] in said, said
        assert 'No worker unit was stopped' in said, said
        assert 's3cr3t-pw' not in said, said
        assert 'The release never went live.' in said, said      # paused before the fetch: nothing to mark
        root = roots[name]
        assert os.readlink(str(root / 'current')) == 'releases/' + R1
        assert not (root / 'releases' / R2).exists(), name
        assert not (root / 'deploy.lock').exists(), name
        assert [e['action'] for e in history(root)] == ['activate']


@pytest.mark.slow
def test_failed_resume_request_rolls_back_and_resumes_on_every_host(app_root, current_server, tmp_path, work_app):
    # R2 went live and healthy on both hosts; the resume request fails once (503), so the deploy fails at 'resume':
    # every host switches back to R1 and the rescue's resume (run once again) goes through
    out, roots, migrations = _fleet(app_root, current_server, tmp_path, work_app,
                                    {'/api/queue/resume-all': [503, 200]})
    assert work_app.app['calls'] == ['/api/queue/pause-all', '/api/cron/pause', '/api/queue/resume-all',
                                     '/api/queue/resume-all'], work_app.app['calls']
    assert migrations.read_text().splitlines() == ['v2']   # the migration ran once for the batch
    for name in HOSTS:
        said = host_failure(out, name)
        assert "Deploy of release %s failed at step 'resume'" % R2 in said, said
        assert 'Could not resume work: POST http://127.0.0.1:%d/api/queue/resume-all answered status 503' \
            % work_app.server_address[1] in said, said
        assert 'Rolled back to release %s (health: ok)' % R1 in said, said
        root = roots[name]
        assert os.readlink(str(root / 'current')) == 'releases/' + R1
        assert json.loads((root / 'releases' / (R2 + '.failed')).read_text())['reason'].startswith('resume failed')
        assert not (root / 'deploy.lock').exists(), name
        assert [e['action'] for e in history(root)] == ['activate', 'activate', 'activate', 'failed']


@pytest.mark.slow
def test_failed_s3_mirror_rescues_every_host(current_server, moto_server, tmp_path):
    dist = tmp_path / 'dist'
    dist.mkdir()
    roots = {}
    for name in HOSTS:
        root = tmp_path / ('web-' + name)
        for rid, version in ((R1, 'v1'), (R2, 'v2')):
            art = make_tarball(str(dist / ('%s-%s.tgz' % (name, version))), {'index.html': version, 'health': 'ok'},
                               prefix='./')
            assert run_inproc(dict(app_root=str(root), release_id=rid, src=art))['changed']
        assert run_inproc(dict(app_root=str(root), release_id=R2, state='active', reason='deploy v2'))['changed']
        roots[name] = root
    bucket = 'h4-missing-bucket'   # never created: the mirror (run_once) fails
    rb = {'rollback_hosts': 'app', 'rollback_app_name': 'web', 'rollback_frontend_s3_bucket': bucket,
          'rollback_frontend_s3_prefix': 'site', 'rollback_frontend_s3_endpoint_url': moto_server,
          'rollback_frontend_s3_region': 'us-east-1',
          'rollback_health_checks': [http_gate('site', current_server + '/health')],
          'rollback_health_window': 2, 'rollback_health_delay': 1, 'rollback_actor': 'pytest',
          'rollback_report_dir': str(tmp_path / 'reports')}
    hosts = {name: {'rollback_app_root': str(roots[name])} for name in HOSTS}
    r = run_playbook(FRONTEND, rb, tmp_path, groups=('app',), timeout=600, env=DEPLOY_ENV, hosts=hosts)
    out = r.stdout + r.stderr
    (tmp_path / 'frontend-out.txt').write_text(out)
    assert r.returncode != 0
    assert 'NO MORE HOSTS LEFT' not in out, out
    for name in HOSTS:
        said = host_failure(out, name)
        assert "failed at step 'sync'" in said, said
        assert 'Could not mirror build %s to s3://%s/site/: ' % (R1, bucket) in said, said
        assert 'The webroot already serves build %s' % R1 in said, said
        assert os.readlink(str(roots[name] / 'current')) == 'releases/' + R1
        assert not (roots[name] / 'deploy.lock').exists(), name
