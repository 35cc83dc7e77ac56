# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup and verify_backup playbooks switched to MySQL by one inventory variable (runbook_engine)."""
from __future__ import annotations

import json

from mysql_fixtures import counts, create_db, unique_db
from playbooks import run_playbook


def test_backup_and_verify_playbooks_with_runbook_engine_mysql(mariadb_server, tmp_path):
    my = mariadb_server
    db = create_db(my, unique_db(), rows=120)
    store = str(tmp_path / 'store')
    login = {'login_host': '127.0.0.1', 'login_port': my.port, 'login_user': my.user, 'login_password': my.password}
    backup_vars = dict(('backup_%s' % k, v) for k, v in login.items())
    backup_vars.update(runbook_engine='mysql', backup_db=db, backup_store=store, backup_retention={'keep_last': 3},
                       backup_report_dir=str(tmp_path / 'reports'))
    r = run_playbook('backup', backup_vars, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    assert my.password not in r.stdout
    report = json.load(open(str(tmp_path / 'reports' / 'backup.json')))['localhost']
    assert report['manifest']['engine'] == 'mysql'
    restore_vars = dict(('restore_%s' % k, v) for k, v in login.items())
    restore_vars.update(runbook_engine='mysql', restore_store=store, restore_source_db=db,
                        restore_report_dir=str(tmp_path / 'reports'))
    r = run_playbook('verify_backup', restore_vars, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    verify = json.load(open(str(tmp_path / 'reports' / 'verify_backup.json')))['localhost']
    assert verify['verification']['ok'] is True
    assert dict((t['table'], t['actual']) for t in verify['verification']['tables']) == counts(my, db)
