# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# deploy.yml with the pre-deploy backup (runbook.ops.db_backup into a local store, tagged with the release id) and a
# real migration against PostgreSQL; then rollback.yml with the database restore: refused without the explicit
# confirmation (nothing switched), then confirmed: the pre-deploy backup of the release rolled back from is restored
# in place (db_restore replace) and current goes back.

import json
import os

import pytest

from release_fixtures import IDS, deploy_playbook, deploy_setup, history, release_setup
from testkit import REPO

R1, R2 = IDS[0], IDS[1]
DEPLOY = os.path.join(REPO, 'playbooks', 'deploy.yml')
ROLLBACK = os.path.join(REPO, 'playbooks', 'rollback.yml')


@pytest.mark.slow
def test_backup_migrate_then_rollback_with_restore(app_root, current_server, postgres_server, tmp_path):
    pg = postgres_server
    pg.psql('DROP DATABASE IF EXISTS shop_deploy')
    pg.psql('CREATE DATABASE shop_deploy')
    pg.psql('CREATE TABLE orders (id int primary key, total int); '
            'INSERT INTO orders SELECT g, g * 10 FROM generate_series(1, 25) g', db='shop_deploy')
    common, v1, v2, v3, migrations, reports = deploy_setup(app_root, current_server, tmp_path)
    release_setup(app_root, R1, v1, active=True)
    store = tmp_path / 'backups'
    store.mkdir()
    login = {'deploy_backup_login_host': '127.0.0.1', 'deploy_backup_login_port': pg.port,
             'deploy_backup_login_user': 'postgres', 'deploy_backup_login_password': pg.password}
    psql = ['psql', '-h', '127.0.0.1', '-p', str(pg.port), '-U', 'postgres', '-d', 'shop_deploy', '-X',
            '-v', 'ON_ERROR_STOP=1', '-c', 'ALTER TABLE orders ADD COLUMN coupon text; DELETE FROM orders WHERE id > 20']
    extra = dict(common, deploy_src=v2, deploy_release_id=R2, deploy_backup_enabled=True,
                 deploy_backup_store=str(store), deploy_backup_db='shop_deploy',
                 deploy_migrate_command=psql, deploy_migrate_environment={'PGPASSWORD': pg.password}, **login)
    rc, out = deploy_playbook(DEPLOY, extra, tmp_path)
    assert rc == 0, out
    assert pg.password not in out
    assert pg.psql('SELECT count(*) FROM orders', db='shop_deploy') == '20'
    report = json.loads((reports / ('deploy-app-%s.json' % R2)).read_text())
    assert report['backup_id']
    manifests = [json.loads(p.read_text()) for p in store.rglob('manifest.json')]
    assert [m.get('tags', {}).get('release') for m in manifests] == [R2], manifests

    rb = {'rollback_hosts': 'app', 'rollback_app_root': str(app_root), 'rollback_service_adapter': 'none',
          'rollback_health_checks': common['deploy_health_checks'], 'rollback_health_window': 2,
          'rollback_health_delay': 1, 'rollback_report_dir': str(reports), 'rollback_db_restore': True,
          'rollback_db_store': str(store), 'rollback_db_name': 'shop_deploy',
          'rollback_db_login_host': '127.0.0.1', 'rollback_db_login_port': pg.port,
          'rollback_db_login_user': 'postgres', 'rollback_db_login_password': pg.password}
    # without the confirmation: refused at 'database', nothing switched, lock released
    rc, out = deploy_playbook(ROLLBACK, rb, tmp_path)
    assert rc != 0
    assert "failed at step 'database'" in out and 'rollback_db_restore_confirm=%s' % R2 in out, out
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R2
    assert not (app_root / 'deploy.lock').exists()
    # confirmed: the pre-deploy backup of R2 comes back, current goes to R1
    rc, out = deploy_playbook(ROLLBACK, dict(rb, rollback_db_restore_confirm=R2), tmp_path)
    assert rc == 0, out
    assert pg.password not in out
    assert os.readlink(str(app_root / 'current')) == 'releases/' + R1
    assert pg.psql('SELECT count(*) FROM orders', db='shop_deploy') == '25'
    assert pg.psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' "
                   "AND column_name = 'coupon'", db='shop_deploy') == '0'
    assert history(app_root)[-1]['release_id'] == R1
