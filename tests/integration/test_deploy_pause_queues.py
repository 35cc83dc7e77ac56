# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# deploy_pause_queues / rollback_pause_queues for real: deploy.yml and rollback.yml on localhost (service adapter
# "none", the HTTP health endpoint of release_fixtures) against the session's password-protected redis-server and
# BullMQ queues worked by real Node bullmq workers (queue_fixtures). Every check reads the library's own view
# (Node's getJobCounts/isPaused) or the jobs the worker logged, never our modules' word:
# (a) the queues are paused and drained before the migration, a job submitted during the deploy waits until the
#     resume and is processed after it (none lost); (d) a queue paused before the deploy stays paused;
# (b) a deploy whose health gate fails rolls back and resumes the queue; (c) a queue that does not drain within
#     deploy_pause_drain_timeout_s fails the deploy naming it, and is resumed; the rollback role does the same.

import http.server
import json
import os
import threading
import uuid

import pytest

from queue_fixtures import NodeBullmq, processed
from release_fixtures import IDS, deploy_playbook, deploy_setup, release_setup
from testkit import REPO

R1, R2, R3 = IDS[0], IDS[1], IDS[2]
DEPLOY = os.path.join(REPO, 'playbooks', 'deploy.yml')
ROLLBACK = os.path.join(REPO, 'playbooks', 'rollback.yml')


@pytest.fixture(scope='module')
def nb(bullmq_npm, redis_server):
    """One Node bullmq driver for the module (its workers are stopped at the end); each test uses its own queues."""
    driver = NodeBullmq(bullmq_npm, redis_server)
    yield driver
    driver.close()


def qname(tag):
    return 'rbo-dq-%s-%s' % (tag, uuid.uuid4().hex[:6])


def node_script(nb, tmp_path, name, *argv):
    """A shell script that runs the Node producer with the Redis settings in its environment (so no password is
    in an Ansible variable of the play): ``sh <script>`` prints what the producer prints."""
    env = ' '.join("%s='%s'" % (k, nb.env[k]) for k in ('RBO_REDIS_PORT', 'RBO_REDIS_PASSWORD', 'RBO_PREFIX', 'NODE_PATH'))
    script = tmp_path / name
    script.write_text('#!/bin/sh\nset -e\ncd %s\nexec env %s node producer.js %s\n'
                      % (nb.dir, env, ' '.join("'%s'" % a for a in argv)))
    return str(script)


def deploy_vars(common, queue_names, redis_server, **extra):
    return dict(common, runbook_redis={'host': '127.0.0.1', 'port': redis_server.port,
                                       'password': redis_server.password},
                deploy_pause_queues=[{'engine': 'bullmq', 'queues': queue_names}], **extra)


def with_queue_hooks(common, tmp_path, nb, q):
    """The migration records the queue's view, then submits 3 jobs; a before_resume hook records the view again."""
    during = tmp_path / 'during-migrate.jsonl'
    counts = node_script(nb, tmp_path, 'counts.sh', 'counts', q)
    add = node_script(nb, tmp_path, 'add.sh', 'add', q, json.dumps({'ok': 3}))
    (tmp_path / 'hooks' / 'before_resume.yml').write_text(
        '- name: Hook before resume, the queue as the library sees it\n'
        '  ansible.builtin.command:\n'
        '    argv: [sh, "%s"]\n'
        '  register: _hook_counts\n'
        '  changed_when: false\n'
        '- name: Hook before resume, keep it with the jobs the worker started so far\n'
        '  ansible.builtin.lineinfile:\n'
        '    path: "%s"\n'
        '    line: "{{ {\'view\': _hook_counts.stdout | from_json, \'started\': lookup(\'file\', \'%s\').splitlines()}'
        ' | to_json }}"\n'
        '    create: true\n'
        '    mode: "0644"\n' % (counts, tmp_path / 'before-resume.jsonl', tmp_path / 'worker.log'))
    migrate = ['/bin/sh', '-c', 'sh "$1" >> "$2" && sh "$3" > /dev/null', 'migrate', counts, str(during), add]
    return dict(common, deploy_migrate_command=migrate), during, tmp_path / 'before-resume.jsonl'


