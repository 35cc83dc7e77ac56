# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""health_check type wal_archive (module_utils/health_wal.py): findings and grading, with the readers patched."""
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import health, health_wal, probe

OK_ROW = ('on', False, 12, '00000001000000000000000C', 30.0, 0, None, None, False)


def _run(monkeypatch, row, backup=(1.5, '20260131-140000F', 'ok'), **extra):
    monkeypatch.setattr(health_wal, 'read_archiver', lambda check, deadline: row)

    def backup_age(check, deadline):
        if isinstance(backup, Exception):
            raise backup
        return backup
    monkeypatch.setattr(health_wal, 'read_backup_age', backup_age)
    check = dict({'name': 'wal', 'type': 'wal_archive', 'login_password': 'PGSECRET'}, **extra)
    return health.run_checks(health.normalize_checks([check]))['checks'][0]


def test_registered_with_its_options_and_defaults():
    assert 'wal_archive' in health.CHECK_TYPES
    assert health.PROBES['wal_archive'] is health_wal.run
    assert {'stanza', 'pgbackrest_config', 'login_host'} <= set(health.TYPE_OPTIONS['wal_archive'])


def test_archiving_fine_is_ok_and_backup_age_only_with_a_stanza(monkeypatch):
    r = _run(monkeypatch, OK_ROW)
    assert r['status'] == 'ok' and r['metrics']['newest_backup_age_h'] is None
    r = _run(monkeypatch, OK_ROW, stanza='main')
    assert r['status'] == 'ok' and r['metrics']['newest_backup_age_h'] == 1.5


def test_failing_archive_command_is_critical_even_with_a_fresh_archive(monkeypatch):
    row = ('on', False, 12, '00000001000000000000000C', 30.0, 4, '00000001000000000000000D', 2.0, True)
    r = _run(monkeypatch, row)
    assert r['status'] == 'critical' and 'archive_command is failing' in r['message']
    assert '00000001000000000000000D' in r['message'] and r['metrics']['failed_count'] == 4


def test_old_failures_that_recovered_are_not_critical(monkeypatch):
    row = ('on', False, 12, '00000001000000000000000C', 30.0, 4, '00000001000000000000000B', 900.0, False)
    assert _run(monkeypatch, row)['status'] == 'ok'


@pytest.mark.parametrize('age,status', [(3599.0, 'ok'), (3600.0, 'warning'), (7200.0, 'critical')])
def test_last_archived_age_thresholds(monkeypatch, age, status):
    row = OK_ROW[:4] + (age,) + OK_ROW[5:]
    assert _run(monkeypatch, row)['status'] == status


def test_archive_mode_off_is_critical(monkeypatch):
    r = _run(monkeypatch, ('off', False, 0, None, None, 0, None, None, False))
    assert r['status'] == 'critical' and 'archive_mode is off' in r['message']


def test_backup_problems(monkeypatch):
    assert _run(monkeypatch, OK_ROW, backup=(60.0, 'L', 'ok'), stanza='main')['status'] == 'critical'
    assert _run(monkeypatch, OK_ROW, backup=(30.0, 'L', 'ok'), stanza='main')['status'] == 'warning'
    none = _run(monkeypatch, OK_ROW, backup=(None, None, 'no valid backups'), stanza='main')
    assert none['status'] == 'critical' and 'no pgBackRest backup' in none['message']
    err = _run(monkeypatch, OK_ROW, backup=probe.ProbeError('Could not read pgbackrest info for stanza main: refused'),
               stanza='main')
    assert err['status'] == 'critical' and 'refused' in err['message']
    assert err['metrics']['last_archived_wal'] == OK_ROW[3]      # the archiver figures are still reported
