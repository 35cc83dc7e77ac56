# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``disk`` check type of health_check: space and inodes of the file system holding ``path``, as df shows them."""

from __future__ import annotations

import os

from ansible_collections.runbook.ops.plugins.module_utils import probe


def run(check):
    path = check['path']
    try:
        st = os.statvfs(path)
    except (OSError, ValueError) as exc:
        raise probe.ProbeError('Could not stat file system of %r: %s' % (path, exc))
    used_blocks = st.f_blocks - st.f_bfree
    usable = used_blocks + st.f_bavail     # what df shows: root-reserved blocks left out
    used_inodes = st.f_files - st.f_ffree
    return probe.ProbeResult({
        'total_bytes': st.f_blocks * st.f_frsize,
        'free_bytes': st.f_bavail * st.f_frsize,
        'used_pct': probe.pct(used_blocks, usable),
        'inodes_total': st.f_files,
        'inodes_pct': probe.pct(used_inodes, st.f_files) if st.f_files else None,
    })


PROBE_TYPE = probe.ProbeType(
    name='disk', run=run,
    metrics={
        'used_pct': (probe.HIGHER, probe.levels(80, 90)),
        'inodes_pct': (probe.HIGHER, probe.levels(80, 90)),
        'free_bytes': (probe.LOWER, None),
    },
    options=('path',),
    suboptions={'path': dict(type='path')},
    required=('path',),
)
