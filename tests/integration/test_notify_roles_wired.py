# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runbook roles wired to runbook_notify_targets, through their playbooks against a real local JSON webhook:
runbook.ops.cache_flush (file cache only) on two local hosts (one start event for the play, then one success and
one failure event per host; the failing host stays red with its own error), and runbook.ops.deploy (success,
then a failed health gate with its automatic rollback)."""
from __future__ import annotations

import os

from playbooks import run_playbook
from release_fixtures import IDS, deploy_playbook, deploy_setup, release_setup
from testkit import REPO
from webhook_fixtures import webhook_receiver

DEPLOY = os.path.join(REPO, 'playbooks', 'deploy.yml')


def test_cache_flush_notifies_start_once_and_each_hosts_result(tmp_path):
    allowed = tmp_path / 'srv'
    (allowed / 'cache').mkdir(parents=True)
    (allowed / 'cache' / 'a').write_text('x')
    (tmp_path / 'outside').mkdir()
    (allowed / 'linked').symlink_to(tmp_path / 'outside')
    hosts = {'good': {'cache_redis_enabled': False, 'cache_dir_path': str(allowed / 'cache')},
             'bad': {'cache_redis_enabled': False, 'cache_dir_path': str(allowed / 'linked')}}
    with webhook_receiver(200) as hook:
        r = run_playbook('cache_flush', {
            'cache_dir_allowed_roots': [str(allowed)], 'cache_report_dir': str(tmp_path / 'reports'),
            'runbook_notify_targets': [{'name': 'audit', 'type': 'webhook', 'url': hook.url, 'secret': hook.token}]},
            tmp_path, groups=('cache',), hosts=hosts, timeout=300)
    assert hook.token not in r.stdout + r.stderr
    assert r.returncode != 0 and 'symlink' in r.stdout
    events = sorted((b['status'], tuple(sorted(b['hosts']))) for b in hook.received)
    assert events == [('failure', ('bad',)), ('start', ('bad', 'good')), ('success', ('good',))], events
    failure = [b for b in hook.received if b['status'] == 'failure'][0]
    assert failure['runbook'] == 'cache_flush' and 'symlink' in failure['summary']
    assert not (allowed / 'cache' / 'a').exists()


def test_deploy_notifies_success_then_the_failure_with_its_rollback(app_root, current_server, tmp_path):
    """runbook.ops.deploy with a green release, then one whose health gate fails: start and success, then start
    and a failure naming the step and the release rolled back to; the play's own error stays the deploy's."""
    common, v1, v2, v3, dummy, dummy2 = deploy_setup(app_root, current_server, tmp_path)
    release_setup(app_root, IDS[0], v1, active=True)
    with webhook_receiver(200) as hook:
        targets = {'runbook_notify_targets': [{'name': 'chat', 'type': 'webhook', 'url': hook.url}]}
        rc, out = deploy_playbook(DEPLOY, dict(common, deploy_src=v2, deploy_release_id=IDS[1], **targets), tmp_path)
        assert rc == 0, out
        rc, out = deploy_playbook(DEPLOY, dict(common, deploy_src=v3, deploy_release_id=IDS[2], **targets), tmp_path)
    assert hook.token not in out
    assert rc != 0 and "Deploy of release %s failed at step 'health'" % IDS[2] in out
    assert [(b['runbook'], b['status']) for b in hook.received] == [
        ('deploy', 'start'), ('deploy', 'success'), ('deploy', 'start'), ('deploy', 'failure')]
    success, failure = hook.received[1], hook.received[3]
    assert success['figures'] == {'release': IDS[1]} and success['hosts'] == ['localhost']
    assert failure['phase'] == 'health' and failure['severity'] == 'error'
    assert 'Rolled back to release %s' % IDS[1] in failure['summary']
    assert failure['figures'] == {'release': IDS[2], 'rolled_back_to': IDS[1]}
