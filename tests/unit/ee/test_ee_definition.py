# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""execution-environment.yml stays consistent with the repo: the pins of requirements-dev.txt, the Debian
facts (venv Python, apt-get), local collection tarballs only, and every galaxy.yml dependency copied in."""
from __future__ import annotations

import os
import re

import yaml

from testkit import REPO


def _load(name):
    with open(os.path.join(REPO, name)) as f:
        return f.read()


EE = yaml.safe_load(_load('execution-environment.yml'))
DEV_PINS = dict(re.findall(r'^([A-Za-z0-9_.-]+)==(\S+)\s*$', _load('requirements-dev.txt'), re.M))


def test_ansible_core_and_runner_pins_match_requirements_dev():
    deps = EE['dependencies']
    assert deps['ansible_core']['package_pip'] == 'ansible-core==%s' % DEV_PINS['ansible-core']
    assert deps['ansible_runner']['package_pip'] == 'ansible-runner==%s' % DEV_PINS['ansible-runner']


def test_debian_base_facts():
    assert EE['version'] == 3
    assert EE['options']['package_manager_path'] == '/usr/bin/apt-get'
    python = EE['dependencies']['python_interpreter']['python_path']
    assert python.startswith('/opt/ee/venv/')
    prepend = ' '.join(EE['additional_build_steps']['prepend_base'])
    assert 'python3 -m venv /opt/ee/venv' in prepend and 'update-ca-certificates' in prepend


def test_requirements_come_from_the_repo_files():
    assert EE['dependencies']['python'] == 'requirements.txt'
    assert EE['dependencies']['system'] == 'bindep.txt'


def test_collections_are_local_files_only():
    for c in EE['dependencies']['galaxy']['collections']:
        assert c['type'] == 'file' and c['name'].endswith('.tar.gz'), c
    assert '--offline' in EE['build_arg_defaults']['ANSIBLE_GALAXY_CLI_COLLECTION_OPTS']


def test_every_galaxy_dependency_is_copied_into_the_ee():
    deps = set(yaml.safe_load(_load('galaxy.yml')).get('dependencies') or {})
    script = _load('scripts/ee.sh')
    listed = set(re.search(r'^DEPS=\(([^)]*)\)', script, re.M).group(1).split())
    assert deps <= listed, deps - listed


def test_bindep_runtime_lines_have_no_test_profile_only_package_missing():
    runtime = [line.split()[0] for line in _load('bindep.txt').splitlines()
               if line.strip() and not line.startswith('#') and '[platform:dpkg]' in line]
    assert {'postgresql-client', 'zstd'} <= set(runtime)
