# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# rollback.yml with the database restore stops the app BEFORE the restore and starts the older release only AFTER it.
# The app runs under the container adapter with a stub `podman` first on PATH, and work is paused / resumed with
# HTTP requests to a recording server: both record, at the moment they are called, whether the live database still
# has the newer schema (column orders.coupon, added by the migration of the release rolled back from), read with
# psql. So the log shows the order pause -> stop -> (restore) -> start -> resume against the real database. Then a
# restore that fails after the stop: the live database is untouched and the app starts again on the active release.

import http.server
import json
import os
import stat
import sys
import threading

import pytest

from release_fixtures import IDS, deploy_playbook, deploy_setup, history, release_setup
from testkit import REPO

R1, R2 = IDS[0], IDS[1]
ROLLBACK = os.path.join(REPO, 'playbooks', 'rollback.yml')
COUPON_SQL = ("SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' "
              "AND column_name = 'coupon'")

# Records its argv and whether the newer schema is live right now (1: coupon column present, 0: restored);
# `image inspect` / `container inspect` (read-only checks of the adapter) answer without being recorded.
STUB = r'''#!%(python)s
import hashlib, json, os, subprocess, sys
args = sys.argv[1:]
last = os.environ["STUB_LOG"] + ".image"
def image_id(ref):  # an engine answers an image id; the adapter compares ids, not references
    return "sha256:" + hashlib.sha256(ref.encode()).hexdigest()
if args[:1] == ["run"]:
    with open(last, "w") as f:
        f.write(args[-1])
if args[:2] == ["image", "inspect"]:
    print(image_id(args[-1]))
if args[:2] == ["container", "inspect"]:  # the adapter checks the container runs the image it started
    print('true "%%s"' %% image_id(open(last).read()))
if args[:1] in (["image"], ["container"]):
    sys.exit(0)
argv = json.loads(os.environ["STUB_PSQL"])
schema = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                        env=dict(os.environ, PGPASSWORD=os.environ["STUB_PGPASSWORD"])).stdout.strip()
with open(os.environ["STUB_LOG"], "a") as f:
    f.write(json.dumps({"call": [os.path.basename(sys.argv[0])] + args, "coupon": schema}) + "\n")
'''


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server API
        self.server.log_call(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder(tmp_path, postgres_server):
    log = tmp_path / 'calls.jsonl'

    def log_call(path):
        with open(str(log), 'a') as f:
            f.write(json.dumps({'call': ['POST', path],
                                'coupon': postgres_server.psql(COUPON_SQL, db='shop_order')}) + '\n')

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Recorder)
    server.log_call = log_call
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.1}, daemon=True)
    thread.start()
    yield log, 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(10)


