"""The dr role follows runbook_engine like backup and restore: read as data (the behaviour against a real MariaDB is
tests/integration/test_dr_mysql.py)."""
import glob
import os

import yaml

from testkit import REPO

DR = os.path.join(REPO, 'roles', 'dr')


def _load(*parts):
    with open(os.path.join(*parts)) as f:
        return yaml.safe_load(f)


def _tasks(node):
    """Every task dict in a task list, blocks and rescues included."""
    for task in node or []:
        yield task
        for key in ('block', 'rescue', 'always'):
            if key in task:
                yield from _tasks(task[key])


def _all_tasks():
    for path in sorted(glob.glob(os.path.join(DR, 'tasks', '*.yml'))):
        for task in _tasks(_load(path)):
            yield os.path.basename(path), task


def test_dr_engine_defaults_to_runbook_engine_as_backup_and_restore_do():
    dr = _load(DR, 'defaults', 'main.yml')['dr_engine']
    assert dr == _load(REPO, 'roles', 'restore', 'defaults', 'main.yml')['restore_engine'].replace('restore', 'dr')
    assert dr == "{{ runbook_engine | default('postgresql') }}"


def test_every_db_module_call_of_the_dr_role_passes_the_engine():
    calls = [(name, task) for name, task in _all_tasks()
             if any(k in task for k in ('runbook.ops.db_restore', 'runbook.ops.db_backup_info'))]
    assert len(calls) >= 2
    for name, task in calls:
        args = task.get('runbook.ops.db_restore') or task.get('runbook.ops.db_backup_info')
        assert args.get('engine') == '{{ dr_engine }}', (name, task['name'])


def test_every_postgresql_only_step_has_a_mysql_counterpart():
    pg = [(n, t) for n, t in _all_tasks() if any(k.startswith('community.postgresql.') for k in t)]
    my = [(n, t) for n, t in _all_tasks() if any(k.startswith('community.mysql.') for k in t)]
    assert sorted(pair[0] for pair in pg) == sorted(pair[0] for pair in my) == ['teardown_db.yml', 'verify_db.yml']
    for pair in pg:
        assert "dr_engine != 'mysql'" in str(pair[1].get('when')), pair[1]['name']
    for pair in my:
        assert "dr_engine == 'mysql'" in str(pair[1].get('when')), pair[1]['name']


def test_pitr_with_mysql_is_refused_at_the_start_and_in_the_database_step():
    for name in ('start.yml', 'database.yml'):
        refusals = [t for n, t in _all_tasks() if n == name and 'ansible.builtin.assert' in t
                    and "not (dr_engine == 'mysql' and dr_database_method == 'pitr')"
                    in t['ansible.builtin.assert']['that']]
        assert len(refusals) == 1, name
        assert 'Nothing was touched' in refusals[0]['ansible.builtin.assert']['fail_msg']


def test_the_new_options_are_declared_where_they_are_used():
    specs = _load(DR, 'meta', 'argument_specs.yml')['argument_specs']
    for entry in ('start', 'database', 'verify_db', 'teardown_db'):
        assert specs[entry]['options']['dr_engine']['choices'] == ['postgresql', 'mysql'], entry
    for option in ('dr_pitr_handover_tasks_file', 'dr_pitr_compare_dump'):
        assert option in specs['start']['options'] and option in specs['database']['options']
