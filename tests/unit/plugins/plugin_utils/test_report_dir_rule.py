# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils/report_dir: where reports go (RUNBOOK_REPORT_DIR, runner's artifacts, ./reports), never $PWD."""
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.plugin_utils.report_dir import report_dir, under_runner

CWD = '/srv/ops'


def test_plain_run_writes_reports_beside_the_current_directory():
    assert report_dir({}, CWD) == '/srv/ops/reports'


def test_a_bogus_pwd_is_ignored():
    # cron/systemd/runner can leave PWD pointing anywhere: the process's own cwd is the only source
    assert report_dir({'PWD': '/nonexistent/bogus'}, CWD) == '/srv/ops/reports'


def test_under_runner_the_job_artifacts_directory_is_used():
    env = {'AWX_ISOLATED_DATA_DIR': '/runner/artifacts/7c1e'}
    assert report_dir(env, '/runner/project') == '/runner/artifacts/7c1e/reports'
    assert under_runner(env)
    assert not under_runner({})


def test_runbook_report_dir_wins_over_runner():
    env = {'RUNBOOK_REPORT_DIR': '/var/lib/reports', 'AWX_ISOLATED_DATA_DIR': '/runner/artifacts/1'}
    assert report_dir(env, CWD) == '/var/lib/reports'


def test_relative_runbook_report_dir_is_taken_from_the_current_directory():
    assert report_dir({'RUNBOOK_REPORT_DIR': 'out/r'}, CWD) == '/srv/ops/out/r'


@pytest.mark.parametrize('value', ['', '   '])
def test_empty_settings_fall_through(value):
    env = {'RUNBOOK_REPORT_DIR': value, 'AWX_ISOLATED_DATA_DIR': value}
    assert report_dir(env, CWD) == '/srv/ops/reports'


def test_a_relative_runner_directory_is_not_trusted():
    assert report_dir({'AWX_ISOLATED_DATA_DIR': 'artifacts/1'}, CWD) == '/srv/ops/reports'


def test_hostile_path_is_normalised_not_executed():
    assert report_dir({'RUNBOOK_REPORT_DIR': '/tmp/a/../b; rm -rf x'}, CWD) == '/tmp/b; rm -rf x'


def test_relative_cwd_is_refused():
    with pytest.raises(ValueError, match='Could not choose the report directory'):
        report_dir({}, 'relative')
