#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: pitr_restore
short_description: Point-in-time recovery of PostgreSQL through pgBackRest into a new data directory, verified
version_added: 0.1.0
description:
  - With O(state=present), restores a pgBackRest backup into the new data directory O(data_dir) (absent or empty;
    anything else is refused) and recovers it to a time, a named restore point, or the latest archived WAL.
  - Before touching anything, checks that the archive reaches the target (the same check as
    M(runbook.ops.pitr_info)) and refuses with what it does reach - a gap in the archive, or an archive that ends
    before the target, would otherwise make recovery stop early.
  - Starts the recovered cluster on the scratch port O(port), listening only on a private Unix socket directory,
    with C(archive_mode=off) (it never writes into the source's archive), waits until recovery reaches the target
    (and, with O(target_action=promote), the cluster is promoted), then runs O(verify_queries). Returns the recovery
    target, the last replayed transaction's time and the data lost in seconds (RV(rpo_s)).
  - Never touches the live cluster. Switching applications to the recovered cluster is left to the caller (the
    C(runbook.ops.pitr) role).
  - Names the new directory before writing into it - the marker C(<data_dir>.runbook_pitr.json) beside it records
    the run (its process, its state, the scratch port and socket) and the process groups of C(pgbackrest restore)
    and of the recovered cluster, each recorded before it starts. Interrupted by SIGTERM, SIGINT or SIGHUP, it stops
    the restore or the recovering cluster and fails naming the directory, left aside. A run killed outright leaves
    the marker in state C(restoring) or C(recovering); its C(pgbackrest restore) may still be writing into O(data_dir),
    or its cluster still recovering on O(port).
  - The next run into the same O(data_dir) sweeps the leftover of an interrupted run (its process is gone and it
    was never verified) - it first stops the recorded process groups still running (SIGTERM, then SIGKILL after a
    bounded wait) and touches nothing unless they are gone, then stops its cluster, removes it and its temporary
    directories (the one holding the repository secrets included) and lists it in RV(swept) with what it stopped -
    then restores. A verified restore, or one whose verification failed, is never swept; a directory without the
    marker is never touched.
  - With O(state=absent), stops and removes a data directory this module restored (it checks its marker file), in
    any state but that of a run still in progress; like the sweep, it stops a restore that outlived its run first.
author:
  - runbook.ops maintainers (@runbook-ops)
extends_documentation_fragment:
  - runbook.ops.pgbackrest
attributes:
  check_mode:
    description: Runs the read-only reach check and reports the backup and WAL run it would use; restores nothing.
    support: full
  diff_mode:
    description: No diff; the plan is returned in RV(plan).
    support: none
  idempotent:
    description: O(state=present) refuses a data directory that is not empty (but the leftover of an interrupted
      run, which it sweeps), so a second run fails rather than restoring twice; O(state=absent) on a missing
      directory changes nothing.
    support: partial
options:
  state:
    description:
      - V(present) restores and verifies; V(absent) stops and removes a directory this module restored.
    type: str
    choices: [present, absent]
    default: present
  data_dir:
    description:
      - The new data directory.
    type: path
    required: true
  target_type:
    description:
      - V(time) recovers to O(target) (a time), V(name) to the restore point O(target), V(latest) to the end of the
        archive.
    type: str
    choices: [time, name, latest]
    default: latest
  target:
    description:
      - With O(target_type=time), a time with its zone (V(2026-01-31 14:05:00+00)); a time without a zone is
        refused. With O(target_type=name), the restore point name.
    type: str
  target_action:
    description:
      - What PostgreSQL does at the target - V(promote) (a read-write cluster on a new timeline) or V(pause) (read-only,
        still in recovery).
    type: str
    choices: [promote, pause]
    default: promote
  port:
    description:
      - The scratch port the recovered cluster runs on (Unix socket only).
    type: int
    default: 5499
  recovery_timeout:
    description:
      - Seconds to wait for recovery to reach the target.
    type: int
    default: 3600
  verify_queries:
    description:
      - Queries run on the recovered cluster; each must succeed and, with C(expect), its first column of the first
        row (as text) must equal C(expect).
    type: list
    elements: dict
    default: []
    suboptions:
      sql:
        description:
          - One SQL statement.
        type: str
        required: true
      database:
        description:
          - The database it runs in.
        type: str
        default: postgres
      expect:
        description:
          - The expected value, as psql prints it (V(t) for true).
        type: str
  failure_time:
    description:
      - The time of the failure the RPO is measured from (with its zone). Defaults to the target time for
        O(target_type=time), else to now.
    type: str
  keep_running:
    description:
      - Leave the recovered cluster running after a successful verification (for a switch or further checks).
    type: bool
    default: true
  pg_bindir:
    description:
      - The PostgreSQL binaries. Defaults to C(/usr/lib/postgresql/<backup's version>/bin).
    type: path
  process_max:
    description:
      - Parallel processes of C(pgbackrest restore) (C(--process-max)). Defaults to the number of CPUs, at most 4.
    type: int
'''

EXAMPLES = r'''
- name: Recover to the second before the DROP TABLE into a new directory, on port 5499
  runbook.ops.pitr_restore:
    stanza: main
    config: /etc/pgbackrest/pgbackrest.conf
    data_dir: /var/lib/postgresql/15/pitr-20260131
    target_type: time
    target: "2026-01-31 14:04:59+00"
    verify_queries:
      - sql: SELECT count(*) > 0 FROM orders
        database: shop
        expect: "t"
  register: pitr

- name: Tear the rehearsal down
  runbook.ops.pitr_restore:
    stanza: main
    config: /etc/pgbackrest/pgbackrest.conf
    data_dir: /var/lib/postgresql/15/pitr-20260131
    state: absent
'''

RETURN = r'''
data_dir:
  description: The data directory restored (or removed).
  returned: always
  type: str
  sample: /var/lib/postgresql/15/pitr-20260131
port:
  description: The scratch port of the recovered cluster.
  returned: O(state=present)
  type: int
  sample: 5499
socket_dir:
  description: The Unix socket directory of the recovered cluster.
  returned: O(state=present), not in check mode
  type: str
  sample: /tmp/rbo-pitr-sock-x1y2
target_type:
  description: The kind of target.
  returned: O(state=present)
  type: str
  sample: time
recovery_target:
  description: The target - the time (UTC, ISO 8601), the restore point name, or null for the latest.
  returned: O(state=present)
  type: str
  sample: "2026-01-31T14:04:59.000000Z"
plan:
  description: The backup and the unbroken WAL run the recovery uses (see M(runbook.ops.pitr_info)'s C(reach)), and
    C(check_s), the seconds the reach check took.
  returned: O(state=present)
  type: dict
  sample: {"backup": "20260131-140000F", "wal_start": "000000010000000000000004",
           "wal_end": "000000010000000000000009", "archive_reaches": "2026-01-31T14:20:31.123456Z"}
last_replayed:
  description: The commit time of the last transaction recovery replayed (UTC, ISO 8601).
  returned: O(state=present), not in check mode
  type: str
  sample: "2026-01-31T14:04:58.912345Z"
rpo_s:
  description: Seconds of data lost - from the last replayed transaction to O(failure_time) (default the target
    time, or now).
  returned: O(state=present), not in check mode
  type: float
  sample: 0.088
verifications:
  description: The verification queries with the value they returned.
  returned: O(state=present), not in check mode
  type: list
  elements: dict
  sample: [{"sql": "SELECT count(*) FROM orders", "database": "shop", "value": "100000", "expect": null,
            "ok": true, "error": null}]
restore_s:
  description: Seconds spent in C(pgbackrest restore).
  returned: O(state=present), not in check mode
  type: float
  sample: 4.2
recovery_s:
  description: Seconds from the start of the restore to the end of recovery.
  returned: O(state=present), not in check mode
  type: float
  sample: 9.3
verify_s:
  description: Seconds from the start of the restore to the end of the verification queries.
  returned: O(state=present), not in check mode
  type: float
  sample: 9.4
running:
  description: Whether the recovered cluster is left running.
  returned: O(state=present), not in check mode
  type: bool
  sample: true
log:
  description: The recovered cluster's server log.
  returned: O(state=present), not in check mode
  type: str
  sample: /var/lib/postgresql/15/pitr-20260131.recovery.log
swept:
  description: The leftovers of interrupted runs into O(data_dir) removed before this restore (in check mode, the
    ones it would remove) - the directory, the state its marker was left in (C(restoring), C(recovering) or
    C(interrupted)), when and by which process it was started, its scratch port, and in C(stopped) what of it still
    ran and was stopped first (see RV(stopped)).
  returned: O(state=present)
  type: list
  elements: dict
  sample: [{"data_dir": "/var/lib/postgresql/15/pitr-20260131", "state": "restoring",
            "created_at": "2026-01-31T14:10:00.000000Z", "pid": 4242, "port": 5499,
            "stopped": [{"process": "pgbackrest restore", "pgid": 4250, "processes": 4, "signal": "SIGTERM"}]}]
marker:
  description: The marker file beside the restored directory (state C(verified), or C(unverified) after a failed
    verification).
  returned: O(state=present), not in check mode
  type: str
  sample: /var/lib/postgresql/15/pitr-20260131.runbook_pitr.json
removed:
  description: Whether the directory was removed.
  returned: O(state=absent)
  type: bool
  sample: true
stopped:
  description: With O(state=absent), what of the removed restore still ran and was stopped before anything was
    removed - C(process) (C(pgbackrest restore), or C(restored cluster)), its process group C(pgid), the number of
    C(processes) found, and C(signal), what ended it (C(SIGTERM), C(SIGKILL), C(pg_ctl stop -m <mode>); null in
    check mode, where nothing is stopped).
  returned: O(state=absent), when a marker was found
  type: list
  elements: dict
  sample: [{"process": "pgbackrest restore", "pgid": 4250, "processes": 4, "signal": "SIGTERM"}]
state_found:
  description: The state the marker of the removed directory was in (C(verified), C(unverified), C(restoring),
    C(recovering), C(interrupted)).
  returned: O(state=absent), when a marker was found
  type: str
  sample: verified
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils import pgbackrest


def argument_spec():
    spec = pgbackrest.repo_argument_spec()
    spec.update(
        state=dict(type='str', default='present', choices=['present', 'absent']),
        data_dir=dict(type='path', required=True),
        target_type=dict(type='str', default='latest', choices=list(pgbackrest.TARGET_TYPES)),
        target=dict(type='str'),
        target_action=dict(type='str', default='promote', choices=['promote', 'pause']),
        port=dict(type='int', default=5499),
        recovery_timeout=dict(type='int', default=3600),
        verify_queries=dict(type='list', elements='dict', default=[], options=dict(
            sql=dict(type='str', required=True), database=dict(type='str', default='postgres'),
            expect=dict(type='str'))),
        failure_time=dict(type='str'),
        keep_running=dict(type='bool', default=True),
        pg_bindir=dict(type='path'),
        process_max=dict(type='int'),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_if=pgbackrest.module_required_if())
    runner = pgbackrest.module_runner(module)
    try:
        if module.params['state'] == 'absent':
            result = pgbackrest.remove(module.params, runner, check_mode=module.check_mode)
        else:
            result = pgbackrest.restore(module.params, runner, check_mode=module.check_mode)
    except pgbackrest.PitrError as e:
        extra = e.args[1] if len(e.args) > 1 else {}
        extra.pop('changed', None)
        module.fail_json(msg=e.args[0], changed=bool(extra), **extra)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
