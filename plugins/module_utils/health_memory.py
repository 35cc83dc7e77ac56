# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``memory`` check type of health_check: used memory (from MemAvailable) and swap, read from /proc/meminfo."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils import probe

PROC_MEMINFO = '/proc/meminfo'


def read_meminfo(path=None):
    values = {}
    with open(path or PROC_MEMINFO) as f:
        for line in f:
            key, dummy, rest = line.partition(':')
            fields = rest.split()
            if fields:
                try:
                    values[key.strip()] = int(fields[0]) * (1024 if len(fields) > 1 else 1)
                except ValueError:
                    continue
    return values


def run(check):
    try:
        info = read_meminfo()
    except (OSError, ValueError) as exc:
        raise probe.ProbeError('Could not read %s: %s' % (PROC_MEMINFO, exc))
    total = info.get('MemTotal')
    if not total:
        raise probe.ProbeError('Could not read memory: MemTotal missing from %s' % PROC_MEMINFO)
    available = info.get('MemAvailable')
    if available is None:       # kernels before 3.14
        available = info.get('MemFree', 0) + info.get('Buffers', 0) + info.get('Cached', 0)
    swap_total = info.get('SwapTotal', 0)
    return probe.ProbeResult({
        'total_bytes': total,
        'available_bytes': available,
        'used_pct': probe.pct(total - available, total),
        'swap_total_bytes': swap_total,
        'swap_used_pct': probe.pct(swap_total - info.get('SwapFree', 0), swap_total),
    })


PROBE_TYPE = probe.ProbeType(
    name='memory', run=run,
    metrics={
        'used_pct': (probe.HIGHER, probe.levels(80, 95)),
        'swap_used_pct': (probe.HIGHER, None),
        'available_bytes': (probe.LOWER, None),
    },
)
