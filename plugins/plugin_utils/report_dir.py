# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where runbook reports go on the control node: the one rule behind ``runbook_report_dir``.

1. ``RUNBOOK_REPORT_DIR`` in the environment, when set and not empty (an explicit operator choice);
2. under ansible-runner (and so under AWX), ``<the job's artifacts directory>/reports``: runner exports the
   job's artifacts directory to the playbook as ``AWX_ISOLATED_DATA_DIR`` (``<private_data_dir>/artifacts/<ident>``,
   ``/runner/artifacts/<ident>`` inside a process-isolated container);
3. otherwise ``reports`` in the current working directory of ``ansible-playbook``, read with ``os.getcwd()``, never
   from the ``PWD`` environment variable (cron, systemd and runner leave a stale or bogus one).

A relative ``RUNBOOK_REPORT_DIR`` is taken relative to the current working directory.
"""
from __future__ import annotations

import os

ENV_REPORT_DIR = 'RUNBOOK_REPORT_DIR'
# set by ansible-runner (config/_base.py) for every job it runs, in a container or not
ENV_RUNNER_ARTIFACTS = 'AWX_ISOLATED_DATA_DIR'
REPORTS_SUBDIR = 'reports'


def report_dir(environ, cwd):
    """Return the absolute report directory for this run.

    ``environ`` is a mapping of the controller's environment, ``cwd`` the controller's current directory.
    """
    if not cwd or not os.path.isabs(cwd):
        raise ValueError('Could not choose the report directory: the current directory %r is not absolute.' % (cwd,))
    explicit = (environ.get(ENV_REPORT_DIR) or '').strip()
    if explicit:
        return os.path.normpath(os.path.join(cwd, explicit))
    artifacts = (environ.get(ENV_RUNNER_ARTIFACTS) or '').strip()
    if artifacts and os.path.isabs(artifacts):
        return os.path.join(os.path.normpath(artifacts), REPORTS_SUBDIR)
    return os.path.join(os.path.normpath(cwd), REPORTS_SUBDIR)


def under_runner(environ):
    """True when the playbook runs under ansible-runner (ansible-runner, AWX, an execution environment)."""
    return bool((environ.get(ENV_RUNNER_ARTIFACTS) or '').strip())
