# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection defaults once: roles configured only through the collection-wide dicts ``runbook_postgres`` and
``runbook_store`` (real PostgreSQL, real S3 API through moto), a prefixed variable overriding the dict for its role,
and the weekly maintenance using one credential set for all its database phases, the backup included."""
from __future__ import annotations

import json
import os

from backup_fixtures import create_db, drop_db, local_files, new_bucket, s3_keys, unique_db
from maintenance_role_fixtures import load_report, phase, playbook, window_now
from playbooks import run_playbook
from servers import free_port


def _postgres(pg, **over):
    return dict({'login_host': '127.0.0.1', 'login_port': pg.port, 'login_password': pg.password,
                 'ssl_mode': 'disable'}, **over)


def _s3_store(endpoint, bucket, prefix='pg'):
    return {'store': 's3://%s/%s' % (bucket, prefix), 's3_endpoint_url': endpoint, 'aws_region': 'us-east-1',
            'aws_access_key': 'testing', 'aws_secret_key': 'testing'}


def _report(tmp_path, name):
    with open(str(tmp_path / 'reports' / ('%s.json' % name))) as f:
        return json.load(f)['localhost']


def test_backup_and_restore_configured_only_through_the_runbook_dicts(postgres_server, moto_server, tmp_path):
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=120)
    bucket = new_bucket(moto_server)
    common = {'runbook_postgres': _postgres(pg), 'runbook_store': _s3_store(moto_server, bucket),
              'backup_report_dir': str(tmp_path / 'reports'), 'restore_report_dir': str(tmp_path / 'reports')}
    try:
        # no backup_login_*, backup_store, backup_s3_* or backup_aws_*: everything from the two dicts
        r = run_playbook('backup', dict(common, backup_db=db), tmp_path)
        assert r.returncode == 0, r.stdout[-3000:]
        assert pg.password not in r.stdout
        bid = _report(tmp_path, 'backup')['backup_id']
        keys = s3_keys(moto_server, bucket, 'pg/')
        assert 'pg/%s/manifest.json' % bid in keys and 'pg/%s/data.dump.zst' % bid in keys

        # the restore role (verify_backup: restore into a scratch database, compare, drop) reads the same dicts
        r = run_playbook('verify_backup', dict(common, restore_source_db=db), tmp_path)
        assert r.returncode == 0, r.stdout[-3000:]
        assert pg.password not in r.stdout
        verify = _report(tmp_path, 'verify_backup')
        assert verify['backup_id'] == bid and verify['verification']['ok'] is True
        assert {t['table']: t['actual'] for t in verify['verification']['tables']} == {'items': 120, 'events': 240}
    finally:
        drop_db(pg, db)


def test_a_prefixed_variable_overrides_the_dict_for_its_role(postgres_server, moto_server, tmp_path):
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=50)
    bucket = new_bucket(moto_server)
    closed = free_port()
    store = str(tmp_path / 'store')
    # the dicts point at nothing that answers (a closed PostgreSQL port); the role's own variables win
    common = {'runbook_postgres': _postgres(pg, login_port=closed),
              'runbook_store': _s3_store(moto_server, bucket),
              'backup_report_dir': str(tmp_path / 'reports'), 'restore_report_dir': str(tmp_path / 'reports')}
    try:
        r = run_playbook('backup', dict(common, backup_db=db), tmp_path)
        assert r.returncode != 0 and str(closed) in r.stdout, r.stdout[-3000:]
        assert pg.password not in r.stdout
        assert s3_keys(moto_server, bucket) == {}

        r = run_playbook('backup', dict(common, backup_db=db, backup_login_port=pg.port, backup_store=store), tmp_path)
        assert r.returncode == 0, r.stdout[-3000:]
        bid = _report(tmp_path, 'backup')['backup_id']
        assert local_files(store) == ['%s/data.dump.zst' % bid, '%s/manifest.json' % bid]
        assert s3_keys(moto_server, bucket) == {}

        # restore: the dict's store (S3, empty) is overridden by restore_store, its port by restore_login_port
        r = run_playbook('verify_backup', dict(common, restore_source_db=db, restore_store=store,
                                               restore_login_port=pg.port), tmp_path)
        assert r.returncode == 0, r.stdout[-3000:]
        assert _report(tmp_path, 'verify_backup')['backup_id'] == bid
    finally:
        drop_db(pg, db)


def test_weekly_maintenance_backs_up_with_its_own_credentials(postgres_server, tmp_path):
    """One credential set for one database: maintenance_login_* and maintenance_backup_store serve the backup phase
    as well as the integrity phase (before, the backup phase took the backup role's backup_login_*/backup_store)."""
    pg = postgres_server
    db = create_db(pg, unique_db(), rows=80)
    store = str(tmp_path / 'store')
    extra = {
        'maintenance_window': window_now(inside=False), 'maintenance_override_reason': 'connection defaults test',
        'maintenance_databases': [{'name': db}],
        'maintenance_vacuum_enabled': False, 'maintenance_reindex_enabled': False,
        'maintenance_login_host': '127.0.0.1', 'maintenance_login_port': pg.port,
        'maintenance_login_password': pg.password, 'maintenance_ssl_mode': 'disable',
        'maintenance_backup_store': store, 'maintenance_row_count_tolerance_pct': 0,
        'maintenance_report_dir': str(tmp_path / 'reports'),
    }
    try:
        r = playbook('weekly_maintenance', extra, tmp_path, groups=('db',))
        assert r.returncode == 0, r.stdout[-4000:]
        assert pg.password not in r.stdout
        report, _md = load_report(tmp_path / 'reports')
        assert report['status'] == 'ok', report['failed']
        backups = os.listdir(store)
        assert len(backups) == 1 and os.path.exists(os.path.join(store, backups[0], 'manifest.json'))
        assert phase(report, 'backup')['details']['backups'][0]['backup_id'] == backups[0]
        counts = phase(report, 'integrity')['details']['row_counts'][0]
        assert counts['backup_id'] == backups[0]
        assert dict((t['table'], t['rows']) for t in counts['tables']) == {'items': 80, 'events': 160}
    finally:
        drop_db(pg, db)
