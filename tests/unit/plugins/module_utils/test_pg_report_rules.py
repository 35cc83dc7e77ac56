"""The pure rules of db_report (module_utils/pg_report.py)."""
from ansible_collections.runbook.ops.plugins.module_utils import pg_report


def test_connections_are_summed_by_state_application_and_database():
    rows = [('app', 'web', 'api', 'active', 3), ('app', 'web', 'api', 'idle', 5), ('app', 'job', '', 'idle', 2),
            ('', 'postgres', 'psql', None, 1)]
    summary = pg_report.summarize_connections(rows, 20)
    assert summary['total'] == 11 and summary['used_pct'] == 55.0
    assert summary['by_state'] == {'active': 3, 'idle': 7, 'unknown': 1}
    assert summary['by_application'] == {'api': 8, '(none)': 2, 'psql': 1}
    assert summary['by_database'] == {'app': 10, '(none)': 1}
    assert pg_report.summarize_connections([], 0)['used_pct'] is None


def test_unused_indexes_spare_keys_invalid_and_small_ones():
    rows = [('s', 't', 'big_unused', 0, 5000, False, False, True),
            ('s', 't', 't_pkey', 0, 9000, True, True, True),
            ('s', 't', 'uniq', 0, 9000, True, False, True),
            ('s', 't', 'invalid', 0, 9000, False, False, False),
            ('s', 't', 'small_unused', 0, 100, False, False, True),
            ('s', 't', 'used', 4, 9000, False, False, True)]
    all_indexes, unused = pg_report.classify_indexes(rows, min_size_bytes=1000)
    assert len(all_indexes) == 6
    assert [i['index'] for i in unused] == ['big_unused']
    assert [i['index'] for i in pg_report.classify_indexes(rows)[1]] == ['big_unused', 'small_unused']


def test_query_texts_are_one_line_and_cut():
    assert pg_report.short_query('SELECT\n  1\tFROM x') == 'SELECT 1 FROM x'
    long = pg_report.short_query('SELECT ' + 'x, ' * 400)
    assert len(long) == pg_report.MAX_QUERY_TEXT and long.endswith('...')
    assert pg_report.short_query(None) == ''
