# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health role's probe list (issue 11): every health_checks_* variable in name order, and a user probe
overrides the default probe (health_checks_system) of the same name instead of colliding with it."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.filter.health import FilterModule, health_merge_checks
from ansible_collections.runbook.ops.plugins.module_utils import health

SYSTEM = [
    {'name': 'root disk', 'type': 'disk', 'path': '/'},
    {'name': 'memory', 'type': 'memory', 'thresholds': {'used_pct': {'warning': 80, 'critical': 95}}},
    {'name': 'load', 'type': 'load'},
]
MY_MEMORY = {'name': 'memory', 'type': 'memory', 'thresholds': {'used_pct': {'warning': 90, 'critical': 99}}}
API = {'name': 'api', 'type': 'http', 'url': 'http://127.0.0.1/health'}


def names(checks):
    return [c['name'] for c in checks]


def test_without_collision_everything_in_name_order():
    merged = health.merge_checks([('health_checks_app', [API]), ('health_checks_system', SYSTEM)],
                                 'health_checks_system')
    assert merged == [API] + SYSTEM


def test_user_probe_overrides_the_default_of_the_same_name():
    merged = health.merge_checks([('health_checks_app', [API, MY_MEMORY]), ('health_checks_system', SYSTEM)],
                                 'health_checks_system')
    assert names(merged) == ['api', 'memory', 'root disk', 'load']
    assert [c for c in merged if c['name'] == 'memory'] == [MY_MEMORY]
    health.normalize_checks(merged)                      # no duplicate: the module takes it


def test_override_from_a_variable_named_after_the_defaults():
    my_load = {'name': 'load', 'type': 'load'}
    merged = health.merge_checks([('health_checks_system', SYSTEM), ('health_checks_zz', [my_load])],
                                 'health_checks_system')
    assert names(merged) == ['root disk', 'memory', 'load']
    assert merged[-1] is my_load


def test_duplicates_among_user_probes_are_left_to_the_module():
    merged = health.merge_checks([('health_checks_a', [API]), ('health_checks_b', [API]),
                                  ('health_checks_system', SYSTEM)], 'health_checks_system')
    assert names(merged) == ['api', 'api', 'root disk', 'memory', 'load']
    with pytest.raises(health.HealthConfigError, match="duplicated: 'api'"):
        health.normalize_checks(merged)


def test_defaults_are_not_mutated_and_empty_or_null_sources_are_skipped():
    system = [dict(c) for c in SYSTEM]
    merged = health.merge_checks([('health_checks_app', None), ('health_checks_db', []),
                                  ('health_checks_mem', MY_MEMORY), ('health_checks_system', system)],
                                 'health_checks_system')
    assert names(merged) == ['memory', 'root disk', 'load']
    assert system == SYSTEM


def test_no_defaults_source():
    assert health.merge_checks([('health_checks_app', [API])], 'health_checks_system') == [API]


def test_filter_sorts_the_variables_by_name():
    by_var = {'health_checks_system': SYSTEM, 'health_checks_db': [MY_MEMORY], 'health_checks_app': [API]}
    assert names(health_merge_checks(by_var, 'health_checks_system')) == ['api', 'memory', 'root disk', 'load']
    assert FilterModule().filters()['health_merge_checks'] is health_merge_checks