def calls(log):
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.mark.slow
def test_rollback_stops_app_before_restore(app_root, current_server, postgres_server, recorder, run_module, tmp_path):
    pg = postgres_server
    pg.psql('DROP DATABASE IF EXISTS shop_order')
    pg.psql('CREATE DATABASE shop_order')
    pg.psql('CREATE TABLE orders (id int primary key, total int); '
            'INSERT INTO orders SELECT g, g * 10 FROM generate_series(1, 25) g', db='shop_order')
    common, v1, v2, _v3, _migrations, reports = deploy_setup(app_root, current_server, tmp_path)
    release_setup(app_root, R1, v1)
    # the pre-deploy backup of R2 (as the deploy role takes it), then R2 goes live with its migration
    store = tmp_path / 'backups'
    login = dict(login_host='127.0.0.1', login_port=pg.port, login_user='postgres', login_password=pg.password)
    backup = run_module('db_backup', dict(store=str(store), db='shop_order', tags={'release': R2}, **login))
    assert backup.get('backup_id'), backup
    release_setup(app_root, R2, v2, active=True)
    pg.psql('ALTER TABLE orders ADD COLUMN coupon text; DELETE FROM orders WHERE id > 20', db='shop_order')
    assert pg.psql(COUPON_SQL, db='shop_order') == '1'

    stubs = tmp_path / 'bin'
    stubs.mkdir()
    (stubs / 'podman').write_text(STUB % {'python': sys.executable})
    os.chmod(str(stubs / 'podman'), stat.S_IRWXU)
    log, url = recorder
    env = {'PATH': '%s:%s' % (stubs, os.environ['PATH']), 'STUB_LOG': str(log), 'STUB_PGPASSWORD': pg.password,
           'STUB_PSQL': json.dumps(['psql', '-h', '127.0.0.1', '-p', str(pg.port), '-U', 'postgres', '-d',
                                    'shop_order', '-XAtq', '-c', COUPON_SQL])}
    rb = {'rollback_hosts': 'app', 'rollback_app_root': str(app_root), 'rollback_app_name': 'shop',
          'rollback_service_adapter': 'container', 'deploy_container_image': 'localhost/h4-shop',
          'rollback_work_pause_requests': [{'url': url + '/api/queue/pause-all'}],
          'rollback_work_resume_requests': [{'url': url + '/api/queue/resume-all'}],
          'rollback_health_checks': common['deploy_health_checks'], 'rollback_health_window': 2,
          'rollback_health_delay': 1, 'rollback_report_dir': str(reports), 'rollback_db_restore': True,
          'rollback_db_store': str(store), 'rollback_db_name': 'shop_order',
          'rollback_db_login_host': '127.0.0.1', 'rollback_db_login_port': pg.port,
          'rollback_db_login_user': 'postgres', 'rollback_db_login_password': pg.password}

    # a restore that fails after the stop (no such backup): the database is untouched, the app starts again on R2
    rc, out = deploy_playbook(ROLLBACK, dict(rb, rollback_db_restore_confirm=R2,
                                             rollback_db_backup_id='20261101T000000Z-shop_order-000000'),
                              tmp_path, env_extra=env)
    assert rc != 0
    assert "failed at step 'database'" in out, out
    assert 'The live database was not replaced; the app was started again on release %s and work resumed' % R2 \
        in ' '.join(out.split()), out
    assert pg.password not in out
    got = [(c['call'][:2], c['coupon']) for c in calls(log)]
    assert got == [(['POST', '/api/queue/pause-all'], '1'), (['podman', 'stop'], '1'), (['podman', 'rm'], '1'),
                   (['podman', 'run'], '1'), (['POST', '/api/queue/resume-all'], '1')], got
    assert calls(log)[3]['call'][-1] == 'localhost/h4-shop:' + R2
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R2
    assert not (app_root / 'deploy.lock').exists()
    assert pg.psql('SELECT count(*) FROM orders', db='shop_order') == '20'
    log.unlink()

    # confirmed, with the real backup: paused and stopped while the newer schema is live, started after the restore
    rc, out = deploy_playbook(ROLLBACK, dict(rb, rollback_db_restore_confirm=R2), tmp_path, env_extra=env)
    assert rc == 0, out
    assert pg.password not in out
    got = [(c['call'][:2], c['coupon']) for c in calls(log)]
    assert got == [(['POST', '/api/queue/pause-all'], '1'), (['podman', 'stop'], '1'), (['podman', 'rm'], '0'),
                   (['podman', 'run'], '0'), (['POST', '/api/queue/resume-all'], '0')], got
    assert calls(log)[1]['call'] == ['podman', 'stop', '--ignore', '-t', '10', 'shop']
    assert calls(log)[3]['call'][-1] == 'localhost/h4-shop:' + R1
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R1
    assert pg.psql('SELECT count(*) FROM orders', db='shop_order') == '25'
    assert history(app_root)[-1]['release_id'] == R1
    report = json.loads((reports / ('rollback-shop-%s-localhost.json' % R1)).read_text())
    assert report['stopped_for_restore'] is True and report['database_restored'] is True
    assert not (app_root / 'deploy.lock').exists()

    # without a database restore nothing is stopped: pause, then the switch and restart, then resume
    log.unlink()
    rb_plain = dict(rb, rollback_db_restore=False, rollback_release_id=R2)
    rc, out = deploy_playbook(ROLLBACK, rb_plain, tmp_path, env_extra=env)
    assert rc == 0, out
    assert [c['call'][:2] for c in calls(log)] == [['POST', '/api/queue/pause-all'], ['podman', 'rm'],
                                                   ['podman', 'run'], ['POST', '/api/queue/resume-all']]
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R2
