# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report_dir: the default of runbook_report_dir (plugins/plugin_utils/report_dir.py owns the rule)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: report_dir
author:
  - runbook.ops maintainers (@runbook-ops)
version_added: 0.1.0
short_description: The directory runbook reports are written to on the control node
description:
  - Returns the default of the collection-wide C(runbook_report_dir), which every role's C(<role>_report_dir)
    defaults to.
  - C(RUNBOOK_REPORT_DIR) from the controller's environment when it is set and not empty (relative to the
    current directory when relative).
  - Under ansible-runner, and so under AWX and in an execution environment, C(reports) in the job's artifacts
    directory, which runner exports to the playbook as C(AWX_ISOLATED_DATA_DIR).
  - Otherwise C(reports) in the current working directory of C(ansible-playbook) (read from the process, not from
    the C(PWD) environment variable, which cron, systemd and runner leave stale).
options: {}
notes:
  - The lookup takes no terms and runs on the control node, where the reports are written.
"""

EXAMPLES = r"""
- name: Where this run writes its reports
  ansible.builtin.debug:
    msg: "{{ runbook_report_dir | default(lookup('runbook.ops.report_dir')) }}"
"""

RETURN = r"""
_raw:
  description: One absolute directory path.
  type: list
  elements: path
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.runbook.ops.plugins.plugin_utils.report_dir import report_dir


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if terms:
            raise AnsibleLookupError('Could not choose the report directory: the lookup takes no terms, got %d. '
                                     'Set runbook_report_dir or RUNBOOK_REPORT_DIR instead.' % len(terms))
        self.set_options(var_options=variables, direct=kwargs)
        try:
            return [report_dir(os.environ, os.getcwd())]
        except (OSError, ValueError) as exc:
            raise AnsibleLookupError('Could not choose the report directory: %s Set RUNBOOK_REPORT_DIR.' % exc)
