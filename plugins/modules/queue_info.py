#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: queue_info
short_description: Counts, age, failure rate and workers of BullMQ and Celery queues on Redis
version_added: 0.1.0
description:
  - Reads job queues kept in Redis and returns one record per queue. Never changes anything.
  - BullMQ (O(engine=bullmq)) - counts by state from the library's own C(getCounts) script (wait, active,
    delayed, prioritized, completed, failed, paused, waiting-children), the global pause flag, the age of the
    oldest job in C(wait), jobs failed and completed in the last O(failed_window_min) minutes and the failed
    share of them, and the workers connected to the queue (C(CLIENT LIST), as BullMQ's C(getWorkers)).
  - Celery (O(engine=celery)) - ready messages per queue with the kombu priority sub-queues, prefetched
    (unacked) messages, and per worker the queues it consumes and its active and reserved tasks
    (C(inspect active_queues/active/reserved)).
author:
  - runbook.ops maintainers (@runbook-ops)
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.redis
  - runbook.ops.queues
attributes:
  check_mode:
    support: full
    details:
      - Read-only; runs the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  failed_window_min:
    description:
      - Window, in minutes, for RV(queues[].failed_recent), RV(queues[].completed_recent) and
        RV(queues[].failed_rate_pct) (BullMQ; by the jobs' finish time).
    type: int
    default: 60
notes:
  - BullMQ failure rates count the finished jobs still stored; queues that remove completed jobs on completion
    (C(removeOnComplete)) show a higher rate than the real one.
  - Redis Cluster is not supported. The user needs C(EVALSHA)/C(EVAL) on the queue keys and C(CLIENT LIST)
    for the workers (without it RV(queues[].workers) is null and a warning says why).
seealso:
  - module: runbook.ops.queue_control
'''

EXAMPLES = r'''
- name: Every BullMQ queue of the app (seed 002)
  runbook.ops.queue_info:
    host: cache1.internal
    password: "{{ vault_redis_password }}"
    engine: bullmq
    queues: ["*"]
  register: bull_queues

- name: The Celery queue of seed 004 with its workers
  runbook.ops.queue_info:
    engine: celery
    db: 0
    queues: [fileforge-tasks]
  register: celery_queues
'''

RETURN = r'''
engine:
  description: The engine asked for.
  returned: always
  type: str
  sample: bullmq
queues:
  description: One record per queue, in the order asked for (sorted when discovered with C(*)).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Queue name.
      type: str
      sample: video-render
    engine:
      description: V(bullmq) or V(celery).
      type: str
      sample: bullmq
    layout_version:
      description: BullMQ version found in the queue's C(meta) hash (BullMQ only; null when not recorded).
      type: str
      sample: "6.7.6"
    counts:
      description: Jobs per state as BullMQ counts them (BullMQ only).
      type: dict
      sample: {"wait": 12, "active": 2, "delayed": 0, "prioritized": 0, "completed": 480, "failed": 3, "paused": 0, "waiting-children": 0}
    waiting:
      description: Jobs waiting to run (BullMQ wait + prioritized + paused; Celery ready messages).
      type: int
      sample: 12
    paused:
      description: BullMQ global pause flag; for Celery, true when no worker consumes the queue.
      type: bool
      sample: false
    oldest_wait_s:
      description: Seconds the oldest job of C(wait) has waited (BullMQ; null when empty, and for Celery).
      type: float
      sample: 4.2
    failed_recent:
      description: Jobs failed in the window (BullMQ; null for Celery).
      type: int
      sample: 3
    completed_recent:
      description: Jobs completed in the window (BullMQ).
      type: int
      sample: 120
    failed_rate_pct:
      description: Failed share of the jobs finished in the window, in percent (BullMQ; null for Celery).
      type: float
      sample: 2.4
    workers:
      description: Workers connected to (BullMQ) or consuming (Celery) the queue; null when C(CLIENT LIST) is refused.
      type: int
      sample: 2
    worker_list:
      description: BullMQ workers with address, connection age and idle seconds.
      type: list
      elements: dict
      sample: [{"addr": "10.0.0.5:51234", "age_s": 3600, "idle_s": 0}]
    ready:
      description: Celery ready messages, all priorities.
      type: int
      sample: 14
    ready_by_priority:
      description: Celery ready messages per kombu priority step.
      type: dict
      sample: {"0": 10, "3": 0, "6": 4, "9": 0}
    unacked:
      description: Celery messages prefetched by workers and not yet acknowledged (null when too many to sort by queue).
      type: int
      sample: 1
    consumers:
      description: Celery workers consuming the queue.
      type: list
      elements: str
      sample: ["worker1@app1"]
    active:
      description: Celery tasks running now from this queue's consumers.
      type: int
      sample: 1
    reserved:
      description: Celery tasks reserved (prefetched) by this queue's consumers.
      type: int
      sample: 0
skipped_queues:
  description: Queues found with C(*) and left out (a Bull 3/4 layout), with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "old-mail", "reason": "Could not read queue old-mail: its keys ... use the Bull 3/4 layout ..."}]
workers:
  description: Celery workers and, per worker, the queues it consumes and its active and reserved task counts.
  returned: when O(engine=celery)
  type: dict
  sample: {"worker1@app1": {"queues": ["fileforge-tasks"], "active": 1, "reserved": 0}}
unacked_total:
  description: Entries of the Celery C(unacked) hash.
  returned: when O(engine=celery)
  type: int
  sample: 1
failed_window_min:
  description: The window of the failure counts, in minutes.
  returned: when O(engine=bullmq)
  type: int
  sample: 60
target:
  description: The Redis server, without the password.
  returned: always
  type: str
  sample: "redis://127.0.0.1:6379/0"
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.queues import (
    QueueError,
    missing_library,
    queue_info,
    queue_info_argument_spec,
)
from ansible_collections.runbook.ops.plugins.module_utils.redis_client import redis_argument_spec


def main():
    argument_spec = redis_argument_spec()
    argument_spec.update(queue_info_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    missing = missing_library(module.params['engine'])
    if missing:
        module.fail_json(msg=missing_required_lib(missing[0]), exception=missing[1])

    try:
        result = queue_info(module.params, warn=module.warn)
    except QueueError as exc:
        module.fail_json(msg=exc.msg, **exc.result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
