#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: queue_control
short_description: Pause, resume, clean, retry, promote, recover and purge BullMQ and Celery queues on Redis
version_added: 0.1.0
description:
  - Acts on job queues kept in Redis with the queue library's own atomic operations; no queue key is ever
    edited by hand.
  - BullMQ (O(engine=bullmq)) - runs the BullMQ Lua scripts through the PyPI C(bullmq) package (the same scripts
    as the Node library) - C(pause)/C(resume) (global pause; running jobs finish), C(clean) (completed or failed
    jobs finished more than O(grace_s) ago), C(retry) (failed jobs back to wait), C(promote) (delayed jobs to
    wait now), C(remove_stalled) (active jobs whose lock expired, back to wait, by BullMQ's stalled-job
    check), C(purge)/C(drain) (delete the waiting jobs).
  - Celery (O(engine=celery)) - C(pause)/C(resume) tell every worker (or O(celery_workers)) to stop or start
    consuming the queue (C(cancel_consumer)/C(add_consumer)); this does not survive a worker restart, as
    RV(note) says. C(purge)/C(drain) delete the ready messages of that one queue (every priority). Celery keeps
    no completed, failed, delayed or stalled jobs in the broker, so the other actions are refused.
  - C(purge) and C(drain) take exactly one queue and need O(confirm) set to its name.
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
      - Returns the number of jobs (or workers, for Celery pause/resume) that would be affected and changes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - Pausing a paused queue, resuming a running one, or cleaning, retrying, promoting or purging when nothing
        matches reports C(changed=false). Jobs the application adds in between are acted on again.
options:
  action:
    description:
      - What to do; see the description.
    type: str
    required: true
    choices: [pause, resume, clean, retry, promote, remove_stalled, purge, drain]
  state:
    description:
      - Which finished jobs O(action=clean) removes.
    type: str
    default: completed
    choices: [completed, failed]
  grace_s:
    description:
      - O(action=clean) removes only jobs finished more than this many seconds ago.
    type: int
    default: 3600
  limit:
    description:
      - Most jobs one run cleans, retries or promotes per queue. V(0) means no cap.
    type: int
    default: 10000
  batch_size:
    description:
      - Jobs per BullMQ script call (1 to 100000). Each call blocks Redis while it runs, about a millisecond per
        few hundred jobs.
      - O(action=clean) keeps two calls in flight (Redis runs the next one while the reply of the previous one is
        read), so another client waits at most for the call running and the one queued behind it.
    type: int
    default: 1000
  include_delayed:
    description:
      - O(action=purge) or O(action=drain) also deletes the delayed jobs (BullMQ).
    type: bool
    default: false
  confirm:
    description:
      - Must equal the queue name for O(action=purge) and O(action=drain); without it nothing is deleted.
    type: str
  wait_active_s:
    description:
      - With O(action=pause), wait up to this many seconds for the active jobs to finish; fail, naming
        the queue and leaving it paused, when some are still active. V(0) does not wait.
      - Celery - waits until the addressed workers run and hold prefetched no task of the queue (C(inspect active)
        and C(reserved); a task belongs to the queue by its routing key or the kombu bindings). A worker with the
        solo pool answers only between tasks, and the wait goes on while it does not answer.
    type: int
    default: 0
  max_stalled_count:
    description:
      - O(action=remove_stalled) passes it to BullMQ's stalled check; a job stalled more often is marked to fail.
    type: int
    default: 1
  celery_workers:
    description:
      - Celery worker names (C(name@host)) that O(action=pause)/O(action=resume) address; default every worker
        that answers. Resume adds the queue to each of them, also to workers that did not consume it before.
    type: list
    elements: str
notes:
  - O(action=remove_stalled) waits out (up to 60 s) the stalled-check of a live worker, then runs BullMQ's
    check twice; live workers run the same check themselves every C(stalledInterval).
  - Redis Cluster is not supported. The user needs C(EVALSHA)/C(EVAL) on the queue keys.
