# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils/runbook_stats: the set_stats record of every runbook, one shape, never a file that is not there."""
from __future__ import annotations

import json
import os
import time

import pytest

from ansible_collections.runbook.ops.plugins.plugin_utils.runbook_stats import FIGURES, report_files, runbook_stats

KEYS = {'status', 'check_mode', 'summary', 'hosts', 'reports', 'would_write', 'figures'}


def _write(path, data, age_s=0):
    path.write_text(json.dumps(data))
    if age_s:
        t = time.time() - age_s
        os.utime(path, (t, t))
    return str(path)


PLAYBOOKS = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'playbooks')
# every playbook records its result (none pending)
PENDING = set()


def _playbooks():
    return sorted(f[:-4] for f in os.listdir(PLAYBOOKS) if f.endswith('.yml'))


def test_every_playbook_has_a_figures_rule():
    assert sorted(FIGURES) == _playbooks()


def test_every_playbook_records_its_result_with_set_stats():
    missing = set()
    for name in _playbooks():
        with open(os.path.join(PLAYBOOKS, name + '.yml')) as f:
            text = f.read()
        if name == 'dr_rehearsal':      # imports dr_failover, whose last play records dr_rehearsal
            assert 'runbook.ops.dr_failover' in text
            continue
        if 'ansible.builtin.set_stats' not in text or "lookup('runbook.ops.runbook_stats'" not in text:
            missing.add(name)
        else:
            assert 'always:' in text, name     # recorded on the failure path too
    assert missing <= PENDING, missing - PENDING


@pytest.mark.parametrize('runbook', sorted(FIGURES))
def test_one_shape_for_every_runbook_even_without_a_report(runbook, tmp_path):
    rec = runbook_stats(runbook, ['h1'], ['h1'], [str(tmp_path / 'none.json')], since=time.time())
    assert set(rec) == KEYS
    assert rec['reports'] == [] and rec['would_write'] == []
    assert 'no report written' in rec['summary']
    json.dumps(rec)  # artifact_data must be JSON


def test_failed_and_unreachable_hosts_make_the_run_failed(tmp_path):
    rec = runbook_stats('health_check', ['a', 'b', 'c'], ['b'], [])
    assert rec['status'] == 'failed'
    assert rec['hosts'] == {'total': 3, 'failed': ['a', 'c']}
    assert rec['summary'].startswith('health_check failed: 1/3 host(s) ok')


def test_a_report_left_by_an_earlier_run_is_never_claimed(tmp_path):
    old = _write(tmp_path / 'backup.json', {'db1': {'backup_id': 'OLD'}}, age_s=3600)
    rec = runbook_stats('backup', ['db1'], [], [old], since=time.time())
    assert rec['reports'] == []
    assert rec['figures'] == {'backups': {}}


def test_check_mode_lists_what_it_would_write_never_as_written(tmp_path):
    md = str(tmp_path / 'health.md')
    rec = runbook_stats('health_check', ['h'], ['h'], [md], since=time.time(), check_mode=True)
    assert rec['reports'] == [] and rec['would_write'] == [md]
    assert rec['check_mode'] is True and '(check mode)' in rec['summary']


def test_check_mode_claims_a_report_it_did_write(tmp_path):
    js = _write(tmp_path / 'cache.json', {'hosts': {'c1': {'status': 'ok', 'redis': {'matched': 5, 'deleted': 0}}}})
    rec = runbook_stats('cache_flush', ['c1'], ['c1'], [js], since=time.time() - 10, check_mode=True)
    assert rec['reports'] == [js] and rec['would_write'] == []
    assert rec['figures']['keys_matched'] == 5 and rec['figures']['keys_deleted'] == 0


def test_globs_pick_only_this_runs_files(tmp_path):
    _write(tmp_path / 'rollback-app-1-web1.json', {'host': 'web1', 'from': '0', 'to': '1'}, age_s=3600)
    new = _write(tmp_path / 'rollback-app-2-web1.json',
                 {'host': 'web1', 'from': '3', 'to': '2', 'health': 'ok', 'database_restored': False})
    written, missing = report_files([str(tmp_path / 'rollback-app-*.json')], time.time() - 10)
    assert written == [new] and missing == []
    rec = runbook_stats('rollback', ['web1'], ['web1'], [str(tmp_path / 'rollback-app-*.json')], since=time.time() - 10)
    assert rec['figures']['hosts'] == {'web1': {'from': '3', 'to': '2', 'health': 'ok', 'database_restored': False,
                                                'backup_id': None}}


def test_backup_figures(tmp_path):
    js = _write(tmp_path / 'backup.json', {'db1': {'backup_id': '20260131T020000Z-app-3f9a1c', 'database': 'app',
                                                   'store': 's3://b/p', 'manifest': {'size': 1048576},
                                                   'pruned': ['x'], 'timings': {'total_s': 3.5}},
                                           'db2': {}})
    rec = runbook_stats('backup', ['db1', 'db2'], ['db1', 'db2'], [js], since=time.time() - 10)
    assert rec['figures'] == {'backups': {'db1': {'backup_id': '20260131T020000Z-app-3f9a1c', 'database': 'app',
                                                  'size': 1048576, 'store': 's3://b/p', 'pruned': 1,
                                                  'duration_s': 3.5}}}
    assert 'db1: 20260131T020000Z-app-3f9a1c (1048576 bytes)' in rec['summary']


