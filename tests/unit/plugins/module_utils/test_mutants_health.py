# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""health grading rules that surviving mutants showed unpinned (issue 17, make mutants): thresholds that are
accepted, turned off or refused, and the grade of metrics without a known direction."""
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import health as h


@pytest.mark.parametrize('check_type, metric, levels', [
    ('http', 'latency_ms', {'warning': 500, 'critical': 500}),            # higher is worse
    ('redis', 'hit_rate', {'warning': 60, 'critical': 60}),               # lower is worse
])
def test_equal_warning_and_critical_levels_are_accepted_and_grade_critical(check_type, metric, levels):
    """Equal levels are ordered for either direction: the value reaching them is critical at once."""
    thresholds = h.normalize_thresholds(check_type, {metric: levels}, 'c')
    assert thresholds[metric] == {'warning': levels['warning'], 'critical': levels['critical']}
    assert h.grade_metrics(check_type, {metric: levels['critical']}, thresholds)[0] == h.CRITICAL


@pytest.mark.parametrize('levels', [None, {}])
def test_turning_off_a_metric_that_has_no_default_grades_nothing(levels):
    thresholds = h.normalize_thresholds('postgres', {'connect_ms': levels, 'replicas': levels}, 'db')
    assert 'connect_ms' not in thresholds and 'replicas' not in thresholds
    assert h.grade_metrics('postgres', {'connect_ms': 10 ** 9, 'replicas': 0}, thresholds) == (h.OK, [])


def test_a_check_type_without_metrics_has_no_thresholds_and_refuses_one():
    assert h.normalize_thresholds('process_custom', None, 'p') == {}
    with pytest.raises(h.HealthConfigError) as e:
        h.normalize_thresholds('process_custom', {'latency_ms': {'warning': 1}}, 'p')
    assert 'latency_ms' in str(e.value)


def test_a_metric_without_a_known_direction_is_graded_higher_is_worse():
    levels = {'custom': {'warning': 5, 'critical': 8}}
    assert h.grade_metrics('http', {'custom': 9}, levels)[0] == h.CRITICAL
    assert h.grade_metrics('no_such_type', {'custom': 6}, levels)[0] == h.WARNING
    assert h.grade_metrics('no_such_type', {'custom': 1}, levels)[0] == h.OK