def last_json_line(path):
    return json.loads(path.read_text().strip().splitlines()[-1])


@pytest.mark.slow
def test_deploy_pauses_drains_resumes_and_rolls_back(nb, run_module, redis_server, app_root, current_server,
                                                     tmp_path):
    common, v1, v2, v3, migrations, reports = deploy_setup(app_root, current_server, tmp_path)
    release_setup(app_root, R1, v1, active=True)
    q, kept = qname('run'), qname('kept')
    log, kept_log = tmp_path / 'worker.log', tmp_path / 'kept.log'
    # (d) a queue an operator paused before the deploy, with a job waiting and a live worker
    nb.add(kept, ok=1)
    paused = run_module('queue_control', dict(redis_server.params, engine='bullmq', queues=[kept], action='pause'))
    assert paused['changed'] is True
    nb.start_worker(kept, kept_log)
    # a job running when the deploy starts: the deploy waits for it before migrating
    nb.start_worker(q, log)
    nb.add(q, slow=1, slow_ms=2000)
    nb.wait_counts(q, lambda c: c['active'] == 1 or c['completed'] == 1)
    common, during, before_resume = with_queue_hooks(common, tmp_path, nb, q)

    rc, out = deploy_playbook(DEPLOY, deploy_vars(common, [q, kept], redis_server, deploy_src=v2,
                                                  deploy_release_id=R2, deploy_pause_drain_timeout_s=120), tmp_path)
    assert rc == 0, out
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R2
    # (a) at the migration: paused, and the running job had finished (drained)
    at_migrate = last_json_line(during)
    assert at_migrate['paused'] is True
    assert at_migrate['counts']['active'] == 0 and at_migrate['counts']['completed'] == 1
    # after the switch, restart and health gate, the 3 jobs submitted during the deploy still wait, none started
    at_resume = last_json_line(before_resume)
    assert at_resume['view']['paused'] is True and at_resume['view']['counts']['wait'] == 3
    assert [line.split()[1] for line in at_resume['started']] == ['slow']
    # resumed after the deploy: every job processed, none lost
    nb.wait_counts(q, lambda c: c['completed'] == 4 and c['wait'] == 0 and c['active'] == 0)
    assert nb.counts(q)['paused'] is False
    assert sorted(int(j[0]) for j in processed(log)) == [1, 2, 3, 4]
    # (d) the queue paused before the deploy is still paused, its job untouched
    assert nb.counts(kept)['paused'] is True and nb.counts(kept)['counts']['wait'] == 1
    assert processed(kept_log) == []
    host = json.loads((reports / ('deploy-app-%s.json' % R2)).read_text())['hosts'][0]
    assert host['queues_paused'] == [q] and host['queues_resumed'] == [q] and host['queues_left_paused'] == [kept]
    assert redis_server.password not in out

    # (b) v3 fails its health gate after the switch: rolled back to v2, and the queue is resumed
    rc, out = deploy_playbook(DEPLOY, deploy_vars(common, [q, kept], redis_server, deploy_src=v3,
                                                  deploy_release_id=R3), tmp_path)
    assert rc != 0
    assert "failed at step 'health'" in out and 'Rolled back to release %s' % R2 in out, out
    assert 'Job queues resumed: %s.' % q in out and 'Left paused as found before the deploy: %s.' % kept in out, out
    assert last_json_line(during)['paused'] is True
    nb.wait_counts(q, lambda c: c['completed'] == 7 and c['wait'] == 0)
    assert nb.counts(q)['paused'] is False
    assert len(processed(log)) == 7
    assert nb.counts(kept)['paused'] is True and processed(kept_log) == []
    assert redis_server.password not in out


