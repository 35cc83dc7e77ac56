# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# deploy.yml on TWO hosts (local-connection inventory aliases app1/app2, each with its own app root) with the
# playbook's default max_fail_percentage: 0, when the migration (run_once) exits non-zero. A failed run_once task
# used to fail every host outside the block's normal path: the play printed "NO MORE HOSTS LEFT" and stopped before
# the rescue ran, leaving the deploy lock, no failed mark and the BullMQ queue paused. Now every host's rescue runs:
# lock released, release marked failed, the queue resumed (the library's own view, Node's isPaused), the play red
# naming 'migrate', and the migration ran once. Real servers: the session's redis-server and Node bullmq (queue_fixtures).

import json
import os
import uuid

import pytest

from playbooks import run_playbook
from queue_fixtures import NodeBullmq
from release_fixtures import DEPLOY_ENV, IDS, deploy_setup, history, host_failure, release_setup
from testkit import REPO

R1, R2 = IDS[0], IDS[1]
DEPLOY = os.path.join(REPO, 'playbooks', 'deploy.yml')
ROLLBACK = os.path.join(REPO, 'playbooks', 'rollback.yml')
HOSTS = ('app1', 'app2')


@pytest.fixture(scope='module')
def nb_multihost(bullmq_npm, redis_server):
    driver = NodeBullmq(bullmq_npm, redis_server)
    yield driver
    driver.close()


@pytest.mark.slow
def test_failed_migration_rescues_every_host(nb_multihost, redis_server, app_root, current_server, tmp_path):
    common, v1, v2, v3, migrations, reports = deploy_setup(app_root, current_server, tmp_path)
    del common['deploy_app_root']  # per host below (extra vars would override host vars)
    roots = {}
    for name in HOSTS:
        root = tmp_path / ('root-' + name)
        (root / 'shared' / 'storage' / 'uploads').mkdir(parents=True)
        (root / 'shared' / '.env').write_text('SECRET_FROM_SHARED=1\n')
        release_setup(root, R1, v1, active=True)
        roots[name] = root
    q = 'rbo-mh-%s' % uuid.uuid4().hex[:6]
    nb_multihost.add(q, ok=1)  # the queue exists, not paused
    assert nb_multihost.counts(q)['paused'] is False
    extra = dict(common, deploy_src=v2, deploy_release_id=R2,
                 runbook_redis={'host': '127.0.0.1', 'port': redis_server.port, 'password': redis_server.password},
                 deploy_pause_queues=[{'engine': 'bullmq', 'queues': [q]}], deploy_pause_drain_timeout_s=30,
                 deploy_migrate_command=['/bin/sh', '-c',
                                         'echo ran >> "$MIGRATIONS_LOG"; echo "relation exists" >&2; exit 3'])

    r = run_playbook(DEPLOY, extra, tmp_path, groups=('app',), timeout=600, env=DEPLOY_ENV,
                     hosts={name: {'deploy_app_root': str(roots[name])} for name in HOSTS})
    out = r.stdout + r.stderr
    (tmp_path / 'deploy-out.txt').write_text(out)
    assert r.returncode != 0
    assert 'NO MORE HOSTS LEFT' not in out, out
    # the migration ran once for the batch, and its cause reaches the message
    assert migrations.read_text().splitlines() == ['ran']
    assert 'relation exists' in out, out
    # every host's rescue ran: red naming the step, release marked failed, never live, lock released
    for name in HOSTS:
        said = host_failure(out, name)
        assert "Deploy of release %s failed at step 'migrate'" % R2 in said, said
        assert 'The release never went live and is marked failed.' in said, said
        assert 'relation exists' in said and 'Job queues resumed: %s.' % q in said, said
        root = roots[name]
        assert os.readlink(str(root / 'current')) == 'releases/' + R1
        mark = json.loads((root / 'releases' / (R2 + '.failed')).read_text())
        assert mark['reason'].startswith('migrate failed'), mark
        assert not (root / 'deploy.lock').exists(), name
        assert [e['action'] for e in history(root)] == ['activate', 'failed']
    # the queue the deploy paused is running again (the library's view)
    assert nb_multihost.counts(q)['paused'] is False
    assert redis_server.password not in out


