# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup/restore roles through their playbooks, on localhost with a local store and a real PostgreSQL."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from backup_fixtures import create_db, databases, drop_db, fingerprint, local_files, unique_db
from playbooks import run_playbook


class _Hook(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):  # noqa: N802  pylint: disable=invalid-name
        body = self.rfile.read(int(self.headers['Content-Length']))
        _Hook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


def test_backup_restore_verify_playbooks(postgres_server, tmp_path):
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=300)
    snapshot = fingerprint(pg, db)
    store = str(tmp_path / 'store')
    login = {'login_host': '127.0.0.1', 'login_port': pg.port, 'login_password': pg.password,
             'ssl_mode': 'disable'}
    backup_vars = dict(('backup_%s' % k, v) for k, v in login.items())
    backup_vars.update(backup_db=db, backup_store=store, backup_retention={'keep_last': 3},
                       backup_report_dir=str(tmp_path / 'reports'))
    r = run_playbook('backup', backup_vars, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    assert pg.password not in r.stdout
    report = json.load(open(str(tmp_path / 'reports' / 'backup.json')))
    bid = report['localhost']['backup_id']
    assert sorted(local_files(store)) == ['%s/data.dump.zst' % bid, '%s/manifest.json' % bid]

    pg.psql('DELETE FROM events', db=db)
    restore_vars = dict(('restore_%s' % k, v) for k, v in login.items())
    restore_vars.update(restore_store=store, restore_source_db=db, restore_report_dir=str(tmp_path / 'reports'))
    # no confirmation (and a wrong one): refused, nothing touched
    for confirm in ('', db + 'x'):
        r = run_playbook('restore', dict(restore_vars, restore_confirm=confirm), tmp_path)
        assert r.returncode != 0 and 'Refusing to replace database' in r.stdout
    assert pg.psql('SELECT count(*) FROM events', db=db) == '0'

    r = run_playbook('verify_backup', restore_vars, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    verify = json.load(open(str(tmp_path / 'reports' / 'verify_backup.json')))['localhost']
    assert verify['backup_id'] == bid and verify['verification']['ok'] is True
    assert {t['table']: t['actual'] for t in verify['verification']['tables']} == {'items': 300, 'events': 600}
    assert pg.psql('SELECT count(*) FROM events', db=db) == '0'

    r = run_playbook('restore', dict(restore_vars, restore_confirm=db), tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    restored = json.load(open(str(tmp_path / 'reports' / 'restore.json')))['localhost']
    assert fingerprint(pg, db) == snapshot
    assert pg.psql('SELECT count(*) FROM events', db=restored['previous_db']) == '0'
    drop_db(pg, restored['previous_db'])
    drop_db(pg, db)
    assert not [d for d in databases(pg) if d.startswith('rbo_restore_')]


def test_backup_failure_notifies_webhook_and_stays_red(postgres_server, tmp_path):
    pg = postgres_server
    server = HTTPServer(('127.0.0.1', 0), _Hook)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        _Hook.received = []
        r = run_playbook('backup', {'backup_db': 'no_such_db_%s' % unique_db(), 'backup_store': str(tmp_path / 's'),
                                    'backup_login_host': '127.0.0.1', 'backup_login_port': pg.port,
                                    'backup_login_password': pg.password, 'backup_ssl_mode': 'disable',
                                    'backup_report_dir': str(tmp_path / 'reports'),
                                    'backup_notify_webhook_url': 'http://127.0.0.1:%d/hook' % server.server_port},
                         tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert r.returncode != 0
    assert len(_Hook.received) == 1
    text = _Hook.received[0]['text']
    assert text.startswith(':red_circle: Backup of `no_such_db_') and 'does not exist' in text
    assert pg.password not in text and pg.password not in r.stdout
    report = json.load(open(str(tmp_path / 'reports' / 'backup.json')))
    assert report['localhost']['failed'] is True
