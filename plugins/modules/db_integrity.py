#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: db_integrity
short_description: Read-only SQL assertions and row counts compared with the newest backup manifest on PostgreSQL
version_added: 0.1.0
description:
  - Runs SQL assertions (O(assertions)) and compares each query's rows with what the assertion expects.
  - With O(row_counts=true), reads the newest valid backup of each database of O(databases) from the backup store
    (the manifest written by M(runbook.ops.db_backup)), counts the rows of every table the manifest lists, and compares
    them with the manifest, within O(tolerance_pct). A table of the manifest that no longer exists fails. A database
    without a valid backup is listed in RV(no_backup_to_compare) and does not fail.
  - Every query runs on a connection whose session default is C(default_transaction_read_only=on), with
    O(statement_timeout), inside a transaction opened C(BEGIN READ ONLY) and always rolled back, so a write
    attempted by an assertion is refused by the server. An assertion query is one statement (sent as a prepared
    statement), so it cannot end the read-only transaction and write after it. This guards against mistakes; against
    a hostile query author, connect as a role that holds only C(SELECT) privileges.
  - Table names reach SQL only through C(psycopg.sql.Identifier); values are query parameters.
  - Collects every failure (failed or erroring assertion, table off or missing, database that could not be counted,
    store that could not be read) in RV(failures); with O(fail_on_failure=true) the task then fails with all of them.
author:
  - runbook.ops maintainers (@runbook-ops)
extends_documentation_fragment:
  - runbook.ops.attributes.info_module
  - runbook.ops.postgres
  - runbook.ops.backup_store
  - runbook.ops.backup_store.s3
attributes:
  check_mode:
    description: Read-only; runs the same read-only queries in check mode. A backup store that cannot be read is
      reported in RV(store_errors) but is not a failure in check mode (a check-mode run of a maintenance window did
      not write the backup it would compare with).
    support: full