@pytest.mark.slow
def test_a_queue_that_does_not_drain_fails_the_deploy_and_is_resumed(nb, redis_server, app_root,
                                                                     current_server, tmp_path):
    common, v1, v2, v3, migrations, reports = deploy_setup(app_root, current_server, tmp_path)
    release_setup(app_root, R1, v1, active=True)
    q = qname('busy')
    log = tmp_path / 'busy.log'
    worker = nb.start_worker(q, log)
    nb.add(q, slow=1, slow_ms=600000)  # a job that outlives any deploy
    nb.wait_counts(q, lambda c: c['active'] == 1)
    nb.add(q, ok=2)  # waiting behind it (concurrency 1)

    rc, out = deploy_playbook(DEPLOY, deploy_vars(common, [q], redis_server, deploy_src=v2, deploy_release_id=R2,
                                                  deploy_pause_drain_timeout_s=3), tmp_path)
    assert rc != 0
    (tmp_path / 'deploy-out.txt').write_text(out)
    assert "failed at step 'pause'" in out, out
    assert 'Could not drain queue %s: 1 job(s) still active after 3 s' % q in out, out
    assert 'Job queues resumed: %s.' % q in out, out
    # nothing went live, nothing migrated, and the queue is running again (the library's view)
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R1
    assert not migrations.exists()
    view = nb.counts(q)
    assert view['paused'] is False and view['counts']['active'] == 1 and view['counts']['wait'] == 2
    nb.stop_worker(worker, hard=True)


class _ProbeHandler(http.server.BaseHTTPRequestHandler):
    """/health answers 200 and, on each call, records the queue as the library sees it (the server's ``probe``)."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.probe()
        self.send_response(200)
        self.send_header('Content-Length', '2')
        self.end_headers()
        self.wfile.write(b'ok')

    def log_message(self, *args):
        pass


@pytest.mark.slow
def test_rollback_pauses_and_resumes_the_queues(nb, redis_server, app_root, current_server, tmp_path):
    common, v1, v2, v3, migrations, reports = deploy_setup(app_root, current_server, tmp_path)
    release_setup(app_root, R1, v1)
    release_setup(app_root, R2, v2, active=True)
    q = qname('rb')
    log = tmp_path / 'rb.log'
    nb.start_worker(q, log)
    nb.add(q, ok=1)
    nb.wait_counts(q, lambda c: c['completed'] == 1)
    seen = []

    def probe():
        # the health gate runs while the rollback holds the queue paused: submit a job and look
        if not seen:
            nb.add(q, ok=2)
        seen.append({'view': nb.counts(q), 'started': len(processed(log))})

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _ProbeHandler)
    server.probe = probe
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.1}, daemon=True)
    thread.start()
    try:
        gate = dict(common['deploy_health_checks'][0], url='http://127.0.0.1:%d/health' % server.server_address[1])
        rc, out = deploy_playbook(ROLLBACK, {
            'rollback_hosts': 'app', 'rollback_app_root': str(app_root), 'rollback_service_adapter': 'none',
            'rollback_health_checks': [gate], 'rollback_health_window': 30, 'rollback_health_delay': 1,
            'rollback_actor': 'pytest', 'rollback_report_dir': str(reports),
            'runbook_redis': {'host': '127.0.0.1', 'port': redis_server.port, 'password': redis_server.password},
            'rollback_pause_queues': [{'queues': [q]}]}, tmp_path)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert rc == 0, out
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R1
    assert seen and seen[-1]['view']['paused'] is True and seen[-1]['view']['counts']['wait'] == 2
    assert seen[-1]['started'] == 1
    nb.wait_counts(q, lambda c: c['completed'] == 3 and c['wait'] == 0)
    assert nb.counts(q)['paused'] is False
    report = json.loads((reports / ('rollback-app-%s-localhost.json' % R1)).read_text())
    assert report['queues_paused'] == [q] and report['queues_resumed'] == [q] and report['queues_left_paused'] == []
    assert redis_server.password not in out
