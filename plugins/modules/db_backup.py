#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: db_backup
short_description: Back up a PostgreSQL database into a local or S3 backup store, with retention
version_added: 0.1.0
description:
  - Streams C(pg_dump --format=custom --compress=0) through C(zstd) or C(gzip) and sha256 straight into a backup store
    (an S3 multipart upload or a temp file renamed atomically); no full local copy is made.
  - Records the rows of every table, taken in the same snapshot as the dump (C(pg_dump --snapshot)); exact counts
    by default, or the planner's estimates, or none (see O(row_counts)).
  - Writes a JSON manifest B(last), as the commit marker. A backup without a manifest, or whose data does not match
    the manifest, is never valid. On any failure nothing is left under a valid name and retention does not run.
  - Applies retention (GFS, keep-last, max-age) only after the new backup is committed and listed as valid; the
    newest valid backup is never deleted, and invalid backups are left alone. After a successful backup it also
    deletes the orphan objects (data or globals objects in a backup folder that never got a manifest, 24 hours
    after they were written), returned as RV(orphans).
  - Records the database's owner, its settings (C(ALTER DATABASE ... SET), C(ALTER ROLE ... IN DATABASE ... SET))
    and its ACL (C(GRANT ... ON DATABASE)) in the manifest (C(owner), C(database_properties)); M(runbook.ops.db_restore)
    applies them to the restored database.
  - Before it writes, removes what earlier runs killed before they could clean up left in the store (hidden temp
    files of a local store, pending multipart uploads on S3), recognised by their marker and age, and returns them as
    RV(swept). M(runbook.ops.db_backup_info) lists them as RV(runbook.ops.db_backup_info#module:leftovers).
  - The whole run is bounded by O(timeout); each S3 request by O(s3_connect_timeout), O(s3_read_timeout) and
    O(s3_max_attempts).
  - The password reaches C(pg_dump) through the E(PGPASSWORD) environment variable, never argv.
  - With O(engine=mysql), streams C(mariadb-dump) (or C(mysqldump)) C(--single-transaction --quick --routines
    --triggers --events) the same way; its row counts come from a snapshot taken at the same moment as the dump's
    (both start while the tables are read-locked for a moment); non-transactional tables are refused unless
    O(allow_locking=true); O(globals=true) stores the users and grants (C(SHOW CREATE USER), C(SHOW GRANTS)).
author:
  - runbook.ops maintainers (@runbook-ops)
extends_documentation_fragment:
  - runbook.ops.postgres
  - runbook.ops.backup_store
  - runbook.ops.backup_store.s3
  - runbook.ops.mysql.engine
attributes:
  check_mode:
    description: Can run in check mode; it checks the server, the tools and the store and returns the retention plan
      (what would be kept or deleted and why) without writing or deleting anything.
    support: full
  diff_mode:
    description: Returns no diff; the result holds the manifest and the retention plan.
    support: none
  idempotent:
    description: Every run makes a new backup.
    support: none
options:
  db:
    description:
      - Name of the database to back up.
    type: str
    required: true
  compression:
    description:
      - Compression of the data (and globals) object, done by the C(zstd) or C(gzip) program in its own process.
    type: str
    default: zstd
    choices: [zstd, gzip, none]
  compression_level:
    description:
      - Compression level. Defaults to 1 for zstd (its fastest level), 6 for gzip.
      - C(zstd) runs beside C(pg_dump) and the server on the same cores, so its level sets the backup's speed. On a
        less-compressible table (bench/backup, 3M rows of md5 text, a 497 MiB dump on 2 cores) level 1 backed up
        about 1.3 times faster than level 3 for about 7% more bytes, and 5 times faster than C(pg_dump | gzip).
        Raise it (3, zstd's own default, or more) when store space matters more than the backup window.
    type: int
  compression_threads:
    description:
      - Worker threads of C(zstd) (C(-T)).
    type: int
    default: 2
  row_counts:
    description:
      - How the per-table row counts of the manifest are taken, always in the dump's own snapshot.
      - V(exact) counts the rows of every table (one backend, without parallel workers) while the dump streams.
        M(runbook.ops.db_restore) then requires exactly these counts in the restored copy. The count is a second
        scan of every table, so on a busy or small server it competes with C(pg_dump) for CPU and I/O (on a pgbench
        scale-100 database on 2 cores its cost was lost in the noise of the bench; C(timings.count_wait_s) shows
        when it outlasts the dump).
      - V(estimate) records the planner's estimate (C(pg_class.reltuples), as of the last VACUUM or ANALYZE; null for
        a table never analyzed) at no cost. M(runbook.ops.db_restore) reports the restored counts next to the
        estimates and requires only that every table of the manifest exists in the restored copy.
      - V(none) records the list of tables only; M(runbook.ops.db_restore) requires that every one exists.
      - The checksum and size of the data are verified before every restore whatever this option says.
    type: str
    default: exact
    choices: [exact, estimate, none]
  globals:
    description:
      - Also store C(pg_dumpall --globals-only) (roles, tablespaces), referenced in the manifest. Needs a superuser.
    type: bool
    default: false
  allow_locking:
    description:
      - With O(engine=mysql), back up a database holding non-transactional tables (MyISAM, Aria, ...) by holding a
        read lock on all its tables for the whole dump (writers wait). Without it such a database is refused,
        because C(--single-transaction) cannot dump those tables consistently.
    type: bool
    default: false
  tags:
    description:
      - Free-form labels stored in the manifest (for example the release id of a pre-deploy backup).
    type: dict
    default: {}
  retention:
    description:
      - Which backups of this database to keep after the new one is committed. A backup is kept when any rule keeps
        it; the newest valid backup is always kept, and invalid backups are left alone.
      - When the option is left out, or is empty, nothing is deleted.
      - In every rule V(0) means B(this rule is off), the same as leaving the rule out. A policy whose rules are
        all V(0) (for example O(retention.keep_last=0) alone) is refused before the backup starts, because no rule would say what
        to keep; it never means "keep only the newest". Negative values are refused too.
    type: dict
    suboptions:
      daily:
        description: Keep the newest backup of each of the N most recent days (UTC) that have backups. V(0) is off.
        type: int
      weekly:
        description: Keep the newest backup of each of the N most recent ISO weeks (ISO year and week) that have
          backups. V(0) is off.
        type: int
      monthly:
        description: Keep the newest backup of each of the N most recent months (year and month, so V(24) spans two
          years) that have backups. V(0) is off.
        type: int
      yearly:
        description: Keep the newest backup of each of the N most recent years that have backups. V(0) is off.
        type: int
      keep_last:
        description: Keep the N newest backups. V(0) is off.
        type: int
      max_age_days:
        description: Keep the backups younger than N days. V(0) is off.
        type: int
  timeout:
    description:
      - Overall deadline of the run in seconds (preflight, sweep, dump, upload and retention). When it expires the
        dump is stopped, the partial object or multipart upload is removed, and the task fails saying so.
      - Aborting an S3 upload after the deadline can take up to O(s3_read_timeout) times O(s3_max_attempts) more.
      - V(0) turns the deadline off.
    type: int
    default: 86400
  bin_dir:
    description:
      - Directory holding C(pg_dump) and C(pg_dumpall), for example C(/usr/lib/postgresql/16/bin). Default is the
        C(PATH). The module fails early when C(pg_dump) is older than the server.
    type: path
requirements:
  - pg_dump (and pg_dumpall with O(globals=true)) at least as new as the server
  - zstd or gzip on the C(PATH) for those compressions
  - with O(engine=mysql), mariadb-dump or mysqldump, and PyMySQL
notes:
  - The store layout and the manifest fields are described in the C(backup_store) module_utils docstring.
seealso:
  - module: runbook.ops.db_backup_info
  - module: runbook.ops.db_restore
'''

EXAMPLES = r'''
- name: Nightly backup to S3 with GFS retention
  runbook.ops.db_backup:
    db: app
    login_host: db1.internal
    login_password: "{{ vault_pg_password }}"
    store: s3://acme-backups/postgres/app
    s3_sse: AES256
    retention:
      daily: 7
      weekly: 4
      monthly: 12

- name: Pre-deploy backup to a local store, tagged with the release
  runbook.ops.db_backup:
    db: app
    store: /var/backups/postgres
    globals: true
    tags:
      release: "{{ release_id }}"
    retention:
      keep_last: 10
  register: predeploy_backup

- name: Hourly backup of a large database, without the cost of exact row counts
  runbook.ops.db_backup:
    db: app
    store: s3://acme-backups/postgres/app
    row_counts: estimate
    retention:
      keep_last: 24

- name: Show what retention would delete, touching nothing
  runbook.ops.db_backup:
    db: app
    store: s3://acme-backups/postgres/app
    retention:
      max_age_days: 30
  check_mode: true
  register: plan

- name: Ten years of yearly backups plus a month of dailies; fail fast on a stuck S3 endpoint
  runbook.ops.db_backup:
    db: app
    store: s3://acme-backups/postgres/app
    s3_read_timeout: 30
    s3_max_attempts: 2
    timeout: 7200
    retention:
      daily: 31
      yearly: 10
'''

RETURN = r'''
backup_id:
  description: Id of the new backup (in check mode, the id it would get).
  returned: success
  type: str
  sample: 20260131T020000Z-app-3f9a1c
store:
  description: The store, without secrets.
  returned: success
  type: str
  sample: s3://acme-backups/postgres/app
key:
  description: Key of the data object relative to the store root.
  returned: success
  type: str
  sample: 20260131T020000Z-app-3f9a1c/data.dump.zst
database:
  description: The database backed up.
  returned: success
  type: str
  sample: app
manifest:
  description: The manifest written (empty in check mode).
  returned: success
  type: dict
  sample:
    id: 20260131T020000Z-app-3f9a1c
    engine: postgresql
    server_version: "15.18"
    database: app
    created_at: "2026-01-31T02:00:00.000000Z"
    duration_s: 12.5
    format: custom
    compression: zstd
    size: 104857600
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    tables: [{schema: public, table: orders, rows: 120000}]
    row_counts: exact
    pg_dump_version: "15.18"
    globals: null
    owner: app_owner
    database_properties: {settings: [{role: null, name: work_mem, value: 64MB}],
                          acl: [{grantee: app_ro, privilege: CONNECT, grantable: false}]}
    tags: {release: "20260131T015500Z"}
pruned:
  description: Ids of the backups deleted by retention (in check mode, those that would be).
  returned: success
  type: list
  elements: str
  sample: [20260101T020000Z-app-a1b2c3]
retention:
  description: The retention plan, newest first; action is keep, delete or ignore (invalid backups).
  returned: success
  type: list
  elements: dict
  sample: [{id: 20260131T020000Z-app-3f9a1c, created_at: "2026-01-31T02:00:00.000000Z", action: keep,
            reasons: [newest valid backup, daily 2026-01-31]}]
timings:
  description: Seconds spent in preflight, dump (pg_dump, compression and upload), retention, and in total;
    C(count_wait_s) is how long the exact row counts ran on after the dump had ended (only with O(row_counts=exact)),
    C(commit_s) the part of C(dump_s) spent committing the data object (the fsync and rename of a local store, the
    last parts and the completion of an S3 multipart upload).
    With O(engine=mysql) also C(snapshot_s) (taking the lock and the consistent snapshot), C(lock_held_s) (how long
    writers waited while the dump started its transaction) and C(count_s) (the exact row counts, run beside the dump
    from the same snapshot).
  returned: success
  type: dict
  sample: {preflight_s: 0.2, dump_s: 11.9, count_wait_s: 0.0, commit_s: 0.4, retention_s: 0.3, total_s: 12.5}
swept:
  description:
    - What earlier runs, killed before they could clean up, left in the store and this run removed (in check mode,
      what it would remove); the same shape as RV(runbook.ops.db_backup_info#module:leftovers).
    - Only leftovers recognised by the marker of the writer are removed, and only once their writer cannot still be
      running (its process is gone on this host, or it has not written for 24 hours).
  returned: success
  type: list
  elements: dict
  sample: [{key: 20260130T020000Z-app-1a2b3c/.data.dump.zst.rbo-tmp.5bce98f7.4242.0a1b2c3d, kind: temporary_file,
            size: 1048576, age_s: 86000.0, stale: true,
            reason: left by a db_backup run (pid 4242 on this host) that no longer runs}]
orphans:
  description:
    - Objects of backups that never got a manifest (a run killed after its data object was committed, a prune
      stopped half-way) that this run deleted after a successful backup, whatever the retention policy (in check
      mode, what it would delete).
    - Only objects named like a writer's (C(data.dump*), C(globals.sql*)) in a backup-id folder that holds no
      manifest, and only once neither the backup id nor the object was written for 24 hours, so a backup still
      being written is never touched. An object of a backup that has a manifest is never an orphan.
  returned: success with O(engine=postgresql)
  type: list
  elements: dict
  sample: [{key: 20260130T020000Z-app-1a2b3c/data.dump.zst, kind: orphan_object, size: 1048576, age_s: 90000.0,
            stale: true, reason: backup 20260130T020000Z-app-1a2b3c has no manifest and this object was written
            90000 s ago (more than 86400 s)}]
peak_rss_mib:
  description: Peak resident memory of the module process in MiB (the S3 upload keeps a bounded number of parts in
    memory; pg_dump and the compressor run in their own processes).
  returned: success and not check mode
  type: float
  sample: 98.4
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: backed up "app" as 20260131T020000Z-app-3f9a1c (104857600 bytes, zstd)
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils import backup_store
from ansible_collections.runbook.ops.plugins.module_utils import mysql
from ansible_collections.runbook.ops.plugins.module_utils import mysql_backup
from ansible_collections.runbook.ops.plugins.module_utils import pg_backup
from ansible_collections.runbook.ops.plugins.module_utils.postgres import (
    HAS_PSYCOPG, PSYCOPG_IMP_ERR, postgres_argument_spec)


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(backup_store.store_argument_spec())
    spec.update(
        db=dict(type='str', required=True),
        compression=dict(type='str', default='zstd', choices=['zstd', 'gzip', 'none']),
        compression_level=dict(type='int'),
        compression_threads=dict(type='int', default=2),
        row_counts=dict(type='str', default='exact', choices=['exact', 'estimate', 'none']),
        globals=dict(type='bool', default=False),
        tags=dict(type='dict', default={}),
        retention=dict(type='dict', options=dict(
            daily=dict(type='int'), weekly=dict(type='int'), monthly=dict(type='int'), yearly=dict(type='int'),
            keep_last=dict(type='int'), max_age_days=dict(type='int'))),
        timeout=dict(type='int', default=86400),
        bin_dir=dict(type='path'),
        allow_locking=dict(type='bool', default=False),
    )
    spec.update(mysql.engine_argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), required_by=backup_store.store_required_by(),
                           supports_check_mode=True)
    engine = mysql_backup if module.params['engine'] == 'mysql' else pg_backup
    if engine is pg_backup and not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib('psycopg'), exception=PSYCOPG_IMP_ERR)
    if engine is mysql_backup and not mysql.HAS_PYMYSQL:
        module.fail_json(msg=missing_required_lib('PyMySQL'), exception=mysql.PYMYSQL_IMP_ERR)
    backup_store.require_boto3(module, module.params['store'])
    if module.params['compression_threads'] < 1:
        module.fail_json(msg='Could not back up: compression_threads must be at least 1.')
    engine.install_signal_handlers()
    try:
        result = engine.run_backup(module.params, check_mode=module.check_mode)
    except (pg_backup.BackupError, mysql.MysqlError) as e:
        module.fail_json(msg=str(e))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
