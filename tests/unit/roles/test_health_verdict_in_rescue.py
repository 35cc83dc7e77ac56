"""The health role's verdict costs no task per host on a healthy host (bench/fleet): read as data, the probe task
fails a host itself (failed_when on health_fail_on, and on a probe list the module rejected), the verdict message
is written in the rescue (which runs only on the hosts whose probe task failed), and the report and notifications
run once in `always`, so they are written even when every host failed."""
import os

import yaml

from testkit import REPO

TASKS = os.path.join(REPO, 'roles', 'health', 'tasks')


def _load(name):
    with open(os.path.join(TASKS, name)) as f:
        return yaml.safe_load(f)


def _imports(tasks):
    return [t.get('ansible.builtin.import_tasks') for t in tasks or []]


def test_probe_in_block_verdict_in_rescue_report_in_always():
    main = _load('main.yml')
    assert len(main) == 1
    block = main[0]
    assert _imports(block['block']) == ['probe.yml']
    assert _imports(block['rescue']) == ['verdict.yml']
    assert _imports(block['always']) == ['report.yml', 'notify.yml']


def test_the_probe_task_is_the_only_task_of_the_normal_path_and_fails_the_host():
    probe = _load('probe.yml')
    assert len(probe) == 1
    task = probe[0]
    assert task['register'] == '_health_result'
    assert 'ignore_errors' not in task
    rule = ' '.join(task['failed_when'].split())
    # a rejected probe list (no checks[]) fails the host, so the rescue reports the module's message
    assert rule.startswith('_health_result.checks is not defined or ')
    # the same levels as the verdict's message
    assert "health_fail_on != 'never'" in rule
    assert "(['critical'] if health_fail_on == 'critical' else ['warning', 'critical'])" in rule
    verdict = _load('verdict.yml')
    assert "['critical'] if health_fail_on == 'critical' else ['warning', 'critical']" in \
        verdict[-1]['vars']['_health_levels']


def test_report_and_notify_run_once():
    for name in ('report.yml', 'notify.yml'):
        for task in _load(name):
            assert task.get('run_once') is True, (name, task['name'])
