# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """The queue options of queue_info and queue_control (queues.queue_common_argument_spec())."""

    DOCUMENTATION = r'''
options:
  engine:
    description:
      - V(bullmq) drives BullMQ queues (Node C(bullmq) 2.x and later) through the PyPI C(bullmq) package, which runs
        the same Lua scripts as the Node library. The layout is read from C(<prefix>:<queue>:meta) first.
      - V(bull) names Bull 3/4 queues. Their key layout differs (paused jobs in a C(paused) list, no BullMQ
        version in C(meta)); they are detected and refused with a message naming the layout, for either engine.
        No hand-written key edit is ever made.
      - V(celery) reads and controls Celery queues on a Redis broker from a bare C(Celery(broker=url)) app.
    type: str
    required: true
    choices: [bullmq, bull, celery]
  queues:
    description:
      - Queue names, or C([*]) alone for every queue found (BullMQ, under O(prefix); Celery, from kombu's
        bindings and the queues the workers consume).
      - A named queue that does not exist is an error.
    type: list
    elements: str
    required: true
  prefix:
    description:
      - Key prefix of the BullMQ queues (the C(prefix) queue option of the application).
    type: str
    default: bull
  celery_timeout:
    description:
      - Seconds to wait for the Celery workers' replies to inspect and control broadcasts.
    type: float
    default: 2.0
requirements:
  - bullmq (PyPI, for O(engine=bullmq))
  - celery (for O(engine=celery))
'''
