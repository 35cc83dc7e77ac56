# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# deploy_pause_queues with a Celery target, for real: deploy.yml on localhost (service adapter "none") against the
# session's password-protected redis-server (broker db 3) and one real `celery worker` (queue_fixtures). An
# after_pause hook asks this test's HTTP server to send a task; the deploy's health gate is the same server, which
# records at each probe Celery's own view (inspect active_queues of the worker), the broker list (LLEN) and the
# tasks the worker started. So: the worker stops consuming during the deploy (the task sent during it waits in the
# broker), consumes again after the resume phase and runs it; a deploy that fails its health gate rolls back and
# resumes the queue in its rescue; a second worker that never consumed the queue is not made to by the resume.
# Two ansible-playbook runs, two workers.

import http.server
import json
import os
import threading
import uuid

import pytest

from queue_fixtures import processed, wait_for
from release_fixtures import IDS, deploy_playbook, deploy_setup, release_setup
from testkit import REPO

R1, R2, R3 = IDS[0], IDS[1], IDS[2]
DEPLOY = os.path.join(REPO, 'playbooks', 'deploy.yml')
BROKER_DB = 3  # the db of queue_fixtures.celery_workers


class _Gate(http.server.BaseHTTPRequestHandler):
    """GET /send sends one task (the after_pause hook); GET /health records the view and answers 200, or 503 when
    the active release is v3 (the release that must fail its gate)."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        try:
            status = self.server.handle_path(self.path)
        except Exception as exc:  # pylint: disable=broad-except  # shown in the test's failure, not swallowed
            self.server.errors.append(repr(exc))
            status = 500
        self.send_response(status)
        self.send_header('Content-Length', '2')
        self.end_headers()
        self.wfile.write(b'ok')

    def log_message(self, *args):
        pass


class GateServer(object):
    def __init__(self, celery_workers, redis_server, app_root, queue, node):
        import redis
        self.cw, self.app_root, self.queue, self.node = celery_workers, app_root, queue, node
        self.broker = redis.Redis(host='127.0.0.1', port=redis_server.port, password=redis_server.password,
                                  db=BROKER_DB, decode_responses=True)
        self.sent, self.views, self.errors = [], [], []
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Gate)
        self.httpd.handle_path = self.handle_path
        self.httpd.errors = self.errors
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.1}, daemon=True)
        self.thread.start()

    def consuming(self, node=None):
        """The queues a worker consumes, from Celery's own inspect (answers as soon as that worker replied)."""
        node = node or self.node
        replies = self.cw.app.control.inspect(destination=[node], limit=1, timeout=10).active_queues() or {}
        return sorted(q['name'] for q in replies.get(node) or [])

    def handle_path(self, path):
        if path.startswith('/send'):
            tag = 'during-%d' % (len(self.sent) + 1)
            self.cw.send(self.queue, tag)
            self.sent.append(tag)
            return 200
        version = (self.app_root / 'current' / 'VERSION').read_text().strip()
        self.views.append({'version': version, 'consuming': self.consuming(), 'ready': self.broker.llen(self.queue),
                           'started': [line[0] for line in processed(self.cw.log)], 'sent': list(self.sent)})
        return 503 if version == 'v3' else 200

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
        self.broker.close()


@pytest.fixture
def gate(celery_workers, redis_server, app_root):
    queue = 'rbo-dc-' + uuid.uuid4().hex[:6]
    celery_workers.start('dc', [queue])
    celery_workers.start('dcother', [queue + '-other'])   # never consumed the deployed app's queue
    server = GateServer(celery_workers, redis_server, app_root, queue, 'dc@rbo')
    yield server
    server.close()


@pytest.mark.slow
def test_deploy_pauses_celery_workers_and_resumes_them_also_in_the_rescue(
        gate, celery_workers, redis_server, app_root, tmp_path):
    q = gate.queue
    common, v1, v2, v3, migrations, reports = deploy_setup(app_root, gate.url, tmp_path)
    (tmp_path / 'hooks' / 'after_pause.yml').write_text(
        '- name: Hook after pause, a task is sent while the deploy runs\n'
        '  ansible.builtin.uri:\n'
        '    url: "%s/send"\n' % gate.url)
    release_setup(app_root, R1, v1, active=True)
    assert gate.consuming() == [q]
    deploy_vars = dict(common, runbook_redis={'host': '127.0.0.1', 'port': redis_server.port,
                                              'password': redis_server.password},
                       deploy_pause_queues=[{'engine': 'celery', 'queues': [q], 'db': BROKER_DB}])

    rc, out = deploy_playbook(DEPLOY, dict(deploy_vars, deploy_src=v2, deploy_release_id=R2), tmp_path)
    assert rc == 0, out
    assert not gate.errors, gate.errors
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R2
    # at the health gate (after the switch and restart, before the resume): the worker consumes nothing, the task
    # sent after the pause waits in the broker and was not started
    assert gate.sent == ['during-1'] and gate.views, out
    assert gate.views[-1] == {'version': 'v2', 'consuming': [], 'ready': 1, 'started': [], 'sent': ['during-1']}
    # resumed by the resume phase: the worker consumes the queue again and runs the task (none lost)
    wait_for(lambda: 'during-1' in [line[0] for line in processed(celery_workers.log)], what='the task to run')
    assert gate.consuming() == [q]
    # the resume added the queue back to the worker the pause cancelled, not to every live worker
    assert gate.consuming('dcother@rbo') == [q + '-other']
    host = json.loads((reports / ('deploy-app-%s.json' % R2)).read_text())['hosts'][0]
    assert host['queues_paused'] == [q] and host['queues_resumed'] == [q] and host['queues_left_paused'] == []
    assert redis_server.password not in out

    # v3 fails its health gate after the switch: the rescue rolls back to v2 and resumes the queue
    views_before = len(gate.views)
    rc, out = deploy_playbook(DEPLOY, dict(deploy_vars, deploy_src=v3, deploy_release_id=R3), tmp_path)
    assert rc != 0
    assert not gate.errors, gate.errors
    assert "failed at step 'health'" in out and 'Rolled back to release %s' % R2 in out, out
    assert 'Job queues resumed: %s.' % q in out, out
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R2
    during = gate.views[views_before:]
    # the failing gate on v3, then the rescue's check of v2: paused all along, the second task waiting
    assert [v['version'] for v in during][0] == 'v3' and during[-1]['version'] == 'v2', during
    for view in during:
        assert view['consuming'] == [] and view['ready'] == 1 and view['started'] == ['during-1'], during
    wait_for(lambda: 'during-2' in [line[0] for line in processed(celery_workers.log)], what='the task to run')
    assert gate.consuming() == [q]
    assert [line[0] for line in processed(celery_workers.log)] == ['during-1', 'during-2']
    assert redis_server.password not in out
