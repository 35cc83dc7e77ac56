# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the DR role, each one call into plugins/plugin_utils (documented in the sidecar .yml files).

``dr_measure`` measures RTO/RPO from the raw phase records, ``dr_report`` grades them against the
objectives; ``dr_junit``, ``dr_html`` and ``dr_markdown`` render the report. The rules live in
plugin_utils/dr.py, the renderers in plugin_utils/dr_render.py.
"""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.runbook.ops.plugins.plugin_utils import dr as _rules
from ansible_collections.runbook.ops.plugins.plugin_utils import dr_render as _render


def _filter(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except _rules.DRError as e:
            raise AnsibleFilterError(str(e)) from e
    return wrapper


duration_seconds = _filter(_rules.duration_seconds)
human_duration = _filter(_rules.human_duration)
dr_measure = _filter(_rules.measure)
dr_report = _filter(_rules.report)
dr_junit = _filter(_render.dr_junit)
dr_html = _filter(_render.dr_html)
dr_markdown = _filter(_render.dr_markdown)


class FilterModule(object):
    def filters(self):
        return {
            'duration_seconds': duration_seconds,
            'dr_measure': dr_measure,
            'dr_report': dr_report,
            'dr_junit': dr_junit,
            'dr_html': dr_html,
            'dr_markdown': dr_markdown,
        }
