"""The health check runs every 5 minutes over the whole fleet: every task that runs per host costs the controller a
worker process per host (bench/fleet measures it beside `ansible -m ping`). Read as data: the playbook and the role
run per host only the probe call and the verdict (plus the role's argument validation, which Ansible adds); all the
rest runs once. A per-host task that calls a filter of this collection imports that filter's Python in every worker,
so only the probe task may (its probe list merge)."""
import os
import re

import yaml

from testkit import REPO

HEALTH = os.path.join(REPO, 'roles', 'health')
PLAYBOOK = os.path.join(REPO, 'playbooks', 'health_check.yml')
PER_HOST_ALLOWED = {
    'Run every probe of this host in one call',
    # the rescue of a probe list the module rejected: runs only on such a host
    'Keep the reason the probes could not run',
    'Fail when the probes could not run or a check reached {{ health_fail_on }}',
}
IMPORT_TASKS = ('ansible.builtin.import_tasks', 'import_tasks')
IMPORT_ROLE = ('ansible.builtin.import_role', 'import_role')


def _load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def _walk(tasks, run_once=False):
    """(task, runs once) for every task the play runs, imports followed, run_once inherited from blocks."""
    for task in tasks or []:
        once = run_once or bool(task.get('run_once'))
        if any(k in task for k in ('block', 'rescue', 'always')):
            for key in ('block', 'rescue', 'always'):
                yield from _walk(task.get(key), once)
            continue
        imported = next((task[k] for k in IMPORT_TASKS if k in task), None)
        if imported:
            yield from _walk(_load(os.path.join(HEALTH, 'tasks', imported)), once)
            continue
        role = next((task[k] for k in IMPORT_ROLE if k in task), None)
        if role:
            assert role['name'] == 'runbook.ops.health', role
            yield from _walk(_load(os.path.join(HEALTH, 'tasks', 'main.yml')), once)
            continue
        yield task, once


def _play_tasks():
    play = _load(PLAYBOOK)
    assert len(play) == 1
    return list(_walk(play[0]['tasks']))


def test_the_walk_reaches_every_task_file_of_the_role():
    names = {t.get('name') for t, dummy in _play_tasks()}
    for path in ('probe.yml', 'report.yml', 'notify.yml', 'verdict.yml'):
        for task, dummy in _walk(_load(os.path.join(HEALTH, 'tasks', path))):
            assert task['name'] in names


def test_only_the_probe_call_and_the_verdict_run_per_host():
    per_host = [t.get('name') for t, once in _play_tasks() if not once]
    assert set(per_host) <= PER_HOST_ALLOWED, set(per_host) - PER_HOST_ALLOWED
    assert len(per_host) == len(set(per_host))


def test_every_include_runs_once():
    """An include_role without run_once is included (or skipped) by a worker on every host, even when its
    condition is false for the whole fleet (the notify role when no target is set)."""
    includes = [(t.get('name'), once) for t, once in _play_tasks()
                if any(k.endswith('include_role') or k.endswith('include_tasks') for k in t)]
    assert includes
    assert all(once for dummy, once in includes), includes


def test_per_host_tasks_call_no_filter_of_this_collection_but_the_probe_list_merge():
    plugins = {}
    for task, once in _play_tasks():
        if not once:
            plugins[task['name']] = set(re.findall(r'runbook\.ops\.(\w+)', yaml.safe_dump(task)))
    assert plugins.pop('Run every probe of this host in one call') == {'health_check', 'health_merge_checks'}
    assert not any(plugins.values()), plugins
