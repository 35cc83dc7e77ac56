# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_backup and pg_restore have the step-method shape of Maintenance and CacheFlusher: run() calls named steps."""
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import pg_backup as pb
from ansible_collections.runbook.ops.plugins.module_utils import pg_restore as pr

BACKUP_STEPS = ['check_options', 'open_store', 'preflight', 'check_store', 'new_result', 'write_backup',
                'apply_retention', 'finish']
RESTORE_STEPS = ['sweep', 'check_target', 'choose', 'new_result', 'preflight', 'restore', 'finish']


def _recording(cls, steps, calls, monkeypatch, last):
    for name in steps + ['plan']:
        monkeypatch.setattr(cls, name, lambda self, n=name: calls.append(n) or (self.result if n in last else None))


@pytest.mark.parametrize('check_mode', [False, True])
def test_backup_run_calls_the_steps_in_order(monkeypatch, check_mode):
    calls = []
    _recording(pb.PgBackup, BACKUP_STEPS, calls, monkeypatch, ('finish', 'plan'))
    job = pb.PgBackup({'db': 'app', 'compression': 'zstd'}, check_mode=check_mode)
    job.result = {'ok': True}
    assert job.run() == {'ok': True}
    expected = BACKUP_STEPS[:5] + (['plan'] if check_mode else BACKUP_STEPS[5:])
    assert calls == expected


class _Guard(object):
    closed = False

    def close(self):
        self.closed = True


@pytest.mark.parametrize('check_mode', [False, True])
def test_restore_run_calls_the_steps_in_order_and_closes_its_connection(monkeypatch, check_mode):
    calls = []
    guard = _Guard()
    monkeypatch.setattr(pr, '_connect_guard', lambda params, run: guard)
    _recording(pr.PgRestore, RESTORE_STEPS, calls, monkeypatch, ('finish', 'plan'))
    job = pr.PgRestore({'mode': 'new'}, check_mode=check_mode)
    job.result = {'ok': True}
    assert job.run() == {'ok': True}
    assert calls == RESTORE_STEPS[:5] + (['plan'] if check_mode else RESTORE_STEPS[5:])
    assert guard.closed


def test_restore_work_steps_in_order(monkeypatch):
    calls = []
    for name in ('make_workdir', 'fetch', 'restore_scratch', 'verify', 'switch'):
        monkeypatch.setattr(pr.PgRestore, name, lambda self, n=name: calls.append(n))
    pr.PgRestore({'mode': 'verify'}).work()
    assert calls == ['make_workdir', 'fetch', 'restore_scratch', 'verify', 'switch']


def test_a_failed_step_stops_the_run_and_still_closes_the_connection(monkeypatch):
    guard = _Guard()
    monkeypatch.setattr(pr, '_connect_guard', lambda params, run: guard)

    def boom(self):
        raise pr.RestoreError('Could not select backup: none')
    monkeypatch.setattr(pr.PgRestore, 'sweep', lambda self: None)
    monkeypatch.setattr(pr.PgRestore, 'check_target', lambda self: None)
    monkeypatch.setattr(pr.PgRestore, 'choose', boom)
    monkeypatch.setattr(pr.PgRestore, 'new_result', lambda self: pytest.fail('ran after a failed step'))
    with pytest.raises(pr.RestoreError, match='none'):
        pr.run_restore({'mode': 'new'})
    assert guard.closed
