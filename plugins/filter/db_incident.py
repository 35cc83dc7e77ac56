# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the db_incident role: the termination guard and the incident report (plugin_utils/db_incident.py
owns the rules)."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.plugin_utils import db_incident


def db_incident_guard(terminate, reason='', running_longer_than_s=0, idle_s=0, window=None):
    return db_incident.guard(terminate, reason, running_longer_than_s, idle_s, window)


def db_incident_record(report, host, maintenance=None, guard=None, failure=None):
    return db_incident.host_record(host, report, maintenance, guard, failure)


def db_incident_report(records):
    return db_incident.report(dict(records or {}))


def db_incident_markdown(report):
    return db_incident.markdown(report)


class FilterModule(object):
    def filters(self):
        return {
            'db_incident_guard': db_incident_guard,
            'db_incident_record': db_incident_record,
            'db_incident_report': db_incident_report,
            'db_incident_markdown': db_incident_markdown,
        }
