#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: pitr_info
short_description: What a pgBackRest repository can restore, and whether its WAL archive reaches a target
version_added: 0.1.0
description:
  - Reads C(pgbackrest info) for one stanza - the backups, the archive's first and last WAL segment, the newest
    backup's age - and, with O(target_type), checks that a point-in-time recovery to the target can succeed.
  - The reach check chooses the newest backup a recovery to the target can start from, lists the archived
    segments (C(pgbackrest repo-ls)), follows the unbroken run of segments from the backup's first one, and reads the
    newest segments with C(pg_waldump) (after C(pgbackrest archive-get) into a temporary directory) until it finds a
    commit after the target time, or the named restore point. A gap, or an archive that ends before the target, is
    reported in RV(reach_error) with what the archive does reach.
  - Read-only. Never touches PostgreSQL.
author:
  - runbook.ops maintainers (@runbook-ops)
extends_documentation_fragment:
  - runbook.ops.attributes.info_module
  - runbook.ops.pgbackrest
options:
  target_type:
    description:
      - Check that the archive reaches this kind of target; omit to only read the repository.
    type: str
    choices: [time, name, latest]
  target:
    description:
      - With O(target_type=time), a time with its zone (V(2026-01-31 14:05:00+00), V(2026-01-31T14:05:00Z));
        a time without a zone is refused. With O(target_type=name), the restore point name.
    type: str
  pg_bindir:
    description:
      - The PostgreSQL binaries (pg_waldump). Defaults to C(/usr/lib/postgresql/<backup's version>/bin).
    type: path
'''

EXAMPLES = r'''
- name: Can the archive restore to five minutes ago?
  runbook.ops.pitr_info:
    stanza: main
    config: /etc/pgbackrest/pgbackrest.conf
    target_type: time
    target: "2026-01-31 14:05:00+00"
  register: pitr

- name: Refuse when it cannot
  ansible.builtin.assert:
    that: pitr.reaches_target
    fail_msg: "{{ pitr.reach_error }}"
'''

RETURN = r'''
stanza:
  description: The stanza.
  returned: always
  type: str
  sample: main
status:
  description: pgBackRest's status message for the stanza.
  returned: always
  type: str
  sample: ok
status_code:
  description: pgBackRest's status code (0 is ok).
  returned: always
  type: int
  sample: 0
pg_version:
  description: The PostgreSQL major version of the stanza.
  returned: always
  type: str
  sample: "15"
backups:
  description: The backups, oldest first.
  returned: always
  type: list
  elements: dict
  sample: [{"label": "20260131-140000F", "type": "full", "start": "2026-01-31T14:00:00.000000Z",
            "stop": "2026-01-31T14:00:09.000000Z", "wal_start": "000000010000000000000004",
            "wal_stop": "000000010000000000000004", "size": 31234567, "repo_size": 4123456, "error": false}]
archive_id:
  description: The current archive id (version-system).
  returned: always
  type: str
  sample: 15-1
archive_min_wal:
  description: The oldest archived WAL segment.
  returned: always
  type: str
  sample: "000000010000000000000001"
archive_max_wal:
  description: The newest archived WAL segment.
  returned: always
  type: str
  sample: "000000010000000000000009"
newest_backup:
  description: The newest backup's label (null when there is none).
  returned: always
  type: str
  sample: 20260131-140000F
newest_backup_age_s:
  description: Seconds since the newest backup ended (null when there is none).
  returned: always
  type: float
  sample: 3600.5
reaches_target:
  description: Whether the archive reaches the target (null without O(target_type)).
  returned: always
  type: bool
  sample: true
reach:
  description: The reach check - the backup chosen, the unbroken WAL run, the newest commit found in it.
  returned: when the archive reaches the target
  type: dict
  sample: {"backup": "20260131-140000F", "backup_stop": "2026-01-31T14:00:09.000000Z",
           "wal_start": "000000010000000000000004", "wal_end": "000000010000000000000009", "wal_gap": null,
           "archive_reaches": "2026-01-31T14:20:31.123456Z", "segments_scanned": 1}
reach_error:
  description: Why the archive does not reach the target, and what it does reach.
  returned: when the archive does not reach the target
  type: str
  sample: "Could not restore to 2026-01-31T14:30:00.000000Z: the archive reaches only to ..."
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils import pgbackrest


def argument_spec():
    spec = pgbackrest.repo_argument_spec()
    spec.update(target_type=dict(type='str', choices=list(pgbackrest.TARGET_TYPES)),
                target=dict(type='str'), pg_bindir=dict(type='path'))
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_if=pgbackrest.module_required_if())
    runner = pgbackrest.module_runner(module)
    try:
        result = pgbackrest.info_report(module.params, runner)
    except pgbackrest.PitrError as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
