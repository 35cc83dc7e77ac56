# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""health_check type wal_archive against a real archiving PostgreSQL (pgBackRest -> TLS -> SeaweedFS).

The fault: the repository becomes unreachable, archive_command fails, and the probe says so (critical), with the
failed count pg_stat_archiver reports (read independently through psql).
"""
from __future__ import annotations

import time

from servers import free_port


def _check(result, name):
    return [c for c in result['checks'] if c['name'] == name][0]


def test_wal_archive_ok_then_repo_unreachable_is_critical(pitr_cluster, run_module):
    c = pitr_cluster
    pg = c.server
    c.pgbackrest('backup', '--type=full')
    seg = c.switch_wal()
    checks = [dict(pg.params, name='wal', type='wal_archive', stanza=c.stanza, pgbackrest_config=c.config),
              dict(pg.params, name='wal only', type='wal_archive')]
    r = run_module('health_check', {'checks': checks, 'fail_on': 'never'})
    assert r.get('failed') is not True, r.get('msg')
    wal = _check(r, 'wal')
    assert wal['status'] == 'ok', wal['message']
    m = wal['metrics']
    assert m['archive_mode'] == 'on' and m['failing'] is False and m['failed_count'] == 0
    assert m['last_archived_wal'] >= seg and 0 <= m['last_archived_age_s'] < 3600
    assert m['newest_backup'] == c.info()[0]['backup'][-1]['label'] and 0 <= m['newest_backup_age_h'] < 1
    assert _check(r, 'wal only')['metrics']['newest_backup_age_h'] is None
    assert pg.password not in r['_stdout']

    # the repository becomes unreachable: archive_command fails from now on
    c.write_config(port=free_port(), io_timeout=1)
    pg.psql('CREATE TABLE t AS SELECT 1 AS v')
    pg.psql('SELECT pg_switch_wal()')
    deadline = time.monotonic() + 300
    while int(pg.psql('SELECT failed_count FROM pg_stat_archiver')) == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    failed = int(pg.psql('SELECT failed_count FROM pg_stat_archiver'))
    assert failed > 0
    r = run_module('health_check', {'checks': checks, 'fail_on': 'never'})
    wal = _check(r, 'wal')
    assert wal['status'] == 'critical'
    assert 'archive_command is failing' in wal['message'] and 'pgbackrest info' in wal['message']
    assert wal['metrics']['failing'] is True and wal['metrics']['failed_count'] >= failed
    assert _check(r, 'wal only')['status'] == 'critical'
    assert c.seaweed.secret_key not in r['_stdout'] and c.seaweed.secret_key not in r['_stderr']
    red = run_module('health_check', {'checks': checks[1:]})
    assert red.get('failed') is True
