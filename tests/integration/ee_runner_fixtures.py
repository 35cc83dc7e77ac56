# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a runbook the way AWX does: ``ansible-runner run <private_data_dir>``, in or out of the execution environment.

``run_job(pdd, 'runbook.ops.backup', extravars, image=...)`` writes the private data directory (inventory,
env/extravars), runs ansible-runner (with ``--process-isolation`` in ``image`` through podman on the host network when
``image`` is given, as an AWX execution node runs a job) and returns a ``Job``: ``status`` and ``rc`` (runner's
artifacts), ``artifact_data`` (the ``playbook_on_stats`` event's, what AWX stores as the job's artifacts),
``artifacts`` (the job's artifacts directory on the host) and ``stdout``.
"""
from __future__ import annotations

import glob
import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field

from testkit import REPO

VENV_BIN = os.path.dirname(sys.executable)
# the EE's Python (execution-environment.yml: python_path)
EE_PYTHON = '/opt/ee/venv/bin/python3'


@dataclass
class Job:
    ident: str
    status: str
    rc: int
    artifacts: str
    stdout: str
    artifact_data: dict = field(default_factory=dict)

    def host_path(self, container_path):
        """A path the job saw inside the container (/runner/artifacts/<ident>/...) as it is on the host."""
        prefix = '/runner/artifacts/%s' % self.ident
        if container_path.startswith(prefix + '/'):
            return os.path.join(self.artifacts, container_path[len(prefix) + 1:])
        return container_path


def inventory(python, groups=('db',)):
    host = {'ansible_connection': 'local', 'ansible_python_interpreter': python}
    return {'all': {'hosts': {'localhost': host},
                    'children': dict((g, {'hosts': {'localhost': None}}) for g in groups)}}


def run_job(pdd, playbook, extravars, image=None, groups=('db',), cmdline=None, timeout=1200):
    pdd = str(pdd)
    os.makedirs(os.path.join(pdd, 'inventory'), exist_ok=True)
    os.makedirs(os.path.join(pdd, 'env'), exist_ok=True)
    os.makedirs(os.path.join(pdd, 'project'), exist_ok=True)
    with open(os.path.join(pdd, 'inventory', 'hosts.json'), 'w') as f:
        json.dump(inventory(EE_PYTHON if image else sys.executable, groups), f)
    with open(os.path.join(pdd, 'env', 'extravars'), 'w') as f:
        json.dump(extravars, f)
    ident = '%s-%s' % (playbook.rsplit('.', 1)[-1], secrets.token_hex(4))
    argv = [os.path.join(VENV_BIN, 'ansible-runner'), 'run', pdd, '-p', playbook, '--ident', ident]
    env = dict(os.environ, CONTAINERS_CONF=os.path.join(REPO, 'containers.conf'))
    if image:
        argv += ['--process-isolation', '--process-isolation-executable', 'podman', '--container-image', image,
                 # the targets (PostgreSQL, S3) listen on the host's 127.0.0.1
                 '--container-option=--network=host']
        if os.geteuid() == 0:
            # the EE runs as uid 1000 (ansible-builder's default); rootless runner maps the job's user with
            # --user/--userns=keep-id, as an AWX execution node does; as root it adds nothing, so say it here:
            # the job's user owns the private data directory
            argv.append('--container-option=--user=0')
    else:
        env['ANSIBLE_COLLECTIONS_PATH'] = os.path.join(REPO, '.build', 'collections')
    if cmdline:
        argv.append('--cmdline=' + cmdline)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=pdd, check=False)
    artifacts = os.path.join(pdd, 'artifacts', ident)
    status = _read(os.path.join(artifacts, 'status')) or 'missing'
    rc = int(_read(os.path.join(artifacts, 'rc')) or -1)
    return Job(ident=ident, status=status, rc=rc, artifacts=artifacts,
               stdout=(_read(os.path.join(artifacts, 'stdout')) or '') + r.stdout + r.stderr,
               artifact_data=_artifact_data(artifacts))


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _artifact_data(artifacts):
    for path in glob.glob(os.path.join(artifacts, 'job_events', '*.json')):
        with open(path) as f:
            event = json.load(f)
        if event.get('event') == 'playbook_on_stats':
            return event.get('event_data', {}).get('artifact_data') or {}
    return {}
