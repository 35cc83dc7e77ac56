# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the maintenance role's optimize (MySQL) and queues phases, each one call into
plugins/plugin_utils/maintenance_engine_queues.py. Documented in the sidecar .yml files."""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.runbook.ops.plugins.plugin_utils import maintenance_engine_queues as _rules


def _filter(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except _rules.MaintenanceQueuesError as e:
            raise AnsibleFilterError(str(e)) from e
    return wrapper


maintenance_queue_plan = _filter(_rules.queue_plan)
maintenance_queue_summary = _filter(_rules.queue_summary)
maintenance_optimize_details = _filter(_rules.optimize_details)
maintenance_extra_markdown = _filter(_rules.extra_markdown)


class FilterModule(object):
    def filters(self):
        return {
            'maintenance_queue_plan': maintenance_queue_plan,
            'maintenance_queue_summary': maintenance_queue_summary,
            'maintenance_optimize_details': maintenance_optimize_details,
            'maintenance_extra_markdown': maintenance_extra_markdown,
        }