def test_restore_figures_carry_row_counts(tmp_path):
    js = _write(tmp_path / 'verify_backup.json', {'db1': {
        'backup_id': 'B1', 'mode': 'verify', 'source_db': 'app', 'target_db': None,
        'verification': {'ok': True, 'rows': 7, 'tables': [{'schema': 'public', 'table': 'orders', 'actual': 7}]},
        'timings': {'total_s': 1.0}}})
    rec = runbook_stats('verify_backup', ['db1'], ['db1'], [js], since=time.time() - 10)
    r = rec['figures']['restores']['db1']
    assert (r['rows'], r['verified'], r['tables']) == (7, True, {'public.orders': 7})


def test_health_figures(tmp_path):
    js = _write(tmp_path / 'health.json', {'status': 'warning', 'host_summary': {'ok': 2, 'warning': 1, 'critical': 0}})
    rec = runbook_stats('health_check', ['a'], ['a'], [js], since=time.time() - 10)
    assert rec['figures'] == {'fleet_status': 'warning', 'hosts_ok': 2, 'hosts_warning': 1, 'hosts_critical': 0}
    assert 'fleet WARNING: 2 ok, 1 warning, 0 critical' in rec['summary']


def test_dr_figures_rto_rpo_per_component(tmp_path):
    rep = {'ok': False, 'total_s': 42.0, 'failed_phases': [], 'missed_objectives': ['database RTO'],
           'components': [{'name': 'database', 'rto_s': 30.0, 'rto_objective_s': 20, 'rto_met': False,
                           'rpo_s': 60.0, 'rpo_objective_s': 3600, 'rpo_met': True}],
           'meta': {'backup_id': 'B', 'rows_verified': 9}}
    js = _write(tmp_path / 'dr-rehearsal.json', rep)
    rec = runbook_stats('dr_rehearsal', ['localhost'], [], [js, str(tmp_path / 'dr-rehearsal.md')],
                        since=time.time() - 10)
    assert rec['figures']['components']['database']['rto_s'] == 30.0
    assert rec['figures']['components']['database']['rpo_met'] is True
    assert rec['figures']['missed_objectives'] == ['database RTO'] and rec['figures']['rows_verified'] == 9
    assert rec['status'] == 'failed' and rec['reports'] == [js]


def test_certs_and_maintenance_and_deploy_figures(tmp_path):
    certs = _write(tmp_path / 'certificates.json', {'certificates': [
        {'status': 'ok', 'days_remaining': 80}, {'status': 'warning', 'days_remaining': 12}]})
    rec = runbook_stats('cert_renewal', ['w'], ['w'], [certs], since=time.time() - 10)
    assert rec['figures']['status_counts'] == {'ok': 1, 'warning': 1, 'critical': 0, 'error': 0}
    assert rec['figures']['min_days_remaining'] == 12
    maint = _write(tmp_path / 'weekly.json', {'status': 'failed', 'failed': [{'host': 'db', 'phase': 'vacuum'}],
                                              'hosts': {'db': {'status': 'failed'}}})
    rec = runbook_stats('weekly_maintenance', ['db'], [], [maint], since=time.time() - 10)
    assert rec['figures']['hosts'] == {'db': 'failed'} and rec['figures']['report_status'] == 'failed'
    dep = _write(tmp_path / 'deploy-app-1.json', {'app': 'app', 'release_id': '1', 'backup_id': '',
                                                  'hosts': [{'host': 'a', 'phase': 'done', 'health': 'ok'}]})
    rec = runbook_stats('deploy', ['a'], ['a'], [str(tmp_path / 'deploy-app-*.json')], since=time.time() - 10)
    assert rec['figures']['release_id'] == '1' and rec['figures']['hosts']['a']['health'] == 'ok'
    assert rec['reports'] == [dep]


def test_a_report_that_does_not_parse_is_listed_but_gives_no_figures(tmp_path):
    bad = tmp_path / 'health.json'
    bad.write_text('{not json')
    rec = runbook_stats('health_check', ['a'], ['a'], [str(bad)], since=time.time() - 10)
    assert rec['reports'] == [str(bad)] and rec['figures']['fleet_status'] is None


def test_unknown_runbook_is_refused():
    with pytest.raises(ValueError, match='Could not record the job result'):
        runbook_stats('drop table', [], [], [])


def test_pitr_figures_come_from_the_recovery_report(tmp_path):
    path = tmp_path / 'pitr-restore.json'
    path.write_text(json.dumps({'db1': {'recovery_target': '2026-12-06 03:00:00+00', 'last_replayed': '2026-12-06 02:59:59+00',
                                        'rpo_s': 0.8, 'recovery_s': 12.5, 'data_dir': '/x'}}))
    rec = runbook_stats('pitr_restore', ['db1'], ['db1'], [str(path)], since=time.time() - 60)
    assert rec['figures'] == {'recoveries': {'db1': {'recovery_target': '2026-12-06 03:00:00+00',
                                                     'last_replayed': '2026-12-06 02:59:59+00', 'rpo_s': 0.8,
                                                     'recovery_s': 12.5}}}
    assert 'RPO 0.8 s' in rec['summary']


def test_queue_figures_come_from_the_queues_report(tmp_path):
    path = tmp_path / 'queues.json'
    path.write_text(json.dumps({'action': 'report', 'hosts': {'cache1': {'queues': [
        {'name': 'mail', 'waiting': 120, 'paused': False, 'oldest_wait_s': 30.5, 'failed_rate_pct': 2.0,
         'counts': {'failed': 4, 'wait': 120}}]}, 'cache2': {'status': 'unreachable'}}}))
    rec = runbook_stats('queues', ['cache1', 'cache2'], ['cache1'], [str(path)], since=time.time() - 60)
    assert rec['figures'] == {'queues': {'cache1/mail': {'waiting': 120, 'paused': False, 'oldest_wait_s': 30.5,
                                                         'failed_rate_pct': 2.0, 'failed': 4}}}
    assert rec['status'] == 'failed' and rec['hosts']['failed'] == ['cache2']
