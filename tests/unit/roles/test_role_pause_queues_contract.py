# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""deploy_pause_queues / rollback_pause_queues, read as data: a queue target is a dict of queue_control's own
options (plus delegate_to), every key of it reaches the queues role, the queues role is called only through the
variables its pause/resume entry points declare (never its private ones), and the defaults match the specs."""
from __future__ import annotations

import os
import re

import pytest
import yaml

from ansible_collections.runbook.ops.plugins.module_utils.queues import queue_control_argument_spec
from ansible_collections.runbook.ops.plugins.module_utils.redis_client import redis_argument_spec
from testkit import REPO

ROLES = ('deploy', 'rollback')


def load(*parts):
    with open(os.path.join(REPO, *parts)) as f:
        return yaml.safe_load(f)


def main_options(role):
    return load('roles', role, 'meta', 'argument_specs.yml')['argument_specs']['main']['options']


def call_file(role):
    return load('roles', role, 'tasks', 'queues_call.yml')[0]


@pytest.mark.parametrize('role', ROLES)
def test_a_target_is_made_of_queue_control_options(role):
    target = main_options(role)['%s_pause_queues' % role]
    assert target['type'] == 'list' and target['elements'] == 'dict'
    module_options = set(redis_argument_spec()) | set(queue_control_argument_spec())
    keys = set(target['options'])
    assert keys - module_options == {'delegate_to'}
    # what a target can hold: where the queues are and how to reach them, never the action or its limits
    assert {'engine', 'queues', 'prefix', 'host', 'port', 'password', 'tls'} <= keys
    assert not keys & {'action', 'confirm', 'limit', 'state', 'wait_active_s'}
    assert target['options']['password'].get('no_log') is True
    assert target['options']['engine']['choices'] == queue_control_argument_spec()['engine']['choices']


def test_deploy_and_rollback_take_the_same_targets():
    deploy, rollback = main_options('deploy'), main_options('rollback')
    assert deploy['deploy_pause_queues']['options'] == rollback['rollback_pause_queues']['options']
    assert deploy['deploy_pause_drain_timeout_s']['type'] == rollback['rollback_pause_drain_timeout_s']['type'] == 'int'


@pytest.mark.parametrize('role', ROLES)
def test_every_target_key_reaches_the_queues_role(role):
    keys = set(main_options(role)['%s_pause_queues' % role]['options'])
    # the connection and engine options in the call, the queue names where each target is paused first
    text = yaml.safe_dump(call_file(role)['vars'])
    read = set(re.findall(r'_%s_queue_conn\.([a-z_]+)' % role, text))
    with open(os.path.join(REPO, 'roles', role, 'tasks', 'queues_pause_one.yml')) as f:
        read |= set(re.findall(r'_%s_queue_target\.(queues)\b' % role, f.read()))
    assert read == keys


@pytest.mark.parametrize('role', ROLES)
def test_the_queues_role_is_called_through_its_declared_variables(role):
    task = call_file(role)
    assert task['ansible.builtin.include_role']['name'] == 'runbook.ops.queues'
    specs = load('roles', 'queues', 'meta', 'argument_specs.yml')['argument_specs']
    for entry in ('pause', 'resume'):
        declared = set(specs[entry]['options'])
        given = {k for k in task['vars'] if not k.startswith('_%s_' % role)}
        # resume has no wait: the one variable it does not declare is the pause's wait
        assert given - declared == (set() if entry == 'pause' else {'queues_wait_active_s'}), entry
    # and no task file of the role reads a private variable of the queues role
    tasks_dir = os.path.join(REPO, 'roles', role, 'tasks')
    for name in os.listdir(tasks_dir):
        with open(os.path.join(tasks_dir, name)) as f:
            assert not re.search(r'\b_queues_', f.read()), name


@pytest.mark.parametrize('role', ROLES)
def test_defaults_declare_the_variables(role):
    defaults = load('roles', role, 'defaults', 'main.yml')
    assert '%s_pause_queues' % role in defaults and '%s_pause_drain_timeout_s' % role in defaults
    if role == 'deploy':
        assert defaults['deploy_pause_queues'] == [] and defaults['deploy_pause_drain_timeout_s'] == 300
        assert main_options(role)['deploy_pause_drain_timeout_s']['default'] == 300
    else:
        # a rollback pauses what a deploy pauses, unless told otherwise
        assert 'deploy_pause_queues' in defaults['rollback_pause_queues']


def test_the_queues_role_publishes_its_result_and_can_skip_its_report():
    specs = load('roles', 'queues', 'meta', 'argument_specs.yml')['argument_specs']
    for entry, spec in specs.items():
        assert spec['options']['queues_report_enabled'] == dict(spec['options']['queues_report_enabled'], type='bool',
                                                                default=True), entry
        assert any('queues_result' in line for line in spec['description']), entry
    assert load('roles', 'queues', 'defaults', 'main.yml')['queues_report_enabled'] is True
