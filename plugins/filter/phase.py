# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the private phase-recording role (runbook.ops.phase), each one call into plugin_utils/phase.py.

``phase_record`` builds one record in the one shape, ``phase_failure_message`` names a failed task (a loop's
first failed item), ``phase_skip_reason`` says why a phase is skipped. Documented in the sidecar .yml files.
"""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.runbook.ops.plugins.plugin_utils import phase as _rules


def _filter(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except _rules.PhaseError as e:
            raise AnsibleFilterError(str(e)) from e
    return wrapper


phase_record = _filter(_rules.record)
phase_failure_message = _filter(_rules.failure_message)
phase_skip_reason = _filter(_rules.skip_reason)


class FilterModule(object):
    def filters(self):
        return {
            'phase_record': phase_record,
            'phase_failure_message': phase_failure_message,
            'phase_skip_reason': phase_skip_reason,
        }
