#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: db_backup_info
short_description: List the backups in a backup store, with age, size and validity, and select one
version_added: 0.1.0
description:
  - Lists the backups that M(runbook.ops.db_backup) wrote into a store, newest first, each with its id, creation time,
    age, size, and whether it is valid (and why not).
  - A backup is valid when its manifest exists and is well formed and the data object has the size the manifest
    records; with O(verify_checksum=true) the data is also read and its sha256 compared.
  - Selects one backup with O(backup) (V(latest), an id, or V(before:<ISO time>)), the same way
    M(runbook.ops.db_restore) does, so a play can show what a restore would use.
  - Lists, as RV(leftovers), what runs of M(runbook.ops.db_backup) that were killed before they could clean up left
    in the store (hidden temp files of a local store, pending multipart uploads on S3); the next
    M(runbook.ops.db_backup) run removes those marked stale.
  - Read-only; never reports a change.
author:
  - runbook.ops maintainers (@runbook-ops)
extends_documentation_fragment:
  - runbook.ops.attributes.info_module
  - runbook.ops.backup_store
  - runbook.ops.backup_store.s3
options:
  db:
    description:
      - Only list the backups of this database (as recorded in their manifests).
    type: str
  backup:
    description:
      - Select one valid backup and return it as RV(selected). V(latest), a backup id, or V(before:<ISO 8601 time>)
        for the newest backup taken strictly before that time (naive times are UTC).
    type: str
  verify_checksum:
    description:
      - Also read every data object and compare its sha256 with the manifest (reads the whole store).
    type: bool
    default: false
  engine:
    description:
      - The engine whose manifests to read. V(mysql) also judges the backups of M(runbook.ops.db_backup) with
        O(runbook.ops.db_backup#module:engine=mysql) (their manifests say C(engine=mysql)). Each value lists the
        other engine's backups as not valid, with the reason.
    type: str
    default: postgresql
    choices: [postgresql, mysql]
  fail_if_none:
    description:
      - Fail when O(backup) selects nothing (otherwise RV(selected) is empty and RV(selected_reason) says why).
    type: bool
    default: true
seealso:
  - module: runbook.ops.db_backup
  - module: runbook.ops.db_restore
'''

EXAMPLES = r'''
- name: List the backups of app
  runbook.ops.db_backup_info:
    store: s3://acme-backups/postgres/app
    db: app
  register: backups

- name: Which backup would a point-in-time restore use?
  runbook.ops.db_backup_info:
    store: /var/backups/postgres
    db: app
    backup: before:2026-01-31T12:00:00Z
    verify_checksum: true
  register: candidate

- name: Alert when the newest valid backup is older than a day
  ansible.builtin.assert:
    that: backups.newest_valid_age_s is not none and backups.newest_valid_age_s < 86400
'''

RETURN = r'''
backups:
  description: The backups, newest first.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Backup id.
      type: str
      returned: always
      sample: 20260131T020000Z-app-3f9a1c
    created_at:
      description: Creation time (UTC, ISO 8601); null when the manifest is missing.
      type: str
      returned: always
      sample: "2026-01-31T02:00:00.000000Z"
    age_s:
      description: Seconds since creation; null when the manifest is missing.
      type: float
      returned: always
      sample: 3600.5
    size:
      description: Size of the data object in bytes.
      type: int
      returned: always
      sample: 104857600
    valid:
      description: Whether the backup can be restored.
      type: bool
      returned: always
      sample: true
    reason:
      description: V(ok), or why the backup is not valid.
      type: str
      returned: always
      sample: no manifest (the backup did not finish, or is still running)
    database:
      description: The database the backup holds; null when the manifest is missing.
      type: str
      returned: always
      sample: app
    tags:
      description: The tags stored with the backup.
      type: dict
      returned: always
      sample: {release: "20260131T015500Z"}
  sample: [{id: 20260131T020000Z-app-3f9a1c, created_at: "2026-01-31T02:00:00.000000Z", age_s: 3600.5,
            size: 104857600, valid: true, reason: ok, database: app, tags: {}}]
count:
  description: Number of backups listed.
  returned: success
  type: int
  sample: 9
valid_count:
  description: Number of valid backups listed.
  returned: success
  type: int
  sample: 8
newest_valid_age_s:
  description: Age in seconds of the newest valid backup; null when there is none.
  returned: success
  type: float
  sample: 3600.5
selected:
  description: The backup chosen by O(backup), with its manifest; empty when nothing was selected.
  returned: success
  type: dict
  sample: {id: 20260131T020000Z-app-3f9a1c, valid: true, manifest: {database: app}}
selected_reason:
  description: Why nothing was selected (with O(fail_if_none=false)); empty otherwise.
  returned: success
  type: str
  sample: no valid backup was taken before 2026-01-01T00:00:00.000000Z
store:
  description: The store, without secrets.
  returned: success
  type: str
  sample: s3://acme-backups/postgres/app
leftovers:
  description:
    - What runs of M(runbook.ops.db_backup) killed before they could clean up left in the store, found by the marker of
      their writer (never by a name a user could have chosen). Never part of RV(backups), never restorable; listed
      only, never removed here.
  returned: success
  type: list
  elements: dict
  contains:
    key:
      description: Key relative to the store root (the temp file, or the object a multipart upload was writing).
      type: str
      returned: always
      sample: 20260130T020000Z-app-1a2b3c/.data.dump.zst.rbo-tmp.5bce98f7.4242.0a1b2c3d
    kind:
      description: V(temporary_file) (local store) or V(multipart_upload) (S3).
      type: str
      returned: always
      sample: temporary_file
    size:
      description: Bytes written so far (null for a multipart upload).
      type: int
      returned: always
      sample: 1048576
    age_s:
      description: Seconds since the temp file was last written to, or since the upload was started.
      type: float
      returned: always
      sample: 86000.0
    stale:
      description: Whether its writer can no longer be running (its process is gone on this host, or it is older than
        24 hours); the next M(runbook.ops.db_backup) run removes the stale ones.
      type: bool
      returned: always
      sample: true
    reason:
      description: Why it is, or is not yet, stale.
      type: str
      returned: always
      sample: left by a db_backup run (pid 4242 on this host) that no longer runs
    upload_id:
      description: The multipart upload id.
      type: str
      returned: for multipart uploads
      sample: 2~abcdef
  sample: []
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import mysql_backup


def main():
    spec = bs.store_argument_spec()
    spec.update(
        db=dict(type='str'),
        backup=dict(type='str'),
        verify_checksum=dict(type='bool', default=False),
        fail_if_none=dict(type='bool', default=True),
        engine=dict(type='str', default='postgresql', choices=['postgresql', 'mysql']),
    )
    module = AnsibleModule(argument_spec=spec, required_by=bs.store_required_by(), supports_check_mode=True)
    bs.require_boto3(module, module.params['store'])
    try:
        store = bs.open_store(module.params)
        catalogue = mysql_backup.list_backups if module.params['engine'] == 'mysql' else bs.list_backups
        entries = catalogue(store, database=module.params['db'], verify_checksum=module.params['verify_checksum'])
    except bs.StoreError as e:
        module.fail_json(msg='Could not list the backups in %s: %s. Check the store URL, the endpoint and the '
                         'credentials.' % (module.params['store'], e))
    try:
        leftovers = bs.find_leftovers(store)
    except bs.StoreError as e:  # e.g. no permission to list pending uploads: the backups are listed all the same
        leftovers = []
        module.warn('Could not list the leftovers of killed runs in %s: %s.' % (store.describe(), e))
    valid = [e for e in entries if e['valid']]
    result = dict(changed=False, store=store.describe(), backups=[bs.public_entry(e) for e in entries],
                  count=len(entries), valid_count=len(valid),
                  newest_valid_age_s=valid[0]['age_s'] if valid else None, selected={}, selected_reason='',
                  leftovers=leftovers)
    if module.params['backup']:
        try:
            chosen = bs.select_backup(entries, module.params['backup'])
            result['selected'] = chosen
        except bs.StoreError as e:
            if module.params['fail_if_none']:
                module.fail_json(msg='Could not select backup %s: %s. List the store to see what it holds.'
                                 % (module.params['backup'], e), **result)
            result['selected_reason'] = str(e)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
