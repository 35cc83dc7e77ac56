# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the service role: the status of a service from health_check's process probe or from Kubernetes
objects (module_utils/health_process.py owns the rules)."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils import health_process


def service_process_checks(names, manager, container_engine=None):
    return health_process.process_checks(list(names or []), manager, container_engine)


def service_status(report, manager, name):
    return health_process.status_from_report(report, manager, name)


def service_k8s_status(deployment, pods, name):
    return health_process.k8s_status(deployment, list(pods or []), name)


def service_group_checks(services, default_manager='systemd', default_engine='podman', min_uptime=None):
    return health_process.group_checks(list(services or []), default_manager, default_engine, min_uptime)


def service_fleet_rows(fleet):
    return health_process.fleet_rows(dict(fleet or {}))


def service_fleet_markdown(report):
    return health_process.fleet_markdown(dict(report or {}))


class FilterModule(object):
    def filters(self):
        return {
            'service_process_checks': service_process_checks,
            'service_status': service_status,
            'service_k8s_status': service_k8s_status,
            'service_group_checks': service_group_checks,
            'service_fleet_rows': service_fleet_rows,
            'service_fleet_markdown': service_fleet_markdown,
        }
