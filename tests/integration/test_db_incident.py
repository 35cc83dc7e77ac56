# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The database incident procedure against a real PostgreSQL (a server of this file's own, since sessions are
terminated): db_maintenance's ``terminate_idle_s`` / ``terminate_reason``, and the ``db_incident`` playbook
(report in Markdown, termination only when asked with a reason, the terminated sessions in the report)."""
from __future__ import annotations

import json

import psycopg
import pytest

from maintenance_fixtures import Holder, backend_alive, direct, fresh_db, wait_for
from playbooks import run_playbook


@pytest.fixture(scope='module')
def server(postgres_factory):
    return postgres_factory()


def idle_for(server, pid):
    """Seconds the backend has been in state idle, read by psql (independent of the module)."""
    out = server.psql("SELECT coalesce(extract(epoch FROM now() - state_change), -1) FROM pg_stat_activity "
                      "WHERE pid = %d AND state = 'idle'" % pid)
    return float(out) if out else -1.0


def test_terminate_idle_s_kills_old_idle_connections_only(server):
    # in-process runs (no ansible start-up between refreshing the young session and the module's query), and a
    # threshold (15 s) far above the few milliseconds that takes even on a loaded machine; the module itself runs
    # through ansible in the playbook test below
    db = fresh_db(server, 'incident')
    holders = []
    try:
        old = Holder(server, db, 'leaky-pool')
        kept = Holder(server, db, 'pgbouncer')
        holders += [old, kept]
        for h in holders:
            h.conn.execute('SELECT 1')          # idle from now on, outside any transaction
        # both are idle for more than the threshold, measured by the server
        assert wait_for(lambda: min(idle_for(server, old.pid), idle_for(server, kept.pid)) > 16.0, timeout=90)
        young = Holder(server, db, 'young')
        holders.append(young)
        opts = dict(vacuum=False, analyze=False, terminate_idle_s=15, terminate_exclude_applications=['pgbouncer'],
                    terminate_reason='INC-42: connection slots exhausted')

        young.conn.execute('SELECT 1')          # idle for well under 15 s when the module looks
        r = direct(server, db, check_mode=True, **opts)
        assert [(p['pid'], p['application_name'], p['state']) for p in r['plan']] == [(old.pid, 'leaky-pool', 'idle')]
        assert r['plan'][0]['reason'].startswith('idle for ') and r['plan'][0]['reason'].endswith(
            ' s > terminate_idle_s 15')
        assert r['plan'][0]['terminate_reason'] == 'INC-42: connection slots exhausted'
        assert r['terminated'] == [] and all(backend_alive(server, h.pid) for h in holders)

        young.conn.execute('SELECT 1')
        r = direct(server, db, **opts)
        assert r['failed_steps'] == [] and r['changed'] is True
        assert r['terminate_reason'] == 'INC-42: connection slots exhausted'
        assert len(r['terminated']) == 1, r['terminated']
        t = r['terminated'][0]
        assert (t['pid'], t['user'], t['application_name'], t['state'], t['database'], t['query']) == (
            old.pid, 'postgres', 'leaky-pool', 'idle', db, 'SELECT 1')
        assert t['client'].startswith('127.0.0.1:') and t['duration_s'] > 15
        assert t['terminate_reason'] == 'INC-42: connection slots exhausted' and 'terminate_idle_s 15' in t['reason']
        # independently: the old one is gone, the young and the excluded one still work
        assert not backend_alive(server, old.pid) and not old.alive()
        assert kept.alive() and young.alive()
    finally:
        for h in holders:
            h.close()


def test_terminate_idle_s_zero_never_kills_its_own_session(server):
    db = fresh_db(server, 'incident')
    other = Holder(server, db, 'other')
    try:
        other.conn.execute('SELECT 1')
        # every idle and every running session qualifies: only our own must be spared, or the run would fail
        r = direct(server, db, vacuum=False, analyze=False, terminate_idle_s=0, terminate_running_longer_than_s=0,
                   terminate_scope='cluster', terminate_reason='own-session check')
        assert r['failed_steps'] == [] and [t['pid'] for t in r['terminated']] == [other.pid]
        assert not other.alive()
    finally:
        other.close()


def active_for(server, pid):
    out = server.psql("SELECT coalesce(extract(epoch FROM now() - query_start), -1) FROM pg_stat_activity "
                      "WHERE pid = %d AND state = 'active'" % pid)
    return float(out) if out else -1.0


def test_playbook_refuses_without_a_reason_or_in_the_window_then_kills_the_runaway_and_reports_it(server, tmp_path):
    db = fresh_db(server, 'incident')
    runaway = Holder(server, db, 'report-job').run_in_thread('SELECT pg_sleep(600)')
    dump = Holder(server, db, 'pg_dump').run_in_thread('SELECT pg_sleep(600)')
    reports = tmp_path / 'reports'
    base = {'runbook_postgres': server.params, 'db_incident_db': db, 'db_incident_report_dir': str(reports),
            'db_incident_running_longer_than_s': 2, 'db_incident_idle_s': 0,
            'db_incident_exclude_applications': ['pg_dump']}
    try:
        assert wait_for(lambda: min(active_for(server, runaway.pid), active_for(server, dump.pid)) > 3.0)

        # 1. asked to terminate without a reason: refused before anything is done, no report
        r = run_playbook('db_incident', dict(base, db_incident_terminate=True), tmp_path, hosts={'db1': {}})
        assert r.returncode != 0 and 'Could not terminate sessions: db_incident_reason is empty.' in r.stdout
        assert 'db_report' not in r.stdout and not reports.exists()
        assert backend_alive(server, runaway.pid)

        # 2. inside the inventory's weekly maintenance window (the whole of every day): refused
        r = run_playbook('db_incident', dict(base, db_incident_terminate=True, db_incident_reason='INC-7',
                                             maintenance_window={'days': [], 'start': '00:00', 'end': '00:00',
                                                                 'timezone': 'UTC'}), tmp_path, hosts={'db1': {}})
        assert r.returncode != 0 and 'Could not terminate sessions: it is inside the maintenance window' in r.stdout
        assert backend_alive(server, runaway.pid) and not reports.exists()

        # 3. not asked: the report lists the runaway, nothing is terminated
        r = run_playbook('db_incident', base, tmp_path, hosts={'db1': {}})
        assert r.returncode == 0, r.stdout[-3000:]
        rep = json.loads((reports / 'db-incident.json').read_text())
        assert rep['terminated_count'] == 0 and [c['pid'] for c in rep['hosts'][0]['candidates']] == [runaway.pid]
        assert 'report only' in (reports / 'db-incident.md').read_text()
        assert backend_alive(server, runaway.pid)

        # 4. asked with a reason, outside any window: the runaway is terminated and listed in the report
        r = run_playbook('db_incident', dict(base, db_incident_terminate=True,
                                             db_incident_reason='INC-7: runaway report query'),
                         tmp_path, hosts={'db1': {}})
        assert r.returncode == 0, r.stdout[-3000:]
        runaway.thread.join(30)
        assert isinstance(runaway.error, psycopg.OperationalError)          # its session was terminated
        assert not backend_alive(server, runaway.pid) and backend_alive(server, dump.pid)
        rep = json.loads((reports / 'db-incident.json').read_text())
        host = rep['hosts'][0]
        assert rep['terminated_count'] == 1 and host['mode'] == 'terminate' and host['candidates'] == []
        t = host['terminated'][0]
        assert (t['pid'], t['application_name'], t['state'], t['query'], t['terminate_reason']) == (
            runaway.pid, 'report-job', 'active', 'SELECT pg_sleep(600)', 'INC-7: runaway report query')
        md = (reports / 'db-incident.md').read_text()
        row = [line for line in md.splitlines() if line.startswith('| %d |' % runaway.pid)]
        assert row and 'report-job' in row[0] and '`SELECT pg_sleep(600)`' in row[0]
        assert 'reason: INC-7: runaway report query' in md and '### Connections' in md
        assert server.password not in r.stdout + r.stderr + md
        assert 'TASK [Record the job result' in r.stdout            # the set_stats record (figures: unit-tested)
    finally:
        server.psql('SELECT pg_cancel_backend(%d)' % dump.pid)
        runaway.close()
        dump.close()
