"""db_report against a real PostgreSQL with pg_stat_statements preloaded (and one without it)."""
import time

import psycopg
import pytest


@pytest.fixture(scope='module')
def stats_server(postgres_factory):
    server = postgres_factory(["shared_preload_libraries = 'pg_stat_statements'", "pg_stat_statements.track = all"])
    server.psql('CREATE DATABASE shop')
    server.psql('CREATE EXTENSION pg_stat_statements', db='shop')
    server.psql("""
CREATE TABLE orders (id bigint PRIMARY KEY, customer int, note text);
INSERT INTO orders SELECT g, g % 100, md5(g::text) FROM generate_series(1, 20000) g;
CREATE INDEX orders_note_unused ON orders (note);
CREATE TABLE tiny (id int);
INSERT INTO tiny VALUES (1);
ANALYZE;""", db='shop')
    # sequential scans on a big table without an index on customer; a slow statement
    for dummy in range(5):
        server.psql('SELECT count(*) FROM orders WHERE customer = 7', db='shop')
    server.psql('SELECT pg_sleep(0.3)', db='shop')
    server.psql('DELETE FROM orders WHERE id <= 3000', db='shop')
    server.psql("SELECT pg_stat_force_next_flush()", db='shop', check=False)
    return server


def _args(server, **kw):
    args = dict(server.params, db='shop')
    args.update(kw)
    return args


def test_report_sections_match_the_server(run_module, stats_server):
    # an idle connection older than the threshold, held open by the test
    idle = psycopg.connect(host='127.0.0.1', port=stats_server.port, user='postgres',
                           password=stats_server.password, dbname='shop', application_name='idle-worker',
                           autocommit=True)
    try:
        time.sleep(2.2)
        result = run_module('db_report', _args(stats_server, idle_threshold_s=2, seq_scan_min_rows=1000), check=True)
    finally:
        idle.close()
    assert result['changed'] is False and result['errors'] == [], result.get('errors')
    slow = result['slow_queries']
    assert slow['available'] is True
    assert any('pg_sleep' in q['query'] and q['mean_ms'] >= 300 for q in slow['by_mean'])
    assert any('customer' in q['query'] and q['calls'] >= 5 for q in slow['by_total'])
    unused = [i['index'] for i in result['indexes']['unused']]
    assert 'orders_note_unused' in unused and 'orders_pkey' not in unused
    missing = dict((t['table'], t) for t in result['missing_indexes'])
    assert 'orders' in missing and missing['orders']['seq_scan'] >= 5 and 'tiny' not in missing
    conns = result['connections']
    assert conns['max_connections'] == 50 and conns['total'] >= 2
    assert conns['by_application'].get('idle-worker') == 1
    assert any(c['application'] == 'idle-worker' and c['idle_s'] >= 2 for c in result['idle_connections'])
    assert all(c['application'] != 'runbook.ops db_report' for c in result['idle_connections'])
    tables = dict((t['table'], t) for t in result['tables'])
    assert tables['orders']['total_bytes'] >= tables['orders']['table_bytes'] + tables['orders']['index_bytes'] - 8192
    dead = dict((t['table'], t) for t in result['dead_tuples'])
    assert dead['orders']['dead'] == 3000
    assert result['wal']['in_recovery'] is False and '/' in result['wal']['lsn']
    assert result['wal']['archive_mode'] == 'off' and result['wal']['archiver'] is None
    assert stats_server.password not in result['_stdout']


def test_report_changes_nothing(run_module, stats_server):
    before = stats_server.psql('SELECT count(*) FROM orders', db='shop')
    run_module('db_report', _args(stats_server))
    assert stats_server.psql('SELECT count(*) FROM orders', db='shop') == before
    assert stats_server.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'runbook.ops db_report'") == '0'


def test_without_pg_stat_statements_a_note_says_how(run_module, postgres_server):
    result = run_module('db_report', dict(postgres_server.params, sections=['slow_queries', 'connections']))
    assert result['slow_queries'] == {'available': False, 'by_mean': [], 'by_total': []}
    assert any('shared_preload_libraries' in n for n in result['notes'])
    assert 'indexes' not in result and result['connections']['total'] >= 1


def test_a_section_that_times_out_is_reported_and_the_others_run(run_module, stats_server):
    locker = psycopg.connect(host='127.0.0.1', port=stats_server.port, user='postgres',
                             password=stats_server.password, dbname='shop')
    try:
        with locker.cursor() as cur:
            cur.execute('LOCK TABLE tiny IN ACCESS EXCLUSIVE MODE')
        # pg_total_relation_size on a locked table waits for the lock: the tables section times out
        result = run_module('db_report', _args(stats_server, sections=['tables', 'connections'],
                                               statement_timeout='1s'))
    finally:
        locker.rollback()
        locker.close()
    assert [e['section'] for e in result['errors']] == ['tables']
    assert 'timeout' in result['errors'][0]['error']
    assert result['tables'] is None and result['connections']['total'] >= 1


def test_wrong_password_fails_clearly_without_the_password(run_module, stats_server):
    result = run_module('db_report', _args(stats_server, login_password='wrong-pw-123456'))
    assert result.get('failed')
    assert 'Could not connect to postgres@127.0.0.1' in result['msg']
    assert 'wrong-pw-123456' not in result['_stdout'] + result['_stderr']