options:
  databases:
    description:
      - The databases whose row counts are compared with their newest valid backup (with O(row_counts=true)).
    type: list
    elements: str
  db:
    description:
      - One database - the same as O(databases=[db]) - and the database of the assertions that name none.
    type: str
  assertions:
    description:
      - SQL assertions, each run read-only in its own transaction.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Name of the assertion, in the results and failure messages.
        type: str
        required: true
      db:
        description:
          - Database the query runs in. Defaults to O(db).
        type: str
      query:
        description:
          - One SQL statement. Its text is sent as is (no placeholders); it must not end the transaction.
        type: str
        required: true
      expect:
        description:
          - The exact result. A scalar needs exactly one row of one column equal to it (numbers compare as numbers,
            booleans also as their text, other values also as text; C(numeric) comes as a float, times as ISO text).
          - A list is compared with the rows, in order - each expected row is a list of values in column order,
            or a dict column -> value naming every column. V([]) expects no row.
        type: raw
        required: true
  row_counts:
    description:
      - Compare the row counts of the tables of each database of O(databases) with its newest valid backup
        manifest in O(store).
    type: bool
    default: false
  tolerance_pct:
    description:
      - Allowed difference, in percent of the manifest's count (of 1 row when the manifest counted none).
    type: float
    default: 0
  statement_timeout:
    description:
      - C(statement_timeout) of every query, a whole number with an optional unit among C(ms), C(s), C(min), C(h)
        (V(0) is no limit).
    type: str
    default: 5min
  fail_on_failure:
    description:
      - Fail the task when RV(failures) is not empty, with all of them in the message. With V(false) the task
        succeeds and returns them.
    type: bool
    default: true
  store:
    description:
      - The backup store the manifests are read from, named by a URL (V(s3://bucket/prefix), or an absolute
        directory path or V(file:///path)). Required with O(row_counts=true).
    type: str
    required: false
seealso:
  - module: runbook.ops.db_backup
  - module: runbook.ops.db_backup_info
'''

EXAMPLES = r'''
- name: Assert the data and compare the row counts with the last backup
  runbook.ops.db_integrity:
    login_host: db1.internal
    login_password: "{{ vault_pg_password }}"
    db: app
    assertions:
      - name: no negative totals
        query: SELECT count(*) FROM orders WHERE total < 0
        expect: 0
      - name: first customers
        query: SELECT id, name FROM customers ORDER BY id LIMIT 2
        expect: [[1, c1], [2, c2]]
    row_counts: true
    store: s3://acme-backups/postgres/app
    tolerance_pct: 5

- name: Collect the failures instead of failing
  runbook.ops.db_integrity:
    databases: [app, billing]
    row_counts: true
    store: /var/backups/postgres
    fail_on_failure: false
  register: integrity
'''

RETURN = r'''
assertions:
  description: Each assertion, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the assertion.
      type: str
      returned: always
      sample: no negative totals
    db:
      description: Database it ran in.
      type: str
      returned: always
      sample: app
    ok:
      description: Whether the rows are what the assertion expects.
      type: bool
      returned: always
      sample: false
    expect:
      description: What the assertion expects.
      type: raw
      returned: always
      sample: 0
    actual:
      description: The scalar, or the rows (lists of values, or dicts when O(assertions[].expect) is a list of
        dicts); null when the query failed.
      type: raw
      returned: always
      sample: 2
    error:
      description: Why the query failed (the server's message); empty when it ran.
      type: str
      returned: always
      sample: cannot execute DELETE in a read-only transaction
  sample: [{name: no negative totals, db: app, ok: false, expect: 0, actual: 2, error: ""}]
row_counts:
  description: One entry per database compared with a backup.
  returned: always
  type: list
  elements: dict
  contains:
    db:
      description: The database.
      type: str
      returned: always
      sample: app
    backup_id:
      description: The backup compared with (the newest valid one).
      type: str
      returned: always
      sample: 20260131T020000Z-app-3f9a1c
    backup_created_at:
      description: When it was taken (UTC, ISO 8601).
      type: str
      returned: always
      sample: "2026-01-31T02:00:00.000000Z"
    tolerance_pct:
      description: The tolerance applied.
      type: float
      returned: always
      sample: 5.0
    ok:
      description: Whether every table is within the tolerance.
      type: bool
      returned: always
      sample: true
    error:
      description: Why the database could not be counted; empty otherwise.
      type: str
      returned: always
      sample: ""
    tables:
      description: Each table of the manifest.
      type: list
      elements: dict
      returned: always
      contains:
        schema:
          description: Schema of the table.
          type: str
          returned: always
          sample: public
        table:
          description: Name of the table.
          type: str
          returned: always
          sample: orders
        backup_rows:
          description: Rows the manifest recorded.
          type: int
          returned: always
          sample: 1000
        rows:
          description: Rows now; null when the table is missing or could not be counted.
          type: int
          returned: always
          sample: 1040
        diff_pct:
          description: Difference in percent of the manifest's count; null when not counted.
          type: float
          returned: always
          sample: 4.0
        ok:
          description: Whether the difference is within the tolerance.
          type: bool
          returned: always
          sample: true
        note:
          description: V(table missing), or why it could not be counted; empty otherwise.
          type: str
          returned: always
          sample: ""
  sample: []
no_backup_to_compare:
  description: Databases of O(databases) without a valid backup in the store (not a failure).
  returned: always
  type: list
  elements: str
  sample: [app]
store_errors:
  description: Why the store could not be read (a failure, except in check mode).
  returned: always
  type: list
  elements: str
  sample: []
assertions_passed:
  description: Number of assertions that passed.
  returned: always
  type: int
  sample: 3
assertions_failed:
  description: Number of assertions that failed (or could not run).
  returned: always
  type: int
  sample: 0
failures:
  description: One message per failure (assertion, table, database or store).
  returned: always
  type: list
  elements: str
  sample: ["assertion no negative totals (db app): expected 0, got 2"]
msg:
  description: The failures joined, or a summary.
  returned: always
  type: str
  sample: "3 assertion(s) passed, 0 failed; 4 table(s) of 1 database(s) match their backup; no backup to compare for
    0 database(s)"
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import pg_integrity
from ansible_collections.runbook.ops.plugins.module_utils.postgres import (
    HAS_PSYCOPG, PSYCOPG_IMP_ERR, postgres_argument_spec)


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(bs.store_argument_spec())
    spec['store'] = dict(type='str')
    spec.update(
        databases=dict(type='list', elements='str'),
        db=dict(type='str'),
        assertions=dict(type='list', elements='dict', default=[], options=dict(
            name=dict(type='str', required=True),
            db=dict(type='str'),
            query=dict(type='str', required=True),
            expect=dict(type='raw', required=True),
        )),
        row_counts=dict(type='bool', default=False),
        tolerance_pct=dict(type='float', default=0),
        statement_timeout=dict(type='str', default='5min'),
        fail_on_failure=dict(type='bool', default=True),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), mutually_exclusive=[('databases', 'db')],
                           required_if=[('row_counts', True, ('store',))], required_by=bs.store_required_by(),
                           supports_check_mode=True)
    if not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib('psycopg'), exception=PSYCOPG_IMP_ERR)
    if module.params['row_counts'] and module.params['store'].startswith('s3://') and not bs.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib('boto3'), exception=bs.BOTO3_IMP_ERR)
    try:
        result = pg_integrity.run_integrity(module.params, check_mode=module.check_mode)
    except pg_integrity.IntegrityError as e:
        module.fail_json(msg=str(e))
    if result['failures'] and module.params['fail_on_failure']:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
