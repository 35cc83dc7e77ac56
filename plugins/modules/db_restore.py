#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: db_restore
short_description: Restore a PostgreSQL backup from a backup store into a scratch database, verify it, then swap it in
version_added: 0.1.0
description:
  - Selects a valid backup written by M(runbook.ops.db_backup), downloads it to a private temp directory and checks its
    size and sha256 against the manifest B(before) touching any database. A mismatch fails, naming the backup and
    both checksums.
  - Restores into a new scratch database with C(pg_restore --exit-on-error --jobs N) (globals first when asked), then
    counts the rows of every table and compares them with the manifest.
  - O(mode=verify) drops the scratch copy afterwards (a test restore). O(mode=new) leaves it as O(target_db).
    O(mode=replace) blocks new connections to the live database, terminates its sessions and, in one transaction,
    renames it to C(<db>_pre_restore_<UTC timestamp>) and the verified copy to C(<db>); the previous copy is kept
    unless O(keep_previous=false).
  - Nothing live is dropped or renamed before the copy is verified; on any failure (or SIGTERM) the scratch database
    is dropped. When the swap itself fails after new connections to the live database were blocked, the block is
    undone on a new connection, and the failure message says what happened to the live database.
  - O(mode=replace) over an existing O(target_db) restores only a backup of O(target_db) itself, unless
    O(source_db) names another database and O(allow_cross_database=true) confirms it (a replace into a database that
    does not exist overwrites nothing and follows the rules of O(mode=new)). V(latest) or V(before:...) on a store
    holding backups of several databases needs O(target_db) (replace) or O(source_db) (new); O(mode=verify) takes
    the newest valid backup of any database and returns its RV(source_db).
  - "Leftovers: every run first looks for what earlier runs left after being killed or losing the server: scratch
    databases and temp directories it created, and a live database left refusing connections during a swap. They
    are recognised by a runbook.ops marker (a C(COMMENT ON DATABASE) with the run id, host, pid and the key of an
    advisory lock the run holds while alive; a C(.runbook-ops-restore.json) file in the temp directory), never by
    their name alone. A scratch database is dropped, a blocked database gets back its connection setting and
    comment, a temp directory of this host whose process is gone is removed; see RV(swept) and RV(repaired)."
  - A scratch database killed between its C(CREATE DATABASE) and its marker (a few milliseconds) is not recognised
    and has to be dropped by hand.
  - The restored database gets the owner recorded in the backup (when that role exists), then its database-level
    settings (C(ALTER DATABASE ... SET), C(ALTER ROLE ... IN DATABASE ... SET)) and its ACL (C(GRANT ... ON DATABASE))
    from the manifest; a setting or grant naming a role that does not exist on the target is skipped and named in
    RV(database_properties) and a warning. O(no_owner=true) skips the ACL. Backups made before this field existed
    restore as before.
  - Returns the backup's age (the RPO this restore achieves) and the time taken (the RTO part).
  - With O(engine=mysql) the same steps run on MySQL/MariaDB (C(mariadb) client). The scratch database is
    C(rbo_restore_<12 hex>) holding a marker table, the run holds the named lock of that name, and O(mode=replace)
    moves every table with ONE atomic C(RENAME TABLE) (the previous tables into C(<db>_pre_restore_<timestamp>)),
    then recreates views, triggers and routines and moves events explicitly. O(jobs) does not apply.
  - "With O(engine=mysql) and O(globals=true), the users and grants stored by the backup (C(SHOW CREATE USER),
    C(SHOW GRANTS)) are applied after the data is in place: a missing account is created with its stored password
    hash, an existing account is never re-created and keeps its password (the C(IDENTIFIED ...) clause MariaDB
    prints in C(SHOW GRANTS) is left out of every grant), grants it already holds are skipped, and grants are
    added, never revoked. O(mode=verify) and check mode only plan them (RV(globals)). The statements run through
    the client library: no password or hash reaches an argv, a result or a message."
  - O(backup) may also name a dump made without this collection (C(s3://bucket/key.sql.gz) or an absolute path;
    gzip, zstd or none detected from its first bytes, never from its name). It is downloaded and checked, then
    restored into a scratch database first, then O(mode) verify, replace or new works as for a backup of the
    collection (same scratch marker, sweep and swap). With no manifest there is nothing to verify the counts
    against; they are reported (RV(verification)) and the result says so. O(mode=replace) and O(mode=new) need
    O(target_db); O(globals) does not apply.
  - "O(engine=postgresql) adopts a plain-SQL C(pg_dump) output (seed 002's C(pg_dump db > backup.sql)), run by
    C(psql -v ON_ERROR_STOP=1 --single-transaction) in the scratch database (the first error rolls the whole load
    back), or a custom-format (C(-Fc)) archive, run by C(pg_restore). A plain dump is read before any database is
    touched and refused when it holds a psql meta-command other than C(\\restrict)/C(\\unrestrict) (C(\\connect):
    made with C(pg_dump --create) or C(pg_dumpall)) or a statement on what lives outside one database (C(CREATE|ALTER|DROP
    DATABASE|ROLE|USER|TABLESPACE), C(COMMENT ON DATABASE), C(GRANT ... ON DATABASE)); such a dump is refused, not
    rewritten. O(no_owner=true) leaves out its whole-line C(ALTER ... OWNER TO), C(GRANT) and C(REVOKE) statements.
    O(mode=replace) gives the new database the owner, settings and ACL of the live one. The dump is SQL run with the
    login's rights: adopt only dumps you trust."
  - O(engine=mysql) refuses an adopted dump that names databases (C(USE) or C(CREATE DATABASE), written by
    C(--databases) or C(--all-databases)).
author:
  - runbook.ops maintainers (@runbook-ops)
extends_documentation_fragment:
  - runbook.ops.postgres
  - runbook.ops.backup_store
  - runbook.ops.backup_store.s3
  - runbook.ops.mysql.engine
attributes:
  check_mode:
    description: Selects the backup and checks the server, the target and the tools, and reports what would be done
      without downloading the data or changing anything; leftovers of earlier runs are only reported (RV(swept),
      RV(repaired)), not removed. With O(engine=mysql) and O(globals=true) the (small) globals object is read to
      plan the accounts (RV(globals)).
    support: full
  diff_mode:
    description: Returns no diff.
    support: none
  idempotent:
    description: O(mode=replace) restores again on every run; O(mode=verify) changes nothing; O(mode=new) fails when the
      target exists.
    support: none
options:
  backup:
    description:
      - Which backup to restore. V(latest), a backup id, or V(before:<ISO 8601 time>) for the newest valid backup
        taken strictly before that time (naive times are UTC). Invalid backups are never chosen.
      - Also C(s3://bucket/key) (read with the S3 options) or an absolute path of a dump made without this
        collection (both engines); see the description.
    type: str
    default: latest
  source_db:
    description:
      - Only consider the backups of this database (as recorded in their manifests). Set it when the store holds
        backups of several databases.
      - With O(mode=replace) it defaults to O(target_db); naming another database also needs
        O(allow_cross_database=true) when O(target_db) exists.
    type: str
  allow_cross_database:
    description:
      - Confirm that O(mode=replace) may overwrite the existing O(target_db) with a backup of another database,
        named by O(source_db). Without it such a replace is refused and nothing is changed.
    type: bool
    default: false
  mode:
    description:
      - V(verify) restores into a scratch database, verifies and drops it.
      - V(replace) swaps the verified copy in place of O(target_db), keeping the previous one unless
        O(keep_previous=false).
      - V(new) leaves the verified copy as O(target_db), which must not exist.
    type: str
    default: verify
    choices: [verify, replace, new]
  target_db:
    description:
      - The database to replace or create. Defaults to the database recorded in the manifest.
    type: str
  keep_previous:
    description:
      - With O(mode=replace), keep the previous live database as C(<db>_pre_restore_<timestamp>).
    type: bool
    default: true
  globals:
    description:
      - Restore the backup's globals (roles, tablespaces) first with psql. Roles that already exist are left as they
        are. Needs a superuser and a backup made with globals.
      - With O(engine=mysql), the backup's users and grants, applied after the data (see the description); needs
        the C(CREATE USER) privilege and the privileges to grant, and a backup made with O(globals=true).
    type: bool
    default: false
  jobs:
    description:
      - Parallel jobs of pg_restore.
    type: int
    default: 2
  no_owner:
    description:
      - Pass C(--no-owner --no-acl) to pg_restore (restore as the login user, without grants), and leave out the
        database's own ACL recorded in the backup.
    type: bool
    default: false
  verify_row_counts:
    description:
      - Count the rows of every table of the manifest in the restored copy and check them before going on.
      - A backup made with O(runbook.ops.db_backup#module:row_counts=exact) (the default, and every backup whose
        manifest has no C(row_counts) field) must match its counts exactly.
      - A backup made with C(row_counts=estimate) or C(row_counts=none) has no exact counts to compare with; every
        table of its manifest must exist in the restored copy, and the counts are reported next to the estimates
        (C(verification.row_counts) says which kind they are) without failing on a difference.
    type: bool
    default: true
  tmp_dir:
    description:
      - Directory for the downloaded, decompressed archive (it needs about the uncompressed dump size). Default is
        the system temp directory. It gets a private C(rbo-restore-*) directory (mode 0700, files 0600); leftovers
        of killed runs are looked for here.
    type: path
  bin_dir:
    description:
      - Directory holding C(pg_restore) and C(psql). Default is the C(PATH).
    type: path
requirements:
  - pg_restore at least as new as the pg_dump that wrote the backup
  - zstd or gzip for compressed backups
  - with O(engine=mysql), the mariadb (or mysql) client and PyMySQL
seealso:
  - module: runbook.ops.db_backup
  - module: runbook.ops.db_backup_info
'''

EXAMPLES = r'''
- name: Test-restore the latest backup (seed 004's backup verification)
  runbook.ops.db_restore:
    store: s3://acme-backups/postgres/app
    source_db: app
    mode: verify
  register: check

- name: Replace app with the newest backup taken before the incident, keeping the current one
  runbook.ops.db_restore:
    store: /var/backups/postgres
    source_db: app
    backup: before:2026-01-31T09:15:00Z
    mode: replace
    jobs: 4

- name: Restore the backup of app into app_staging (a cross-database replace must be confirmed)
  runbook.ops.db_restore:
    store: /var/backups/postgres
    source_db: app
    target_db: app_staging
    allow_cross_database: true
    mode: replace

- name: Restore seed 002's nightly plain dump (pg_dump app | gzip > backup.sql.gz) as a new database
  runbook.ops.db_restore:
    store: s3://acme-backups/nightly
    backup: s3://acme-backups/nightly/backup-2026-01-31.sql.gz
    mode: new
    target_db: app_restored

- name: Replace shop on MariaDB with the latest backup and bring back its users and grants
  runbook.ops.db_restore:
    engine: mysql
    login_user: admin
    login_password: "{{ vault_mysql_admin_password }}"
    store: /var/backups/mysql
    target_db: shop
    mode: replace
    globals: true

- name: Restore a given backup next to the live one
  runbook.ops.db_restore:
    store: s3://acme-backups/postgres/app
    backup: 20260131T020000Z-app-3f9a1c
    mode: new
    target_db: app_investigation
'''

RETURN = r'''
adopted:
  description:
    - With a dump named by path or C(s3://) URL, where it came from (C(source)), the compression detected and its
      sha256; with O(engine=postgresql) also its C(format) (V(plain) or V(custom)), C(size) (bytes stored) and, with
      O(no_owner=true), C(left_out) (owner and grant statements left out).
  returned: success with an adopted dump
  type: dict
  sample: {source: s3://yeto-backups/backup-2026-01-31.sql.gz, compression: gzip, format: plain, size: 48213,
           sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
globals:
  description:
    - With O(engine=mysql) and O(globals=true), the users and grants of the backup. C(accounts) (how many),
      C(created) (accounts created, or that would be), C(kept) (accounts that exist, left with their password),
      C(grants) (grants added, or that would be) and C(applied) (false in check mode and with O(mode=verify)).
  returned: success with engine mysql and globals
  type: dict
  sample: {accounts: 3, created: ["`app`@`%`"], kept: ["`report`@`10.0.0.%`", "`admin`@`localhost`"], grants: 2,
           applied: true}
backup_id:
  description: The backup restored.
  returned: success
  type: str
  sample: 20260131T020000Z-app-3f9a1c
backup_created_at:
  description: When the backup was taken (UTC).
  returned: success
  type: str
  sample: "2026-01-31T02:00:00.000000Z"
backup_age_s:
  description: Age of the backup when the restore started, the RPO this restore achieves.
  returned: success
  type: float
  sample: 3600.5
mode:
  description: The mode used.
  returned: success
  type: str
  sample: replace
source_db:
  description: The database the backup was taken from.
  returned: success
  type: str
  sample: app
target_db:
  description: The database replaced or created; null with O(mode=verify).
  returned: success
  type: str
  sample: app
previous_db:
  description: Name the previous live database was renamed to (O(mode=replace) with O(keep_previous=true)).
  returned: success
  type: str
  sample: app_pre_restore_20260131101500
scratch_db:
  description: The scratch database the backup was restored into.
  returned: success
  type: str
  sample: rbo_restore_3f9a1c2b4d5e
verification:
  description: Checks done; C(checksum) and C(size) (expected, actual, ok), C(row_counts) (the manifest's kind of
    counts, exact, estimate or none), C(tables) (schema, table, expected, actual, ok), C(rows) (total) and
    C(ok). For an adopted dump C(ok) is null and C(summary) says there was no manifest to verify the counts
    against.
  returned: success
  type: dict
  sample: {checksum: {expected: 9f86d0..., actual: 9f86d0..., ok: true}, rows: 120000, ok: true, row_counts: exact,
           tables: [{schema: public, table: orders, expected: 120000, actual: 120000, ok: true}]}
database_properties:
  description:
    - What the restored database got from the backup's record of its database-level properties (O(engine=postgresql))
      as C(owner) (null when that role does not exist here), the number of C(settings) and C(grants) applied, and
      what was C(skipped) (a role that does not exist here, the ACL with O(no_owner=true)).
  returned: success, not check mode, engine postgresql
  type: dict
  sample: {owner: app_owner, settings: 3, grants: 4, skipped: ['grant of CONNECT to "reporting" (the role does not
           exist here)']}
timings:
  description:
    - Seconds spent in preflight, download, restore, verify, switch and in total (the RTO part), the same keys for
      both engines; C(switch_s) is the drop of the scratch database with O(mode=verify), the move into the target
      otherwise.
    - With O(engine=mysql) each phase ends where the next begins, so the phases add up to C(total_s) (up to
      rounding). Check mode returns C(preflight_s) only.
  returned: success
  type: dict
  sample: {preflight_s: 0.1, download_s: 2.0, restore_s: 10.2, verify_s: 0.4, switch_s: 0.1, total_s: 12.8}
swept:
  description:
    - Leftovers of earlier, killed runs removed before this run (in check mode, what would be removed).
    - C(type) is V(scratch_database) or V(temp_dir); C(name) the database or the path; C(run), C(host), C(pid) and
      C(started_at) identify the run that left it (from its marker).
  returned: success and failure after the server was reached
  type: list
  elements: dict
  sample: [{type: scratch_database, name: rbo_restore_3f9a1c2b4d5e, run: 9c1f0e2a7b3d4c5e, host: db1, pid: 4242,
            started_at: "2026-01-31T10:15:00.000000Z"}]
repaired:
  description:
    - Databases an earlier run left refusing connections in the middle of its swap, given back their connection
      setting and comment before this run (in check mode, what would be repaired).
    - C(database), C(allow_connections) (the setting put back), C(run), C(host), C(pid), C(started_at).
  returned: success and failure after the server was reached
  type: list
  elements: dict
  sample: [{database: app, allow_connections: true, run: 9c1f0e2a7b3d4c5e, host: db1, pid: 4242,
            started_at: "2026-01-31T10:15:00.000000Z"}]
store:
  description: The store, without secrets.
  returned: success
  type: str
  sample: s3://acme-backups/postgres/app
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: >-
    replaced "app" with backup 20260131T020000Z-app-3f9a1c of "app" (previous copy kept as
    "app_pre_restore_20260131101500")
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils import backup_store
from ansible_collections.runbook.ops.plugins.module_utils import mysql
from ansible_collections.runbook.ops.plugins.module_utils import mysql_restore
from ansible_collections.runbook.ops.plugins.module_utils import pg_backup
from ansible_collections.runbook.ops.plugins.module_utils import pg_restore
from ansible_collections.runbook.ops.plugins.module_utils.postgres import (
    HAS_PSYCOPG, PSYCOPG_IMP_ERR, postgres_argument_spec)


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(backup_store.store_argument_spec())
    spec.update(
        backup=dict(type='str', default='latest'),
        source_db=dict(type='str'),
        allow_cross_database=dict(type='bool', default=False),
        mode=dict(type='str', default='verify', choices=['verify', 'replace', 'new']),
        target_db=dict(type='str'),
        keep_previous=dict(type='bool', default=True),
        globals=dict(type='bool', default=False),
        jobs=dict(type='int', default=2),
        no_owner=dict(type='bool', default=False),
        verify_row_counts=dict(type='bool', default=True),
        tmp_dir=dict(type='path'),
        bin_dir=dict(type='path'),
    )
    spec.update(mysql.engine_argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), required_by=backup_store.store_required_by(),
                           required_if=[('mode', 'new', ('target_db',))], supports_check_mode=True)
    engine = mysql_restore if module.params['engine'] == 'mysql' else pg_restore
    if engine is pg_restore and not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib('psycopg'), exception=PSYCOPG_IMP_ERR)
    if engine is mysql_restore and not mysql.HAS_PYMYSQL:
        module.fail_json(msg=missing_required_lib('PyMySQL'), exception=mysql.PYMYSQL_IMP_ERR)
    backup_store.require_boto3(module, module.params['store'])
    if module.params['jobs'] < 1:
        module.fail_json(msg='Could not restore: jobs must be at least 1.')
    if engine is mysql_restore:
        mysql_restore.install_signal_handlers()
    else:
        pg_backup.install_signal_handlers()
    try:
        result = engine.run_restore(module.params, check_mode=module.check_mode)
    except (pg_backup.BackupError, mysql.MysqlError) as e:
        msg = str(e)
        if not msg.startswith('Could not'):
            msg = 'Could not restore: %s. The live database was not touched.' % msg
        module.fail_json(msg=msg, **getattr(e, 'extra', {}))
    warnings = result.pop('warnings')
    for w in warnings:
        module.warn(w)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
