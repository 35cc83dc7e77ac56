# -*- coding: utf-8 -*-
"""The queues role through playbooks/queues.yml on a local host against a real redis-server and a BullMQ queue
made by Node's bullmq: pause (connection from runbook_redis), report, resume; a failing action keeps the play red
and is in the report."""
from __future__ import annotations

import json
import os
import uuid

from playbooks import run_playbook
from testkit import REPO


def playbook(tmp_path, extra, check=False):
    r = run_playbook('queues', extra, tmp_path, groups=('cache',), check=check, timeout=300,
                     env={'ANSIBLE_CONFIG': os.path.join(REPO, 'ansible.cfg')})
    report = tmp_path / 'reports' / 'queues.json'
    data = json.loads(report.read_text()) if report.exists() else None
    md = (tmp_path / 'reports' / 'queues.md').read_text() if report.exists() else ''
    return r, data, md


def test_pause_report_resume(node_bullmq, redis_server, tmp_path):
    q = 'rbo-role-' + uuid.uuid4().hex[:6]
    node_bullmq.add(q, ok=2, delayed=1)
    base = {'runbook_redis': {'host': '127.0.0.1', 'port': redis_server.port, 'password': redis_server.password},
            'runbook_report_dir': str(tmp_path / 'reports'), 'queues_names': [q]}

    r, data, md = playbook(tmp_path, dict(base, queues_action='pause'), check=True)
    assert r.returncode == 0, r.stdout[-3000:]
    assert node_bullmq.counts(q)['paused'] is False

    r, data, md = playbook(tmp_path, dict(base, queues_action='pause'))
    assert r.returncode == 0, r.stdout[-3000:]
    assert node_bullmq.counts(q)['paused'] is True
    host = data['hosts']['localhost']
    assert host['status'] == 'ok' and host['actions'][0]['changed'] is True
    assert host['queues'][0]['paused'] is True and host['queues'][0]['waiting'] == 2
    assert '| `%s` |' % q in md and '| pause |' in md
    assert redis_server.password not in r.stdout + md + json.dumps(data)

    r, data, md = playbook(tmp_path, dict(base))
    assert r.returncode == 0 and data['action'] == 'report'

    r, data, md = playbook(tmp_path, dict(base, queues_action='resume'))
    assert r.returncode == 0
    assert node_bullmq.counts(q)['paused'] is False


def test_failed_action_is_reported_and_the_play_is_red(redis_server, tmp_path):
    base = {'runbook_redis': {'host': '127.0.0.1', 'port': redis_server.port, 'password': redis_server.password},
            'runbook_report_dir': str(tmp_path / 'reports'), 'queues_names': ['no-such-queue']}
    r, data, md = playbook(tmp_path, dict(base, queues_action='retry'))
    assert r.returncode != 0
    assert data['hosts']['localhost']['status'] == 'failed'
    assert 'Could not find queue no-such-queue' in md
