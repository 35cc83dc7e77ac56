#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: db_report
short_description: Read-only PostgreSQL diagnostics for an incident - slow queries, indexes, connections, sizes, WAL
version_added: 0.1.0
description:
  - Returns what an on-call engineer asks a PostgreSQL server first, one section per question (O(sections)).
  - C(slow_queries) - the top O(top) statements by mean and by total execution time from C(pg_stat_statements),
    with calls and rows, when the extension is installed in O(db); otherwise a note says how to install it.
  - C(indexes) - index sizes and scans, and unused indexes (never scanned, not backing a primary key or a unique
    constraint, valid, at least O(unused_index_min_bytes)).
  - C(missing_indexes) - probable missing indexes, tables of at least O(seq_scan_min_rows) rows read by more
    sequential scans than index scans, most rows read first.
  - C(connections) - client connections by state, by application and by database, and the share of
    C(max_connections) in use.
  - C(idle_connections) - connections idle for more than O(idle_threshold_s) seconds (seed 004 kills those older
    than an hour; this module only lists them, M(runbook.ops.db_maintenance) terminates).
  - C(tables) - the largest tables with their table, index and total sizes.
  - C(dead_tuples) - tables with the most dead tuples and their last (auto)vacuum.
  - C(wal) - the current WAL position (the replay position on a standby) and, when C(archive_mode) is on, the
    archiver's state (last archived WAL and its age, failed count).
  - Every section runs in its own C(READ ONLY) transaction, always rolled back, on a session whose default is
    read-only, with O(statement_timeout). A section that fails (a privilege, a timeout) is listed in
    RV(errors) and the others still run; only a connection failure fails the task.
  - Statistics are cumulative since the last C(pg_stat_reset) or server start; query texts are C(pg_stat_statements)'
    normalized texts (constants replaced by placeholders), cut at 500 characters.
author:
  - runbook.ops maintainers (@runbook-ops)
extends_documentation_fragment:
  - runbook.ops.attributes.info_module
  - runbook.ops.postgres
attributes:
  check_mode:
    description: Read-only; runs the same queries in check mode.
    support: full
options:
  db:
    description:
      - The database to connect to. Table, index and C(pg_stat_statements) sections are about this database;
        connections and WAL are about the whole server.
    type: str
    default: postgres
  sections:
    description:
      - The sections to report.
    type: list
    elements: str
    choices: [slow_queries, indexes, missing_indexes, connections, idle_connections, tables, dead_tuples, wal]
    default: [slow_queries, indexes, missing_indexes, connections, idle_connections, tables, dead_tuples, wal]
  top:
    description:
      - How many rows each list section returns at most.
    type: int
    default: 10
  idle_threshold_s:
    description:
      - Seconds a connection must have been idle to be listed in C(idle_connections).
    type: int
    default: 3600
  seq_scan_min_rows:
    description:
      - Smallest table, in live rows, listed in C(missing_indexes) (sequential scans of small tables are fine).
    type: int
    default: 10000
  unused_index_min_bytes:
    description:
      - Smallest index listed as unused.
    type: int
    default: 0
  statement_timeout:
    description:
      - C(statement_timeout) of every query (a PostgreSQL duration such as V(30s) or V(2min)).
    type: str
    default: 30s
seealso:
  - module: runbook.ops.db_maintenance
  - module: runbook.ops.health_check
'''

EXAMPLES = r'''
- name: What is the database doing?
  runbook.ops.db_report:
    login_host: db1.internal
    login_password: "{{ vault_pg_password }}"
    db: app
  register: report

- name: Only the connections and the idle ones older than 30 minutes
  runbook.ops.db_report:
    db: app
    sections: [connections, idle_connections]
    idle_threshold_s: 1800
'''

RETURN = r'''
target:
  description: The server and database reported on, without the password.
  returned: always
  type: str
  sample: postgres@db1.internal:5432/app
server_version:
  description: C(SELECT version()).
  returned: always
  type: str
slow_queries:
  description: C(available) (whether pg_stat_statements is installed), C(by_mean) and C(by_total), lists of
    C(queryid), C(query), C(calls), C(total_ms), C(mean_ms), C(rows), C(database), C(user).
  returned: when asked and the section ran
  type: dict
indexes:
  description: C(count), C(largest) and C(unused) (lists of C(schema), C(table), C(index), C(scans), C(size_bytes),
    C(unique), C(primary), C(valid)), C(unused_count), C(unused_bytes).
  returned: when asked and the section ran
  type: dict
missing_indexes:
  description: Tables read mostly by sequential scans - C(schema), C(table), C(seq_scan), C(seq_tup_read), C(idx_scan),
    C(live_rows), C(size_bytes).
  returned: when asked and the section ran
  type: list
  elements: dict
connections:
  description: C(total), C(max_connections), C(used_pct), C(by_state), C(by_application), C(by_database).
  returned: when asked and the section ran
  type: dict
idle_connections:
  description: Connections idle longer than O(idle_threshold_s) - C(pid), C(database), C(user), C(application),
    C(client_addr), C(idle_s), C(connected_s).
  returned: when asked and the section ran
  type: list
  elements: dict
tables:
  description: The largest tables - C(schema), C(table), C(total_bytes), C(table_bytes), C(index_bytes), C(estimated_rows).
  returned: when asked and the section ran
  type: list
  elements: dict
dead_tuples:
  description: C(schema), C(table), C(live), C(dead), C(dead_pct), C(last_autovacuum), C(last_vacuum), C(last_autoanalyze).
  returned: when asked and the section ran
  type: list
  elements: dict
wal:
  description: C(in_recovery), C(lsn) (primary), C(replay_lsn) (standby), C(archive_mode), and C(archiver)
    (C(archived_count), C(last_archived_wal), C(last_archived_age_s), C(failed_count), C(last_failed_wal),
    C(last_failed_age_s)) when archiving is on.
  returned: when asked and the section ran
  type: dict
errors:
  description: Sections that failed, with the error (C(section), C(error)).
  returned: always
  type: list
  elements: dict
notes:
  description: What the report could not say and why (for example pg_stat_statements missing).
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils import pg_report
from ansible_collections.runbook.ops.plugins.module_utils.postgres import (
    HAS_PSYCOPG, PSYCOPG_IMP_ERR, postgres_argument_spec)


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(
        db=dict(type='str', default='postgres'),
        sections=dict(type='list', elements='str', choices=list(pg_report.SECTIONS), default=list(pg_report.SECTIONS)),
        top=dict(type='int', default=10),
        idle_threshold_s=dict(type='int', default=3600),
        seq_scan_min_rows=dict(type='int', default=10000),
        unused_index_min_bytes=dict(type='int', default=0),
        statement_timeout=dict(type='str', default='30s'),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib('psycopg'), exception=PSYCOPG_IMP_ERR)
    for key in ('top', 'idle_threshold_s', 'seq_scan_min_rows', 'unused_index_min_bytes'):
        if module.params[key] < (1 if key == 'top' else 0):
            module.fail_json(msg='%s must be at least %d, got %d' % (key, 1 if key == 'top' else 0, module.params[key]))
    try:
        result = pg_report.Reporter(module.params).run()
    except pg_report.ReportError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
