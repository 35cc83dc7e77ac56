# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``cpu`` check type of health_check: CPU busy % sampled from /proc/stat over an interval.

The load average (the ``load`` type) counts runnable and waiting tasks; this measures what the CPUs did:
the share of time, summed over every CPU, spent neither idle nor waiting for I/O, between two reads of
``/proc/stat`` ``interval`` seconds apart.  Seed 000 grades it 70 / 90 %.
"""

from __future__ import annotations

import time

from ansible_collections.runbook.ops.plugins.module_utils import probe

PROC_STAT = '/proc/stat'
DEFAULT_INTERVAL = 1.0
# /proc/stat's cpu line: user nice system idle iowait irq softirq steal guest guest_nice (guest time is
# already counted in user and nice, so it is left out of the total)
FIELDS = ('user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal')


def read_cpu_times(path=PROC_STAT):
    """``{field: jiffies}`` of the aggregate ``cpu`` line, and the number of CPUs listed."""
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()
    except (IOError, OSError) as exc:
        raise probe.ProbeError('Could not read %s: %s. The cpu check needs Linux /proc.' % (path, exc))
    total = None
    cpus = 0
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == 'cpu':
            values = [int(v) for v in parts[1:1 + len(FIELDS)]]
            values += [0] * (len(FIELDS) - len(values))
            total = dict(zip(FIELDS, values))
        elif parts[0].startswith('cpu') and parts[0][3:].isdigit():
            cpus += 1
    if total is None:
        raise probe.ProbeError('Could not read the CPU times: %s has no aggregate cpu line.' % path)
    return total, cpus


def busy_metrics(before, after, cpus):
    """CPU metrics between two :func:`read_cpu_times` samples (percentages of all CPUs' time)."""
    delta = dict((field, max(after[field] - before[field], 0)) for field in FIELDS)
    total = sum(delta.values())
    if total <= 0:
        raise probe.ProbeError('Could not measure CPU use: no CPU time passed between the two samples. '
                               'Raise the check\'s interval.')
    idle = delta['idle'] + delta['iowait']
    return {
        'busy_pct': probe.pct(total - idle, total),
        'iowait_pct': probe.pct(delta['iowait'], total),
        'steal_pct': probe.pct(delta['steal'], total),
        'system_pct': probe.pct(delta['system'] + delta['irq'] + delta['softirq'], total),
        'cpus': cpus,
    }


def validate(check):
    interval = check.get('interval', DEFAULT_INTERVAL)
    if interval <= 0:
        raise probe.HealthConfigError("check '%s': interval must be above 0, got %s" % (check['name'], interval))
    if interval >= check['timeout']:
        raise probe.HealthConfigError("check '%s': interval (%s s) must be shorter than the check's timeout (%s s); "
                                      "raise timeout or lower interval" % (check['name'], interval, check['timeout']))


def run(check, path=PROC_STAT, sleep=time.sleep):
    before, cpus = read_cpu_times(path)
    sleep(check.get('interval', DEFAULT_INTERVAL))
    after, dummy = read_cpu_times(path)
    return probe.ProbeResult(busy_metrics(before, after, cpus))


PROBE_TYPE = probe.ProbeType(
    name='cpu', run=run,
    metrics={
        'busy_pct': (probe.HIGHER, probe.levels(70, 90)),
        'iowait_pct': (probe.HIGHER, None),
        'steal_pct': (probe.HIGHER, None),
        'system_pct': (probe.HIGHER, None),
    },
    options=('interval',),
    suboptions={'interval': dict(type='float')},
    validate=validate,
)
