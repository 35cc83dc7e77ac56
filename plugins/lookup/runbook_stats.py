# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""runbook_stats: a runbook's job result for set_stats (plugins/plugin_utils/runbook_stats.py owns the rule)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: runbook_stats
author:
  - runbook.ops maintainers (@runbook-ops)
version_added: 0.1.0
short_description: A runbook's job result for ansible.builtin.set_stats
description:
  - Builds the record every runbook.ops playbook hands to ansible-runner and AWX with C(ansible.builtin.set_stats)
    under C(runbook_stats.<runbook>) (C(artifact_data) of the job), in one shape for every runbook.
  - C(status) (V(successful) or V(failed), failed when a host of the play failed or was unreachable),
    C(check_mode), C(summary) (one line), C(hosts) (C(total) and the C(failed) host names), C(reports) (the report
    files this run wrote), C(would_write) (in check mode, the report files it did not write) and C(figures) (the
    runbook's key figures, read from the JSON report the role wrote in this run).
  - A report file is listed only when it exists and was written at or after O(since), so a report left by an earlier
    run, or one a C(--check) run did not write, is never claimed.
options:
  _terms:
    description: The runbook (the playbook's name without C(.yml)), for example V(backup).
    type: list
    elements: str
    required: true
  hosts_all:
    description: The play's hosts (C(ansible_play_hosts_all)).
    type: list
    elements: str
    required: true
  hosts_active:
    description: The hosts still running (C(ansible_play_hosts)); the others failed or were unreachable.
    type: list
    elements: str
    required: true
  reports:
    description: The report files the run may write (shell globs allowed), the JSON report first.
    type: list
    elements: str
    default: []
  since:
    description: When the run started, as a POSIX timestamp; files older than this are not claimed.
    type: float
  check_mode:
    description: Whether the run is a C(--check) run (C(ansible_check_mode)).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Record the job result for AWX
  ansible.builtin.set_stats:
    data:
      runbook_stats:
        backup: >-
          {{ lookup('runbook.ops.runbook_stats', 'backup', hosts_all=ansible_play_hosts_all,
             hosts_active=ansible_play_hosts, since=_runbook_started_at, check_mode=ansible_check_mode,
             reports=[backup_report_dir ~ '/' ~ backup_report_name ~ '.json']) }}
"""

RETURN = r"""
_raw:
  description: One record per term (status, check_mode, summary, hosts, reports, would_write, figures).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.runbook.ops.plugins.plugin_utils.runbook_stats import runbook_stats


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if not terms:
            raise AnsibleLookupError('Could not record the job result: no runbook named. Pass the runbook, '
                                     'for example lookup("runbook.ops.runbook_stats", "backup", ...).')
        try:
            return [runbook_stats(str(term), self.get_option('hosts_all'), self.get_option('hosts_active'),
                                  self.get_option('reports'), since=self.get_option('since'),
                                  check_mode=self.get_option('check_mode'))
                    for term in terms]
        except ValueError as exc:
            raise AnsibleLookupError(str(exc))
