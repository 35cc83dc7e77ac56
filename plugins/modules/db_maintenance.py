#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: db_maintenance
short_description: VACUUM/ANALYZE, REINDEX of bloated indexes and termination of stuck sessions on PostgreSQL
version_added: 0.1.0
description:
  - Runs a PostgreSQL maintenance window on one database, on one autocommit connection, in this order.
  - Sets O(lock_timeout) and O(statement_timeout) for the session, then checks C(pg_is_in_recovery); a standby is
    skipped or refused (O(on_standby)).
  - Resolves O(tables) (every user table by default). An unknown table fails the task before anything is done.
  - Terminates sessions (C(pg_terminate_backend)) idle in transaction for longer than
    O(terminate_idle_in_transaction_s), plain idle (connected, doing nothing) for longer than O(terminate_idle_s) or
    running a query for longer than O(terminate_running_longer_than_s), never its own session, nor those of
    O(terminate_exclude_applications) or O(terminate_exclude_users). Each terminated session is reported with its
    pid, user, application, client, state, seconds in that state, query (truncated, password literals masked), the
    rule that chose it and the operator's O(terminate_reason).
  - Runs C(VACUUM) with the C(ANALYZE) option, C(VACUUM) or C(ANALYZE) on each table; O(vacuum_min_dead_tuples) limits the vacuum to
    tables with that many dead tuples (C(pg_stat_user_tables.n_dead_tup)); the others are only analyzed.
  - Estimates the bloat of every btree index of those tables and, with O(reindex=true), runs
    C(REINDEX INDEX CONCURRENTLY) on those over both O(reindex_min_bloat_pct) and O(reindex_min_size_mb). The bloat
    comes from pgstattuple's C(pgstatindex) (C(avg_leaf_density) compared with the index fillfactor) when the
    extension is installed in that database, and from the well-known statistics-based btree estimate otherwise (and
    for indexes smaller than O(reindex_min_size_mb)); each index reports the method used. Other index types are
    reported as not estimated.
  - A failed step (for example a lock timeout on one table) is reported with its error and the module goes on with
    the other steps, then fails at the end naming the failed steps, so a partial window still reports what it did.
    A failed C(REINDEX CONCURRENTLY) leaves an invalid C(<index>_ccnew) copy behind; it is dropped
    (C(DROP INDEX CONCURRENTLY)) and reported in the step's C(leftover_indexes).
  - Reports table and index sizes and dead tuples before and after, and how long each step took. A sessions-only
    run (O(vacuum), O(analyze) and O(reindex) all off) reads no table or index (RV(tables) and RV(indexes) are
    empty), so a table locked by a stuck session cannot delay the termination.
  - Identifiers reach SQL only through C(psycopg.sql.Identifier); values are query parameters.
  - With O(engine=mysql) (MySQL protocol, tested on MariaDB) the steps are C(KILL QUERY) of the queries running longer
    than O(terminate_running_longer_than_s) (never its own connection, never the users of O(terminate_exclude_users),
    never the server's threads), C(ANALYZE TABLE) (O(analyze)) and C(OPTIMIZE TABLE) of the tables whose free space
    (C(DATA_FREE)) is over both O(optimize_min_free_pct) and O(optimize_min_free_mb) (O(optimize)); O(vacuum),
    O(reindex), O(terminate_idle_in_transaction_s), O(terminate_exclude_applications), O(lock_timeout) and
    O(statement_timeout) do not apply; O(terminate_idle_s) is refused (the task fails before connecting). A replica
    (C(SHOW ALL SLAVES STATUS)) is handled by O(on_standby).
author:
  - runbook.ops maintainers (@runbook-ops)
extends_documentation_fragment:
  - runbook.ops.postgres
  - runbook.ops.mysql.engine
attributes:
  check_mode:
    description: Connects, resolves the tables, reads the sessions and the index bloat, and returns the RV(plan) (what
      would be terminated, vacuumed, analyzed and reindexed, and why) without changing anything. C(changed) is true
      when the plan is not empty. The bloat used in check mode is read before any vacuum, so a real run, which
      estimates after vacuum and analyze, may decide slightly differently.
    support: full
  diff_mode:
    description: Returns no diff; the result holds the plan and the before/after report.
    support: none
  idempotent:
    description: Not strictly. VACUUM and ANALYZE run again on every run (they are safe to repeat) and report
      changed; a second run does not reindex an index that the first one rebuilt, and finds no session to terminate
      unless new ones got stuck.
    support: none
options:
  db:
    description:
      - The database to work on.
    type: str
    required: true
  tables:
    description:
      - Tables to work on, as V(schema.table) or V(table) (schema C(public)). Names are case-sensitive and taken
        literally; double-quote a part that contains a dot (V("my.schema"."my.table")).
      - Empty (the default) means every user table of O(db) (partitioned parents excluded, their partitions
        included).
      - An unknown table fails the task, listing it, before anything is done.
    type: list
    elements: str
    default: []
  vacuum:
    description:
      - Run C(VACUUM) on the tables (with the C(ANALYZE) option together with O(analyze)).
    type: bool
    default: true
  analyze:
    description:
      - Run C(ANALYZE) on the tables (in the same C(VACUUM) together with O(vacuum)).
    type: bool
    default: true
  vacuum_min_dead_tuples:
    description:
      - Only vacuum tables with at least this many dead tuples (C(pg_stat_user_tables.n_dead_tup)); the others are
        only analyzed when O(analyze=true). V(0) vacuums every selected table.
    type: int
    default: 0
  reindex:
    description:
      - Rebuild the indexes of the selected tables whose bloat is at least O(reindex_min_bloat_pct) and whose size is
        at least O(reindex_min_size_mb).
    type: bool
    default: false
  reindex_min_bloat_pct:
    description:
      - Minimum estimated bloat, in percent of the index size, for a rebuild.
    type: float
    default: 30
  reindex_min_size_mb:
    description:
      - Minimum index size in MiB for a rebuild. Smaller indexes are estimated with the cheap statistics-based
        estimate even when pgstattuple is installed.
    type: float
    default: 1
  reindex_concurrently:
    description:
      - Use C(REINDEX INDEX CONCURRENTLY) (no write lock on the table for the duration of the rebuild). V(false) uses
        C(REINDEX INDEX), which blocks writes to the table while it runs.
    type: bool
    default: true
  terminate_idle_in_transaction_s:
    description:
      - Terminate sessions in state C(idle in transaction) (or its aborted variant) for longer than
        this many seconds. Unset (the default) terminates none.
    type: int
  terminate_running_longer_than_s:
    description:
      - Terminate sessions in state C(active) whose query has been running for longer than this many seconds. Unset
        (the default) terminates none.
    type: int
  terminate_idle_s:
    description:
      - Terminate sessions in state C(idle) (connected, no transaction open, no query running) for longer than this
        many seconds, for example V(3600) to close connections a pool leaked an hour ago. Unset (the default)
        terminates none.
      - PostgreSQL only (O(engine=postgresql)).
    type: int
  terminate_reason:
    description:
      - Why the sessions are terminated (free text, for example an incident ticket). Recorded in RV(terminate_reason)
        and in every entry of RV(terminated) and of the terminate steps of RV(plan); not sent to the server.
      - The C(db_incident) role and playbook require it before terminating anything.
    type: str
  terminate_exclude_applications:
    description:
      - Never terminate sessions with one of these C(application_name)s (exact match).
    type: list
    elements: str
    default: []
  terminate_exclude_users:
    description:
      - Never terminate sessions of these roles (exact match).
    type: list
    elements: str
    default: []
  terminate_scope:
    description:
      - V(database) looks only at sessions connected to O(db); V(cluster) at sessions of every database of the
        server.
    type: str
    default: database
    choices: [database, cluster]
  lock_timeout:
    description:
      - C(lock_timeout) of the session, a PostgreSQL duration (V(5s), V(500ms), V(0) for none). A step that cannot
        get its lock in time fails and the others go on.
    type: str
    default: 5s
  statement_timeout:
    description:
      - C(statement_timeout) of the session, a PostgreSQL duration; V(0) (the default) means no limit.
    type: str
    default: '0'
  optimize:
    description:
      - With O(engine=mysql), run C(OPTIMIZE TABLE) on the selected tables over both fragmentation thresholds.
    type: bool
    default: false
  optimize_min_free_pct:
    description:
      - With O(engine=mysql), minimum free space (C(DATA_FREE)) in percent of the table (data, indexes and free space)
        for C(OPTIMIZE TABLE).
    type: float
    default: 20
  optimize_min_free_mb:
    description:
      - With O(engine=mysql), minimum free space (C(DATA_FREE)) in MiB for C(OPTIMIZE TABLE).
    type: float
    default: 10
  on_standby:
    description:
      - What to do when the server is a standby (C(pg_is_in_recovery)). V(skip) returns RV(skipped=true) and
        changes nothing; V(fail) fails the task.
    type: str
    default: skip
    choices: [skip, fail]
notes:
  - Seeing the state of other roles' sessions needs a superuser or a member of C(pg_read_all_stats), and
    terminating them a superuser or a member of C(pg_signal_backend) (superusers' sessions only by a superuser);
    otherwise those sessions are not seen, or their terminate step fails. C(pgstatindex) needs a superuser or
    C(pg_stat_scan_tables), otherwise the estimate is used. C(VACUUM) and C(ANALYZE) of a table the login role does
    not own only warn and do nothing; such steps are reported as V(skipped) with the server's warning.
  - The statistics-based estimate needs planner statistics; with O(analyze=true) they are refreshed before the
    estimate.
seealso:
  - module: runbook.ops.health_check
  - module: runbook.ops.db_backup
'''

EXAMPLES = r'''
- name: Weekly VACUUM ANALYZE and reindex of bloated indexes (seeds 002/004)
  runbook.ops.db_maintenance:
    db: app
    login_host: db1.internal
    login_user: maintenance
    login_password: "{{ vault_pg_maintenance_password }}"
    reindex: true
    reindex_min_bloat_pct: 30
    reindex_min_size_mb: 10
    lock_timeout: 5s
  register: maintenance

- name: Vacuum only the tables with many dead tuples, analyze the others
  runbook.ops.db_maintenance:
    db: app
    tables: [public.orders, public.order_items, audit.events]
    vacuum_min_dead_tuples: 10000

- name: Kill queries running for more than 10 minutes and sessions idle in transaction for 5 minutes
  runbook.ops.db_maintenance:
    db: app
    vacuum: false
    analyze: false
    terminate_running_longer_than_s: 600
    terminate_idle_in_transaction_s: 300
    terminate_exclude_applications: [pg_dump, pg_basebackup]
    terminate_exclude_users: [replicator]

- name: Close connections idle for more than an hour (seed 004), with the incident's reason
  runbook.ops.db_maintenance:
    db: app
    vacuum: false
    analyze: false
    terminate_idle_s: 3600
    terminate_exclude_applications: [pgbouncer]
    terminate_reason: "INC-1234: connection slots exhausted"
  register: incident

- name: Show what the window would do
  runbook.ops.db_maintenance:
    db: app
    reindex: true
  check_mode: true
  register: planned

- name: Run on every database host; standbys are skipped
  runbook.ops.db_maintenance:
    db: app
    on_standby: skip
'''

RETURN = r'''
db:
  description: The database worked on.
  returned: always
  type: str
  sample: app
plan:
  description: The steps decided, in order, with C(action) (V(terminate), V(vacuum), V(analyze),
    V(vacuum_analyze) or V(reindex); with O(engine=mysql) V(kill_query), V(analyze) or V(optimize)), C(target)
    (C(schema.table), C(schema.index), C(pid:N), or C(id:N) for a MySQL connection) and C(reason).
    Terminate entries also carry the fields of RV(terminated).
  returned: success and failure after the tables were resolved
  type: list
  elements: dict
  sample: [{action: vacuum_analyze, target: public.orders, reason: 120000 dead tuples},
           {action: reindex, target: public.orders_created_at_idx,
            reason: "bloat 62.0% >= 30% and size 48.00 MB >= 1 MB (pgstattuple)"}]
actions:
  description: The steps run (none in check mode) with C(action), C(target), C(reason), C(status) (V(ok), V(failed) or
    V(skipped)), C(duration_s) and C(error) (null when ok, secrets redacted). A failed concurrent reindex also has
    C(leftover_indexes), a list of C(index), C(dropped), C(error); a step the server warned about has
    C(warnings).
  returned: success and failure after the tables were resolved
  type: list
  elements: dict
  sample: [{action: vacuum_analyze, target: public.orders, reason: 120000 dead tuples, status: ok, duration_s: 4.2,
            error: null},
           {action: vacuum_analyze, target: public.sessions, reason: 3 dead tuples, status: failed, duration_s: 5.0,
            error: canceling statement due to lock timeout}]
tables:
  description: Every selected table with C(schema), C(table), C(size_bytes_before), C(size_bytes_after),
    C(dead_tuples_before), C(dead_tuples_after) and C(live_tuples) (the C(_after) values are null in check mode).
    Sizes are C(pg_table_size) (heap, TOAST, free space and visibility maps, without indexes).
  returned: success and failure after the tables were resolved
  type: list
  elements: dict
  sample: [{schema: public, table: orders, size_bytes_before: 52428800, size_bytes_after: 41943040,
            dead_tuples_before: 120000, dead_tuples_after: 0, live_tuples: 400000}]
indexes:
  description: Every index of the selected tables with C(schema), C(table), C(index), C(index_method),
    C(size_bytes_before), C(size_bytes_after) (null in check mode), C(bloat_pct) (null when not estimated),
    C(bloat_method) (V(pgstattuple), V(estimate) or V(not_estimated)), C(bloat_note), C(reindexed) and C(reason).
  returned: success and failure after the tables were resolved
  type: list
  elements: dict
  sample: [{schema: public, table: orders, index: orders_created_at_idx, index_method: btree,
            size_bytes_before: 50331648, size_bytes_after: 19136512, bloat_pct: 62.0, bloat_method: pgstattuple,
            bloat_note: null, reindexed: true,
            reason: "bloat 62.0% >= 30% and size 48.00 MB >= 1 MB (pgstattuple)"}]
terminated:
  description: Sessions terminated, with C(pid), C(user), C(application_name), C(client) (C(address:port), or
    V(local) for a Unix socket), C(database), C(state), C(duration_s) (seconds idle in transaction, idle, or running
    the query), C(query) (its first 200 characters, password literals masked), C(reason) (the rule that chose it)
    and C(terminate_reason) (O(terminate_reason)). Empty in check mode (see RV(plan)).
  returned: success and failure after the tables were resolved
  type: list
  elements: dict
  sample: [{pid: 48213, user: app, application_name: worker, client: "10.0.3.7:51422", database: app,
            state: idle in transaction, duration_s: 912.4, query: "UPDATE jobs SET state = 'running' WHERE id = $1",
            reason: idle in transaction for 912 s > terminate_idle_in_transaction_s 300,
            terminate_reason: "INC-1234: connection slots exhausted"}]
terminate_reason:
  description: O(terminate_reason) as given (null when unset).
  returned: success and failure after the server was reached
  type: str
  sample: "INC-1234: connection slots exhausted"
failed_steps:
  description: The failed steps as C(<action> <target>).
  returned: success and failure after the tables were resolved
  type: list
  elements: str
  sample: [vacuum_analyze public.sessions]
standby:
  description: Whether the server is a standby (in recovery).
  returned: success and failure after the server was reached
  type: bool
  sample: false
skipped:
  description: True when nothing was done because the server is a standby and O(on_standby=skip); Ansible then
    shows the task as skipped.
  returned: success
  type: bool
  sample: false
duration_s:
  description: Seconds the whole run took.
  returned: success and failure after the server was reached
  type: float
  sample: 12.7
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: 5 step(s) done, 0 failed, 0 skipped on postgres@db1.internal:5432/app in 12.7 s
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils import mysql
from ansible_collections.runbook.ops.plugins.module_utils import mysql_maintenance
from ansible_collections.runbook.ops.plugins.module_utils import pg_maintenance
from ansible_collections.runbook.ops.plugins.module_utils.postgres import (
    HAS_PSYCOPG, PSYCOPG_IMP_ERR, postgres_argument_spec)


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(
        db=dict(type='str', required=True),
        tables=dict(type='list', elements='str', default=[]),
        vacuum=dict(type='bool', default=True),
        analyze=dict(type='bool', default=True),
        vacuum_min_dead_tuples=dict(type='int', default=0),
        reindex=dict(type='bool', default=False),
        reindex_min_bloat_pct=dict(type='float', default=30),
        reindex_min_size_mb=dict(type='float', default=1),
        reindex_concurrently=dict(type='bool', default=True),
        terminate_idle_in_transaction_s=dict(type='int'),
        terminate_running_longer_than_s=dict(type='int'),
        terminate_idle_s=dict(type='int'),
        terminate_reason=dict(type='str'),
        terminate_exclude_applications=dict(type='list', elements='str', default=[]),
        terminate_exclude_users=dict(type='list', elements='str', default=[]),
        terminate_scope=dict(type='str', default='database', choices=['database', 'cluster']),
        lock_timeout=dict(type='str', default='5s'),
        statement_timeout=dict(type='str', default='0'),
        on_standby=dict(type='str', default='skip', choices=['skip', 'fail']),
        optimize=dict(type='bool', default=False),
        optimize_min_free_pct=dict(type='float', default=20),
        optimize_min_free_mb=dict(type='float', default=10),
    )
    spec.update(mysql.engine_argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    engine = mysql_maintenance if module.params['engine'] == 'mysql' else pg_maintenance
    if engine is mysql_maintenance and module.params['terminate_idle_s'] is not None:
        module.fail_json(msg='Could not terminate idle connections on %s: terminate_idle_s applies to '
                             'engine=postgresql only. Unset it for MySQL.' % module.params['db'])
    if engine is pg_maintenance and not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib('psycopg'), exception=PSYCOPG_IMP_ERR)
    if engine is mysql_maintenance and not mysql.HAS_PYMYSQL:
        module.fail_json(msg=missing_required_lib('PyMySQL'), exception=mysql.PYMYSQL_IMP_ERR)
    try:
        result = engine.run_maintenance(module.params, check_mode=module.check_mode)
    except mysql.MysqlError as e:
        details = dict(getattr(e, 'result', {}), db=module.params['db'])
        details.pop('msg', None)
        module.fail_json(msg=str(e), **details)
    except pg_maintenance.MaintenanceError as e:
        details = dict(e.result, db=module.params['db'])
        details.pop('msg', None)
        module.fail_json(msg=str(e), **details)
    if result['failed_steps']:
        failed = [a for a in result['actions'] if a['status'] == 'failed']
        result['msg'] = ('Could not complete the maintenance of %s: %d step(s) failed: %s. The other steps ran (see '
                         'actions); retry the failed ones in a quieter moment or raise lock_timeout.'
                         % (result['db'], len(failed),
                            '; '.join('%s %s (%s)' % (a['action'], a['target'], a['error']) for a in failed)))
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
