# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``postgres`` check type of health_check: connection and query latency, connections, long queries,
ungranted locks and replication, read by ``postgres.server_health`` (the queries live there)."""

from __future__ import annotations

import math

from ansible_collections.runbook.ops.plugins.module_utils import postgres as pg_utils
from ansible_collections.runbook.ops.plugins.module_utils import probe

MIB = 1024 * 1024


def _pg_params(check):
    params = {k: check.get(k) for k in pg_utils.POSTGRES_OPTION_NAMES}
    if params.get('connect_timeout') is None:
        params['connect_timeout'] = max(1, int(math.ceil(check['timeout'])))
    params['login_db'] = check.get('login_db')
    return params


def run(check):
    params = _pg_params(check)
    target = pg_utils.describe_target(params, dbname=params.get('login_db'))
    try:
        facts = pg_utils.server_health(params, check['timeout'], dbname=params.get('login_db'),
                                       application_name='runbook.ops health_check')
    except pg_utils.ServerCheckError as exc:
        raise probe.ProbeError('Could not %s postgres %s: %s' % (
            'connect to' if exc.stage == 'connect' else 'query', target,
            probe.one_line(pg_utils.redact(probe.redact(exc.cause, check), params))))
    return probe.ProbeResult({
        'reachable': True,
        'connect_ms': probe.ms(facts['connect_s']),
        'latency_ms': probe.ms(facts['latency_s']),
        'server_version': facts['server_version'],
        'role': 'replica' if facts['in_recovery'] else 'primary',
        'max_connections': facts['max_connections'],
        'connections': facts['connections'],
        'connections_pct': probe.pct(facts['connections'], facts['max_connections']),
        'longest_query_s': facts['longest_query_s'],
        'ungranted_locks': facts['ungranted_locks'],
        'replicas': facts['replicas'],
        'replication_lag_bytes': facts['replication_lag_bytes'],
        'replication_lag_s': facts['replication_lag_s'],
    })


PROBE_TYPE = probe.ProbeType(
    name='postgres', run=run,
    metrics={
        'connect_ms': (probe.HIGHER, None),
        'latency_ms': (probe.HIGHER, probe.levels(100, 500)),
        'connections': (probe.HIGHER, None),
        'connections_pct': (probe.HIGHER, probe.levels(70, 90)),
        'longest_query_s': (probe.HIGHER, probe.levels(60, 300)),
        'ungranted_locks': (probe.HIGHER, probe.levels(5, 20)),
        'replication_lag_bytes': (probe.HIGHER, probe.levels(16 * MIB, 1024 * MIB)),
        'replication_lag_s': (probe.HIGHER, probe.levels(60, 300)),
        'replicas': (probe.LOWER, None),
    },
    options=pg_utils.POSTGRES_OPTION_NAMES + ('login_db',),
    # the shared connection options (their defaults apply in postgres.connect_kwargs, not in the check)
    suboptions=dict(pg_utils.postgres_argument_spec(), login_db=dict(type='str')),
    requirement=lambda checks: None if pg_utils.HAS_PSYCOPG else ('psycopg', pg_utils.PSYCOPG_IMP_ERR),
)
