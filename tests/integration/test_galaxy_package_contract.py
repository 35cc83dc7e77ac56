# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The package Galaxy gets: what the tarball holds (galaxy.yml's build_ignore), its metadata, version_added.

The tarball is built with ``ansible-galaxy collection build`` from a copy of the tree into which the files a used
working tree accumulates (reports, caches, logs, mutants) are planted. galaxy-importer and antsibull-docs run in
``make lint`` (scripts/lint.sh --package): they take minutes.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

from testkit import REPO

VENV_BIN = os.path.dirname(sys.executable)

PLANTED = ['reports/health.json', 'tests/integration/reports/x.json', '.pytest_cache/v/cache/lastfailed',
           'tests/.pytest_cache/README.md', '.ansible/tmp/x', 'roles/backup/.ansible/y', 'mutants/mutmut.log',
           'roles/health/tasks/debug.log', 'lab/run.log', '.mutmut-cache', 'playbooks/main.yml.orig']
DEV_TOP = ('lab/', 'bench/', 'scripts/', 'molecule/', '.github/', '.build/', '.venv/', '.ci/', '.cache/',
           'reports/', '.pytest_cache/', '.ansible/', 'mutants/', 'tests/output/')
DEV_FILES = ('Makefile', 'ansible.cfg', 'containers.conf', 'pytest.ini', 'requirements-dev.txt',
             'requirements-mutants.txt', '.gitignore', '.ansible-lint', '.mutmut-cache')


@pytest.fixture(scope='module')
def tarball_names(tmp_path_factory):
    tree = tmp_path_factory.mktemp('pkg') / 'ops'
    shutil.copytree(REPO, tree, symlinks=True, ignore=shutil.ignore_patterns(
        '.git', '.venv', '.build', '.cache', 'tests/output', '__pycache__', '*.tar.gz'))
    for rel in PLANTED:
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('planted by test_galaxy_package_contract\n')
    out = tree.parent / 'dist'
    subprocess.run([os.path.join(VENV_BIN, 'ansible-galaxy'), 'collection', 'build', '--force', '--output-path',
                    str(out), str(tree)], check=True, capture_output=True, text=True)
    path, = glob.glob(str(out / 'runbook-ops-*.tar.gz'))
    with tarfile.open(path) as tf:
        return [m.name + ('/' if m.isdir() else '') for m in tf.getmembers()]


def test_tarball_leaves_development_files_out(tarball_names):
    leaked = [n for n in tarball_names if n.startswith(DEV_TOP) or n in DEV_FILES
              or re.search(r'(^|/)(\.pytest_cache|\.ansible|reports)/|\.log$|\.orig$', n)]
    assert not leaked, leaked


def test_tarball_keeps_what_the_collection_needs(tarball_names):
    names = set(tarball_names)
    for need in ('README.md', 'LICENSE', 'meta/runtime.yml', 'requirements.txt', 'bindep.txt',
                 'playbooks/awx_configure.yml', 'awx/runbooks.yml', 'awx/credential_types.yml',
                 'changelogs/changelog.yaml', 'tests/unit/', 'tests/integration/'):
        assert need in names, need
    assert any(n.startswith('awx/surveys/') and n.endswith('.json') for n in names)
    roles = sorted(d for d in os.listdir(os.path.join(REPO, 'roles'))
                   if os.path.isfile(os.path.join(REPO, 'roles', d, 'meta', 'argument_specs.yml')))
    missing = [r for r in roles if 'roles/%s/README.md' % r not in names]
    assert not missing, 'roles without a README (Galaxy refuses them): %s' % missing


def test_galaxy_metadata_has_no_placeholder_urls():
    with open(os.path.join(REPO, 'galaxy.yml'), encoding='utf-8') as f:
        meta = yaml.safe_load(f)
    for key in ('repository', 'documentation', 'homepage', 'issues'):
        value = meta.get(key)
        assert value is None or not re.search(r'\.(invalid|example|test)\b|example\.(com|org)', value), (key, value)


def version(text):
    return tuple(int(p) for p in text.split('.'))


def test_version_added_is_never_after_the_collection_version():
    with open(os.path.join(REPO, 'galaxy.yml'), encoding='utf-8') as f:
        current = version(yaml.safe_load(f)['version'])
    late = []
    files = glob.glob(os.path.join(REPO, 'plugins', '**', '*.py'), recursive=True) + \
        glob.glob(os.path.join(REPO, 'plugins', '**', '*.yml'), recursive=True) + \
        glob.glob(os.path.join(REPO, 'roles', '*', 'meta', 'argument_specs.yml'))
    for path in files:
        with open(path, encoding='utf-8') as f:
            for n, line in enumerate(f, 1):
                m = re.match(r'''\s*version_added:\s*['"]?([0-9][0-9.]*)['"]?\s*$''', line)
                if m and version(m.group(1)) > current:
                    late.append('%s:%d: %s' % (os.path.relpath(path, REPO), n, m.group(1)))
    assert not late, late
    # every module says when it came
    for path in glob.glob(os.path.join(REPO, 'plugins', 'modules', '*.py')):
        if not os.path.basename(path).startswith('_'):
            with open(path, encoding='utf-8') as f:
                assert re.search(r'^version_added:', f.read(), re.M), path
