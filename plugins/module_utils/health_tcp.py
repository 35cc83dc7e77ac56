# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``tcp`` check type of health_check: can a TCP connection be opened, and how long did it take?"""

from __future__ import annotations

import socket
import time

from ansible_collections.runbook.ops.plugins.module_utils import probe


def run(check):
    host, port = check['host'], check['port']
    start = time.monotonic()
    try:
        sock = socket.create_connection((host, port), timeout=check['timeout'])
    except (OSError, ValueError) as exc:
        raise probe.ProbeError('Could not connect to %s:%s: %s' % (host, port, exc))
    elapsed = time.monotonic() - start
    sock.close()
    return probe.ProbeResult({'reachable': True, 'latency_ms': probe.ms(elapsed)})


PROBE_TYPE = probe.ProbeType(
    name='tcp', run=run,
    metrics={'latency_ms': (probe.HIGHER, probe.levels(100, 1000))},
    options=('host', 'port'),
    suboptions={'host': dict(type='str'), 'port': dict(type='int')},
    required=('host', 'port'),
)
