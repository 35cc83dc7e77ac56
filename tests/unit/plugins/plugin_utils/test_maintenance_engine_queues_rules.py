# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules of the maintenance role's optimize (MySQL) and queues phases (plugin_utils/maintenance_engine_queues.py)
and their filters."""
from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.runbook.ops.plugins.filter import maintenance as m
from ansible_collections.runbook.ops.plugins.filter import maintenance_engine_queues as f
from ansible_collections.runbook.ops.plugins.plugin_utils import maintenance_engine_queues as r
from ansible_collections.runbook.ops.plugins.plugin_utils import phase as p

T0, T1 = '2026-01-31T04:00:00.000000Z', '2026-01-31T04:00:02.000000Z'


# ------------------------------------------------------------------ queue_plan

def test_plan_one_call_per_target_and_state_completed_first_without_secrets():
    targets = [{'engine': 'bullmq', 'queues': ['emails', 'video'], 'password': 's3cret', 'host': 'cache1'},
               {'name': 'reports', 'queues': ['*'], 'prefix': 'app', 'states': ['failed'], 'grace_s': 60,
                'limit': 0}]
    plan = r.queue_plan(targets, states=['failed', 'completed'], grace_s=3600, limit=500, batch_size=200)
    assert [(c['index'], c['target'], c['state']) for c in plan] == [
        (0, 'bullmq emails,video', 'completed'), (0, 'bullmq emails,video', 'failed'), (1, 'reports', 'failed')]
    assert plan[0]['grace_s'] == 3600 and plan[0]['limit'] == 500 and plan[0]['batch_size'] == 200
    assert plan[0]['prefix'] == 'bull' and plan[0]['skip'] == ''
    assert plan[2]['grace_s'] == 60 and plan[2]['limit'] == 0 and plan[2]['prefix'] == 'app'
    # the connection stays in the target: the plan (loop items, shown in logs) never holds it
    assert all('password' not in c and 'host' not in c for c in plan)
    assert 's3cret' not in repr(plan)


def test_plan_defaults_and_empty_list():
    assert r.queue_plan([]) == [] and r.queue_plan(None) == []
    plan = r.queue_plan([{}])
    assert [(c['engine'], c['queues'], c['state'], c['grace_s'], c['limit']) for c in plan] == [
        ('bullmq', ['*'], 'completed', 86400, 10000), ('bullmq', ['*'], 'failed', 86400, 10000)]


def test_celery_target_is_planned_skipped_with_the_reason():
    plan = r.queue_plan([{'engine': 'celery', 'queues': ['fileforge-tasks']}])
    assert len(plan) == 1 and plan[0]['state'] is None
    assert plan[0]['skip'].startswith('Celery keeps no completed or failed jobs')


@pytest.mark.parametrize('targets, kwargs, error', [
    ({'engine': 'bullmq'}, {}, 'maintenance_queues must be a list'),
    ('emails', {}, 'maintenance_queues must be a list'),
    (['emails'], {}, r'maintenance_queues\[0\] must be a dict'),
    ([{'engine': 'rabbit'}], {}, r'maintenance_queues\[0\]\.engine must be one of bullmq, bull, celery'),
    ([{'queue': ['x']}], {}, r'unknown key\(s\) queue'),
    ([{'queues': 'emails'}], {}, r'queues must be a list of strings'),
    ([{'queues': []}], {}, r'queues is empty'),
    ([{'queues': ['a\x00b']}], {}, 'without NUL'),
    ([{'states': ['completed', 'active']}], {}, r'states must be a non-empty list among completed, failed'),
    ([{'states': []}], {}, r'states must be a non-empty list'),
    ([{'grace_s': -1}], {}, r'grace_s must be an integer >= 0'),
    ([{'limit': 'lots'}], {}, r'limit must be an integer >= 0'),
    ([{'batch_size': 0}], {}, r'batch_size must be an integer >= 1'),
    ([{'prefix': ''}], {}, r'prefix must be a non-empty string'),
    ([{}], {'states': ['waiting']}, 'maintenance_queue_clean_states must be a non-empty list'),
    ([{}], {'grace_s': True}, 'maintenance_queue_clean_grace_s must be an integer'),
])
def test_plan_refuses_bad_targets_naming_the_option(targets, kwargs, error):
    with pytest.raises(r.MaintenanceQueuesError, match=error):
        r.queue_plan(targets, **kwargs)
    with pytest.raises(AnsibleFilterError, match='Could not plan the queue cleanup'):
        f.maintenance_queue_plan(targets, **kwargs)


def test_hostile_queue_names_pass_through_as_data():
    plan = r.queue_plan([{'queues': ['q"; DEL *', '*', 'ü`x|y']}])
    assert plan[0]['queues'] == ['q"; DEL *', '*', 'ü`x|y']


# ------------------------------------------------------------------ queue_summary

def _result(call, queues, **extra):
    return dict({'_maintenance_queue_call': call, 'changed': True, 'queues': queues}, **extra)


def test_summary_counts_per_state_queue_and_target():
    plan = r.queue_plan([{'name': 'app', 'queues': ['emails', 'video']}, {'engine': 'celery', 'queues': ['t']}],
                        grace_s=3600)
    results = [
        _result(plan[0], [{'name': 'emails', 'affected': 6, 'counts_before': {'completed': 9}, 'counts_after': {'completed': 3}},
                          {'name': 'video', 'affected': 0, 'counts_before': {'completed': 1}, 'counts_after': {'completed': 1}}]),
        _result(plan[1], [{'name': 'emails', 'affected': 4, 'counts_before': {'failed': 6}, 'counts_after': {'failed': 2}},
                          {'name': 'video', 'affected': 1, 'counts_before': {'failed': 1}, 'counts_after': {'failed': 0}}]),
        {'_maintenance_queue_call': plan[2], 'skipped': True, 'changed': False},
    ]
    s = r.queue_summary(results)
    assert s['removed'] == {'completed': 6, 'failed': 5} and s['total'] == 11 and s['check_mode'] is False
    assert s['targets'][0]['queues'][0] == {'name': 'emails', 'before': 9, 'removed': 6, 'after': 3}
    assert s['targets'][1]['affected'] == 5 and s['targets'][1]['state'] == 'failed'
    assert s['targets'][2]['skipped'].startswith('Celery keeps no') and s['targets'][2]['queues'] == []
    assert s['summary'] == 'removed 6 completed and 5 failed job(s) from 2 queues; skipped celery t'


def test_summary_in_check_mode_says_would_remove():
    plan = r.queue_plan([{'queues': ['emails'], 'states': ['completed']}])
    s = r.queue_summary([_result(plan[0], [{'name': 'emails', 'affected': 2, 'counts_before': {'completed': 2},
                                            'counts_after': {'completed': 2}}])], check_mode=True)
    assert s['summary'] == 'would remove 2 completed and 0 failed job(s) from 1 queue' and s['check_mode'] is True
    assert r.queue_summary([])['summary'] == 'removed 0 completed and 0 failed job(s) from 0 queues'


# ------------------------------------------------------------------ optimize_details

def _db_result(**kw):
    return m.maintenance_db_summary(dict({'_maintenance_db': {'name': 'shop'}, 'changed': True}, **kw))


def test_optimize_counts_the_steps_run_ok_and_names_the_failed_ones():
    actions = [{'action': 'kill_query', 'target': 'id:7', 'status': 'ok'},
               {'action': 'kill_query', 'target': 'id:8', 'status': 'skipped'},
               {'action': 'analyze', 'target': 'shop.orders', 'status': 'ok'},
               {'action': 'analyze', 'target': 'shop.frag', 'status': 'ok'},
               {'action': 'optimize', 'target': 'shop.frag', 'status': 'ok'},
               {'action': 'optimize', 'target': 'shop.items', 'status': 'failed', 'error': 'locked'}]
    d = r.optimize_details([_db_result(actions=actions)])
    assert (d['analyzed'], d['optimized'], d['killed']) == (2, 1, 1)
    assert d['failed_steps'] == ['shop: optimize shop.items']
    assert d['summary'] == ('ran ANALYZE TABLE on 2 tables, OPTIMIZE TABLE on 1 table, KILL QUERY on 1 query; '
                            'failed: shop: optimize shop.items')


def test_optimize_check_mode_counts_the_plan_and_a_replica_is_skipped():
    plan = [{'action': 'analyze', 'target': 'shop.orders'}, {'action': 'optimize', 'target': 'shop.frag'}]
    d = r.optimize_details([_db_result(plan=plan), _db_result(skipped=True, msg='skipped: the server is a replica')],
                           check_mode=True)
    assert (d['analyzed'], d['optimized'], d['killed']) == (1, 1, 0)
    assert d['skipped'] == ['shop: skipped: the server is a replica']
    assert d['summary'].startswith('would run ANALYZE TABLE on 1 table, OPTIMIZE TABLE on 1 table, KILL QUERY on 0 '
                                   'queries; skipped shop')
    with pytest.raises(AnsibleFilterError, match='maintenance_db_summary'):
        f.maintenance_optimize_details(['shop'])


# ------------------------------------------------------------------ extra_markdown

def _report(phases):
    records = [p.record(name, status, T0, T1, '', 'db1') for name, status, _d in phases]
    details = dict((name, d) for name, _s, d in phases)
    return m.maintenance_report({'db1': {'phases': records, 'details': details}}, ['db1'])


def test_markdown_of_both_phases_escapes_names():
    plan = r.queue_plan([{'name': 'app|x', 'queues': ['a|b`c'], 'states': ['completed']},
                         {'engine': 'celery', 'queues': ['t']}], grace_s=3600)
    queues = r.queue_summary([_result(plan[0], [{'name': 'a|b`c', 'affected': 6, 'counts_before': {'completed': 9},
                                                 'counts_after': {'completed': 3}}]),
                              {'_maintenance_queue_call': plan[1], 'skipped': True}])
    optimize = r.optimize_details([_db_result(
        actions=[{'action': 'optimize', 'target': 'shop.frag', 'status': 'ok', 'reason': 'data_free 30 MiB'}],
        tables=[{'table': 'frag', 'engine': 'InnoDB', 'size_bytes_before': 2 * 1048576, 'size_bytes_after': 1048576,
                 'data_free_before': 30 * 1048576, 'data_free_after': 0}])])
    md = r.extra_markdown(_report([('optimize', 'ok', optimize), ('queues', 'ok', queues),
                                   ('vacuum', 'skipped', {})]))
    assert md.startswith('\n## MySQL maintenance and queue cleanup\n')
    assert '### db1: MySQL analyze/optimize (ok)' in md
    assert '| shop | optimize | shop.frag | ok | data_free 30 MiB |' in md
    assert '| shop | frag | InnoDB | 2.0 MiB | 1.0 MiB | 30.0 MiB | 0.0 MiB |' in md
    assert '### db1: queue cleanup (ok)' in md
    assert '| app\\|x | bullmq | ``a\\|b`c`` | completed | 3600 s | 9 | 6 | 3 |' in md
    assert '| celery t | celery | - | - | - | - | skipped: Celery keeps no' in md
    # every table row keeps its column count (no pipe leaks out of a cell)
    for line in md.splitlines():
        if line.startswith('| app'):
            assert line.replace('\\|', '').count('|') == 9


def test_markdown_is_empty_without_these_phases():
    assert r.extra_markdown(_report([('vacuum', 'ok', {'databases': []}), ('queues', 'skipped', {})])) == ''
    with pytest.raises(AnsibleFilterError, match='expected the dict of maintenance_report'):
        f.maintenance_extra_markdown(['not', 'a', 'report'])
