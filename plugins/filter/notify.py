# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter of the notifications: which hosts changed health state since the last run (module_utils/notify.py
owns the rule)."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils.notify import state_changes


def notify_state_changes(current, previous=None):
    """``{host: ok|warning|critical}`` of this run against the kept state (a mapping, or the state file's JSON
    text; malformed text counts as no state): degraded, recovered, the new state."""
    return state_changes(previous or {}, current or {})


class FilterModule(object):
    def filters(self):
        return {'notify_state_changes': notify_state_changes}