@pytest.mark.slow
def test_failed_backup_and_restore_rescue_every_host(postgres_server, app_root, current_server, tmp_path):
    """The other run_once steps that can fail: the deploy's pre-deploy backup and the rollback's database restore."""
    pg = postgres_server
    common, v1, v2, v3, migrations, reports = deploy_setup(app_root, current_server, tmp_path)
    del common['deploy_app_root']
    roots = {}
    for name in HOSTS:
        root = tmp_path / ('root-' + name)
        (root / 'shared' / 'storage' / 'uploads').mkdir(parents=True)
        (root / 'shared' / '.env').write_text('SECRET_FROM_SHARED=1\n')
        release_setup(root, R1, v1, active=True)
        roots[name] = root
    store = tmp_path / 'backups'
    store.mkdir()
    hosts = {name: {'deploy_app_root': str(roots[name]), 'rollback_app_root': str(roots[name])} for name in HOSTS}
    missing_db = 'rbo_mh_missing_%s' % uuid.uuid4().hex[:6]

    # the deploy: the backup of a database that does not exist fails (run_once) -> every host rescued at 'backup'
    extra = dict(common, deploy_src=v2, deploy_release_id=R2, deploy_backup_enabled=True,
                 deploy_backup_store=str(store), deploy_backup_db=missing_db, deploy_backup_login_host='127.0.0.1',
                 deploy_backup_login_port=pg.port, deploy_backup_login_user='postgres',
                 deploy_backup_login_password=pg.password)
    r = run_playbook(DEPLOY, extra, tmp_path, groups=('app',), timeout=600, env=DEPLOY_ENV, hosts=hosts)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert 'NO MORE HOSTS LEFT' not in out, out
    assert not migrations.exists()
    for name in HOSTS:
        said = host_failure(out, name)
        assert "Deploy of release %s failed at step 'backup'" % R2 in said, said
        assert missing_db in said, said
        assert os.readlink(str(roots[name] / 'current')) == 'releases/' + R1
        assert not (roots[name] / 'deploy.lock').exists(), name
    assert pg.password not in out

    # the rollback: R2 live on both hosts, the restore of a backup that does not exist fails (run_once) after the
    # stop -> every host's rescue starts the app again on R2, releases the lock and names the cause
    for name in HOSTS:
        release_setup(roots[name], R2, v2, active=True)
    pg.psql('DROP DATABASE IF EXISTS rbo_mh_live')
    pg.psql('CREATE DATABASE rbo_mh_live')
    rb = {'rollback_hosts': 'app', 'rollback_service_adapter': 'none',
          'rollback_health_checks': common['deploy_health_checks'], 'rollback_health_window': 2,
          'rollback_health_delay': 1, 'rollback_report_dir': str(reports), 'rollback_db_restore': True,
          'rollback_db_restore_confirm': R2, 'rollback_db_backup_id': '20261101T000000Z-rbo_mh_live-000000',
          'rollback_db_store': str(store), 'rollback_db_name': 'rbo_mh_live',
          'rollback_db_login_host': '127.0.0.1', 'rollback_db_login_port': pg.port,
          'rollback_db_login_user': 'postgres', 'rollback_db_login_password': pg.password}
    r = run_playbook(ROLLBACK, rb, tmp_path, groups=('app',), timeout=600, env=DEPLOY_ENV, hosts=hosts)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert 'NO MORE HOSTS LEFT' not in out, out
    for name in HOSTS:
        said = host_failure(out, name)
        assert "failed at step 'database'" in said, said
        # the cause reaches every host (before, only the first host knew the failed task: "task 'unknown'")
        assert 'no backup with id 20261101T000000Z-rbo_mh_live-000000' in said, said
        assert "task 'unknown'" not in said, said
        assert 'The live database was not replaced' in said, said
        assert os.readlink(str(roots[name] / 'current')) == 'releases/' + R2
        assert not (roots[name] / 'deploy.lock').exists(), name
    assert pg.password not in out
