# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a collection playbook for real on local "hosts" (connection local), for the role tests.

``run_playbook('backup', {...}, tmp_path)`` writes an inventory and a vars file into ``cwd`` and runs
``ansible-playbook -i <inventory> runbook.ops.backup -e @<vars>`` there, with this repo as the collection.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from testkit import REPO
VENV_BIN = os.path.dirname(sys.executable)
COLLECTIONS = os.path.join(REPO, '.build', 'collections')


def inventory(groups=('db',), hosts=None):
    """An inventory (as a dict) with ``hosts`` (name -> host vars; default: localhost) in every one of ``groups``.

    Every host runs on the control node with the connection ``local`` and this Python.
    """
    hosts = {'localhost': {}} if hosts is None else hosts
    host_vars = {}
    for name, hvars in hosts.items():
        host_vars[name] = dict({'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable},
                               **(hvars or {}))
    members = {name: None for name in hosts}
    return {'all': {'hosts': host_vars, 'children': {g: {'hosts': dict(members)} for g in groups}}}


def run_playbook(name, extra, cwd, groups=('db',), check=False, timeout=900, env=None, callbacks=None,
                 hosts=None, log=False):
    """Run the playbook ``runbook.ops.<name>`` (or the playbook file ``name`` if it is a path) in ``cwd``.

    ``extra`` goes to a JSON vars file passed with ``-e @file``; ``groups``/``hosts`` make the inventory (see
    ``inventory()``); ``check`` adds ``--check``; ``env`` adds or overrides environment variables; ``callbacks``
    (a list of callback names) sets ANSIBLE_CALLBACKS_ENABLED; ``log`` appends stdout to ``cwd``/ansible-run.log
    (ansible-check.log in check mode). Returns the ``subprocess.CompletedProcess`` (text stdout/stderr).
    """
    cwd = str(cwd)
    inv = os.path.join(cwd, 'inventory.json')
    with open(inv, 'w') as f:
        json.dump(inventory(groups, hosts), f)
    vars_file = os.path.join(cwd, 'vars-%s.json' % os.path.basename(name))
    with open(vars_file, 'w') as f:
        json.dump(extra, f)
    # the same output whether or not the caller exported the repo's ansible.cfg (make does: yaml results)
    full_env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR='1',
                    ANSIBLE_DEPRECATION_WARNINGS='False', ANSIBLE_STDOUT_CALLBACK='default',
                    ANSIBLE_CALLBACK_RESULT_FORMAT='json', PWD=cwd)
    if callbacks:
        full_env['ANSIBLE_CALLBACKS_ENABLED'] = ','.join(callbacks)
    full_env.update(env or {})
    target = name if os.sep in name else 'runbook.ops.%s' % name
    argv = [os.path.join(VENV_BIN, 'ansible-playbook'), '-i', inv, target, '-e', '@' + vars_file]
    if check:
        argv.append('--check')
    result = subprocess.run(argv, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
                            check=False)
    if log:
        with open(os.path.join(cwd, 'ansible-%s.log' % ('check' if check else 'run')), 'a') as f:
            f.write(result.stdout)
    return result
