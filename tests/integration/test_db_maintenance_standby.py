# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_maintenance on a real streaming standby (made with pg_basebackup, as in test_health_check.py)."""
from __future__ import annotations

import time

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import pg_maintenance as pm
from ansible_collections.runbook.ops.plugins.modules.db_maintenance import argument_spec
from health_fixtures import PgReplica


def direct(server, db, check_mode=False, **extra):
    params = {k: v.get('default') for k, v in argument_spec().items()}
    params.update(server.params, db=db, **extra)
    return pm.Maintenance(params, check_mode=check_mode).run()


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_standby_is_skipped_or_refused(postgres_factory, run_module):
    server = postgres_factory()
    server.psql('CREATE TABLE t AS SELECT generate_series(1, 100) AS id; DELETE FROM t')
    replica = PgReplica(server).start()
    try:
        assert wait_for(lambda: server.psql('SELECT count(*) FROM pg_stat_replication') == '1', timeout=30)
        r = run_module('db_maintenance', dict(replica.params, db='postgres', reindex=True,
                                              terminate_idle_in_transaction_s=0))
        assert not r.get('failed'), r['msg']
        assert r['standby'] is True and r['changed'] is False
        assert r['msg'].startswith('skipped: postgres@127.0.0.1:%d/postgres is a standby' % replica.port)
        assert r['actions'] == [] and r['plan'] == [] and r['tables'] == []
        assert r['skipped'] is True       # ansible shows the task as skipped on a standby
        with pytest.raises(pm.MaintenanceError) as e:
            direct(replica, 'postgres', on_standby='fail')
        assert 'the server is a standby (in recovery)' in str(e.value) and e.value.result['standby'] is True
        # the primary itself is not a standby
        r = direct(server, 'postgres', check_mode=True, on_standby='fail')
        planned = [(p['action'], p['target']) for p in r['plan']]
        assert r['standby'] is False and ('vacuum_analyze', 'public.t') in planned
    finally:
        replica.stop()