seealso:
  - module: runbook.ops.queue_info
'''

EXAMPLES = r'''
- name: Pause every BullMQ queue before a deploy and wait for the running jobs (seed 002)
  runbook.ops.queue_control:
    host: cache1.internal
    password: "{{ vault_redis_password }}"
    engine: bullmq
    queues: ["*"]
    action: pause
    wait_active_s: 300

- name: Clean completed jobs older than a day, 50000 at most
  runbook.ops.queue_control:
    engine: bullmq
    queues: [video-render]
    action: clean
    state: completed
    grace_s: 86400
    limit: 50000

- name: Retry the failed jobs
  runbook.ops.queue_control:
    engine: bullmq
    queues: [video-render]
    action: retry

- name: Stop the Celery workers consuming the queue of seed 004
  runbook.ops.queue_control:
    engine: celery
    queues: [fileforge-tasks]
    action: pause

- name: Delete every waiting message of that one queue
  runbook.ops.queue_control:
    engine: celery
    queues: [fileforge-tasks]
    action: purge
    confirm: fileforge-tasks
'''

RETURN = r'''
engine:
  description: The engine asked for.
  returned: always
  type: str
  sample: bullmq
action:
  description: The action run.
  returned: always
  type: str
  sample: clean
affected:
  description: Jobs (or Celery workers for pause/resume) acted on, summed over the queues; in check mode, that would be.
  returned: always
  type: int
  sample: 1200
queues:
  description: One record per queue.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Queue name.
      type: str
      sample: video-render
    changed:
      description: Whether this queue was (or, in check mode, would be) changed.
      type: bool
      sample: true
    affected:
      description: Jobs, or Celery workers for pause/resume, acted on in this queue.
      type: int
      sample: 1200
    counts_before:
      description: BullMQ counts by state before the action.
      type: dict
      sample: {"wait": 0, "completed": 1200}
    counts_after:
      description: BullMQ counts by state after the action (the same as before in check mode).
      type: dict
      sample: {"wait": 0, "completed": 0}
    paused_before:
      description: Whether the queue was paused before (pause/resume).
      type: bool
      sample: false
    paused:
      description: Whether the queue is paused after (pause/resume).
      type: bool
      sample: true
    active_left:
      description: Jobs still active when O(wait_active_s) was over (Celery - active or reserved tasks of the queue).
      type: int
      sample: 0
    job_ids:
      description: Stalled BullMQ job ids found (check mode) or moved back to wait.
      type: list
      elements: str
      sample: ["17", "18"]
    workers:
      description: Celery workers told to cancel or add the consumer.
      type: list
      elements: str
      sample: ["worker1@app1"]
    ready_before:
      description: Celery ready messages before.
      type: int
      sample: 14
    ready_after:
      description: Celery ready messages after.
      type: int
      sample: 0
skipped_queues:
  description: Queues found with C(*) and left out (a Bull 3/4 layout), with the reason.
  returned: always
  type: list
  elements: dict
  sample: []
note:
  description: What the operator must know about the result (Celery pause/resume does not survive a worker restart).
  returned: always
  type: str
  sample: "Celery forgets a cancelled consumer when the worker restarts: ..."
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
    queue_control,
    queue_control_argument_spec,
)
from ansible_collections.runbook.ops.plugins.module_utils.redis_client import redis_argument_spec


def main():
    argument_spec = redis_argument_spec()
    argument_spec.update(queue_control_argument_spec())
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[('action', 'purge', ('confirm',)), ('action', 'drain', ('confirm',))],
        supports_check_mode=True,
    )
    missing = missing_library(module.params['engine'])
    if missing:
        module.fail_json(msg=missing_required_lib(missing[0]), exception=missing[1])

    try:
        result = queue_control(module.params, check_mode=module.check_mode, warn=module.warn)
    except QueueError as exc:
        module.fail_json(msg=exc.msg, **exc.result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
