# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``load`` check type of health_check: the load averages per CPU core (the ``cpu`` type measures busy time)."""

from __future__ import annotations

import os

from ansible_collections.runbook.ops.plugins.module_utils import probe


def run(check):
    try:
        load1, load5, load15 = os.getloadavg()
    except OSError as exc:
        raise probe.ProbeError('Could not read the load average: %s' % exc)
    cpus = os.cpu_count() or 1
    return probe.ProbeResult({
        'cpus': cpus,
        'load1': round(load1, 2), 'load5': round(load5, 2), 'load15': round(load15, 2),
        'load1_per_core': round(load1 / cpus, 3),
        'load5_per_core': round(load5 / cpus, 3),
        'load15_per_core': round(load15 / cpus, 3),
    })


PROBE_TYPE = probe.ProbeType(
    name='load', run=run,
    metrics={
        'load1_per_core': (probe.HIGHER, None),
        'load5_per_core': (probe.HIGHER, probe.levels(1.0, 2.0)),
        'load15_per_core': (probe.HIGHER, None),
    },
)
